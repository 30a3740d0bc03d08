//! The PostgreSQL writer: a few tasks, each with its own connection, each committing one
//! batch per transaction; every kind of row is loaded and written by one set-wise statement
//! (`= ANY($1)` to read, `UNNEST($1::text[], …)` to write), so that a batch of thousands of
//! purchases costs a dozen round trips, and balance changes go in summed per account.
//!
//! Several tasks — and several nodes' writers — share the database, and the database is
//! the arbiter:
//! - idempotency keys are **claimed first**, by `INSERT … ON CONFLICT DO NOTHING`: a key
//!   another transaction holds makes this one wait for it, then shows as taken, and the
//!   job answers with the stored record (`Outcome::Duplicate`). Claims of jobs that end up
//!   not applied are deleted before the commit;
//! - rows are locked in one fixed order — idempotency keys, users (buyers with a spending
//!   limit, and the authors of the batch's comments, which their foreign key locks),
//!   purchases (refunds), lives (`FOR SHARE`, so that ending a live waits), accounts with a
//!   balance rule, and **last, just before the commit**, the accounts without one — each
//!   kind sorted by id, so that two batches never wait on each other in a cycle (batching
//!   writers that lock in arbitrary order deadlock). A deadlock or serialization failure
//!   that happens anyway, or two batches inserting the same transfer, retries the batch;
//! - an account with a balance rule (a wallet, a budget) is locked before the batch is
//!   planned, so its rule is checked against its committed balance. An account without
//!   one (clearing, fees, a creator's pending balance) needs no balance to plan: its
//!   change is added in place (`x = x + Δ`), and its row is locked only for the last
//!   statements and the commit. Every card purchase touches the platform's clearing and
//!   fee accounts, so this is what lets batches overlap: while one waits for its commit,
//!   the next is loaded, planned and written up to its balances;
//! - everything read after a lock is taken sees what the transactions that held it
//!   committed (READ COMMITTED takes a fresh snapshot per statement).
//!
//! Why one long file: the batch's load and its write share the lock order described above,
//! statement by statement; split apart, that order would live in two places.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use std::sync::Arc;

use ledger::{Account, BalanceRule, Balances};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::{Mutex, Semaphore};

use super::{
    Batch, Committed, Counters, Loaded, Needs, NewComment, Outcome, Phases, Plan, Queues, RowRef,
    Taken, WriteJob, Writer, WriterConfig, WrittenComment,
};
use crate::columns::{
    Columns, account_columns, account_from, corrupt, idempotency_columns, idempotency_from,
    transfer_columns, transfer_from,
};
use crate::queries::column;
use crate::queries::market::offer_columns;
use crate::queries::shop::{lines_json, order_columns, order_sales};
use crate::rows::CommentId;
use crate::{StoreError, to_micros};

/// Times a batch is tried when PostgreSQL reports a deadlock or a serialization failure.
const ATTEMPTS: usize = 5;

/// Starts `config.postgres_connections` writer tasks on `pool` (a pool of its own, so
/// that readers never make a writer wait for a connection).
pub(crate) fn start(pool: PgPool, config: WriterConfig) -> Writer {
    let (writer, queues) = super::queues(&config);
    let tasks = config.postgres_connections.max(1);
    let shared = Arc::new(Tasks {
        counters: queues.counters(),
        queues: Mutex::new(queues),
        busy: Semaphore::new(tasks),
        tasks,
        pool,
        config,
    });
    for _ in 0..tasks {
        tokio::spawn(run(Arc::clone(&shared)));
    }
    writer
}

/// What the writer tasks share: the queues, taken by one task at a time, and a permit per
/// task held while it commits, so that stopping waits for the batches in flight.
struct Tasks {
    queues: Mutex<Queues>,
    counters: Arc<Counters>,
    busy: Semaphore,
    tasks: usize,
    pool: PgPool,
    config: WriterConfig,
}

async fn run(shared: Arc<Tasks>) {
    let batch_max = shared.config.batch_max.max(1);
    let mut taken = Taken::default();
    loop {
        let (mut batch, permit) = {
            let mut queues = shared.queues.lock().await;
            if !queues.wait(&mut taken).await {
                // Stopped: the queue is closed and empty.
                return;
            }
            queues.drain(&mut taken, &shared.config);
            if taken.jobs() < batch_max && !shared.config.batch_wait.is_zero() {
                tokio::time::sleep(shared.config.batch_wait).await;
                queues.drain(&mut taken, &shared.config);
            }
            // Taken before the queue is released: a stop that follows waits for this batch.
            let permit = shared
                .busy
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let batch = Batch::take(&mut taken);
            if batch.stop.is_some() {
                // Closed while this task holds the queue: the others, waiting for it, then
                // find it closed and end.
                queues.refuse_queued();
            }
            (batch, permit)
        };
        let stop = batch.stop.take();
        if !batch.is_empty() {
            let started = Instant::now();
            let result = commit_with_retries(&shared.pool, &batch.jobs, &batch.comments).await;
            batch.answer(result, started.elapsed(), &shared.counters);
        }
        drop(permit);
        if let Some(ack) = stop {
            // The other tasks finish the batches they hold, then find the queue closed.
            let tasks = u32::try_from(shared.tasks).unwrap_or(u32::MAX);
            let _all = shared.busy.acquire_many(tasks).await;
            let _ = ack.send(());
            shared.pool.close().await;
            return;
        }
    }
}

/// A claimed key was neither inserted by this batch nor found stored (its holder rolled
/// back between the two statements): the batch is tried again.
struct ClaimVanished;

/// Deadlocks, serialization failures, and another batch inserting the same transfer (or
/// resolving the same pending one) first: on a retry the batch sees what that one did.
fn retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Unavailable(sqlx::Error::Database(db)) => match db.code().as_deref() {
            Some("40P01" | "40001") => true,
            // A new attempt (and so its charge) inserted by another batch since this one
            // found its key free: on the retry, the job's guard sees it.
            Some("23505") => matches!(
                db.constraint(),
                Some(
                    "transfers_id_key"
                        | "transfers_resolving"
                        | "payment_attempts_pkey"
                        | "sandbox_charges_idempotency_key_key"
                )
            ),
            _ => false,
        },
        _ => false,
    }
}

async fn commit_with_retries(
    pool: &PgPool,
    jobs: &[WriteJob],
    comments: &[NewComment],
) -> Result<Committed, StoreError> {
    let mut attempt = 1;
    loop {
        let error = match commit_batch(pool, jobs, comments).await {
            Ok(Ok(committed)) => return Ok(committed),
            Ok(Err(ClaimVanished)) => corrupt("an idempotency key was neither free nor taken"),
            Err(e) if retryable(&e) => e,
            Err(e) => return Err(e),
        };
        if attempt >= ATTEMPTS {
            return Err(error);
        }
        tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), attempt, "ledger batch retried");
        attempt += 1;
    }
}

async fn commit_batch(
    pool: &PgPool,
    jobs: &[WriteJob],
    comments: &[NewComment],
) -> Result<Result<Committed, ClaimVanished>, StoreError> {
    let mut phases = Phases::start();
    let mut tx = pool.begin().await?;
    let now = to_micros(crate::now());
    let needs = Needs::of(jobs);
    let mut loaded = Loaded::default();
    let claimed = claim_keys(&mut tx, &needs, now, &mut loaded).await?;
    if claimed.len() + loaded.answers.len() < needs.keys.len() {
        return Ok(Err(ClaimVanished));
    }
    phases.end("lock");
    let authors: Vec<&str> = comments.iter().map(|c| c.author_id.as_str()).collect();
    let opened = load(&mut tx, &needs, &authors, now, &mut loaded).await?;
    phases.end("load");
    let plan = super::plan(jobs, loaded)?;
    phases.end("plan");
    drop_unused(&mut tx, &opened, jobs, &plan).await?;
    write_rows(&mut tx, &plan, now).await?;
    let comments = write_comments(&mut tx, comments, now).await?;
    settle_claims(&mut tx, &needs, &claimed, &plan).await?;
    write_balances(&mut tx, &plan).await?;
    phases.end("write");
    // Everything before this rolls back when it fails; a failed COMMIT may have committed.
    if let Err(e) = tx.commit().await {
        tracing::error!(error = %e, jobs = jobs.len(), "ledger batch commit failed: outcome unknown");
        return Err(StoreError::CommitUncertain);
    }
    phases.end("commit");
    Ok(Ok(Committed {
        outcomes: plan.outcomes,
        comments,
        // On PostgreSQL the sandbox records its charges through the pool
        // (`Store::sandbox_charges_insert`): none come this way.
        charges: Ok(Vec::new()),
    }))
}

/// Inserts the batch's comments behind a savepoint: when the statement fails, they are
/// rolled back and answered with the error (the outer `Ok`), and the jobs go on without
/// them. The outer error is for a savepoint that cannot be taken or undone: the whole batch
/// fails.
async fn write_comments(
    tx: &mut Tx,
    comments: &[NewComment],
    now: i64,
) -> Result<Result<Vec<Option<WrittenComment>>, StoreError>, StoreError> {
    if comments.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    sqlx::query("SAVEPOINT comments").execute(&mut **tx).await?;
    match insert_comments(tx, comments, now).await {
        Ok(written) => {
            sqlx::query("RELEASE SAVEPOINT comments")
                .execute(&mut **tx)
                .await?;
            Ok(Ok(written))
        }
        Err(e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT comments")
                .execute(&mut **tx)
                .await?;
            Ok(Err(e))
        }
    }
}

/// One set-wise statement for all the comments, as the pool inserted them one by one: the
/// badge is the author's highest tier among their standing purchases in the live (this
/// batch's included), and a comment is inserted only if its live is on. Its authors are
/// locked already, in the users' place in the lock order (see [`load`]), so the foreign
/// key's lock on them waits for nobody.
async fn insert_comments(
    tx: &mut Tx,
    comments: &[NewComment],
    now: i64,
) -> Result<Vec<Option<WrittenComment>>, StoreError> {
    let ids: Vec<CommentId> = comments.iter().map(|_| CommentId::generate()).collect();
    let id_texts: Vec<&str> = ids.iter().map(CommentId::as_str).collect();
    let lives: Vec<&str> = comments.iter().map(|c| c.live_id.as_str()).collect();
    let authors: Vec<&str> = comments.iter().map(|c| c.author_id.as_str()).collect();
    let texts: Vec<&str> = comments.iter().map(|c| c.text.as_str()).collect();
    let rows = sqlx::query(concat!(
        "INSERT INTO comments (id, live_id, author_id, text, badge_tier, created_at) \
         SELECT t.id, t.live, t.author, t.body, ",
        crate::queries::top_tier_of!("purchases", "t.live", "t.author"),
        ", $5 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS t(id, live, author, body) \
         WHERE EXISTS (SELECT 1 FROM lives l WHERE l.id = t.live AND l.status = 'live') \
         RETURNING id, badge_tier"
    ))
    .bind(&id_texts)
    .bind(&lives)
    .bind(&authors)
    .bind(&texts)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    let mut tiers: HashMap<String, Option<i64>> = HashMap::with_capacity(rows.len());
    for row in &rows {
        tiers.insert(row.text("id")?, row.opt_int("badge_tier")?);
    }
    Ok(ids
        .into_iter()
        .map(|id| {
            tiers.remove(id.as_str()).map(|badge_tier| WrittenComment {
                id,
                badge_tier,
                created_at: now,
            })
        })
        .collect())
}

type Tx = Transaction<'static, Postgres>;

/// Inserts the batch's idempotency keys (with the first record of each); returns the keys
/// this batch now holds, and loads the stored answers of the others.
async fn claim_keys(
    tx: &mut Tx,
    needs: &Needs<'_>,
    now: i64,
    loaded: &mut Loaded,
) -> Result<HashSet<(String, String)>, StoreError> {
    let mut claimed = HashSet::new();
    if needs.keys.is_empty() {
        return Ok(claimed);
    }
    let (mut accounts, mut keys, mut prints, mut statuses, mut bodies) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((account, key), r) in &needs.keys {
        accounts.push(*account);
        keys.push(*key);
        prints.push(r.fingerprint.as_str());
        statuses.push(i64::from(r.status));
        bodies.push(r.body.as_str());
    }
    let rows = sqlx::query(
        "INSERT INTO idempotency (account_id, key, fingerprint, status, body, created_at) \
         SELECT a, k, f, s, b, $6 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS t(a, k, f, s, b) \
         ORDER BY a, k \
         ON CONFLICT (account_id, key) DO NOTHING \
         RETURNING account_id, key",
    )
    .bind(&accounts)
    .bind(&keys)
    .bind(&prints)
    .bind(&statuses)
    .bind(&bodies)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for row in &rows {
        claimed.insert((row.text("account_id")?, row.text("key")?));
    }
    if claimed.len() < needs.keys.len() {
        let (mut accounts, mut keys) = (Vec::new(), Vec::new());
        for (account, key) in needs.keys.keys() {
            if !claimed.contains(&((*account).to_owned(), (*key).to_owned())) {
                accounts.push(*account);
                keys.push(*key);
            }
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            idempotency_columns!(),
            " FROM idempotency JOIN UNNEST($1::text[], $2::text[]) AS t(a, k) \
              ON account_id = t.a AND key = t.k"
        ))
        .bind(&accounts)
        .bind(&keys)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let record = idempotency_from(row)?;
            loaded
                .answers
                .insert((record.account_id.clone(), record.key.clone()), record);
        }
    }
    Ok(claimed)
}

/// Locks and loads the rest of what the batch touches, in the order described above. The
/// users locked are the buyers with a spending limit and the authors of the batch's
/// comments, in one sorted pass: a comment's foreign key takes a lock on its author, which
/// taken later, out of order, could close a cycle with another batch's buyers.
async fn load(
    tx: &mut Tx,
    needs: &Needs<'_>,
    authors: &[&str],
    now: i64,
    loaded: &mut Loaded,
) -> Result<Vec<String>, StoreError> {
    let mut opened = Vec::new();
    let users: Vec<&str> = needs
        .spends
        .iter()
        .map(|(v, _, _)| *v)
        .chain(authors.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !users.is_empty() {
        sqlx::query("SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&users)
            .fetch_all(&mut **tx)
            .await?;
    }
    for (viewer, currency, since) in &needs.spends {
        let sum: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM purchases \
             WHERE viewer_id = $1 AND currency = $2 AND status = 'succeeded' AND created_at >= $3",
        )
        .bind(viewer)
        .bind(currency.code())
        .bind(since)
        .fetch_one(&mut **tx)
        .await?;
        loaded
            .spent
            .insert(((*viewer).to_owned(), *currency, *since), sum);
    }
    // Guarded rows, kind by kind in lock order (purchases, holds, lives), each sorted.
    let mut start = 0;
    let rows: Vec<&RowRef> = needs.rows.iter().copied().collect();
    while start < rows.len() {
        let kind = std::mem::discriminant(rows[start]);
        let end = rows[start..]
            .iter()
            .position(|r| std::mem::discriminant(*r) != kind)
            .map_or(rows.len(), |n| start + n);
        let ids: Vec<&str> = rows[start..end].iter().map(|r| r.id()).collect();
        let sql = match rows[start] {
            RowRef::Purchase(_) => {
                "SELECT id, status FROM purchases WHERE id = ANY($1) ORDER BY id FOR UPDATE"
            }
            RowRef::Hold(_) => {
                "SELECT id, status FROM holds WHERE id = ANY($1) ORDER BY id FOR UPDATE"
            }
            RowRef::Payout(_) => {
                "SELECT id, status FROM payouts WHERE id = ANY($1) ORDER BY id FOR UPDATE"
            }
            RowRef::Topup(_) => {
                "SELECT id, status FROM topups WHERE id = ANY($1) ORDER BY id FOR UPDATE"
            }
            RowRef::Live(_) => {
                "SELECT id, status FROM lives WHERE id = ANY($1) ORDER BY id FOR SHARE"
            }
            RowRef::Attempt(_) => {
                "SELECT key AS id, status FROM payment_attempts WHERE key = ANY($1) ORDER BY key FOR UPDATE"
            }
            RowRef::Offer(_) => {
                "SELECT id, status FROM offers WHERE id = ANY($1) ORDER BY id FOR UPDATE"
            }
        };
        let found = sqlx::query(sql).bind(&ids).fetch_all(&mut **tx).await?;
        for row in &found {
            let id = row.text("id")?;
            let key = match rows[start] {
                RowRef::Purchase(_) => RowRef::Purchase(crate::PurchaseId::from_string(id)),
                RowRef::Hold(_) => RowRef::Hold(id),
                RowRef::Payout(_) => RowRef::Payout(crate::PayoutId::from_string(id)),
                RowRef::Topup(_) => RowRef::Topup(crate::TopupId::from_string(id)),
                RowRef::Live(_) => RowRef::Live(crate::LiveId::from_string(id)),
                RowRef::Attempt(_) => RowRef::Attempt(id),
                RowRef::Offer(_) => RowRef::Offer(postings::OfferId::from_string(id)),
            };
            loaded.statuses.insert(key, row.text("status")?);
        }
        start = end;
    }
    if !needs.accounts.is_empty() {
        let ids: Vec<&str> = needs.accounts.iter().copied().collect();
        let mut found = read_accounts(tx, &ids, false).await?;
        // Accounts the jobs open that do not exist yet: create them (another batch may be
        // creating the same ones; the loser of the race waits and then does nothing).
        let existing: HashSet<&str> = found.iter().map(|(a, _)| a.id.as_str()).collect();
        let missing: Vec<&Account> = needs
            .opened
            .iter()
            .filter(|(id, _)| !existing.contains(**id))
            .map(|(_, a)| *a)
            .collect();
        drop(existing);
        if !missing.is_empty() {
            // Only what this batch created is its to drop again: an account another batch
            // committed while this one waited on its insert is that batch's, in use.
            opened = insert_accounts(tx, &missing, now).await?;
            let ids: Vec<&str> = missing.iter().map(|a| a.id.as_str()).collect();
            found.extend(read_accounts(tx, &ids, false).await?);
        }
        // Accounts with a balance rule are planned against their committed balance: lock
        // them now and read it again.
        // So are the accounts whose balance decides a computed amount (a payout pays the
        // whole available balance).
        let mut ruled: Vec<&str> = found
            .iter()
            .filter(|(a, _)| a.rule != BalanceRule::None || needs.decide.contains(a.id.as_str()))
            .map(|(a, _)| a.id.as_str())
            .collect();
        if !ruled.is_empty() {
            ruled.sort_unstable();
            let locked = read_accounts(tx, &ruled, true).await?;
            let ruled: HashSet<String> = locked.iter().map(|(a, _)| a.id.to_string()).collect();
            found.retain(|(a, _)| !ruled.contains(a.id.as_str()));
            found.extend(locked);
        }
        loaded.accounts = found;
    }
    // Read after the budget accounts are locked: every batch that matches from a budget
    // holds its lock until it commits, so the usage read here is the committed one.
    for (program, creator, currency) in &needs.match_usage {
        let matched: Option<i64> = sqlx::query_scalar(
            "SELECT matched FROM match_usage WHERE program_id = $1 AND creator_id = $2 AND currency = $3",
        )
        .bind(program)
        .bind(creator)
        .bind(currency.code())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(matched) = matched {
            loaded.match_used.insert(
                ((*program).to_owned(), (*creator).to_owned(), *currency),
                matched,
            );
        }
    }
    if !needs.transfer_ids.is_empty() {
        let ids: Vec<&str> = needs.transfer_ids.iter().copied().collect();
        let mut resolved = HashSet::new();
        if !needs.pending_ids.is_empty() {
            let pending: Vec<&str> = needs.pending_ids.iter().copied().collect();
            let rows = sqlx::query("SELECT pending_id FROM transfers WHERE pending_id = ANY($1)")
                .bind(&pending)
                .fetch_all(&mut **tx)
                .await?;
            for row in &rows {
                if let Some(id) = row.opt_text("pending_id")? {
                    resolved.insert(id);
                }
            }
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            transfer_columns!(),
            " FROM transfers WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await?;
        let found = rows
            .iter()
            .map(transfer_from)
            .collect::<Result<Vec<_>, _>>()?;
        loaded.transfers = super::with_resolution(found, &resolved);
    }
    Ok(opened)
}

/// Deletes the accounts this batch created (`opened`, by [`load`], before planning) that
/// no applied job names: a refused job — a retry under a spent key, a purchase whose live
/// ended — leaves nothing behind, not even an empty account, as on SQLite, where only the
/// plan opens accounts. No other transaction has seen them: they are this one's inserts.
async fn drop_unused(
    tx: &mut Tx,
    opened: &[String],
    jobs: &[WriteJob],
    plan: &Plan<'_>,
) -> Result<(), StoreError> {
    let unused: Vec<&str> = opened
        .iter()
        .map(String::as_str)
        .filter(|id| {
            !jobs
                .iter()
                .zip(&plan.outcomes)
                .any(|(job, outcome)| *outcome == Outcome::Applied && job.names(id))
        })
        .collect();
    if !unused.is_empty() {
        sqlx::query("DELETE FROM ledger_accounts WHERE id = ANY($1)")
            .bind(&unused)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The accounts among `ids` with their balances; locked (in id order, `ids` sorted) with
/// `lock`.
async fn read_accounts(
    tx: &mut Tx,
    ids: &[&str],
    lock: bool,
) -> Result<Vec<(Account, Balances)>, StoreError> {
    let query = if lock {
        concat!(
            "SELECT ",
            account_columns!(),
            " FROM ledger_accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        )
    } else {
        concat!(
            "SELECT ",
            account_columns!(),
            " FROM ledger_accounts WHERE id = ANY($1)"
        )
    };
    let rows: Vec<PgRow> = sqlx::query(query).bind(ids).fetch_all(&mut **tx).await?;
    rows.iter().map(account_from).collect()
}

/// Creates `accounts` where they do not exist yet; the ids of those this transaction
/// created, not those another one had (or was, as it waited for it) creating.
async fn insert_accounts(
    tx: &mut Tx,
    accounts: &[&Account],
    now: i64,
) -> Result<Vec<String>, StoreError> {
    let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    let owners: Vec<&str> = accounts.iter().map(|a| a.owner.as_str()).collect();
    let purposes: Vec<&str> = accounts.iter().map(|a| a.purpose.as_str()).collect();
    let currencies: Vec<&str> = accounts.iter().map(|a| a.currency.code()).collect();
    let rules: Vec<&str> = accounts.iter().map(|a| a.rule.as_str()).collect();
    sqlx::query(
        "INSERT INTO ledger_accounts (id, owner, purpose, currency, rule, created_at) \
         SELECT id, o, p, c, r, $6 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(id, o, p, c, r) \
         ORDER BY id ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(&ids)
    .bind(&owners)
    .bind(&purposes)
    .bind(&currencies)
    .bind(&rules)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|row| row.text("id"))
    .collect()
}

/// Writes the plan's rows, which no other batch locks: accounts it opened, transfers (in
/// the order applied), purchases, refund marks.
async fn write_rows(tx: &mut Tx, plan: &Plan<'_>, now: i64) -> Result<(), StoreError> {
    let changes = &plan.changes;
    if !changes.accounts.is_empty() {
        let accounts: Vec<&Account> = changes.accounts.iter().collect();
        insert_accounts(tx, &accounts, now).await?;
    }
    if !changes.transfers.is_empty() {
        let t = &changes.transfers;
        let ids: Vec<&str> = t.iter().map(|t| t.id.as_str()).collect();
        let debits: Vec<&str> = t.iter().map(|t| t.debit.as_str()).collect();
        let credits: Vec<&str> = t.iter().map(|t| t.credit.as_str()).collect();
        let amounts: Vec<i64> = t.iter().map(|t| t.amount).collect();
        let currencies: Vec<&str> = t.iter().map(|t| t.currency.code()).collect();
        let kinds: Vec<&str> = t.iter().map(|t| t.kind.as_str()).collect();
        let pendings: Vec<Option<&str>> = t.iter().map(super::pending_text).collect();
        let codes: Vec<i64> = t.iter().map(|t| i64::from(t.code.0)).collect();
        let references: Vec<&str> = t.iter().map(|t| t.reference.as_str()).collect();
        sqlx::query(
            "INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, pending_id, code, reference, created_at) \
             SELECT id, d, c, a, cur, k, p, code, r, $10 \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[]) \
               WITH ORDINALITY AS t(id, d, c, a, cur, k, p, code, r, n) \
             ORDER BY n",
        )
        .bind(&ids)
        .bind(&debits)
        .bind(&credits)
        .bind(&amounts)
        .bind(&currencies)
        .bind(&kinds)
        .bind(&pendings)
        .bind(&codes)
        .bind(&references)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    if !plan.purchases.is_empty() {
        let p = &plan.purchases;
        let ids: Vec<&str> = p.iter().map(|p| p.id.as_str()).collect();
        let lives: Vec<&str> = p.iter().map(|p| p.live_id.as_str()).collect();
        let viewers: Vec<&str> = p.iter().map(|p| p.viewer_id.as_str()).collect();
        let creators: Vec<&str> = p.iter().map(|p| p.creator_id.as_str()).collect();
        let tiers: Vec<i64> = p.iter().map(|p| i64::from(p.tier.get())).collect();
        let amounts: Vec<i64> = p.iter().map(|p| p.price.amount()).collect();
        let currencies: Vec<&str> = p.iter().map(|p| p.price.currency().code()).collect();
        let shares: Vec<i64> = p.iter().map(|p| p.creator_share.amount()).collect();
        let fees: Vec<i64> = p.iter().map(|p| p.platform_fee.amount()).collect();
        let processor: Vec<i64> = p.iter().map(|p| p.processor_fee.amount()).collect();
        let matched: Vec<i64> = p.iter().map(|p| p.match_amount.amount()).collect();
        let methods: Vec<&str> = p.iter().map(|p| p.payment_method.as_str()).collect();
        let programs: Vec<Option<&str>> = p.iter().map(|p| p.match_program.as_deref()).collect();
        let statuses: Vec<&str> = p.iter().map(|p| p.status.as_str()).collect();
        let payments: Vec<&str> = p.iter().map(|p| p.payment_id.as_str()).collect();
        let created: Vec<i64> = p.iter().map(|p| to_micros(p.created_at)).collect();
        sqlx::query(
            "INSERT INTO purchases (id, live_id, viewer_id, creator_id, tier, amount, currency, creator_share, platform_fee, \
                                    processor_fee, match_amount, payment_method, status, payment_id, created_at, match_program) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], \
                                  $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::text[], \
                                  $13::text[], $14::text[], $15::bigint[], $16::text[])",
        )
        .bind(&ids)
        .bind(&lives)
        .bind(&viewers)
        .bind(&creators)
        .bind(&tiers)
        .bind(&amounts)
        .bind(&currencies)
        .bind(&shares)
        .bind(&fees)
        .bind(&processor)
        .bind(&matched)
        .bind(&methods)
        .bind(&statuses)
        .bind(&payments)
        .bind(&created)
        .bind(&programs)
        .execute(&mut **tx)
        .await?;
    }
    write_wallet_payout_rows(tx, plan).await?;
    write_shop_rows(tx, plan).await?;
    write_offers(tx, plan).await?;
    if !plan.holds.is_empty() {
        let h = &plan.holds;
        let ids: Vec<&str> = h.iter().map(|h| h.id.as_str()).collect();
        let owners: Vec<&str> = h.iter().map(|h| h.owner.as_str()).collect();
        let currencies: Vec<&str> = h.iter().map(|h| h.amount.currency().code()).collect();
        let amounts: Vec<i64> = h.iter().map(|h| h.amount.amount()).collect();
        let sources: Vec<&str> = h.iter().map(|h| h.source.as_str()).collect();
        let statuses: Vec<&str> = h.iter().map(|h| h.status.as_str()).collect();
        let release: Vec<i64> = h.iter().map(|h| to_micros(h.release_at)).collect();
        let created: Vec<i64> = h.iter().map(|h| to_micros(h.created_at)).collect();
        sqlx::query(
            "INSERT INTO holds (id, owner, currency, amount, source, status, release_at, created_at, updated_at) \
             SELECT i, o, c, a, s, st, r, cr, cr \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::bigint[]) \
               AS t(i, o, c, a, s, st, r, cr)",
        )
        .bind(&ids)
        .bind(&owners)
        .bind(&currencies)
        .bind(&amounts)
        .bind(&sources)
        .bind(&statuses)
        .bind(&release)
        .bind(&created)
        .execute(&mut **tx)
        .await?;
    }
    if !plan.purchase_statuses.is_empty() {
        let p = &plan.purchase_statuses;
        let ids: Vec<&str> = p.iter().map(|(id, _, _)| id.as_str()).collect();
        let statuses: Vec<&str> = p.iter().map(|(_, s, _)| s.as_str()).collect();
        let at: Vec<i64> = p.iter().map(|(_, _, at)| to_micros(*at)).collect();
        sqlx::query(
            "UPDATE purchases AS p SET status = t.s, refunded_at = t.at \
             FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS t(id, s, at) WHERE p.id = t.id",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&at)
        .execute(&mut **tx)
        .await?;
    }
    if !plan.hold_statuses.is_empty() {
        let h = &plan.hold_statuses;
        let ids: Vec<&str> = h.iter().map(|(id, _, _, _)| *id).collect();
        let statuses: Vec<&str> = h.iter().map(|(_, s, _, _)| s.as_str()).collect();
        let releases: Vec<Option<&str>> = h.iter().map(|(_, _, r, _)| *r).collect();
        let at: Vec<i64> = h.iter().map(|(_, _, _, at)| to_micros(*at)).collect();
        sqlx::query(
            "UPDATE holds AS h SET status = t.s, release_id = COALESCE(t.r, h.release_id), updated_at = t.at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(id, s, r, at) WHERE h.id = t.id",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&releases)
        .bind(&at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Offers made or moved a step: each written whole.
async fn write_offers(tx: &mut Tx, plan: &Plan<'_>) -> Result<(), StoreError> {
    for o in &plan.offers {
        sqlx::query(concat!(
            "INSERT INTO offers (",
            offer_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             delivery_url = excluded.delivery_url, delivered_at = excluded.delivered_at, \
             approve_by = excluded.approve_by, note = excluded.note, on_time = excluded.on_time, \
             auto_approved = excluded.auto_approved, hold_id = excluded.hold_id, \
             updated_at = excluded.updated_at"
        ))
        .bind(o.id.as_str())
        .bind(o.campaign_id.as_str())
        .bind(o.brand_id.as_str())
        .bind(o.creator_id.as_str())
        .bind(o.fee.amount())
        .bind(o.fee.currency().code())
        .bind(o.platform_fee.amount())
        .bind(o.creator_share.amount())
        .bind(o.status.as_str())
        .bind(to_micros(o.expires_at))
        .bind(o.delivery_url.as_deref())
        .bind(o.delivered_at.map(to_micros))
        .bind(o.approve_by.map(to_micros))
        .bind(o.note.as_deref())
        .bind(o.on_time.map(i64::from))
        .bind(i64::from(o.auto_approved))
        .bind(o.hold_id.as_deref())
        .bind(to_micros(o.created_at))
        .bind(to_micros(o.updated_at))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Shop orders booked (where the brand's order id is new) and changed by returns.
async fn write_shop_rows(tx: &mut Tx, plan: &Plan<'_>) -> Result<(), StoreError> {
    for o in &plan.shop_orders {
        sqlx::query(concat!(
            "INSERT INTO shop_orders (",
            order_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
             ON CONFLICT DO NOTHING"
        ))
        .bind(o.id.as_str())
        .bind(o.brand_id.as_str())
        .bind(&o.order_id)
        .bind(o.creator_id.as_ref().map(|c| c.as_str()))
        .bind(o.attribution.as_str())
        .bind(o.click_id.as_deref())
        .bind(o.link.as_deref())
        .bind(o.coupon.as_deref())
        .bind(lines_json(&o.lines))
        .bind(o.commission.currency().code())
        .bind(order_sales(o))
        .bind(o.commission.amount())
        .bind(o.platform_fee.amount())
        .bind(o.creator_share.amount())
        .bind(i64::from(o.returns))
        .bind(o.hold_id.as_deref())
        .bind(to_micros(o.ordered_at))
        .bind(to_micros(o.locks_at))
        .bind(to_micros(o.created_at))
        .bind(to_micros(o.updated_at))
        .execute(&mut **tx)
        .await?;
    }
    for o in &plan.shop_order_changes {
        sqlx::query(
            "UPDATE shop_orders SET lines = $2, sales = $3, commission = $4, platform_fee = $5, \
             creator_share = $6, returns = $7, hold_id = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(o.id.as_str())
        .bind(lines_json(&o.lines))
        .bind(order_sales(o))
        .bind(o.commission.amount())
        .bind(o.platform_fee.amount())
        .bind(o.creator_share.amount())
        .bind(i64::from(o.returns))
        .bind(o.hold_id.as_deref())
        .bind(to_micros(o.updated_at))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Top-ups, payouts and match usage, set-wise.
async fn write_wallet_payout_rows(tx: &mut Tx, plan: &Plan<'_>) -> Result<(), StoreError> {
    if !plan.topups.is_empty() {
        let t = &plan.topups;
        let ids: Vec<&str> = t.iter().map(|t| t.id.as_str()).collect();
        let users: Vec<&str> = t.iter().map(|t| t.user_id.as_str()).collect();
        let amounts: Vec<i64> = t.iter().map(|t| t.amount.amount()).collect();
        let currencies: Vec<&str> = t.iter().map(|t| t.amount.currency().code()).collect();
        let fees: Vec<i64> = t.iter().map(|t| t.processor_fee.amount()).collect();
        let payments: Vec<&str> = t.iter().map(|t| t.payment_id.as_str()).collect();
        let statuses: Vec<&str> = t.iter().map(|t| t.status.as_str()).collect();
        let created: Vec<i64> = t.iter().map(|t| to_micros(t.created_at)).collect();
        sqlx::query(
            "INSERT INTO topups (id, user_id, amount, currency, processor_fee, payment_id, status, created_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[])",
        )
        .bind(&ids)
        .bind(&users)
        .bind(&amounts)
        .bind(&currencies)
        .bind(&fees)
        .bind(&payments)
        .bind(&statuses)
        .bind(&created)
        .execute(&mut **tx)
        .await?;
    }
    for (id, status, at) in &plan.topup_statuses {
        sqlx::query("UPDATE topups SET status = $2, disputed_at = $3 WHERE id = $1")
            .bind(id.as_str())
            .bind(status.as_str())
            .bind(to_micros(*at))
            .execute(&mut **tx)
            .await?;
    }
    if !plan.payouts.is_empty() {
        let p = &plan.payouts;
        let ids: Vec<&str> = p.iter().map(|p| p.id.as_str()).collect();
        let creators: Vec<&str> = p.iter().map(|p| p.creator_id.as_str()).collect();
        let amounts: Vec<i64> = p.iter().map(|p| p.amount.amount()).collect();
        let currencies: Vec<&str> = p.iter().map(|p| p.amount.currency().code()).collect();
        let statuses: Vec<&str> = p.iter().map(|p| p.status.as_str()).collect();
        let created: Vec<i64> = p.iter().map(|p| to_micros(p.created_at)).collect();
        sqlx::query(
            "INSERT INTO payouts (id, creator_id, amount, currency, status, created_at, updated_at) \
             SELECT i, c, a, cur, s, t, t FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[]) \
               AS u(i, c, a, cur, s, t)",
        )
        .bind(&ids)
        .bind(&creators)
        .bind(&amounts)
        .bind(&currencies)
        .bind(&statuses)
        .bind(&created)
        .execute(&mut **tx)
        .await?;
    }
    write_attempts(tx, plan).await?;
    for effect in &plan.payout_statuses {
        if let super::Effect::SetPayoutStatus {
            payout_id,
            status,
            provider_id,
            failure,
            at,
        } = effect
        {
            sqlx::query(
                "UPDATE payouts SET status = $2, provider_id = COALESCE($3, provider_id), \
                                    failure = COALESCE($4, failure), updated_at = $5 WHERE id = $1",
            )
            .bind(payout_id.as_str())
            .bind(status.as_str())
            .bind(provider_id.as_deref())
            .bind(failure.as_deref())
            .bind(to_micros(*at))
            .execute(&mut **tx)
            .await?;
        }
    }
    for (program, creator, currency, delta) in &plan.match_usage {
        sqlx::query(
            "INSERT INTO match_usage (program_id, creator_id, currency, matched) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (program_id, creator_id, currency) DO UPDATE SET matched = match_usage.matched + excluded.matched",
        )
        .bind(program)
        .bind(creator)
        .bind(currency.code())
        .bind(delta)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Last before the commit: locks every account the batch changes (in id order; those with a
/// balance rule are held already), adds the balance changes and the income totals. The hot
/// accounts are held from here to the commit only.
async fn write_balances(tx: &mut Tx, plan: &Plan<'_>) -> Result<(), StoreError> {
    let changes = &plan.changes;
    if !changes.deltas.is_empty() {
        // Deltas come sorted by account id.
        let ids: Vec<&str> = changes.deltas.iter().map(|(id, _)| id.as_str()).collect();
        sqlx::query("SELECT id FROM ledger_accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(&ids)
            .execute(&mut **tx)
            .await?;
    }
    if !changes.deltas.is_empty() {
        let d = &changes.deltas;
        let ids: Vec<&str> = d.iter().map(|(id, _)| id.as_str()).collect();
        let dp: Vec<i64> = d.iter().map(|(_, b)| b.debits_posted).collect();
        let cp: Vec<i64> = d.iter().map(|(_, b)| b.credits_posted).collect();
        let dpe: Vec<i64> = d.iter().map(|(_, b)| b.debits_pending).collect();
        let cpe: Vec<i64> = d.iter().map(|(_, b)| b.credits_pending).collect();
        let updated = sqlx::query(
            "UPDATE ledger_accounts AS a SET \
                debits_posted = a.debits_posted + t.dp, credits_posted = a.credits_posted + t.cp, \
                debits_pending = a.debits_pending + t.dpe, credits_pending = a.credits_pending + t.cpe \
             FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS t(id, dp, cp, dpe, cpe) \
             WHERE a.id = t.id",
        )
        .bind(&ids)
        .bind(&dp)
        .bind(&cp)
        .bind(&dpe)
        .bind(&cpe)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if updated != d.len() as u64 {
            return Err(corrupt(format!(
                "balance update touched {updated} of {} accounts",
                d.len()
            )));
        }
    }
    if !plan.income.is_empty() {
        let i = &plan.income;
        let owners: Vec<&str> = i.iter().map(|(o, _, _, _)| o.as_str()).collect();
        let sources: Vec<&str> = i.iter().map(|(_, s, _, _)| s.as_str()).collect();
        let currencies: Vec<&str> = i.iter().map(|(_, _, c, _)| c.code()).collect();
        let amounts: Vec<i64> = i.iter().map(|(_, _, _, a)| *a).collect();
        sqlx::query(
            "INSERT INTO income_totals (owner, source, currency, amount) \
             SELECT o, s, c, a FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(o, s, c, a) \
             ORDER BY o, s, c \
             ON CONFLICT (owner, source, currency) DO UPDATE SET amount = income_totals.amount + excluded.amount",
        )
        .bind(&owners)
        .bind(&sources)
        .bind(&currencies)
        .bind(&amounts)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Keeps the claims of applied jobs (rewriting those whose answer is not the claimed one:
/// an earlier job with the same key was refused) and deletes the others.
async fn settle_claims(
    tx: &mut Tx,
    needs: &Needs<'_>,
    claimed: &HashSet<(String, String)>,
    plan: &Plan<'_>,
) -> Result<(), StoreError> {
    if claimed.is_empty() {
        return Ok(());
    }
    let applied: HashMap<(&str, &str), _> = plan
        .answers
        .iter()
        .map(|r| ((r.account_id.as_str(), r.key.as_str()), *r))
        .collect();
    let (mut drop_accounts, mut drop_keys) = (Vec::new(), Vec::new());
    let mut rewrite = Vec::new();
    for ((account, key), first) in &needs.keys {
        if !claimed.contains(&((*account).to_owned(), (*key).to_owned())) {
            continue;
        }
        match applied.get(&(*account, *key)) {
            None => {
                drop_accounts.push(*account);
                drop_keys.push(*key);
            }
            Some(answer) if *answer != *first => rewrite.push(*answer),
            Some(_) => {}
        }
    }
    if !drop_keys.is_empty() {
        sqlx::query(
            "DELETE FROM idempotency AS i USING UNNEST($1::text[], $2::text[]) AS t(a, k) \
             WHERE i.account_id = t.a AND i.key = t.k",
        )
        .bind(&drop_accounts)
        .bind(&drop_keys)
        .execute(&mut **tx)
        .await?;
    }
    if !rewrite.is_empty() {
        let accounts: Vec<&str> = rewrite.iter().map(|r| r.account_id.as_str()).collect();
        let keys: Vec<&str> = rewrite.iter().map(|r| r.key.as_str()).collect();
        let prints: Vec<&str> = rewrite.iter().map(|r| r.fingerprint.as_str()).collect();
        let statuses: Vec<i64> = rewrite.iter().map(|r| i64::from(r.status)).collect();
        let bodies: Vec<&str> = rewrite.iter().map(|r| r.body.as_str()).collect();
        sqlx::query(
            "UPDATE idempotency AS i SET fingerprint = t.f, status = t.s, body = t.b \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS t(a, k, f, s, b) \
             WHERE i.account_id = t.a AND i.key = t.k",
        )
        .bind(&accounts)
        .bind(&keys)
        .bind(&prints)
        .bind(&statuses)
        .bind(&bodies)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Payment attempts recorded (unless their key is stored) and moved, each kind in one
/// statement (row by row they were two round trips a card purchase, the batch's slowest part).
/// New attempts, and the sandbox's charges written with their bookings, are inserted without
/// `ON CONFLICT`: one inserted by another batch meanwhile is a unique violation, and the
/// batch is retried ([`retryable`]).
async fn write_attempts(tx: &mut Tx, plan: &Plan<'_>) -> Result<(), StoreError> {
    macro_rules! attempts_insert {
        ($tail:literal) => {
            concat!(
                "INSERT INTO payment_attempts (key, kind, reference, account_id, idempotency_key, fingerprint, \"order\", \
                                               amount, currency, status, payment_id, created_at, updated_at) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                                      $8::bigint[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[])",
                $tail
            )
        };
    }
    for (list, sql) in [
        (
            &plan.attempts,
            attempts_insert!(" ON CONFLICT (key) DO NOTHING"),
        ),
        (&plan.new_attempts, attempts_insert!("")),
    ] {
        if list.is_empty() {
            continue;
        }
        let mut attempts = list.clone();
        // Keys in one order, as every lock of the batch is taken (another node's batch may
        // insert some of the same keys).
        attempts.sort_by(|a, b| a.key.cmp(&b.key));
        sqlx::query(sql)
            .bind(column(&attempts, |a| a.key.as_str()))
            .bind(column(&attempts, |a| a.kind.as_str()))
            .bind(column(&attempts, |a| a.reference.as_str()))
            .bind(column(&attempts, |a| a.account_id.as_str()))
            .bind(column(&attempts, |a| a.idempotency_key.as_deref()))
            .bind(column(&attempts, |a| a.fingerprint.as_str()))
            .bind(column(&attempts, |a| a.order.as_str()))
            .bind(column(&attempts, |a| a.amount.amount()))
            .bind(column(&attempts, |a| a.amount.currency().code()))
            .bind(column(&attempts, |a| a.status.as_str()))
            .bind(column(&attempts, |a| a.payment_id.as_deref()))
            .bind(column(&attempts, |a| to_micros(a.created_at)))
            .bind(column(&attempts, |a| to_micros(a.updated_at)))
            .execute(&mut **tx)
            .await?;
    }
    if !plan.charges.is_empty() {
        let mut charges = plan.charges.clone();
        charges.sort_by(|a, b| a.idempotency_key.cmp(&b.idempotency_key));
        crate::queries::sandbox::bind_charges(
            crate::queries::sandbox::INSERT_NEW_CHARGES,
            &charges,
        )
        .execute(&mut **tx)
        .await?;
    }
    // One change per attempt, as the batch's changes of it applied in turn would leave it:
    // the last status and time, the last payment id given.
    let mut moved: std::collections::BTreeMap<&str, (&str, Option<&str>, i64)> =
        std::collections::BTreeMap::new();
    for effect in &plan.attempt_statuses {
        if let super::Effect::SetAttempt {
            key,
            status,
            payment_id,
            at,
        } = effect
        {
            let earlier = moved.get(key.as_str()).and_then(|m| m.1);
            moved.insert(
                key,
                (
                    status.as_str(),
                    payment_id.as_deref().or(earlier),
                    to_micros(*at),
                ),
            );
        }
    }
    if !moved.is_empty() {
        let keys: Vec<&str> = moved.keys().copied().collect();
        let statuses: Vec<&str> = moved.values().map(|m| m.0).collect();
        let payments: Vec<Option<&str>> = moved.values().map(|m| m.1).collect();
        let times: Vec<i64> = moved.values().map(|m| m.2).collect();
        sqlx::query(
            "UPDATE payment_attempts AS p SET status = t.s, payment_id = COALESCE(t.pid, p.payment_id), \
                                              updated_at = t.at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) AS t(k, s, pid, at) \
             WHERE p.key = t.k",
        )
        .bind(&keys)
        .bind(&statuses)
        .bind(&payments)
        .bind(&times)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
