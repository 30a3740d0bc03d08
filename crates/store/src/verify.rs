//! Streams the whole ledger through [`ledger::Verifier`].

use futures_util::TryStreamExt;

use crate::columns::{account_columns, account_from, transfer_columns, transfer_from};
use crate::{Db, Store, StoreError, with_pool};

impl Store {
    /// Recomputes every balance from the transfers, in the order they were applied, and
    /// checks every invariant. Reads one consistent snapshot: a deferred transaction on
    /// SQLite, a `REPEATABLE READ` one on PostgreSQL.
    pub async fn verify_ledger(&self) -> Result<ledger::Report, StoreError> {
        let begin = match self.db {
            Db::Sqlite(_) => "BEGIN",
            Db::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        with_pool!(&self.db, pool => {
            let mut conn = pool.acquire().await?;
            sqlx::query(begin).execute(&mut *conn).await?;
            let result = async {
                let accounts = sqlx::query(concat!(
                    "SELECT ",
                    account_columns!(),
                    " FROM ledger_accounts"
                ))
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(account_from)
                .collect::<Result<Vec<_>, _>>()?;
                let mut verifier = ledger::Verifier::new(accounts);
                let mut rows = sqlx::query(concat!(
                    "SELECT ",
                    transfer_columns!(),
                    " FROM transfers ORDER BY seq"
                ))
                .fetch(&mut *conn);
                while let Some(row) = rows.try_next().await? {
                    verifier.add(&transfer_from(&row)?);
                }
                Ok::<_, StoreError>(verifier.finish())
            }
            .await;
            let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
            result
        })
    }
}
