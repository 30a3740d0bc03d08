//! The ledger's batching writer (group commit).
//!
//! Every money movement is a [`WriteJob`]: a set of transfers to apply atomically, the rows
//! that belong with it (a purchase, a refund mark, a stored idempotent answer), and guards
//! that must hold. The writer takes every job waiting (up to `batch_max`), applies them in
//! order with [`ledger::Book`], and commits the whole batch in one database transaction. A
//! caller is answered only after the commit returned, so a 2xx means durable.
//!
//! A batch goes in three steps, the middle one pure and shared by both backends:
//! 1. **load** what the batch touches ([`Needs`] → [`Loaded`]): accounts with their
//!    balances, existing transfers with the batch's ids, stored idempotent answers, the
//!    rows guards name;
//! 2. **plan** it in memory ([`postings::plan::plan`]): each job is refused, a duplicate, a
//!    replay or applied, seeing the jobs before it; the result is the rows to write and the
//!    balance changes summed per account;
//! 3. **write** the plan and commit.
//!
//! Comments ride along. A comment moves no money, so it is never planned; but it is a write
//! to the same database, and on SQLite a second writer would contend with this one for the
//! database's single write lock, one commit per comment, until a flood of them slowed
//! purchases into 503s. So comments have a queue of their own (`comment_queue_max`; a
//! comment beyond it is refused at once with [`StoreError::Busy`], never waited for), and
//! each batch takes, besides every waiting job, at most `comment_batch_max` waiting comments.
//! They are inserted after the jobs' rows, in the same transaction, behind a savepoint: a
//! comment that fails to insert fails the batch's comments, never its jobs. Purchases keep
//! their own queue and their place in every batch however many comments wait. A comment's
//! caller too is answered after the commit.
//!
//! The sandbox provider's charge records ride along the same way on SQLite, for the same
//! reason (they were the second writer that card purchases waited on): a third queue of
//! groups of charges, inserted behind a savepoint of their own after the comments, each
//! group answered after the commit. On PostgreSQL they go through the pool. (A charge that is
//! part of a job, [`Effect::InsertCharge`], is written with the job's rows instead.)
//!
//! This module is the queues: jobs, comments and charges in, batches taken, callers
//! answered after the commit.
//!
//! The backends differ in how they load and write: [`sqlite`] runs on its own OS thread with
//! a `rusqlite` connection (cached point statements; SQLite has one writer anyway);
//! [`postgres`] runs `postgres_connections` tasks, a connection each, that work set-wise
//! (`UNNEST` arrays, one statement per kind of row) and take row locks in a fixed order,
//! since other tasks and other nodes' writers share the database (see that module).

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ledger::{Transfer, TransferId};
pub(crate) use postings::plan::{Loaded, Needs, Plan};
pub(crate) use postings::{Effect, Outcome, RowRef, WriteJob};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use crate::columns::corrupt;
use crate::rows::{CommentId, LiveId, SandboxCharge, UserId};

/// Limits of the writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Most jobs committed in one transaction.
    pub batch_max: usize,
    /// Most jobs waiting; senders wait when it is full.
    pub queue_max: usize,
    /// How long to wait for more jobs when fewer than `batch_max` are waiting. Zero takes
    /// what is there: jobs arriving during a commit form the next batch by themselves.
    pub batch_wait: std::time::Duration,
    /// Batches committing at once, each on its own connection (PostgreSQL only; SQLite has
    /// one writer). While one batch waits for its commit, the next is loaded and planned.
    pub postgres_connections: usize,
    /// Most comments committed in one transaction besides its jobs: all that a flood of
    /// comments can add to a batch of purchases.
    pub comment_batch_max: usize,
    /// Most comments waiting; a comment beyond it is refused at once ([`StoreError::Busy`]).
    pub comment_queue_max: usize,
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            batch_max: 4_096,
            queue_max: 65_536,
            batch_wait: std::time::Duration::ZERO,
            postgres_connections: 1,
            comment_batch_max: 512,
            comment_queue_max: 16_384,
        }
    }
}

pub(crate) enum Msg {
    Job(Box<WriteJob>, oneshot::Sender<Result<Outcome, StoreError>>),
    Stop(oneshot::Sender<()>),
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

/// A comment to add to a live, if the live is on.
#[derive(Debug)]
pub(crate) struct NewComment {
    pub(crate) live_id: LiveId,
    pub(crate) author_id: UserId,
    pub(crate) text: String,
}

/// A comment as inserted: its id (given by the writer as it inserts, so that on SQLite ids
/// grow in commit order and the list's cursor never skips one), the author's highest badge
/// tier in the live, and its time in microseconds.
#[derive(Debug)]
pub(crate) struct WrittenComment {
    pub(crate) id: CommentId,
    pub(crate) badge_tier: Option<i64>,
    pub(crate) created_at: i64,
}

/// A comment's answer: `None` when the live is not (or no longer) on.
pub(crate) type CommentAnswer = Result<Option<WrittenComment>, StoreError>;

pub(crate) struct CommentMsg(NewComment, oneshot::Sender<CommentAnswer>);

/// The sandbox's charges' answer: for each charge, the one stored under its key.
pub(crate) type ChargesAnswer = Result<Vec<SandboxCharge>, StoreError>;

/// A group of the sandbox's charges to record (SQLite only: there the writer is the one
/// writer of the file; see [`Writer::sandbox_charges`]).
pub(crate) struct ChargesMsg(Vec<SandboxCharge>, oneshot::Sender<ChargesAnswer>);

impl std::fmt::Debug for ChargesMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChargesMsg")
    }
}

impl std::fmt::Debug for CommentMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommentMsg")
    }
}

/// What the writer has committed since it started (read with [`Writer::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub batches: u64,
    /// Comments inserted (not those refused because their live was not on).
    pub comments: u64,
    /// Transactions committed that inserted at least one comment.
    pub comment_batches: u64,
}

/// The counts behind [`WriterStats`], shared by the handle and the writer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    batches: AtomicU64,
    comments: AtomicU64,
    comment_batches: AtomicU64,
}

/// Handle to the writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    comments: mpsc::Sender<CommentMsg>,
    charges: mpsc::Sender<ChargesMsg>,
    counters: Arc<Counters>,
}

/// The writer's side: its two queues, and where it counts what it committed.
#[derive(Debug)]
pub(crate) struct Queues {
    jobs: mpsc::Receiver<Msg>,
    comments: mpsc::Receiver<CommentMsg>,
    charges: mpsc::Receiver<ChargesMsg>,
    counters: Arc<Counters>,
}

/// Groups of sandbox charges waiting at most (each group is the sandbox's own batch).
const CHARGE_GROUPS_MAX: usize = 1_024;

/// A new writer's handle and queues, bounded by `config`.
pub(crate) fn queues(config: &WriterConfig) -> (Writer, Queues) {
    let (tx, jobs) = mpsc::channel(config.queue_max.max(1));
    let (comments_tx, comments) = mpsc::channel(config.comment_queue_max.max(1));
    let (charges_tx, charges) = mpsc::channel(CHARGE_GROUPS_MAX);
    let counters = Arc::new(Counters::default());
    let writer = Writer {
        tx,
        comments: comments_tx,
        charges: charges_tx,
        counters: Arc::clone(&counters),
    };
    let queues = Queues {
        jobs,
        comments,
        charges,
        counters,
    };
    (writer, queues)
}

impl Writer {
    /// Queues `job` and waits until its batch is committed (or refused).
    pub async fn submit(&self, job: WriteJob) -> Result<Outcome, StoreError> {
        let since = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Job(Box::new(job), reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let answer = answer.await.map_err(|_| StoreError::WriterStopped)?;
        waited("jobs", since);
        answer
    }

    /// Queues a comment and waits until its batch is committed; refused at once with
    /// [`StoreError::Busy`] when `comment_queue_max` comments are waiting already.
    pub(crate) async fn comment(&self, comment: NewComment) -> CommentAnswer {
        let since = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.comments
            .try_send(CommentMsg(comment, reply))
            .map_err(|e| match e {
                TrySendError::Full(_) => {
                    metrics::counter!("ovation_writer_comments_refused_total").increment(1);
                    StoreError::Busy
                }
                TrySendError::Closed(_) => StoreError::WriterStopped,
            })?;
        let answer = answer.await.map_err(|_| StoreError::WriterStopped)?;
        waited("comments", since);
        answer
    }

    /// Records the sandbox's charges in the next batch, each unless one is stored under its
    /// idempotency key, and waits for the commit; gives, for each, the charge stored under
    /// its key. On SQLite the sandbox's records go this way so that the file has one writer:
    /// through the pool they took SQLite's write lock between the ledger's batches, and the
    /// writer waited for it.
    pub(crate) async fn sandbox_charges(&self, charges: Vec<SandboxCharge>) -> ChargesAnswer {
        let since = Instant::now();
        let (reply, answer) = oneshot::channel();
        self.charges
            .send(ChargesMsg(charges, reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        let answer = answer.await.map_err(|_| StoreError::WriterStopped)?;
        waited("charges", since);
        answer
    }

    /// What the writer has committed so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            comments: self.counters.comments.load(Ordering::Relaxed),
            comment_batches: self.counters.comment_batches.load(Ordering::Relaxed),
        }
    }

    /// Lets the writer commit what is queued, then stops it.
    pub async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Stop(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// Records how long a write waited, from its submission to its answer: its time in the
/// queue and its batch's (`ovation_writer_wait_seconds{queue}`). A card purchase makes three
/// writes in sequence, a wallet purchase one: the sum is most of a purchase's latency.
fn waited(queue: &'static str, since: Instant) {
    metrics::histogram!("ovation_writer_wait_seconds", "queue" => queue)
        .record(since.elapsed().as_secs_f64());
}

/// What was taken from the queues for the next batch.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    msgs: Vec<Msg>,
    comments: Vec<CommentMsg>,
    charges: Vec<ChargesMsg>,
}

impl Taken {
    /// Jobs (and stop requests) taken so far.
    pub(crate) fn jobs(&self) -> usize {
        self.msgs.len()
    }
}

impl Queues {
    /// Where the writer counts what it committed.
    pub(crate) fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Waits for the first message of a batch (a job first when both kinds wait); `false`
    /// when the jobs' queue is closed: stopped, or every handle dropped.
    pub(crate) async fn wait(&mut self, taken: &mut Taken) -> bool {
        tokio::select! {
            biased;
            m = self.jobs.recv() => match m {
                Some(m) => {
                    taken.msgs.push(m);
                    true
                }
                None => false,
            },
            Some(c) = self.comments.recv() => {
                taken.comments.push(c);
                true
            }
            Some(c) = self.charges.recv() => {
                taken.charges.push(c);
                true
            }
        }
    }

    /// Takes what is waiting, up to `batch_max` jobs and `comment_batch_max` comments in
    /// all: the two caps are apart, so comments never take a job's place in a batch.
    pub(crate) fn drain(&mut self, taken: &mut Taken, config: &WriterConfig) {
        let batch_max = config.batch_max.max(1);
        while taken.msgs.len() < batch_max {
            match self.jobs.try_recv() {
                Ok(m) => taken.msgs.push(m),
                Err(_) => break,
            }
        }
        let comment_max = config.comment_batch_max.max(1);
        while taken.comments.len() < comment_max {
            match self.comments.try_recv() {
                Ok(c) => taken.comments.push(c),
                Err(_) => break,
            }
        }
        while let Ok(c) = self.charges.try_recv() {
            taken.charges.push(c);
        }
    }

    /// Refuses what is still queued and acknowledges the stop.
    pub(crate) fn stop(&mut self, ack: oneshot::Sender<()>) {
        self.refuse_queued();
        let _ = ack.send(());
    }

    /// Closes both queues and refuses what is still in them; a second stop request is
    /// acknowledged at once.
    pub(crate) fn refuse_queued(&mut self) {
        self.jobs.close();
        self.comments.close();
        self.charges.close();
        while let Ok(m) = self.jobs.try_recv() {
            match m {
                Msg::Job(_, reply) => {
                    let _ = reply.send(Err(StoreError::WriterStopped));
                }
                Msg::Stop(ack) => {
                    let _ = ack.send(());
                }
            }
        }
        while let Ok(CommentMsg(_, reply)) = self.comments.try_recv() {
            let _ = reply.send(Err(StoreError::WriterStopped));
        }
        while let Ok(ChargesMsg(_, reply)) = self.charges.try_recv() {
            let _ = reply.send(Err(StoreError::WriterStopped));
        }
    }
}

/// Times a batch's phases into `ovation_ledger_phase_seconds`: where a batch's time goes.
pub(crate) struct Phases(Instant);

impl Phases {
    pub(crate) fn start() -> Phases {
        Phases(Instant::now())
    }

    /// Records the time since the previous phase ended as `phase`'s.
    pub(crate) fn end(&mut self, phase: &'static str) {
        let now = Instant::now();
        metrics::histogram!("ovation_ledger_phase_seconds", "phase" => phase)
            .record(now.duration_since(self.0).as_secs_f64());
        self.0 = now;
    }
}

/// What a committed batch answers: each job's outcome, and each comment's — or why the
/// comments failed (rolled back to their savepoint; the jobs committed regardless).
#[derive(Debug)]
pub(crate) struct Committed {
    pub(crate) outcomes: Vec<Outcome>,
    pub(crate) comments: Result<Vec<Option<WrittenComment>>, StoreError>,
    /// The sandbox's charges as stored, in the batch's order (or why they failed, rolled
    /// back to their savepoint).
    pub(crate) charges: ChargesAnswer,
}

/// One batch taken from the queues: the jobs and comments, whom to answer, and a stop
/// request if one came (jobs queued after it are refused with [`StoreError::WriterStopped`]).
pub(crate) struct Batch {
    pub(crate) jobs: Vec<WriteJob>,
    replies: Vec<oneshot::Sender<Result<Outcome, StoreError>>>,
    pub(crate) comments: Vec<NewComment>,
    comment_replies: Vec<oneshot::Sender<CommentAnswer>>,
    /// Every group's charges, one after the other.
    pub(crate) charges: Vec<SandboxCharge>,
    /// Each group's caller, with how many of `charges` are its.
    charge_replies: Vec<(usize, oneshot::Sender<ChargesAnswer>)>,
    pub(crate) stop: Option<oneshot::Sender<()>>,
}

impl Batch {
    pub(crate) fn take(taken: &mut Taken) -> Batch {
        let mut batch = Batch {
            jobs: Vec::with_capacity(taken.msgs.len()),
            replies: Vec::with_capacity(taken.msgs.len()),
            comments: Vec::with_capacity(taken.comments.len()),
            comment_replies: Vec::with_capacity(taken.comments.len()),
            charges: Vec::new(),
            charge_replies: Vec::with_capacity(taken.charges.len()),
            stop: None,
        };
        for m in taken.msgs.drain(..) {
            match m {
                Msg::Job(job, reply) if batch.stop.is_none() => {
                    batch.jobs.push(*job);
                    batch.replies.push(reply);
                }
                Msg::Job(_, reply) => {
                    let _ = reply.send(Err(StoreError::WriterStopped));
                }
                Msg::Stop(ack) => batch.stop = Some(ack),
            }
        }
        for CommentMsg(comment, reply) in taken.comments.drain(..) {
            batch.comments.push(comment);
            batch.comment_replies.push(reply);
        }
        for ChargesMsg(charges, reply) in taken.charges.drain(..) {
            batch.charge_replies.push((charges.len(), reply));
            batch.charges.extend(charges);
        }
        batch
    }

    /// Whether there is nothing to commit.
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.comments.is_empty() && self.charges.is_empty()
    }

    /// Answers each group of sandbox charges with its part of `stored` (or the error).
    fn answer_charges(
        replies: Vec<(usize, oneshot::Sender<ChargesAnswer>)>,
        stored: ChargesAnswer,
    ) {
        match stored {
            Ok(stored) => {
                let mut stored = stored.into_iter();
                for (count, reply) in replies {
                    let _ = reply.send(Ok(stored.by_ref().take(count).collect()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, groups = replies.len(), "the sandbox charges of a ledger batch failed");
                for (_, reply) in replies {
                    let _ = reply.send(Err(rolled_back("sandbox charges failed and rolled back")));
                }
            }
        }
    }

    /// Answers every caller with the batch's result; records the commit's metrics and
    /// counts it.
    pub(crate) fn answer(
        self,
        result: Result<Committed, StoreError>,
        elapsed: Duration,
        counters: &Counters,
    ) {
        metrics::histogram!("ovation_ledger_commit_seconds").record(elapsed.as_secs_f64());
        metrics::histogram!("ovation_ledger_batch_jobs").record(self.jobs.len() as f64);
        metrics::histogram!("ovation_writer_batch_comments").record(self.comments.len() as f64);
        match result {
            Ok(committed) => {
                counters.batches.fetch_add(1, Ordering::Relaxed);
                for (reply, outcome) in self.replies.into_iter().zip(committed.outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
                match committed.comments {
                    Ok(written) => {
                        let inserted = written.iter().filter(|w| w.is_some()).count() as u64;
                        if inserted > 0 {
                            counters.comments.fetch_add(inserted, Ordering::Relaxed);
                            counters.comment_batches.fetch_add(1, Ordering::Relaxed);
                        }
                        for (reply, w) in self.comment_replies.into_iter().zip(written) {
                            let _ = reply.send(Ok(w));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, source = ?std::error::Error::source(&e), comments = self.comment_replies.len(), "the comments of a ledger batch failed");
                        for reply in self.comment_replies {
                            let _ = reply.send(Err(rolled_back("comments failed and rolled back")));
                        }
                    }
                }
                Batch::answer_charges(self.charge_replies, committed.charges);
            }
            Err(e) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), jobs = self.jobs.len(), comments = self.comments.len(), "ledger batch failed");
                let uncertain = matches!(e, StoreError::CommitUncertain);
                let error = || {
                    if uncertain {
                        StoreError::CommitUncertain
                    } else {
                        rolled_back("ledger batch failed and rolled back")
                    }
                };
                for reply in self.replies {
                    let _ = reply.send(Err(error()));
                }
                for reply in self.comment_replies {
                    let _ = reply.send(Err(error()));
                }
                for (_, reply) in self.charge_replies {
                    let _ = reply.send(Err(error()));
                }
            }
        }
    }
}

fn rolled_back(what: &'static str) -> StoreError {
    StoreError::Unavailable(sqlx::Error::Protocol(what.into()))
}

/// Plans a batch ([`postings::plan::plan`]); a batch that would not balance is a bug and
/// fails whole, before anything is written.
pub(crate) fn plan<'a>(jobs: &'a [WriteJob], loaded: Loaded) -> Result<Plan<'a>, StoreError> {
    let plan = postings::plan::plan(jobs, loaded).map_err(|e| corrupt(e.to_string()))?;
    metrics::counter!("ovation_ledger_transfers_total")
        .increment(plan.changes.transfers.len() as u64);
    Ok(plan)
}

/// The pending ids of `transfers` that appear as resolved, for [`Loaded::transfers`].
pub(crate) fn with_resolution(
    found: Vec<Transfer>,
    resolved: &HashSet<String>,
) -> Vec<(Transfer, bool)> {
    found
        .into_iter()
        .map(|t| {
            let r = resolved.contains(t.id.as_str());
            (t, r)
        })
        .collect()
}

/// The id of a transfer's pending side, as text.
pub(crate) fn pending_text(t: &Transfer) -> Option<&str> {
    t.kind.pending_id().map(TransferId::as_str)
}
