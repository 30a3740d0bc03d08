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

use crate::columns::{Columns, corrupt, transfer_columns, transfer_from};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// `$first, $first+1, …` for `n` accounts: only placeholders are formatted into the SQL.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

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
        // Per account, side and kind: the transfers' amount, and for posts and voids the
        // amount of the pending transfer each resolves (looked up by its unique id, only for
        // those rows). SUM is NUMERIC in PostgreSQL, hence the casts.
        let list = placeholders(2, accounts.len());
        let sql = format!(
            "SELECT credit_account AS account, 'credit' AS side, kind, \
                    CAST(SUM(amount) AS BIGINT) AS amount, \
                    CAST(COALESCE(SUM(CASE WHEN pending_id IS NULL THEN 0 ELSE \
                        (SELECT p.amount FROM transfers AS p WHERE p.id = t.pending_id AND p.kind = 'pending') \
                    END), 0) AS BIGINT) AS resolved \
             FROM transfers AS t \
             WHERE credit_account IN ({list}) AND credit_account NOT LIKE 'platform/%' AND created_at < $1 \
             GROUP BY credit_account, kind \
             UNION ALL \
             SELECT debit_account AS account, 'debit' AS side, kind, \
                    CAST(SUM(amount) AS BIGINT) AS amount, \
                    CAST(COALESCE(SUM(CASE WHEN pending_id IS NULL THEN 0 ELSE \
                        (SELECT p.amount FROM transfers AS p WHERE p.id = t.pending_id AND p.kind = 'pending') \
                    END), 0) AS BIGINT) AS resolved \
             FROM transfers AS t \
             WHERE debit_account IN ({list}) AND debit_account NOT LIKE 'platform/%' AND created_at < $1 \
             GROUP BY debit_account, kind"
        );
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
                        row.text("kind")?,
                        row.int("amount")?,
                        row.int("resolved")?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        for (account, side, kind, amount, resolved) in rows {
            let Some(i) = accounts.iter().position(|a| a.as_str() == account) else {
                continue;
            };
            let b = &mut balances[i];
            let (posted, pending) = match side.as_str() {
                "credit" => (&mut b.credits_posted, &mut b.credits_pending),
                "debit" => (&mut b.debits_posted, &mut b.debits_pending),
                other => return Err(corrupt(format!("side {other}"))),
            };
            // The ledger's rules (`ledger::Book`): a post adds its own amount to the posted
            // sums and takes the pending transfer's out of the pending ones; a void only
            // takes it out.
            match kind.as_str() {
                "posted" => *posted += amount,
                "pending" => *pending += amount,
                "post_pending" => {
                    *posted += amount;
                    *pending -= resolved;
                }
                "void_pending" => *pending -= resolved,
                other => return Err(corrupt(format!("transfer kind {other}"))),
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

    /// The transfers of `ids` that exist, in the order applied (a statement's pending
    /// payouts booked before its month, which the month's transfers post or void).
    pub async fn transfers_by_id(&self, ids: &[&TransferId]) -> Result<Vec<Transfer>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(1, ids.len());
        let sql = format!(
            "SELECT {cols} FROM transfers WHERE id IN ({list}) ORDER BY seq",
            cols = transfer_columns!()
        );
        with_pool!(&self.db, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in ids {
                query = query.bind(id.as_str());
            }
            query
                .fetch_all(pool)
                .await?
                .iter()
                .map(transfer_from)
                .collect::<Result<Vec<_>, StoreError>>()
        })
    }
}
