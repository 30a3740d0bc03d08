//! Streams the whole ledger through [`ledger::Verifier`].

use std::collections::HashMap;

use futures_util::TryStreamExt;

use crate::columns::{Columns, account_columns, account_from, transfer_columns, transfer_from};
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
                let balances: HashMap<String, ledger::Balances> = accounts
                    .iter()
                    .map(|(a, b)| (a.id.to_string(), *b))
                    .collect();
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
                drop(rows);
                let mut report = verifier.finish();
                let mut problems = Vec::new();
                // Held income is what the pending balances hold.
                let held = sqlx::query(
                    "SELECT owner, currency, CAST(SUM(amount) AS BIGINT) AS held FROM holds \
                     WHERE status = 'held' GROUP BY owner, currency",
                )
                .fetch_all(&mut *conn)
                .await?;
                let mut expected: HashMap<String, i64> = HashMap::new();
                for row in &held {
                    expected.insert(
                        format!("{}/creator_pending/{}", row.text("owner")?, row.text("currency")?),
                        row.int("held")?,
                    );
                }
                compare(&balances, "creator_pending", &expected, |b| b.credits_posted - b.debits_posted,
                    "its balance", "its held income sums to", &mut problems);
                // Pending payouts are what the available balances have pending; paid ones
                // are what was paid out.
                let payouts = sqlx::query(
                    "SELECT creator_id, currency, status, CAST(SUM(amount) AS BIGINT) AS total FROM payouts \
                     WHERE status IN ('pending', 'paid') GROUP BY creator_id, currency, status",
                )
                .fetch_all(&mut *conn)
                .await?;
                let (mut pending, mut paid) = (HashMap::new(), HashMap::new());
                for row in &payouts {
                    let (creator, currency) = (row.text("creator_id")?, row.text("currency")?);
                    if row.text("status")? == "pending" {
                        pending.insert(format!("{creator}/creator_available/{currency}"), row.int("total")?);
                    } else {
                        paid.insert(format!("{creator}/creator_paid_out/{currency}"), row.int("total")?);
                    }
                }
                compare(&balances, "creator_available", &pending, |b| b.debits_pending,
                    "its pending debits", "its pending payouts sum to", &mut problems);
                compare(&balances, "creator_paid_out", &paid, |b| b.credits_posted - b.debits_posted,
                    "its balance", "its paid payouts sum to", &mut problems);
                // What each match program counts against its caps is what standing purchases
                // were matched.
                let usage = sqlx::query(
                    "SELECT u.program_id, u.currency, CAST(SUM(u.matched) AS BIGINT) AS used, \
                            CAST(COALESCE((SELECT SUM(p.match_amount) FROM purchases p \
                                  WHERE p.match_program = u.program_id AND p.currency = u.currency \
                                    AND p.status = 'succeeded'), 0) AS BIGINT) AS matched \
                     FROM match_usage u GROUP BY u.program_id, u.currency",
                )
                .fetch_all(&mut *conn)
                .await?;
                for row in &usage {
                    let (used, matched) = (row.int("used")?, row.int("matched")?);
                    if used != matched {
                        problems.push(format!(
                            "match program {} counts {used} {} against its caps but its standing purchases were matched {matched}",
                            row.text("program_id")?,
                            row.text("currency")?
                        ));
                    }
                }
                problems.sort();
                report.problems.extend(problems);
                report.ok = report.problems.is_empty();
                Ok::<_, StoreError>(report)
            }
            .await;
            let _ = sqlx::query("COMMIT").execute(&mut *conn).await;
            result
        })
    }
}

/// Every account of `purpose` whose `value` differs from what `expected` says it should be
/// (absent: zero), and every expected one that does not exist, as problems.
fn compare(
    balances: &HashMap<String, ledger::Balances>,
    purpose: &str,
    expected: &HashMap<String, i64>,
    value: impl Fn(&ledger::Balances) -> i64,
    measured: &str,
    what: &str,
    problems: &mut Vec<String>,
) {
    let marker = format!("/{purpose}/");
    for (id, b) in balances.iter().filter(|(id, _)| id.contains(&marker)) {
        let want = expected.get(id).copied().unwrap_or(0);
        if value(b) != want {
            problems.push(format!(
                "account {id}: {measured} is {} but {what} {want}",
                value(b)
            ));
        }
    }
    for (id, want) in expected {
        if !balances.contains_key(id) && *want != 0 {
            problems.push(format!("account {id} is missing but {what} {want}"));
        }
    }
}

/// Problems listed per kind, at most.
const PAYMENT_PROBLEMS_MAX: i64 = 20;

impl Store {
    /// The sandbox provider and the ledger agree: every charge that stands (`succeeded`) is
    /// exactly one standing purchase or top-up, and every standing card purchase or top-up
    /// has exactly one standing charge. Empty when they agree. A charge whose payment attempt
    /// is still being settled (its request running, or waiting for the reconciler) is in
    /// flight, not a problem — unless its attempt has been unsettled for an hour, which the
    /// reconciler (every minute) should never allow. (Meaningful with the sandbox provider,
    /// whose charges are in this database.)
    pub async fn verify_payments(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let stale = crate::to_micros(crate::now() - time::Duration::HOUR);
        let stuck: Vec<(String, String)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT key, reference FROM payment_attempts \
             WHERE status IN ('pending', 'processing') AND created_at < $1 ORDER BY created_at LIMIT $2",
        )
        .bind(stale)
        .bind(PAYMENT_PROBLEMS_MAX)
        .fetch_all(pool)
        .await?);
        for (key, reference) in stuck {
            problems.push(format!(
                "payment attempt {key} (for {reference}) unsettled for over an hour: is the reconciler running?"
            ));
        }
        let unbooked: Vec<(String, String)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT c.id, c.reference FROM sandbox_charges c WHERE c.status = 'succeeded' \
               AND NOT EXISTS (SELECT 1 FROM purchases p WHERE p.payment_id = c.id AND p.status = 'succeeded') \
               AND NOT EXISTS (SELECT 1 FROM topups t WHERE t.payment_id = c.id AND t.status = 'succeeded') \
               AND NOT EXISTS (SELECT 1 FROM payment_attempts a WHERE a.reference = c.reference \
                                 AND a.status IN ('pending', 'processing') AND a.created_at >= $2) \
             ORDER BY c.id LIMIT $1",
        )
        .bind(PAYMENT_PROBLEMS_MAX)
        .bind(stale)
        .fetch_all(pool)
        .await?);
        for (charge, reference) in unbooked {
            problems.push(format!(
                "charge {charge} (for {reference}) stands with no standing purchase or top-up"
            ));
        }
        let uncharged: Vec<(String, String)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT b.id, b.payment_id FROM ( \
                 SELECT id, payment_id FROM purchases WHERE payment_method = 'card' AND status = 'succeeded' \
                 UNION ALL SELECT id, payment_id FROM topups WHERE status = 'succeeded') b \
             WHERE NOT EXISTS (SELECT 1 FROM sandbox_charges c WHERE c.id = b.payment_id AND c.status = 'succeeded') \
             ORDER BY b.id LIMIT $1",
        )
        .bind(PAYMENT_PROBLEMS_MAX)
        .fetch_all(pool)
        .await?);
        for (booking, payment) in uncharged {
            problems.push(format!(
                "{booking} stands but its charge {payment} does not"
            ));
        }
        let doubled: Vec<(String, i64)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT payment_id, CAST(COUNT(*) AS BIGINT) FROM ( \
                 SELECT payment_id FROM purchases WHERE payment_method = 'card' \
                 UNION ALL SELECT payment_id FROM topups) b \
             GROUP BY payment_id HAVING COUNT(*) > 1 ORDER BY payment_id LIMIT $1",
        )
        .bind(PAYMENT_PROBLEMS_MAX)
        .fetch_all(pool)
        .await?);
        for (payment, n) in doubled {
            problems.push(format!("charge {payment} is booked {n} times"));
        }
        Ok(problems)
    }
}
