//! Streams the whole ledger through [`ledger::Verifier`].

use futures_util::TryStreamExt;

use crate::writer::{account_columns, account_from_row, transfer_columns, transfer_from_row};
use crate::{Store, StoreError};

impl Store {
    /// Recomputes every balance from the transfers, in the order they were applied, and
    /// checks every invariant. Reads one consistent snapshot.
    pub async fn verify_ledger(&self) -> Result<ledger::Report, StoreError> {
        let mut conn = self.pool.acquire().await?;
        // One read transaction: accounts and transfers from the same snapshot.
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        let result = async {
            let accounts = sqlx::query(concat!(
                "SELECT ",
                account_columns!(),
                " FROM ledger_accounts"
            ))
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(account_from_row)
            .collect::<Result<Vec<_>, _>>()?;
            let mut verifier = ledger::Verifier::new(accounts);
            let mut rows = sqlx::query(concat!(
                "SELECT ",
                transfer_columns!(),
                " FROM transfers ORDER BY seq"
            ))
            .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                verifier.add(&transfer_from_row(&row)?);
            }
            Ok::<_, StoreError>(verifier.finish())
        }
        .await;
        let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
        result
    }
}
