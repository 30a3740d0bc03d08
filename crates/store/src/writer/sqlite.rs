//! The SQLite writer: one OS thread owns one `rusqlite` connection to the database file
//! (the same file, or shared in-memory database, the sqlx pool uses). SQLite has one writer
//! at a time anyway; here it is this thread, which loads with cached point statements (a
//! few microseconds each, without the per-statement channel round trips of sqlx's worker),
//! plans, and writes in one `BEGIN IMMEDIATE … COMMIT`. Transfers go in 256-row inserts.
//! Comments go in the same transaction, one cached statement each, after the jobs' rows, so
//! a flood of them takes no write lock of its own.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ledger::Transfer;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::{
    Batch, Committed, Loaded, Needs, NewComment, Phases, Plan, Queues, RowRef, Taken, WriteJob,
    Writer, WriterConfig, WrittenComment,
};
use crate::columns::{
    account_columns, account_from, corrupt, idempotency_from, transfer_columns, transfer_from,
};
use crate::queries::market::offer_columns;
use crate::queries::shop::{lines_json, order_columns, order_sales};
use crate::rows::{CommentId, IdempotencyRecord, SandboxCharge};
use crate::{StoreError, to_micros};

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
    /// is fsynced before anyone is answered), foreign keys, short busy waits up to ~5 s
    /// ([`short_waits`]).
    pub(crate) fn open(&self) -> Result<Connection, rusqlite::Error> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if self.in_memory {
            flags |= OpenFlags::SQLITE_OPEN_MEMORY | OpenFlags::SQLITE_OPEN_SHARED_CACHE;
        }
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_handler(Some(short_waits))?;
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
        // Checkpoints are the checkpointer thread's (see `checkpoints`), not a commit's.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // A large batch (thousands of jobs) dirties more pages than the 2 MiB cache holds:
        // SQLite then spills them into the WAL mid-transaction and writes many of them
        // again at the commit, and its statement journals (multi-row inserts) outgrow
        // memory into a temporary file. Both stay in memory up to a bound: spills only past
        // 64 MiB of pages, statement journals in memory. Small batches never reach either.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_spill", WRITER_SPILL_PAGES)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }
}

/// Pages (4 KiB) a writer transaction may hold dirty in memory before SQLite spills them
/// into the WAL: 64 MiB.
const WRITER_SPILL_PAGES: i64 = 16_384;

/// Waits this long for a lock at first (readers and checkpoints hold theirs for well under a
/// millisecond)…
const BUSY_SHORT_WAIT: Duration = Duration::from_micros(50);
/// …for this many tries, then a millisecond a try…
const BUSY_SHORT_TRIES: i32 = 200;
/// …up to about five seconds in all, when the lock is given up (`SQLITE_BUSY`).
const BUSY_TRIES: i32 = BUSY_SHORT_TRIES + 5_000;

/// The writer's and the checkpointer's busy handler: SQLite's own (`busy_timeout`) sleeps
/// 1, 2, 5, 10… up to 100 ms between tries, so a lock freed after 0.1 ms was still waited
/// on for milliseconds, and a `RESTART` checkpoint waiting for the readers of the WAL held
/// the writer off for 0.4–0.7 s. These waits follow the lock instead.
fn short_waits(tries: i32) -> bool {
    if tries >= BUSY_TRIES {
        return false;
    }
    std::thread::sleep(if tries < BUSY_SHORT_TRIES {
        BUSY_SHORT_WAIT
    } else {
        Duration::from_millis(1)
    });
    true
}

/// Opens the writer's connection and starts its thread.
pub(crate) fn start(db: WriterDb, config: WriterConfig) -> Result<Writer, StoreError> {
    let conn = db.open()?;
    let (writer, queues) = super::queues(&config);
    let committed = if db.in_memory {
        None
    } else {
        let checkpointer = db.open()?;
        let path = db.path.clone();
        let (committed, commits) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoints(&checkpointer, &path, &commits))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpointer: {e}")))?;
        Some(committed)
    };
    // The thread waits on two queues at once, which takes a future: a runtime of its own,
    // on this thread only, that does nothing but wait.
    let waiter = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| StoreError::Corrupt(format!("cannot start the ledger writer: {e}")))?;
    // Answering a batch's callers (a wake-up each) and freeing its jobs is a tenth of the
    // writer thread's time: another thread does it, while the writer begins the next batch.
    let counters = queues.counters();
    let (answers, answering) = std::sync::mpsc::channel::<Answer>();
    let answerer = std::thread::Builder::new()
        .name("ledger-answers".into())
        .spawn(move || {
            for (batch, result, elapsed) in answering {
                batch.answer(result, elapsed, &counters);
            }
        })
        .map_err(|e| StoreError::Corrupt(format!("cannot start the ledger writer: {e}")))?;
    std::thread::Builder::new()
        .name("ledger-writer".into())
        .spawn(move || {
            let stop = run(
                &db,
                conn,
                queues,
                &config,
                &waiter,
                committed.as_ref(),
                &answers,
            );
            // Every answer is out before a stop is acknowledged.
            drop(answers);
            if answerer.join().is_err() {
                tracing::error!("the ledger writer's answering thread panicked");
            }
            if let Some((mut queues, ack)) = stop {
                queues.stop(ack);
            }
        })
        .map_err(|e| StoreError::Corrupt(format!("cannot start the ledger writer: {e}")))?;
    Ok(writer)
}

/// A committed (or failed) batch on its way to the answering thread.
type Answer = (Batch, Result<Committed, StoreError>, Duration);

/// The writer's loop; returns the queues and the stop's acknowledgement when asked to
/// stop, nothing when every handle is gone.
fn run(
    db: &WriterDb,
    conn: Connection,
    mut queues: Queues,
    config: &WriterConfig,
    waiter: &tokio::runtime::Runtime,
    committed: Option<&std::sync::mpsc::SyncSender<()>>,
    answers: &std::sync::mpsc::Sender<Answer>,
) -> Option<(Queues, oneshot::Sender<()>)> {
    let batch_max = config.batch_max.max(1);
    let mut conn = Some(conn);
    let mut taken = Taken::default();
    let counters = queues.counters();
    loop {
        if !waiter.block_on(queues.wait(&mut taken)) {
            return None;
        }
        queues.drain(&mut taken, config);
        if taken.jobs() < batch_max && !config.batch_wait.is_zero() {
            std::thread::sleep(config.batch_wait);
            queues.drain(&mut taken, config);
        }
        let mut batch = Batch::take(&mut taken);
        let stop = batch.stop.take();
        if !batch.is_empty() {
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
                Some(c) => commit_batch(c, &batch.jobs, &batch.comments, &batch.charges),
                None => Err(StoreError::Unavailable(sqlx::Error::Protocol(
                    "ledger writer has no connection".into(),
                ))),
            };
            if result.is_err() {
                // The transaction was rolled back when it was dropped. Start the next
                // batch on a fresh connection (and a fresh statement cache) in case this
                // one is broken; reopening costs about a millisecond.
                conn = None;
            }
            if result.is_ok()
                && let Some(committed) = committed
            {
                // Full means a nudge is waiting already.
                let _ = committed.try_send(());
            }
            if let Err(std::sync::mpsc::SendError((batch, result, elapsed))) =
                answers.send((batch, result, started.elapsed()))
            {
                batch.answer(result, elapsed, &counters);
            }
        }
        if let Some(ack) = stop {
            return Some((queues, ack));
        }
    }
}

/// How often, at most, the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The checkpointer thread: after commits (nudged through `commits`, at most every
/// [`CHECKPOINT_EVERY`]), copies what the WAL holds into the database file with a passive
/// checkpoint, on its own connection. Every connection runs with `wal_autocheckpoint=0`, so
/// no commit pays for a checkpoint (its writes and the database file's fsync) while
/// requests wait on it; a passive checkpoint never blocks the writer, and once it has
/// copied every frame the next commit starts the WAL again from its beginning. Ends with a
/// last checkpoint when the writer stops.
fn checkpoints(conn: &Connection, path: &Path, commits: &std::sync::mpsc::Receiver<()>) {
    while commits.recv().is_ok() {
        std::thread::sleep(CHECKPOINT_EVERY);
        while commits.try_recv().is_ok() {}
        checkpoint(conn, path);
    }
    checkpoint(conn, path);
}

/// A WAL longer than this many pages is started again from its beginning by the next
/// checkpoint: under steady load some reader always holds a snapshot in it, so a passive
/// checkpoint alone lets it grow without end (and every lookup in it slows down). Each
/// restart holds the writer off for a moment, so the fewer the better: at 65,536 pages
/// (256 MiB of 4 KiB pages) a 30,000-purchase run restarts 3–5 times instead of 11–20, and
/// the p99 of purchases fell by a fifth to a third with no loss of throughput.
const WAL_RESTART_PAGES: i64 = 65_536;

/// Flushes to disk the database file's pages that passive checkpoints copied (they fsync
/// the file only when they copied the whole WAL, which under load they never do), from a
/// handle of its own and holding no lock of SQLite's. The `RESTART` that follows fsyncs the
/// file again with the writer held off: that fsync was most of a restart's hold (6 ms at
/// the start of a run, 30 ms after 30 s), and now flushes only what the restart copied.
fn flush_database(path: &Path) {
    let started = Instant::now();
    if let Err(e) = std::fs::File::open(path).and_then(|file| file.sync_data()) {
        tracing::warn!(error = %e, "the database file could not be flushed before a WAL restart");
    }
    metrics::histogram!("ovation_sqlite_checkpoint_seconds", "mode" => "flush")
        .record(started.elapsed().as_secs_f64());
}

fn checkpoint(conn: &Connection, path: &Path) {
    let run = |mode: &str| {
        let started = Instant::now();
        let pages = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            r.get::<_, i64>(1)
        });
        metrics::histogram!("ovation_sqlite_checkpoint_seconds", "mode" => mode.to_ascii_lowercase())
            .record(started.elapsed().as_secs_f64());
        pages
    };
    match run("PASSIVE") {
        // RESTART waits (within `short_waits`) for the readers still in the WAL, holding
        // off the writer meanwhile, so that the next commit writes at its beginning.
        Ok(pages) if pages > WAL_RESTART_PAGES => {
            flush_database(path);
            if let Err(e) = run("RESTART") {
                tracing::warn!(error = %e, pages, "the WAL could not be started again; the next checkpoint retries");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed; the next one retries"),
    }
}

/// Runs the batch in one `BEGIN IMMEDIATE … COMMIT`; on any error the transaction is
/// rolled back (rusqlite rolls back a transaction dropped uncommitted).
fn commit_batch(
    conn: &mut Connection,
    jobs: &[WriteJob],
    comments: &[NewComment],
    charges: &[SandboxCharge],
) -> Result<Committed, StoreError> {
    let mut phases = Phases::start();
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    phases.end("lock");
    let now = to_micros(crate::now());
    let outcomes = if jobs.is_empty() {
        Vec::new()
    } else {
        let needs = Needs::of(jobs);
        let attempts = AttemptKeys::of(&needs);
        let loaded = load(&tx, &needs, &attempts)?;
        phases.end("load");
        let plan = super::plan(jobs, loaded)?;
        phases.end("plan");
        write_changes(&tx, &plan, now)?;
        write_rows(&tx, &plan, &attempts, now)?;
        plan.outcomes
    };
    let comments = behind_savepoint(&mut tx, comments, |c, comments| {
        insert_comments(c, comments, now)
    })?;
    let charges = behind_savepoint(&mut tx, charges, insert_charges)?;
    phases.end("write");
    tx.commit()?;
    phases.end("commit");
    Ok(Committed {
        outcomes,
        comments,
        charges,
    })
}

/// Runs `write` behind a savepoint, for what rides along with a batch's jobs (comments, the
/// sandbox's charges): when it fails, its writes are rolled back and it is answered with the
/// error (the outer `Ok`), and the jobs commit without them. The outer error is for a
/// savepoint that cannot be released: the whole batch fails. Nothing to write is no
/// savepoint.
fn behind_savepoint<T, R>(
    tx: &mut rusqlite::Transaction<'_>,
    items: &[T],
    write: impl FnOnce(&Connection, &[T]) -> Result<Vec<R>, StoreError>,
) -> Result<Result<Vec<R>, StoreError>, StoreError> {
    if items.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let savepoint = match tx.savepoint() {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.into())),
    };
    match write(&savepoint, items) {
        Ok(written) => {
            savepoint.commit()?;
            Ok(Ok(written))
        }
        // Dropping the savepoint rolls it back.
        Err(e) => Ok(Err(e)),
    }
}

/// Each charge unless one is stored under its idempotency key; for each, the one stored.
fn insert_charges(
    conn: &Connection,
    charges: &[SandboxCharge],
) -> Result<Vec<SandboxCharge>, StoreError> {
    let mut insert = conn.prepare_cached(crate::queries::sandbox::INSERT_CHARGE)?;
    let mut stored = Vec::with_capacity(charges.len());
    for charge in charges {
        let inserted = insert.execute(charge_params(charge))?;
        if inserted == 1 {
            stored.push(charge.clone());
        } else {
            let mut read = conn.prepare_cached(crate::queries::sandbox::CHARGE_BY_KEY)?;
            let mut rows = read.query([&charge.idempotency_key])?;
            let row = rows
                .next()?
                .ok_or_else(|| corrupt("a sandbox charge's key conflicted with no row"))?;
            stored.push(crate::queries::sandbox::charge_from_row(row)?);
        }
    }
    Ok(stored)
}

/// The parameters of [`crate::queries::sandbox::INSERT_CHARGE`].
fn charge_params(charge: &SandboxCharge) -> impl rusqlite::Params + '_ {
    (
        &charge.id,
        &charge.idempotency_key,
        charge.amount.amount(),
        charge.amount.currency().code(),
        &charge.payment_method,
        &charge.status,
        &charge.reference,
        i64::from(charge.answered),
        to_micros(charge.created_at),
    )
}

/// One cached statement per comment, as the pool inserted them: the badge is the author's
/// highest tier among their standing purchases in the live (this batch's included), and
/// nothing is inserted unless the live is on.
fn insert_comments(
    conn: &Connection,
    comments: &[NewComment],
    now: i64,
) -> Result<Vec<Option<WrittenComment>>, StoreError> {
    let mut stmt = conn.prepare_cached(concat!(
        "INSERT INTO comments (id, live_id, author_id, text, badge_tier, created_at) SELECT ?1, ?2, ?3, ?4, ",
        crate::queries::top_tier_of!("purchases INDEXED BY purchases_by_viewer_time", "?2", "?3"),
        ", ?5 WHERE EXISTS (SELECT 1 FROM lives WHERE id = ?2 AND status = 'live') RETURNING badge_tier"
    ))?;
    let mut written = Vec::with_capacity(comments.len());
    for c in comments {
        let id = CommentId::generate();
        let mut rows = stmt.query(params![
            id.as_str(),
            c.live_id.as_str(),
            c.author_id.as_str(),
            c.text,
            now
        ])?;
        let inserted = match rows.next()? {
            Some(row) => Some(WrittenComment {
                id,
                badge_tier: row.get(0)?,
                created_at: now,
            }),
            None => None,
        };
        written.push(inserted);
    }
    Ok(written)
}

/// Loads what the batch touches, one cached point query per row.
/// The payment attempt key derived from each of a batch's (caller, key) pairs
/// ([`crate::provider_key`]), made once: the load finds an answer kept with its attempt
/// under it, and [`AnswersKept`] keeps an answer there only under it.
struct AttemptKeys<'a>(HashMap<(&'a str, &'a str), String>);

impl<'a> AttemptKeys<'a> {
    fn of(needs: &Needs<'a>) -> AttemptKeys<'a> {
        AttemptKeys(
            needs
                .keys
                .keys()
                .map(|&(account, key)| ((account, key), crate::provider_key(account, Some(key))))
                .collect(),
        )
    }

    fn of_answer<'s>(&'s self, r: &'s IdempotencyRecord) -> Option<&'s str> {
        // The map's keys live as long as the batch's jobs; looked up with the record's own.
        let keys: &HashMap<(&str, &str), String> = &self.0;
        keys.get(&(r.account_id.as_str(), r.key.as_str()))
            .map(String::as_str)
    }
}

fn load(
    conn: &Connection,
    needs: &Needs<'_>,
    attempts: &AttemptKeys<'_>,
) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded::default();
    if !needs.accounts.is_empty() {
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            account_columns!(),
            " FROM ledger_accounts WHERE id = ?1"
        ))?;
        for id in &needs.accounts {
            let mut rows = stmt.query([id])?;
            if let Some(row) = rows.next()? {
                loaded.accounts.push(account_from(row)?);
            }
        }
    }
    if !needs.transfer_ids.is_empty() {
        let mut resolved: HashSet<String> = HashSet::new();
        if !needs.pending_ids.is_empty() {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM transfers WHERE pending_id = ?1")?;
            for id in &needs.pending_ids {
                if stmt.exists([id])? {
                    resolved.insert((*id).to_owned());
                }
            }
        }
        let mut stmt = conn.prepare_cached(concat!(
            "SELECT ",
            transfer_columns!(),
            " FROM transfers WHERE id = ?1"
        ))?;
        let mut found = Vec::new();
        for id in &needs.transfer_ids {
            let mut rows = stmt.query([id])?;
            if let Some(row) = rows.next()? {
                found.push(transfer_from(row)?);
            }
        }
        loaded.transfers = super::with_resolution(found, &resolved);
    }
    if !needs.keys.is_empty() {
        // A key's answer is in `idempotency`, or with the card payment attempt it answers.
        let mut stmt = conn.prepare_cached(crate::queries::idempotency::STORED_ANSWER)?;
        for ((account_id, key), attempt) in &attempts.0 {
            let mut rows = stmt.query([*account_id, *key, attempt.as_str()])?;
            if let Some(row) = rows.next()? {
                let record = idempotency_from(row)?;
                loaded
                    .answers
                    .insert((record.account_id.clone(), record.key.clone()), record);
            }
        }
    }
    for row in &needs.rows {
        let sql = match row {
            RowRef::Purchase(_) => "SELECT status FROM purchases WHERE id = ?1",
            RowRef::Hold(_) => "SELECT status FROM holds WHERE id = ?1",
            RowRef::Payout(_) => "SELECT status FROM payouts WHERE id = ?1",
            RowRef::Topup(_) => "SELECT status FROM topups WHERE id = ?1",
            RowRef::Live(_) => "SELECT status FROM lives WHERE id = ?1",
            RowRef::Attempt(_) => "SELECT status FROM payment_attempts WHERE key = ?1",
            RowRef::Offer(_) => "SELECT status FROM offers WHERE id = ?1",
        };
        let mut stmt = conn.prepare_cached(sql)?;
        let mut rows = stmt.query([row.id()])?;
        if let Some(found) = rows.next()? {
            loaded.statuses.insert((*row).clone(), found.get(0)?);
        }
    }
    if !needs.match_usage.is_empty() {
        let mut stmt = conn.prepare_cached(
            "SELECT matched FROM match_usage WHERE program_id = ?1 AND creator_id = ?2 AND currency = ?3",
        )?;
        for (program, creator, currency) in &needs.match_usage {
            let mut rows = stmt.query(params![program, creator, currency.code()])?;
            if let Some(row) = rows.next()? {
                loaded.match_used.insert(
                    ((*program).to_owned(), (*creator).to_owned(), *currency),
                    row.get(0)?,
                );
            }
        }
    }
    if !needs.spends.is_empty() {
        let mut stmt = conn.prepare_cached(
            "SELECT COALESCE(SUM(amount), 0) FROM purchases \
             WHERE viewer_id = ?1 AND currency = ?2 AND status = 'succeeded' AND created_at >= ?3",
        )?;
        for (viewer, currency, since) in &needs.spends {
            let sum: i64 = stmt.query_row(params![viewer, currency.code(), since], |r| r.get(0))?;
            loaded
                .spent
                .insert(((*viewer).to_owned(), *currency, *since), sum);
        }
    }
    Ok(loaded)
}

fn write_changes(conn: &Connection, plan: &Plan<'_>, now: i64) -> Result<(), StoreError> {
    let changes = &plan.changes;
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
    if !plan.income.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO income_totals (owner, source, currency, amount) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (owner, source, currency) DO UPDATE SET amount = income_totals.amount + excluded.amount",
        )?;
        for (owner, source, currency, amount) in &plan.income {
            stmt.execute(params![owner, source.as_str(), currency.code(), amount])?;
        }
    }
    Ok(())
}

/// Offers made or moved a step: each written whole.
fn write_offers(conn: &Connection, plan: &Plan<'_>) -> Result<(), StoreError> {
    if plan.offers.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(concat!(
        "INSERT INTO offers (",
        offer_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
         delivery_url = excluded.delivery_url, delivered_at = excluded.delivered_at, \
         approve_by = excluded.approve_by, note = excluded.note, on_time = excluded.on_time, \
         auto_approved = excluded.auto_approved, hold_id = excluded.hold_id, \
         updated_at = excluded.updated_at"
    ))?;
    for o in &plan.offers {
        stmt.execute(params![
            o.id.as_str(),
            o.campaign_id.as_str(),
            o.brand_id.as_str(),
            o.creator_id.as_str(),
            o.fee.amount(),
            o.fee.currency().code(),
            o.platform_fee.amount(),
            o.creator_share.amount(),
            o.status.as_str(),
            to_micros(o.expires_at),
            o.delivery_url,
            o.delivered_at.map(to_micros),
            o.approve_by.map(to_micros),
            o.note,
            o.on_time.map(i64::from),
            i64::from(o.auto_approved),
            o.hold_id,
            to_micros(o.created_at),
            to_micros(o.updated_at)
        ])?;
    }
    Ok(())
}

/// Shop orders booked (where the brand's order id is new) and changed by returns.
fn write_shop_rows(conn: &Connection, plan: &Plan<'_>) -> Result<(), StoreError> {
    if !plan.shop_orders.is_empty() {
        let mut stmt = conn.prepare_cached(concat!(
            "INSERT INTO shop_orders (",
            order_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) \
             ON CONFLICT DO NOTHING"
        ))?;
        for o in &plan.shop_orders {
            stmt.execute(params![
                o.id.as_str(),
                o.brand_id.as_str(),
                o.order_id,
                o.creator_id.as_ref().map(|c| c.as_str()),
                o.attribution.as_str(),
                o.click_id,
                o.link,
                o.coupon,
                lines_json(&o.lines),
                o.commission.currency().code(),
                order_sales(o),
                o.commission.amount(),
                o.platform_fee.amount(),
                o.creator_share.amount(),
                o.returns,
                o.hold_id,
                to_micros(o.ordered_at),
                to_micros(o.locks_at),
                to_micros(o.created_at),
                to_micros(o.updated_at)
            ])?;
        }
    }
    if !plan.shop_order_changes.is_empty() {
        let mut stmt = conn.prepare_cached(
            "UPDATE shop_orders SET lines = ?2, sales = ?3, commission = ?4, platform_fee = ?5, \
             creator_share = ?6, returns = ?7, hold_id = ?8, updated_at = ?9 WHERE id = ?1",
        )?;
        for o in &plan.shop_order_changes {
            stmt.execute(params![
                o.id.as_str(),
                lines_json(&o.lines),
                order_sales(o),
                o.commission.amount(),
                o.platform_fee.amount(),
                o.creator_share.amount(),
                o.returns,
                o.hold_id,
                to_micros(o.updated_at)
            ])?;
        }
    }
    Ok(())
}

/// Top-ups, payouts and match usage.
fn write_wallet_payout_rows(conn: &Connection, plan: &Plan<'_>) -> Result<(), StoreError> {
    if !plan.topups.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO topups (id, user_id, amount, currency, processor_fee, payment_id, status, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for t in &plan.topups {
            stmt.execute(params![
                t.id.as_str(),
                t.user_id.as_str(),
                t.amount.amount(),
                t.amount.currency().code(),
                t.processor_fee.amount(),
                t.payment_id,
                t.status.as_str(),
                to_micros(t.created_at)
            ])?;
        }
    }
    if !plan.topup_statuses.is_empty() {
        let mut stmt =
            conn.prepare_cached("UPDATE topups SET status = ?2, disputed_at = ?3 WHERE id = ?1")?;
        for (id, status, at) in &plan.topup_statuses {
            stmt.execute(params![id.as_str(), status.as_str(), to_micros(*at)])?;
        }
    }
    if !plan.payouts.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO payouts (id, creator_id, amount, currency, status, provider_id, failure, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )?;
        for p in &plan.payouts {
            stmt.execute(params![
                p.id.as_str(),
                p.creator_id.as_str(),
                p.amount.amount(),
                p.amount.currency().code(),
                p.status.as_str(),
                p.provider_id,
                p.failure,
                to_micros(p.created_at)
            ])?;
        }
    }
    if !plan.payout_statuses.is_empty() {
        let mut stmt = conn.prepare_cached(
            "UPDATE payouts SET status = ?2, provider_id = COALESCE(?3, provider_id), \
                                failure = COALESCE(?4, failure), updated_at = ?5 WHERE id = ?1",
        )?;
        for effect in &plan.payout_statuses {
            if let super::Effect::SetPayoutStatus {
                payout_id,
                status,
                provider_id,
                failure,
                at,
            } = effect
            {
                stmt.execute(params![
                    payout_id.as_str(),
                    status.as_str(),
                    provider_id,
                    failure,
                    to_micros(*at)
                ])?;
            }
        }
    }
    if !plan.match_usage.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO match_usage (program_id, creator_id, currency, matched) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (program_id, creator_id, currency) DO UPDATE SET matched = match_usage.matched + excluded.matched",
        )?;
        for (program, creator, currency, delta) in &plan.match_usage {
            stmt.execute(params![program, creator, currency.code(), delta])?;
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
                stmt.raw_bind_parameter(i + 7, super::pending_text(t))?;
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
                super::pending_text(t),
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
    plan: &Plan<'_>,
    attempts: &AttemptKeys<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let Plan {
        purchases,
        holds,
        purchase_statuses,
        hold_statuses,
        answers,
        ..
    } = plan;
    let kept = AnswersKept::of(plan, attempts);
    write_wallet_payout_rows(conn, plan)?;
    write_attempts(conn, plan, &kept)?;
    write_shop_rows(conn, plan)?;
    write_offers(conn, plan)?;
    if !purchases.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO purchases (id, live_id, viewer_id, creator_id, tier, amount, currency, creator_share, platform_fee, \
                                    processor_fee, match_amount, payment_method, status, payment_id, created_at, match_program) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
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
                p.processor_fee.amount(),
                p.match_amount.amount(),
                p.payment_method.as_str(),
                p.status.as_str(),
                p.payment_id,
                to_micros(p.created_at),
                p.match_program
            ])?;
        }
    }
    if !holds.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO holds (id, owner, currency, amount, source, status, release_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )?;
        for h in holds {
            stmt.execute(params![
                h.id,
                h.owner.as_str(),
                h.amount.currency().code(),
                h.amount.amount(),
                h.source.as_str(),
                h.status.as_str(),
                to_micros(h.release_at),
                to_micros(h.created_at)
            ])?;
        }
    }
    if !purchase_statuses.is_empty() {
        let mut stmt = conn
            .prepare_cached("UPDATE purchases SET status = ?2, refunded_at = ?3 WHERE id = ?1")?;
        for (id, status, at) in purchase_statuses {
            stmt.execute(params![id.as_str(), status.as_str(), to_micros(*at)])?;
        }
    }
    if !hold_statuses.is_empty() {
        let mut stmt = conn.prepare_cached(
            "UPDATE holds SET status = ?2, release_id = COALESCE(?3, release_id), updated_at = ?4 WHERE id = ?1",
        )?;
        for (id, status, release, at) in hold_statuses {
            stmt.execute(params![id, status.as_str(), release, to_micros(*at)])?;
        }
    }
    if !answers.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO idempotency (account_id, key, fingerprint, status, body, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (i, r) in answers.iter().enumerate() {
            if kept.answers.contains(&i) {
                continue;
            }
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

/// Which of a batch's answers are kept in the row of the new payment attempt they answer
/// (a card purchase booked with its charge) instead of a row of `idempotency`: one random
/// place fewer in the file per purchase. [`STORED_ANSWER`](crate::queries::idempotency)
/// finds them there; a new attempt's key is free in both tables (the batch planned on it,
/// holding the one write lock), so the key still has one answer.
struct AnswersKept<'p> {
    /// By the attempt's position in `plan.new_attempts`.
    by_attempt: Vec<Option<&'p IdempotencyRecord>>,
    /// Positions in `plan.answers`.
    answers: HashSet<usize>,
}

impl<'p> AnswersKept<'p> {
    fn of(plan: &'p Plan<'_>, attempts: &AttemptKeys<'_>) -> AnswersKept<'p> {
        let mut kept = AnswersKept {
            by_attempt: Vec::with_capacity(plan.new_attempts.len()),
            answers: HashSet::new(),
        };
        if plan.new_attempts.is_empty() {
            return kept;
        }
        let positions: HashMap<(&str, &str), usize> = plan
            .answers
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.account_id.as_str(), r.key.as_str()), i))
            .collect();
        for a in &plan.new_attempts {
            let found = a.idempotency_key.as_deref().and_then(|key| {
                let i = *positions.get(&(a.account_id.as_str(), key))?;
                let r = plan.answers[i];
                // Found again only under the key derived from the caller's, with its print.
                (r.fingerprint == a.fingerprint && attempts.of_answer(r) == Some(a.key.as_str()))
                    .then_some((i, r))
            });
            kept.by_attempt.push(found.map(|(i, r)| {
                kept.answers.insert(i);
                r
            }));
        }
        kept
    }
}

/// Payment attempts recorded (unless their key is stored; a new one's must not be, and may
/// keep its answer: [`AnswersKept`]) and moved, and the sandbox's charges written with
/// their bookings.
fn write_attempts(
    conn: &Connection,
    plan: &Plan<'_>,
    kept: &AnswersKept<'_>,
) -> Result<(), StoreError> {
    if !plan.attempts.is_empty() || !plan.new_attempts.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO payment_attempts (key, kind, reference, account_id, idempotency_key, fingerprint, \"order\", \
                                           amount, currency, status, payment_id, created_at, updated_at, \
                                           answer_status, answer_body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT (key) DO NOTHING",
        )?;
        let new = plan
            .new_attempts
            .iter()
            .zip(&kept.by_attempt)
            .map(|(a, answer)| (a, true, *answer));
        let old = plan.attempts.iter().map(|a| (a, false, None));
        for (a, must_be_new, answer) in old.chain(new) {
            let inserted = stmt.execute(params![
                a.key,
                a.kind.as_str(),
                a.reference,
                a.account_id,
                a.idempotency_key,
                a.fingerprint,
                a.order,
                a.amount.amount(),
                a.amount.currency().code(),
                a.status.as_str(),
                a.payment_id,
                to_micros(a.created_at),
                to_micros(a.updated_at),
                answer.map(|r| r.status),
                answer.map(|r| r.body.as_str())
            ])?;
            // The batch planned on its absence, holding the one write lock: a bug.
            if must_be_new && inserted == 0 {
                return Err(corrupt(format!("payment attempt {} exists", a.key)));
            }
        }
    }
    if !plan.charges.is_empty() {
        let mut insert = conn.prepare_cached(crate::queries::sandbox::INSERT_CHARGE)?;
        for charge in &plan.charges {
            if insert.execute(charge_params(charge))? == 0 {
                return Err(corrupt(format!("sandbox charge {} exists", charge.id)));
            }
        }
    }
    if !plan.attempt_statuses.is_empty() {
        let mut stmt = conn.prepare_cached(
            "UPDATE payment_attempts SET status = ?2, payment_id = COALESCE(?3, payment_id), \
                                         updated_at = ?4 WHERE key = ?1",
        )?;
        for effect in &plan.attempt_statuses {
            if let super::Effect::SetAttempt {
                key,
                status,
                payment_id,
                at,
            } = effect
            {
                stmt.execute(params![key, status.as_str(), payment_id, to_micros(*at)])?;
            }
        }
    }
    Ok(())
}
