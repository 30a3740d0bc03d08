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
//! This module is the queue: jobs in, batches taken, callers answered after the commit.
//!
//! The backends differ in how they load and write: [`sqlite`] runs on its own OS thread with
//! a `rusqlite` connection (cached point statements; SQLite has one writer anyway);
//! [`postgres`] runs `postgres_connections` tasks, a connection each, that work set-wise
//! (`UNNEST` arrays, one statement per kind of row) and take row locks in a fixed order,
//! since other tasks and other nodes' writers share the database (see that module).

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::collections::HashSet;
use std::time::Instant;

use ledger::{Transfer, TransferId};
pub(crate) use postings::plan::{Loaded, Needs, Plan};
pub(crate) use postings::{Effect, Outcome, RowRef, WriteJob};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use crate::columns::corrupt;

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
}

impl Default for WriterConfig {
    fn default() -> WriterConfig {
        WriterConfig {
            batch_max: 4_096,
            queue_max: 65_536,
            batch_wait: std::time::Duration::ZERO,
            postgres_connections: 1,
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

/// Handle to the writer; cheap to clone.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
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
pub(crate) fn drain(rx: &mut mpsc::Receiver<Msg>, msgs: &mut Vec<Msg>, batch_max: usize) {
    while msgs.len() < batch_max {
        match rx.try_recv() {
            Ok(m) => msgs.push(m),
            Err(_) => break,
        }
    }
}

/// One batch taken from the queue: the jobs, whom to answer, and a stop request if one
/// came (jobs queued after it are refused with [`StoreError::WriterStopped`]).
pub(crate) struct Batch {
    pub(crate) jobs: Vec<WriteJob>,
    replies: Vec<oneshot::Sender<Result<Outcome, StoreError>>>,
    pub(crate) stop: Option<oneshot::Sender<()>>,
}

impl Batch {
    pub(crate) fn take(msgs: &mut Vec<Msg>) -> Batch {
        let mut batch = Batch {
            jobs: Vec::with_capacity(msgs.len()),
            replies: Vec::with_capacity(msgs.len()),
            stop: None,
        };
        for m in msgs.drain(..) {
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
        batch
    }

    /// Answers every caller with the batch's result; records the commit's metrics.
    pub(crate) fn answer(self, result: Result<Vec<Outcome>, StoreError>, started: Instant) {
        metrics::histogram!("ovation_ledger_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("ovation_ledger_batch_jobs").record(self.jobs.len() as f64);
        match result {
            Ok(outcomes) => {
                for (reply, outcome) in self.replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), jobs = self.jobs.len(), "ledger batch failed");
                let uncertain = matches!(e, StoreError::CommitUncertain);
                for reply in self.replies {
                    let _ = reply.send(Err(if uncertain {
                        StoreError::CommitUncertain
                    } else {
                        StoreError::Unavailable(sqlx::Error::Protocol(
                            "ledger batch failed and rolled back".into(),
                        ))
                    }));
                }
            }
        }
    }
}

/// Plans a batch ([`postings::plan::plan`]); a batch that would not balance is a bug and
/// fails whole, before anything is written.
pub(crate) fn plan<'a>(jobs: &'a [WriteJob], loaded: Loaded) -> Result<Plan<'a>, StoreError> {
    let plan = postings::plan::plan(jobs, loaded).map_err(|e| corrupt(e.to_string()))?;
    metrics::counter!("ovation_ledger_transfers_total")
        .increment(plan.changes.transfers.len() as u64);
    Ok(plan)
}

/// Refuses what is still queued and acknowledges the stop.
pub(crate) fn stop(rx: &mut mpsc::Receiver<Msg>, ack: oneshot::Sender<()>) {
    refuse_queued(rx);
    let _ = ack.send(());
}

/// Closes the queue and refuses what is still in it; a second stop request is
/// acknowledged at once.
pub(crate) fn refuse_queued(rx: &mut mpsc::Receiver<Msg>) {
    rx.close();
    while let Ok(m) = rx.try_recv() {
        match m {
            Msg::Job(_, reply) => {
                let _ = reply.send(Err(StoreError::WriterStopped));
            }
            Msg::Stop(ack) => {
                let _ = ack.send(());
            }
        }
    }
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
