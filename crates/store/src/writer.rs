//! The ledger's batching writer (group commit).
//!
//! Every money movement is a [`WriteJob`]: a set of transfers to apply atomically, the rows
//! that belong with it (a purchase, a refund mark, a stored idempotent answer), and guards
//! that must hold. One task owns one connection; it takes every job waiting (up to
//! `batch_max`), applies them in order with [`ledger::Book`], and commits the whole batch in
//! one database transaction with a handful of set-wise statements whatever the batch size:
//! rows travel as one JSON array per table, balance changes are summed per account. A
//! caller is answered only after the commit returned, so a 2xx means durable.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use ledger::{
    Account, AccountId, Applied, BalanceRule, Balances, Book, Code, LedgerError, Purpose, Transfer,
    TransferId, TransferKind,
};
use money::Currency;
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::rows::{IdempotencyRecord, Purchase, PurchaseId, UserId};
use crate::{StoreError, to_micros};

/// Limits of the writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Most jobs committed in one transaction.
    pub batch_max: usize,
    /// Most jobs waiting; senders wait when it is full.
    pub queue_max: usize,
    /// How long to wait for more jobs when fewer than `batch_max` are waiting. Zero takes
    /// what is there: jobs arriving during a commit form the next batch by themselves.
    pub batch_wait: Duration,
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            batch_max: 4_096,
            queue_max: 65_536,
            batch_wait: Duration::ZERO,
        }
    }
}

/// A condition checked inside the batch, against committed rows and the jobs before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The viewer's succeeded purchases in `currency` since `since`, plus `amount`, must
    /// not exceed `limit` (minor units).
    SpendLimit {
        /// The buyer.
        viewer_id: UserId,
        /// Currency of the limit.
        currency: Currency,
        /// Start of the period.
        since: OffsetDateTime,
        /// This purchase's amount.
        amount: i64,
        /// The cap.
        limit: i64,
    },
    /// The purchase must exist and not be refunded.
    PurchaseSucceeded(PurchaseId),
}

/// A row written when the job's transfers apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Records a new purchase.
    InsertPurchase(Box<Purchase>),
    /// Marks a purchase refunded.
    MarkRefunded {
        /// The purchase.
        purchase_id: PurchaseId,
        /// When.
        at: OffsetDateTime,
    },
}

/// One unit of work for the writer: all of it is committed, or none.
#[derive(Debug, Clone, Default)]
pub struct WriteJob {
    /// Accounts to open if they do not exist yet.
    pub accounts: Vec<Account>,
    /// One set of transfers, applied atomically (may be empty).
    pub transfers: Vec<Transfer>,
    /// The answer to store under the caller's idempotency key.
    pub idempotency: Option<IdempotencyRecord>,
    /// Conditions that must hold.
    pub guards: Vec<Guard>,
    /// Rows written with the transfers.
    pub effects: Vec<Effect>,
}

/// Why a job was refused; nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The ledger refused the transfers.
    Ledger(LedgerError),
    /// A [`Guard::SpendLimit`] failed.
    SpendingLimit,
    /// A [`Guard::PurchaseSucceeded`] failed.
    NotRefundable,
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written.
    Applied,
    /// Its transfers all existed already: nothing written.
    Replayed,
    /// Its idempotency key was already used: nothing written; here is the stored answer.
    Duplicate(IdempotencyRecord),
    /// Refused: nothing written.
    Refused(Refusal),
}

enum Msg {
    Job(Box<WriteJob>, oneshot::Sender<Result<Outcome, StoreError>>),
    Stop(oneshot::Sender<()>),
}

/// Handle to the writer task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

/// Which income source a transfer code counts for, and with which sign; the owner is the
/// credited account's for +1 and the debited account's for -1.
pub fn income_source(code: Code) -> Option<(&'static str, i64)> {
    match code {
        Code::BADGE_SHARE => Some(("badges", 1)),
        Code::BADGE_SHARE_REFUND => Some(("badges", -1)),
        _ => None,
    }
}

impl Writer {
    pub(crate) fn start(conn: SqliteConnection, config: WriterConfig) -> Writer {
        let (tx, rx) = mpsc::channel(config.queue_max.max(1));
        tokio::spawn(run(conn, rx, config));
        Writer { tx }
    }

    /// Queues `job` and waits until its batch is committed (or refused).
    pub async fn submit(&self, job: WriteJob) -> Result<Outcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Job(Box::new(job), reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Lets the writer commit what is queued, then stops it.
    pub async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Stop(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn run(mut conn: SqliteConnection, mut rx: mpsc::Receiver<Msg>, config: WriterConfig) {
    let batch_max = config.batch_max.max(1);
    let mut msgs: Vec<Msg> = Vec::with_capacity(batch_max);
    loop {
        if rx.recv_many(&mut msgs, batch_max).await == 0 {
            return;
        }
        if msgs.len() < batch_max && !config.batch_wait.is_zero() {
            tokio::time::sleep(config.batch_wait).await;
            let room = batch_max - msgs.len();
            if room > 0 {
                while let Ok(m) = rx.try_recv() {
                    msgs.push(m);
                    if msgs.len() >= batch_max {
                        break;
                    }
                }
            }
        }
        let mut jobs = Vec::with_capacity(msgs.len());
        let mut replies = Vec::with_capacity(msgs.len());
        let mut stop = None;
        for m in msgs.drain(..) {
            match m {
                Msg::Job(job, reply) if stop.is_none() => {
                    jobs.push(*job);
                    replies.push(reply);
                }
                Msg::Job(_, reply) => {
                    let _ = reply.send(Err(StoreError::WriterStopped));
                }
                Msg::Stop(ack) => stop = Some(ack),
            }
        }
        if !jobs.is_empty() {
            let started = Instant::now();
            let result = commit_batch(&mut conn, &jobs).await;
            metrics::histogram!("ovation_ledger_commit_seconds")
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!("ovation_ledger_batch_jobs").record(jobs.len() as f64);
            match result {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, source = ?std::error::Error::source(&e), jobs = jobs.len(), "ledger batch failed; rolled back");
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Unavailable(sqlx::Error::Protocol(
                            "ledger batch failed".into(),
                        ))));
                    }
                }
            }
        }
        if let Some(ack) = stop {
            rx.close();
            while let Ok(m) = rx.try_recv() {
                if let Msg::Job(_, reply) = m {
                    let _ = reply.send(Err(StoreError::WriterStopped));
                }
            }
            let _ = ack.send(());
            return;
        }
    }
}

async fn commit_batch(
    conn: &mut SqliteConnection,
    jobs: &[WriteJob],
) -> Result<Vec<Outcome>, StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    match write_batch(conn, jobs).await {
        Ok(outcomes) => match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(outcomes),
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub(crate) fn account_from_row(
    row: &sqlx::sqlite::SqliteRow,
) -> Result<(Account, Balances), StoreError> {
    let id: String = row.try_get("id")?;
    let purpose: String = row.try_get("purpose")?;
    let currency: String = row.try_get("currency")?;
    let rule: String = row.try_get("rule")?;
    let account = Account {
        owner: row.try_get("owner")?,
        purpose: Purpose::parse(&purpose)
            .ok_or_else(|| corrupt(format!("account {id}: purpose {purpose}")))?,
        currency: Currency::parse(&currency).map_err(|e| corrupt(format!("account {id}: {e}")))?,
        rule: BalanceRule::parse(&rule)
            .ok_or_else(|| corrupt(format!("account {id}: rule {rule}")))?,
        id: AccountId::from_stored(id),
    };
    let balances = Balances {
        debits_posted: row.try_get("debits_posted")?,
        credits_posted: row.try_get("credits_posted")?,
        debits_pending: row.try_get("debits_pending")?,
        credits_pending: row.try_get("credits_pending")?,
    };
    Ok((account, balances))
}

pub(crate) fn transfer_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Transfer, StoreError> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let pending_id: Option<String> = row.try_get("pending_id")?;
    let currency: String = row.try_get("currency")?;
    let code: i64 = row.try_get("code")?;
    Ok(Transfer {
        kind: TransferKind::from_stored(&kind, pending_id)
            .ok_or_else(|| corrupt(format!("transfer {id}: kind {kind}")))?,
        currency: Currency::parse(&currency).map_err(|e| corrupt(format!("transfer {id}: {e}")))?,
        code: Code(
            u16::try_from(code).map_err(|_| corrupt(format!("transfer {id}: code {code}")))?,
        ),
        debit: AccountId::from_stored(row.try_get("debit_account")?),
        credit: AccountId::from_stored(row.try_get("credit_account")?),
        amount: row.try_get("amount")?,
        reference: row.try_get("reference")?,
        id: TransferId::new(id),
    })
}

/// The columns [`account_from_row`] reads.
macro_rules! account_columns {
    () => {
        "id, owner, purpose, currency, rule, debits_posted, credits_posted, debits_pending, credits_pending"
    };
}
/// The columns [`transfer_from_row`] reads.
macro_rules! transfer_columns {
    () => {
        "id, debit_account, credit_account, amount, currency, kind, pending_id, code, reference"
    };
}
pub(crate) use {account_columns, transfer_columns};

async fn write_batch(
    conn: &mut SqliteConnection,
    jobs: &[WriteJob],
) -> Result<Vec<Outcome>, StoreError> {
    let now = to_micros(crate::now());
    let mut book = Book::new();

    // Load what the batch touches: accounts, existing transfers with the batch's ids or
    // named as pending, and which of those pendings are resolved.
    let account_ids: BTreeSet<&str> = jobs
        .iter()
        .flat_map(|j| {
            j.accounts.iter().map(|a| a.id.as_str()).chain(
                j.transfers
                    .iter()
                    .flat_map(|t| [t.debit.as_str(), t.credit.as_str()]),
            )
        })
        .collect();
    if !account_ids.is_empty() {
        let sql = concat!(
            "SELECT ",
            account_columns!(),
            " FROM ledger_accounts WHERE id IN (SELECT value FROM json_each($1))"
        );
        let rows = sqlx::query(sql)
            .bind(json!(account_ids).to_string())
            .fetch_all(&mut *conn)
            .await?;
        for row in &rows {
            let (account, balances) = account_from_row(row)?;
            book.load_account(account, balances);
        }
    }
    let pending_ids: BTreeSet<&str> = jobs
        .iter()
        .flat_map(|j| {
            j.transfers
                .iter()
                .filter_map(|t| t.kind.pending_id().map(TransferId::as_str))
        })
        .collect();
    let transfer_ids: BTreeSet<&str> = jobs
        .iter()
        .flat_map(|j| j.transfers.iter().map(|t| t.id.as_str()))
        .chain(pending_ids.iter().copied())
        .collect();
    if !transfer_ids.is_empty() {
        let resolved: HashSet<String> = if pending_ids.is_empty() {
            HashSet::new()
        } else {
            sqlx::query("SELECT pending_id FROM transfers WHERE pending_id IN (SELECT value FROM json_each($1))")
                .bind(json!(pending_ids).to_string())
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?
        };
        let sql = concat!(
            "SELECT ",
            transfer_columns!(),
            " FROM transfers WHERE id IN (SELECT value FROM json_each($1))"
        );
        let rows = sqlx::query(sql)
            .bind(json!(transfer_ids).to_string())
            .fetch_all(&mut *conn)
            .await?;
        for row in &rows {
            let t = transfer_from_row(row)?;
            let is_resolved = resolved.contains(t.id.as_str());
            book.load_transfer(t, is_resolved);
        }
    }

    // Stored idempotent answers for the keys in the batch.
    let keys: Vec<[&str; 2]> = jobs
        .iter()
        .filter_map(|j| {
            j.idempotency
                .as_ref()
                .map(|r| [r.account_id.as_str(), r.key.as_str()])
        })
        .collect();
    let mut answers: HashMap<(String, String), IdempotencyRecord> = HashMap::new();
    if !keys.is_empty() {
        let rows = sqlx::query(
            "SELECT account_id, key, fingerprint, status, body FROM idempotency \
             WHERE (account_id, key) IN (SELECT value->>0, value->>1 FROM json_each($1))",
        )
        .bind(json!(keys).to_string())
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            let record = idempotency_from_row(row)?;
            answers.insert((record.account_id.clone(), record.key.clone()), record);
        }
    }

    // Purchases that guards name.
    let guarded: BTreeSet<&str> = jobs
        .iter()
        .flat_map(|j| j.guards.iter())
        .filter_map(|g| match g {
            Guard::PurchaseSucceeded(p) => Some(p.as_str()),
            Guard::SpendLimit { .. } => None,
        })
        .collect();
    let mut succeeded: HashSet<String> = HashSet::new();
    if !guarded.is_empty() {
        let rows = sqlx::query(
            "SELECT id FROM purchases WHERE status = 'succeeded' AND id IN (SELECT value FROM json_each($1))",
        )
        .bind(json!(guarded).to_string())
        .fetch_all(&mut *conn)
        .await?;
        for row in &rows {
            succeeded.insert(row.try_get(0)?);
        }
    }

    let mut spent: HashMap<(String, Currency), i64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut new_answers: Vec<&IdempotencyRecord> = Vec::new();
    let mut purchases: Vec<&Purchase> = Vec::new();
    let mut refunds: Vec<(&PurchaseId, OffsetDateTime)> = Vec::new();

    for job in jobs {
        if let Some(record) = &job.idempotency
            && let Some(stored) = answers.get(&(record.account_id.clone(), record.key.clone()))
        {
            outcomes.push(Outcome::Duplicate(stored.clone()));
            continue;
        }
        if let Some(refusal) = check_guards(conn, job, &succeeded, &mut spent).await? {
            outcomes.push(Outcome::Refused(refusal));
            continue;
        }
        for account in &job.accounts {
            book.open_account(account.clone());
        }
        let applied = if job.transfers.is_empty() {
            Applied::Posted
        } else {
            match book.apply(&job.transfers) {
                Ok(applied) => applied,
                Err(e) => {
                    outcomes.push(Outcome::Refused(Refusal::Ledger(e)));
                    continue;
                }
            }
        };
        if applied == Applied::Replayed {
            outcomes.push(Outcome::Replayed);
            continue;
        }
        // The job is in: later jobs of the batch see what it did.
        for guard in &job.guards {
            match guard {
                Guard::SpendLimit {
                    viewer_id,
                    currency,
                    amount,
                    ..
                } => {
                    *spent
                        .entry((viewer_id.as_str().to_owned(), *currency))
                        .or_default() += amount;
                }
                Guard::PurchaseSucceeded(p) => {
                    succeeded.remove(p.as_str());
                }
            }
        }
        for effect in &job.effects {
            match effect {
                Effect::InsertPurchase(p) => purchases.push(p),
                Effect::MarkRefunded { purchase_id, at } => refunds.push((purchase_id, *at)),
            }
        }
        if let Some(record) = &job.idempotency {
            answers.insert(
                (record.account_id.clone(), record.key.clone()),
                record.clone(),
            );
            new_answers.push(record);
        }
        outcomes.push(Outcome::Applied);
    }

    let changes = book.take_changes();
    assert_balanced(&changes.deltas, &book)?;
    write_changes(conn, &book, &changes, now).await?;
    write_rows(conn, &purchases, &refunds, &new_answers, now).await?;
    metrics::counter!("ovation_ledger_transfers_total").increment(changes.transfers.len() as u64);
    Ok(outcomes)
}

async fn check_guards(
    conn: &mut SqliteConnection,
    job: &WriteJob,
    succeeded: &HashSet<String>,
    spent: &mut HashMap<(String, Currency), i64>,
) -> Result<Option<Refusal>, StoreError> {
    for guard in &job.guards {
        match guard {
            Guard::PurchaseSucceeded(p) => {
                if !succeeded.contains(p.as_str()) {
                    return Ok(Some(Refusal::NotRefundable));
                }
            }
            Guard::SpendLimit {
                viewer_id,
                currency,
                since,
                amount,
                limit,
            } => {
                let key = (viewer_id.as_str().to_owned(), *currency);
                let in_batch = spent.get(&key).copied().unwrap_or(0);
                let committed: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(SUM(amount), 0) FROM purchases \
                     WHERE viewer_id = $1 AND currency = $2 AND status = 'succeeded' AND created_at >= $3",
                )
                .bind(viewer_id.as_str())
                .bind(currency.code())
                .bind(to_micros(*since))
                .fetch_one(&mut *conn)
                .await?;
                if committed.saturating_add(in_batch).saturating_add(*amount) > *limit {
                    return Ok(Some(Refusal::SpendingLimit));
                }
            }
        }
    }
    Ok(None)
}

/// Debits equal credits in every currency, posted and pending, before anything is written
/// (the verifier checks the same after the fact: TigerBeetle's paired assertions).
fn assert_balanced(deltas: &[(AccountId, Balances)], book: &Book) -> Result<(), StoreError> {
    let mut sums: HashMap<Currency, [i128; 4]> = HashMap::new();
    for (id, d) in deltas {
        let (account, _) = book
            .account(id)
            .ok_or_else(|| corrupt(format!("delta for unknown account {id}")))?;
        let s = sums.entry(account.currency).or_default();
        s[0] += i128::from(d.debits_posted);
        s[1] += i128::from(d.credits_posted);
        s[2] += i128::from(d.debits_pending);
        s[3] += i128::from(d.credits_pending);
    }
    for (currency, s) in sums {
        if s[0] != s[1] || s[2] != s[3] {
            return Err(corrupt(format!("unbalanced batch in {currency}: {s:?}")));
        }
    }
    Ok(())
}

/// Transfers per multi-row `INSERT … VALUES` (10 parameters each, well under SQLite's
/// 32,766 and PostgreSQL's 65,535).
const TRANSFER_ROWS_PER_INSERT: usize = 256;

/// `INSERT INTO transfers … VALUES (?, …), (?, …)` for `rows` rows. Anonymous `?`
/// placeholders: with thousands of numbered `$n` ones the statement ran 3× slower (each
/// name is looked up); a PostgreSQL backend would number them.
fn transfer_insert(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, pending_id, code, reference, created_at) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?)");
    }
    sql
}

fn full_transfer_insert() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| transfer_insert(TRANSFER_ROWS_PER_INSERT))
}

async fn write_changes(
    conn: &mut SqliteConnection,
    book: &Book,
    changes: &ledger::Changes,
    now: i64,
) -> Result<(), StoreError> {
    if !changes.accounts.is_empty() {
        let rows: Vec<Value> = changes
            .accounts
            .iter()
            .map(|a| {
                json!([
                    a.id.as_str(),
                    a.owner,
                    a.purpose.as_str(),
                    a.currency.code(),
                    a.rule.as_str()
                ])
            })
            .collect();
        sqlx::query(
            "INSERT INTO ledger_accounts (id, owner, purpose, currency, rule, created_at) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, $2 FROM json_each($1) WHERE true \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(Value::Array(rows).to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    // Transfers are the bulk of a batch: multi-row VALUES with bound parameters (prepared
    // once per chunk size and cached) cost less per row than extracting nine JSON fields.
    for chunk in changes.transfers.chunks(TRANSFER_ROWS_PER_INSERT) {
        // The SQL is built from constants only: placeholders for `chunk.len()` rows.
        let mut query = if chunk.len() == TRANSFER_ROWS_PER_INSERT {
            sqlx::query(full_transfer_insert())
        } else {
            sqlx::query(sqlx::AssertSqlSafe(transfer_insert(chunk.len())))
        };
        for t in chunk {
            query = query
                .bind(t.id.as_str())
                .bind(t.debit.as_str())
                .bind(t.credit.as_str())
                .bind(t.amount)
                .bind(t.currency.code())
                .bind(t.kind.as_str())
                .bind(t.kind.pending_id().map(TransferId::as_str))
                .bind(i64::from(t.code.0))
                .bind(t.reference.as_str())
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    if !changes.deltas.is_empty() {
        let rows: Vec<Value> = changes
            .deltas
            .iter()
            .map(|(id, d)| {
                json!([
                    id.as_str(),
                    d.debits_posted,
                    d.credits_posted,
                    d.debits_pending,
                    d.credits_pending
                ])
            })
            .collect();
        sqlx::query(
            "UPDATE ledger_accounts SET \
                debits_posted = debits_posted + d.dp, credits_posted = credits_posted + d.cp, \
                debits_pending = debits_pending + d.dq, credits_pending = credits_pending + d.cq \
             FROM (SELECT value->>0 AS id, value->>1 AS dp, value->>2 AS cp, value->>3 AS dq, value->>4 AS cq \
                   FROM json_each($1)) AS d \
             WHERE ledger_accounts.id = d.id",
        )
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await?;
    }
    let mut income: HashMap<(&str, &str, Currency), i64> = HashMap::new();
    for t in &changes.transfers {
        if let Some((source, sign)) = income_source(t.code) {
            let account = if sign > 0 { &t.credit } else { &t.debit };
            if let Some((a, _)) = book.account(account) {
                *income
                    .entry((a.owner.as_str(), source, t.currency))
                    .or_default() += sign * t.amount;
            }
        }
    }
    if !income.is_empty() {
        let rows: Vec<Value> = income
            .iter()
            .map(|((owner, source, currency), amount)| {
                json!([owner, source, currency.code(), amount])
            })
            .collect();
        sqlx::query(
            "INSERT INTO income_totals (owner, source, currency, amount) \
             SELECT value->>0, value->>1, value->>2, value->>3 FROM json_each($1) WHERE true \
             ON CONFLICT (owner, source, currency) DO UPDATE SET amount = income_totals.amount + excluded.amount",
        )
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn write_rows(
    conn: &mut SqliteConnection,
    purchases: &[&Purchase],
    refunds: &[(&PurchaseId, OffsetDateTime)],
    answers: &[&IdempotencyRecord],
    now: i64,
) -> Result<(), StoreError> {
    if !purchases.is_empty() {
        let rows: Vec<Value> = purchases
            .iter()
            .map(|p| {
                json!([
                    p.id.as_str(),
                    p.live_id.as_str(),
                    p.viewer_id.as_str(),
                    p.creator_id.as_str(),
                    p.tier.get(),
                    p.price.amount(),
                    p.price.currency().code(),
                    p.creator_share.amount(),
                    p.platform_fee.amount(),
                    p.status.as_str(),
                    p.payment_id,
                    to_micros(p.created_at)
                ])
            })
            .collect();
        sqlx::query(
            "INSERT INTO purchases (id, live_id, viewer_id, creator_id, tier, amount, currency, creator_share, platform_fee, status, payment_id, created_at) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, value->>8, value->>9, value->>10, value->>11 \
             FROM json_each($1)",
        )
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await?;
    }
    if !refunds.is_empty() {
        let rows: Vec<Value> = refunds
            .iter()
            .map(|(id, at)| json!([id.as_str(), to_micros(*at)]))
            .collect();
        sqlx::query(
            "UPDATE purchases SET status = 'refunded', refunded_at = r.at \
             FROM (SELECT value->>0 AS id, value->>1 AS at FROM json_each($1)) AS r \
             WHERE purchases.id = r.id",
        )
        .bind(Value::Array(rows).to_string())
        .execute(&mut *conn)
        .await?;
    }
    if !answers.is_empty() {
        let rows: Vec<Value> = answers
            .iter()
            .map(|r| json!([r.account_id, r.key, r.fingerprint, r.status, r.body]))
            .collect();
        sqlx::query(
            "INSERT INTO idempotency (account_id, key, fingerprint, status, body, created_at) \
             SELECT value->>0, value->>1, value->>2, value->>3, value->>4, $2 FROM json_each($1)",
        )
        .bind(Value::Array(rows).to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(crate) fn idempotency_from_row(
    row: &sqlx::sqlite::SqliteRow,
) -> Result<IdempotencyRecord, StoreError> {
    let status: i64 = row.try_get("status")?;
    Ok(IdempotencyRecord {
        account_id: row.try_get("account_id")?,
        key: row.try_get("key")?,
        fingerprint: row.try_get("fingerprint")?,
        status: u16::try_from(status)
            .map_err(|_| corrupt(format!("idempotency status {status}")))?,
        body: row.try_get("body")?,
    })
}
