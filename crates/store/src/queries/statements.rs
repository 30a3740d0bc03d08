//! The reads of a monthly statement: a creator's accounts' ledger balances at the month's
//! start, summed in the database, the month's transfers, and the earlier pending ones they
//! post or void, by id — never the creator's earlier history itself.
//!
//! Every query names its accounts in `IN ($2, $3, …)` and repeats the `NOT LIKE 'platform/%'`
//! condition of the partial indexes `transfers_by_credit_time` and `transfers_by_debit_time`
//! (account, created_at, kind, amount), so that both databases range-scan them: the platform's
//! own accounts, in every purchase, are left out of these indexes (and so of these reads).

use ledger::{AccountId, Balances, Transfer, TransferId};
use time::OffsetDateTime;

use super::{IDS_PER_READ, placeholders};
use crate::columns::{Columns, corrupt, transfer_columns, transfer_from};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

impl Store {
    /// The ledger balances of `accounts` (none of them the platform's: those read as zero)
    /// from the transfers created before `at`, in the order given: what the accounts held at
    /// that moment. Posts of pending transfers count as posted; a pending transfer counts as
    /// pending until a post or void created before `at` resolves it.
    pub async fn ledger_balances_at<const N: usize>(
        &self,
        accounts: &[AccountId; N],
        at: OffsetDateTime,
    ) -> Result<[Balances; N], StoreError> {
        let mut balances = [Balances::default(); N];
        if N == 0 {
            return Ok(balances);
        }
        // Per account and side: posted amounts (posts of pendings included), pending ones,
        // and for posts and voids the amount of the pending transfer each resolves (looked
        // up by its unique id, for those rows only). One group per account, in the index's
        // order; SUM is NUMERIC in PostgreSQL, hence the casts.
        let list = placeholders(2, N);
        let sums = |side: &str| {
            format!(
                "SELECT {side}_account AS account, '{side}' AS side, \
                        CAST(COALESCE(SUM(CASE WHEN kind IN ('posted', 'post_pending') THEN amount ELSE 0 END), 0) AS BIGINT) AS posted, \
                        CAST(COALESCE(SUM(CASE WHEN kind = 'pending' THEN amount ELSE 0 END), 0) AS BIGINT) AS pending, \
                        CAST(COALESCE(SUM(CASE WHEN pending_id IS NULL THEN 0 ELSE \
                            (SELECT p.amount FROM transfers AS p WHERE p.id = t.pending_id AND p.kind = 'pending') \
                        END), 0) AS BIGINT) AS resolved \
                 FROM transfers AS t \
                 WHERE {side}_account IN ({list}) AND {side}_account NOT LIKE 'platform/%' AND created_at < $1 \
                 GROUP BY {side}_account"
            )
        };
        let sql = format!("{} UNION ALL {}", sums("credit"), sums("debit"));
        let rows = with_pool!(&self.db, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(to_micros(at));
            for a in accounts {
                query = query.bind(a.as_str());
            }
            query
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    Ok((
                        row.text("account")?,
                        row.text("side")?,
                        row.int("posted")?,
                        row.int("pending")?,
                        row.int("resolved")?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        // The ledger's rules (`ledger::Book`): a post adds its own amount to the posted sums
        // and takes the pending transfer's out of the pending ones; a void only takes it out.
        for (account, side, posted, pending, resolved) in rows {
            let Some(i) = accounts.iter().position(|a| a.as_str() == account) else {
                continue;
            };
            let b = &mut balances[i];
            match side.as_str() {
                "credit" => {
                    b.credits_posted = posted;
                    b.credits_pending = pending - resolved;
                }
                "debit" => {
                    b.debits_posted = posted;
                    b.debits_pending = pending - resolved;
                }
                other => return Err(corrupt(format!("side {other}"))),
            }
        }
        Ok(balances)
    }

    /// Every transfer debiting or crediting one of `accounts` (none of them the platform's)
    /// created in `[from, until)`, in the order applied, with its creation time.
    pub async fn account_transfers(
        &self,
        accounts: &[AccountId],
        from: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<(Transfer, OffsetDateTime)>, StoreError> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(3, accounts.len());
        let sql = format!(
            "SELECT {cols}, seq, created_at FROM transfers \
             WHERE credit_account IN ({list}) AND credit_account NOT LIKE 'platform/%' \
               AND created_at >= $1 AND created_at < $2 \
             UNION \
             SELECT {cols}, seq, created_at FROM transfers \
             WHERE debit_account IN ({list}) AND debit_account NOT LIKE 'platform/%' \
               AND created_at >= $1 AND created_at < $2 \
             ORDER BY seq",
            cols = transfer_columns!()
        );
        with_pool!(&self.db, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(to_micros(from))
                .bind(to_micros(until));
            for a in accounts {
                query = query.bind(a.as_str());
            }
            query
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok((transfer_from(row)?, from_micros(row.int("created_at")?))))
                .collect::<Result<Vec<_>, StoreError>>()
        })
    }

    /// The transfers of `ids` that exist, in no particular order (a statement's pending
    /// payouts booked before its month, which the month's transfers post or void). Read
    /// [`IDS_PER_READ`] at a time, well under either database's limit of parameters.
    pub async fn transfers_by_id(&self, ids: &[&TransferId]) -> Result<Vec<Transfer>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_READ) {
            let list = placeholders(1, chunk.len());
            let sql = format!(
                "SELECT {cols} FROM transfers WHERE id IN ({list})",
                cols = transfer_columns!()
            );
            let rows = with_pool!(&self.db, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                query
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(transfer_from)
                    .collect::<Result<Vec<_>, StoreError>>()
            })?;
            found.extend(rows);
        }
        Ok(found)
    }
}
