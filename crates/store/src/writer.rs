//! The ledger's batching writer (group commit).
//!
//! Every money movement is a [`WriteJob`]: a set of transfers to apply atomically, the rows
//! that belong with it (a purchase, a refund mark, a stored idempotent answer), and guards
//! that must hold. One OS thread owns one `rusqlite` connection to the database file; it
//! takes every job waiting (up to `batch_max`), applies them in order with
//! [`ledger::Book`], and commits the whole batch in one `BEGIN IMMEDIATE … COMMIT`
//! transaction. Statements are prepared once and cached and run row at a time (transfers
//! in 256-row chunks); SQLite steps them on this thread, without the per-statement channel
//! round trips of sqlx's worker (a cached point query or insert costs a few microseconds).
//! A caller is answered only after the commit returned, so a 2xx means durable.
//!
//! Reads and every other write stay on the sqlx pool; only this writer uses rusqlite.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ledger::{
    Account, AccountId, Applied, BalanceRule, Balances, Book, Code, LedgerError, Purpose, Transfer,
    TransferId, TransferKind,
};
use money::Currency;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use sqlx::Row;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::rows::{IdempotencyRecord, LiveId, Purchase, PurchaseId, UserId};
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
    /// The live must exist and be on air (`status = 'live'`).
    LiveActive(LiveId),
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
    /// A [`Guard::LiveActive`] failed: no such live, or it has ended.
    LiveNotActive,
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

/// Handle to the writer thread; cheap to clone.
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

/// Where the writer's connection goes: the same file (or shared in-memory database) the
/// sqlx pool uses.
#[derive(Debug, Clone)]
pub(crate) struct WriterDb {
    /// The file name sqlx resolved from the URL.
    pub(crate) path: PathBuf,
    /// sqlx's `sqlite::memory:` (a shared-cache in-memory database named by `path`).
    pub(crate) in_memory: bool,
}

impl WriterDb {
    /// Opens a connection with the store's pragmas: WAL, `synchronous=FULL` (every commit
    /// is fsynced before anyone is answered), foreign keys, a 5 s busy timeout.
    fn open(&self) -> Result<Connection, rusqlite::Error> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if self.in_memory {
            flags |= OpenFlags::SQLITE_OPEN_MEMORY | OpenFlags::SQLITE_OPEN_SHARED_CACHE;
        }
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        if !self.in_memory {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "journal_mode is {mode}, not wal"
                )));
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}

impl Writer {
    /// Opens the writer's connection and starts its thread.
    pub(crate) fn start(db: WriterDb, config: WriterConfig) -> Result<Writer, StoreError> {
        let conn = db.open()?;
        let (tx, rx) = mpsc::channel(config.queue_max.max(1));
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || run(&db, conn, rx, &config))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the ledger writer: {e}")))?;
        Ok(Writer { tx })
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

/// Takes what is waiting, up to `batch_max` messages in all.
fn drain(rx: &mut mpsc::Receiver<Msg>, msgs: &mut Vec<Msg>, batch_max: usize) {
    while msgs.len() < batch_max {
        match rx.try_recv() {
            Ok(m) => msgs.push(m),
            Err(_) => break,
        }
    }
}

fn run(db: &WriterDb, conn: Connection, mut rx: mpsc::Receiver<Msg>, config: &WriterConfig) {
    let batch_max = config.batch_max.max(1);
    let mut conn = Some(conn);
    let mut msgs: Vec<Msg> = Vec::with_capacity(batch_max);
    loop {
        let Some(first) = rx.blocking_recv() else {
            return;
        };
        msgs.push(first);
        drain(&mut rx, &mut msgs, batch_max);
        if msgs.len() < batch_max && !config.batch_wait.is_zero() {
            std::thread::sleep(config.batch_wait);
            drain(&mut rx, &mut msgs, batch_max);
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
            if conn.is_none() {
                match db.open() {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot reopen the ledger writer's connection");
                    }
                }
            }
            let result = match conn.as_mut() {
                Some(c) => commit_batch(c, &jobs),
                None => Err(StoreError::Unavailable(sqlx::Error::Protocol(
                    "ledger writer has no connection".into(),
                ))),
            };
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
                    // The transaction was rolled back when it was dropped. Start the next
                    // batch on a fresh connection (and a fresh statement cache) in case
                    // this one is broken; reopening costs about a millisecond.
                    conn = None;
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

/// Runs the batch in one `BEGIN IMMEDIATE … COMMIT`; on any error the transaction is
/// rolled back (rusqlite rolls back a transaction dropped uncommitted).
fn commit_batch(conn: &mut Connection, jobs: &[WriteJob]) -> Result<Vec<Outcome>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let outcomes = write_batch(&tx, jobs)?;
    tx.commit()?;
    Ok(outcomes)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Reads a column by name from a sqlx row (the read paths) or a rusqlite row (the writer).
trait Columns {
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, name: &str) -> Result<i64, StoreError>;
}

impl Columns for sqlx::sqlite::SqliteRow {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(name)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.get(name)?)
    }
    fn opt_text(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.get(name)?)
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        Ok(self.get(name)?)
    }
}

fn account_from(row: &impl Columns) -> Result<(Account, Balances), StoreError> {
    let id = row.text("id")?;
    let purpose = row.text("purpose")?;
    let currency = row.text("currency")?;
    let rule = row.text("rule")?;
    let account = Account {
        owner: row.text("owner")?,
        purpose: Purpose::parse(&purpose)
            .ok_or_else(|| corrupt(format!("account {id}: purpose {purpose}")))?,
        currency: Currency::parse(&currency).map_err(|e| corrupt(format!("account {id}: {e}")))?,
        rule: BalanceRule::parse(&rule)
            .ok_or_else(|| corrupt(format!("account {id}: rule {rule}")))?,
        id: AccountId::from_stored(id),
    };
    let balances = Balances {
        debits_posted: row.int("debits_posted")?,
        credits_posted: row.int("credits_posted")?,
        debits_pending: row.int("debits_pending")?,
        credits_pending: row.int("credits_pending")?,
    };
    Ok((account, balances))
}

fn transfer_from(row: &impl Columns) -> Result<Transfer, StoreError> {
    let id = row.text("id")?;
    let kind = row.text("kind")?;
    let pending_id = row.opt_text("pending_id")?;
    let currency = row.text("currency")?;
    let code = row.int("code")?;
    Ok(Transfer {
        kind: TransferKind::from_stored(&kind, pending_id)
            .ok_or_else(|| corrupt(format!("transfer {id}: kind {kind}")))?,
        currency: Currency::parse(&currency).map_err(|e| corrupt(format!("transfer {id}: {e}")))?,
        code: Code(
            u16::try_from(code).map_err(|_| corrupt(format!("transfer {id}: code {code}")))?,
        ),
        debit: AccountId::from_stored(row.text("debit_account")?),
        credit: AccountId::from_stored(row.text("credit_account")?),
        amount: row.int("amount")?,
        reference: row.text("reference")?,
        id: TransferId::new(id),
    })
}

fn idempotency_from(row: &impl Columns) -> Result<IdempotencyRecord, StoreError> {
    let status = row.int("status")?;
    Ok(IdempotencyRecord {
        account_id: row.text("account_id")?,
        key: row.text("key")?,
        fingerprint: row.text("fingerprint")?,
        status: u16::try_from(status)
            .map_err(|_| corrupt(format!("idempotency status {status}")))?,
        body: row.text("body")?,
    })
}

pub(crate) fn account_from_row(
    row: &sqlx::sqlite::SqliteRow,
) -> Result<(Account, Balances), StoreError> {
    account_from(row)
}

pub(crate) fn transfer_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Transfer, StoreError> {
    transfer_from(row)
}

pub(crate) fn idempotency_from_row(
    row: &sqlx::sqlite::SqliteRow,
) -> Result<IdempotencyRecord, StoreError> {
    idempotency_from(row)
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

fn write_batch(conn: &Connection, jobs: &[WriteJob]) -> Result<Vec<Outcome>, StoreError> {
    let now = to_micros(crate::now());
    let mut book = Book::new();

    // Load what the batch touches, one cached point query per row: accounts, existing
    // transfers with the batch's ids or named as pending, and which pendings are resolved.
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
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            account_columns!(),
            " FROM ledger_accounts WHERE id = ?1"
        ))?;
        for id in &account_ids {
            let mut rows = stmt.query([id])?;
            if let Some(row) = rows.next()? {
                let (account, balances) = account_from(row)?;
                book.load_account(account, balances);
            }
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
        let mut resolved: HashSet<&str> = HashSet::new();
        if !pending_ids.is_empty() {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM transfers WHERE pending_id = ?1")?;
            for id in &pending_ids {
                if stmt.exists([id])? {
                    resolved.insert(id);
                }
            }
        }
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            transfer_columns!(),
            " FROM transfers WHERE id = ?1"
        ))?;
        for id in &transfer_ids {
            let mut rows = stmt.query([id])?;
            if let Some(row) = rows.next()? {
                let t = transfer_from(row)?;
                let is_resolved = resolved.contains(t.id.as_str());
                book.load_transfer(t, is_resolved);
            }
        }
    }

    // Stored idempotent answers for the keys in the batch.
    let keys: BTreeSet<(&str, &str)> = jobs
        .iter()
        .filter_map(|j| {
            j.idempotency
                .as_ref()
                .map(|r| (r.account_id.as_str(), r.key.as_str()))
        })
        .collect();
    let mut answers: HashMap<(String, String), IdempotencyRecord> = HashMap::new();
    if !keys.is_empty() {
        let mut stmt = conn.prepare_cached(
            "SELECT account_id, key, fingerprint, status, body FROM idempotency \
             WHERE account_id = ?1 AND key = ?2",
        )?;
        for (account_id, key) in &keys {
            let mut rows = stmt.query([account_id, key])?;
            if let Some(row) = rows.next()? {
                let record = idempotency_from(row)?;
                answers.insert((record.account_id.clone(), record.key.clone()), record);
            }
        }
    }

    // Purchases and lives that guards name.
    let mut succeeded: HashSet<String> = HashSet::new();
    let mut active_lives: HashSet<&str> = HashSet::new();
    {
        let mut purchases: BTreeSet<&str> = BTreeSet::new();
        let mut lives: BTreeSet<&str> = BTreeSet::new();
        for guard in jobs.iter().flat_map(|j| j.guards.iter()) {
            match guard {
                Guard::PurchaseSucceeded(p) => {
                    purchases.insert(p.as_str());
                }
                Guard::LiveActive(l) => {
                    lives.insert(l.as_str());
                }
                Guard::SpendLimit { .. } => {}
            }
        }
        if !purchases.is_empty() {
            let mut stmt = conn
                .prepare_cached("SELECT 1 FROM purchases WHERE id = ?1 AND status = 'succeeded'")?;
            for id in purchases {
                if stmt.exists([id])? {
                    succeeded.insert(id.to_owned());
                }
            }
        }
        if !lives.is_empty() {
            let mut stmt =
                conn.prepare_cached("SELECT 1 FROM lives WHERE id = ?1 AND status = 'live'")?;
            for id in lives {
                if stmt.exists([id])? {
                    active_lives.insert(id);
                }
            }
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
        if let Some(refusal) = check_guards(conn, job, &succeeded, &active_lives, &spent)? {
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
                Guard::LiveActive(_) => {}
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
    write_changes(conn, &book, &changes, now)?;
    write_rows(conn, &purchases, &refunds, &new_answers, now)?;
    metrics::counter!("ovation_ledger_transfers_total").increment(changes.transfers.len() as u64);
    Ok(outcomes)
}

fn check_guards(
    conn: &Connection,
    job: &WriteJob,
    succeeded: &HashSet<String>,
    active_lives: &HashSet<&str>,
    spent: &HashMap<(String, Currency), i64>,
) -> Result<Option<Refusal>, StoreError> {
    for guard in &job.guards {
        match guard {
            Guard::PurchaseSucceeded(p) => {
                if !succeeded.contains(p.as_str()) {
                    return Ok(Some(Refusal::NotRefundable));
                }
            }
            Guard::LiveActive(l) => {
                if !active_lives.contains(l.as_str()) {
                    return Ok(Some(Refusal::LiveNotActive));
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
                let committed: i64 = conn
                    .prepare_cached(
                        "SELECT COALESCE(SUM(amount), 0) FROM purchases \
                         WHERE viewer_id = ?1 AND currency = ?2 AND status = 'succeeded' AND created_at >= ?3",
                    )?
                    .query_row(
                        params![viewer_id.as_str(), currency.code(), to_micros(*since)],
                        |r| r.get(0),
                    )?;
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

fn write_changes(
    conn: &Connection,
    book: &Book,
    changes: &ledger::Changes,
    now: i64,
) -> Result<(), StoreError> {
    if !changes.accounts.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO ledger_accounts (id, owner, purpose, currency, rule, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
        )?;
        for a in &changes.accounts {
            stmt.execute(params![
                a.id.as_str(),
                a.owner,
                a.purpose.as_str(),
                a.currency.code(),
                a.rule.as_str(),
                now
            ])?;
        }
    }
    insert_transfers(conn, &changes.transfers, now)?;
    if !changes.deltas.is_empty() {
        let mut stmt = conn.prepare_cached(
            "UPDATE ledger_accounts SET \
                debits_posted = debits_posted + ?2, credits_posted = credits_posted + ?3, \
                debits_pending = debits_pending + ?4, credits_pending = credits_pending + ?5 \
             WHERE id = ?1",
        )?;
        for (id, d) in &changes.deltas {
            let n = stmt.execute(params![
                id.as_str(),
                d.debits_posted,
                d.credits_posted,
                d.debits_pending,
                d.credits_pending
            ])?;
            if n != 1 {
                return Err(corrupt(format!("balance update for missing account {id}")));
            }
        }
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
        let mut stmt = conn.prepare_cached(
            "INSERT INTO income_totals (owner, source, currency, amount) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (owner, source, currency) DO UPDATE SET amount = income_totals.amount + excluded.amount",
        )?;
        for ((owner, source, currency), amount) in &income {
            stmt.execute(params![owner, source, currency.code(), amount])?;
        }
    }
    Ok(())
}

/// Transfers per multi-row `INSERT … VALUES` (10 parameters each).
const TRANSFER_ROWS_PER_INSERT: usize = 256;

/// `INSERT INTO transfers … VALUES (?, …), (?, …)` for `rows` rows.
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

/// Transfers are the bulk of a big batch: full chunks of 256 go through one cached 256-row
/// statement (measured ~7 % faster than row at a time for 8,192 rows), the rest row at a
/// time through a cached one-row statement (no statement per remainder size to prepare).
fn insert_transfers(conn: &Connection, transfers: &[Transfer], now: i64) -> Result<(), StoreError> {
    let mut chunks = transfers.chunks_exact(TRANSFER_ROWS_PER_INSERT);
    if chunks.len() > 0 {
        let mut stmt = conn.prepare_cached(full_transfer_insert())?;
        for chunk in chunks.by_ref() {
            let mut i = 0;
            for t in chunk {
                stmt.raw_bind_parameter(i + 1, t.id.as_str())?;
                stmt.raw_bind_parameter(i + 2, t.debit.as_str())?;
                stmt.raw_bind_parameter(i + 3, t.credit.as_str())?;
                stmt.raw_bind_parameter(i + 4, t.amount)?;
                stmt.raw_bind_parameter(i + 5, t.currency.code())?;
                stmt.raw_bind_parameter(i + 6, t.kind.as_str())?;
                stmt.raw_bind_parameter(i + 7, t.kind.pending_id().map(TransferId::as_str))?;
                stmt.raw_bind_parameter(i + 8, i64::from(t.code.0))?;
                stmt.raw_bind_parameter(i + 9, t.reference.as_str())?;
                stmt.raw_bind_parameter(i + 10, now)?;
                i += 10;
            }
            stmt.raw_execute()?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, pending_id, code, reference, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for t in rest {
            stmt.execute(params![
                t.id.as_str(),
                t.debit.as_str(),
                t.credit.as_str(),
                t.amount,
                t.currency.code(),
                t.kind.as_str(),
                t.kind.pending_id().map(TransferId::as_str),
                i64::from(t.code.0),
                t.reference.as_str(),
                now
            ])?;
        }
    }
    Ok(())
}

fn write_rows(
    conn: &Connection,
    purchases: &[&Purchase],
    refunds: &[(&PurchaseId, OffsetDateTime)],
    answers: &[&IdempotencyRecord],
    now: i64,
) -> Result<(), StoreError> {
    if !purchases.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO purchases (id, live_id, viewer_id, creator_id, tier, amount, currency, creator_share, platform_fee, status, payment_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for p in purchases {
            stmt.execute(params![
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
            ])?;
        }
    }
    if !refunds.is_empty() {
        let mut stmt = conn.prepare_cached(
            "UPDATE purchases SET status = 'refunded', refunded_at = ?2 WHERE id = ?1",
        )?;
        for (id, at) in refunds {
            stmt.execute(params![id.as_str(), to_micros(*at)])?;
        }
    }
    if !answers.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO idempotency (account_id, key, fingerprint, status, body, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in answers {
            stmt.execute(params![
                r.account_id,
                r.key,
                r.fingerprint,
                r.status,
                r.body,
                now
            ])?;
        }
    }
    Ok(())
}
