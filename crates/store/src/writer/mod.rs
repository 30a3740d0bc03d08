//! The ledger's batching writer (group commit).
//!
//! Every money movement is a [`WriteJob`]: a set of transfers to apply atomically, the rows
//! that belong with it (a purchase, a refund mark, a stored idempotent answer), and guards
//! that must hold. The writer takes every job waiting (up to `batch_max`), applies them in
//! order with [`ledger::Book`], and commits the whole batch in one database transaction. A
//! caller is answered only after the commit returned, so a 2xx means durable.
//!
//! A batch goes in three steps, the middle one shared by both backends:
//! 1. **load** what the batch touches ([`Needs`] → [`Loaded`]): accounts with their
//!    balances, existing transfers with the batch's ids, stored idempotent answers, the
//!    rows guards name;
//! 2. **plan** it in memory ([`plan`]): each job is refused, a duplicate, a replay or
//!    applied, seeing the jobs before it; the result is the rows to write and the balance
//!    changes summed per account;
//! 3. **write** the plan and commit.
//!
//! The backends differ in how they load and write: [`sqlite`] runs on its own OS thread with
//! a `rusqlite` connection (cached point statements; SQLite has one writer anyway);
//! [`postgres`] runs `postgres_connections` tasks, a connection each, that work set-wise
//! (`UNNEST` arrays, one statement per kind of row) and take row locks in a fixed order,
//! since other tasks and other nodes' writers share the database (see that module).

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use ledger::{
    Account, AccountId, Applied, Balances, Book, Code, LedgerError, Transfer, TransferId,
    TransferKind,
};
use money::Currency;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use crate::columns::corrupt;
use crate::rows::{
    Hold, HoldStatus, IdempotencyRecord, LiveId, Payout, PayoutId, PayoutStatus, Purchase,
    PurchaseId, PurchaseStatus, Topup, TopupId, TopupStatus, UserId,
};

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

/// A row whose status a [`Guard::Status`] checks. The order of the variants is the order in
/// which PostgreSQL locks them (purchases, holds, payouts, top-ups, lives), each kind sorted
/// by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowRef {
    /// A purchase (`succeeded`, `refunded`, `disputed`).
    Purchase(PurchaseId),
    /// A hold (`held`, `released`, `reversed`).
    Hold(String),
    /// A payout (`pending`, `paid`, `failed`).
    Payout(PayoutId),
    /// A wallet top-up (`succeeded`, `disputed`).
    Topup(TopupId),
    /// A live (`live`, `ended`); locked `FOR SHARE` on PostgreSQL, so that ending it waits.
    Live(LiveId),
}

impl RowRef {
    /// The row's id.
    pub fn id(&self) -> &str {
        match self {
            RowRef::Purchase(id) => id.as_str(),
            RowRef::Hold(id) => id,
            RowRef::Payout(id) => id.as_str(),
            RowRef::Topup(id) => id.as_str(),
            RowRef::Live(id) => id.as_str(),
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
    /// The row must exist and have this status.
    Status(RowRef, &'static str),
}

impl Guard {
    /// The purchase exists and is neither refunded nor disputed.
    pub fn purchase_succeeded(id: &PurchaseId) -> Guard {
        Guard::Status(
            RowRef::Purchase(id.clone()),
            PurchaseStatus::Succeeded.as_str(),
        )
    }

    /// The live exists and is on air.
    pub fn live_active(id: &LiveId) -> Guard {
        Guard::Status(RowRef::Live(id.clone()), "live")
    }

    /// The hold exists with `status`.
    pub fn hold(id: &str, status: HoldStatus) -> Guard {
        Guard::Status(RowRef::Hold(id.to_owned()), status.as_str())
    }

    /// The payout exists with `status`.
    pub fn payout(id: &PayoutId, status: PayoutStatus) -> Guard {
        Guard::Status(RowRef::Payout(id.clone()), status.as_str())
    }

    /// The top-up exists with `status`.
    pub fn topup(id: &TopupId, status: TopupStatus) -> Guard {
        Guard::Status(RowRef::Topup(id.clone()), status.as_str())
    }
}

/// A transfer whose amount is decided inside the batch, from balances as they stand there
/// (after the jobs before it): what no caller can know exactly in advance when other
/// requests, and other nodes, move the same balances. A "spendable" balance is posted
/// credits minus posted and pending debits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Computed {
    /// A match of `wanted` from the program's `budget` to `to`, cut to what the budget holds
    /// and to what is left of `cap` for (program, creator, currency): matching stops at the
    /// exact cent where either runs out. The job's purchase and hold get the amount.
    Match {
        /// The program.
        program: String,
        /// The creator matched.
        creator: UserId,
        /// The program's budget account in the currency.
        budget: AccountId,
        /// The creator's pending account.
        to: AccountId,
        /// The currency.
        currency: Currency,
        /// The full match (rate × share).
        wanted: i64,
        /// The per-creator cap in the currency.
        cap: i64,
        /// The transfer's id.
        id: TransferId,
        /// The transfer's reference (the purchase).
        reference: String,
    },
    /// All of `from`'s spendable balance as a pending transfer to `to`, if it is at least
    /// `minimum`; otherwise the job is refused ([`Refusal::BelowMinimum`]). The job's payout
    /// gets the amount.
    PayOut {
        /// The creator's available account.
        from: AccountId,
        /// The creator's paid-out account.
        to: AccountId,
        /// The currency.
        currency: Currency,
        /// Smallest payout.
        minimum: i64,
        /// The pending transfer's id.
        id: TransferId,
        /// The payout.
        reference: String,
    },
    /// `amount` to `to`: from `from` as far as its spendable balance goes, the rest from
    /// `fallback` (a disputed top-up: what is left in the wallet, then the platform's loss).
    Drain {
        /// Taken first.
        from: AccountId,
        /// Takes the rest.
        fallback: AccountId,
        /// Credited.
        to: AccountId,
        /// The currency.
        currency: Currency,
        /// The whole amount.
        amount: i64,
        /// Ids and codes of the two transfers (from, fallback).
        legs: [(TransferId, Code); 2],
        /// The reference.
        reference: String,
    },
}

impl Computed {
    /// The account whose balance decides the amount (locked before planning).
    fn decides(&self) -> &AccountId {
        match self {
            Computed::Match { budget, .. } => budget,
            Computed::PayOut { from, .. } | Computed::Drain { from, .. } => from,
        }
    }
}

/// Posted credits minus posted and pending debits.
fn spendable(b: &Balances) -> i64 {
    b.credits_posted
        .saturating_sub(b.debits_posted)
        .saturating_sub(b.debits_pending)
}

/// A row written when the job's transfers apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Records a new purchase.
    InsertPurchase(Box<Purchase>),
    /// Records new held income.
    InsertHold(Box<Hold>),
    /// Marks a purchase refunded or disputed.
    SetPurchaseStatus {
        /// The purchase.
        purchase_id: PurchaseId,
        /// Its new status.
        status: PurchaseStatus,
        /// When.
        at: OffsetDateTime,
    },
    /// Records a wallet top-up.
    InsertTopup(Box<Topup>),
    /// Marks a top-up disputed.
    SetTopupStatus {
        /// The top-up.
        topup_id: TopupId,
        /// Its new status.
        status: TopupStatus,
        /// When.
        at: OffsetDateTime,
    },
    /// Records a payout (its amount is the job's [`Computed::PayOut`]).
    InsertPayout(Box<Payout>),
    /// Marks a payout paid or failed, or records the provider's id of a pending one.
    SetPayoutStatus {
        /// The payout.
        payout_id: PayoutId,
        /// Its new status.
        status: PayoutStatus,
        /// The provider's payout id, if known now.
        provider_id: Option<String>,
        /// Why it failed.
        failure: Option<String>,
        /// When.
        at: OffsetDateTime,
    },
    /// Adds `delta` to what a match program has matched for a creator (a reversal's is
    /// negative).
    MatchUsage {
        /// The program.
        program: String,
        /// The creator.
        creator: UserId,
        /// The currency.
        currency: Currency,
        /// The change.
        delta: i64,
    },
    /// Marks a hold released (by the release named) or reversed.
    SetHoldStatus {
        /// The hold.
        hold_id: String,
        /// Its new status.
        status: HoldStatus,
        /// The release transfer's id, for a release.
        release_id: Option<String>,
        /// When.
        at: OffsetDateTime,
    },
}

impl Effect {
    /// The status the effect gives a row, so that later jobs of the batch see it.
    fn sets(&self) -> Option<(RowRef, &'static str)> {
        match self {
            Effect::InsertPurchase(p) => Some((
                RowRef::Purchase(p.id.clone()),
                PurchaseStatus::Succeeded.as_str(),
            )),
            Effect::InsertHold(h) => Some((RowRef::Hold(h.id.clone()), h.status.as_str())),
            Effect::SetPurchaseStatus {
                purchase_id,
                status,
                ..
            } => Some((RowRef::Purchase(purchase_id.clone()), status.as_str())),
            Effect::SetHoldStatus {
                hold_id, status, ..
            } => Some((RowRef::Hold(hold_id.clone()), status.as_str())),
            Effect::InsertTopup(t) => Some((RowRef::Topup(t.id.clone()), t.status.as_str())),
            Effect::SetTopupStatus {
                topup_id, status, ..
            } => Some((RowRef::Topup(topup_id.clone()), status.as_str())),
            Effect::InsertPayout(p) => Some((RowRef::Payout(p.id.clone()), p.status.as_str())),
            Effect::SetPayoutStatus {
                payout_id, status, ..
            } => Some((RowRef::Payout(payout_id.clone()), status.as_str())),
            Effect::MatchUsage { .. } => None,
        }
    }
}

/// One unit of work for the writer: all of it is committed, or none.
#[derive(Debug, Clone, Default)]
pub struct WriteJob {
    /// Accounts to open if they do not exist yet.
    pub accounts: Vec<Account>,
    /// One set of transfers, applied atomically (may be empty).
    pub transfers: Vec<Transfer>,
    /// A transfer whose amount the batch decides, applied with the set.
    pub computed: Option<Computed>,
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
    /// A [`Guard::Status`] failed: the row is missing or has another status.
    Status(RowRef),
    /// A [`Computed::PayOut`] found less than its minimum.
    BelowMinimum,
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

/// Which income source a transfer code counts for, and with which sign; the owner is the
/// credited account's for +1 and the debited account's for -1.
pub fn income_source(code: Code) -> Option<(&'static str, i64)> {
    match code {
        Code::BADGE_SHARE => Some(("badges", 1)),
        Code::BADGE_SHARE_REFUND | Code::BADGE_SHARE_CHARGEBACK => Some(("badges", -1)),
        Code::MATCH => Some(("match", 1)),
        Code::MATCH_REFUND | Code::MATCH_CHARGEBACK => Some(("match", -1)),
        _ => None,
    }
}

/// Every income source a creator's earnings are counted by.
pub fn income_sources() -> &'static [&'static str] {
    &["badges", "match", "commissions", "brand_deals"]
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

/// What a batch must load, each set sorted (PostgreSQL locks rows in this order).
#[derive(Debug, Default)]
pub(crate) struct Needs<'a> {
    /// Every account a job opens or a transfer names.
    pub(crate) accounts: BTreeSet<&'a str>,
    /// The accounts jobs open, by id (the first definition wins).
    pub(crate) opened: BTreeMap<&'a str, &'a Account>,
    /// Transfers named as the pending side of a post or void.
    pub(crate) pending_ids: BTreeSet<&'a str>,
    /// The batch's transfer ids and the pending ids.
    pub(crate) transfer_ids: BTreeSet<&'a str>,
    /// Idempotency keys, with the first record of each.
    pub(crate) keys: BTreeMap<(&'a str, &'a str), &'a IdempotencyRecord>,
    /// Rows whose status guards check, in lock order.
    pub(crate) rows: BTreeSet<&'a RowRef>,
    /// Accounts whose balance decides a computed amount: locked before planning.
    pub(crate) decide: BTreeSet<&'a str>,
    /// Match usage to read: (program, creator, currency).
    pub(crate) match_usage: BTreeSet<(&'a str, &'a str, Currency)>,
    /// Spending to sum: viewer, currency, since (micros).
    pub(crate) spends: BTreeSet<(&'a str, Currency, i64)>,
}

impl<'a> Needs<'a> {
    pub(crate) fn of(jobs: &'a [WriteJob]) -> Needs<'a> {
        let mut needs = Needs::default();
        for job in jobs {
            for a in &job.accounts {
                needs.accounts.insert(a.id.as_str());
                needs.opened.entry(a.id.as_str()).or_insert(a);
            }
            for t in &job.transfers {
                needs.accounts.insert(t.debit.as_str());
                needs.accounts.insert(t.credit.as_str());
                needs.transfer_ids.insert(t.id.as_str());
                if let Some(p) = t.kind.pending_id() {
                    needs.pending_ids.insert(p.as_str());
                    needs.transfer_ids.insert(p.as_str());
                }
            }
            if let Some(c) = &job.computed {
                let decides = c.decides().as_str();
                needs.accounts.insert(decides);
                needs.decide.insert(decides);
                match c {
                    Computed::Match {
                        program,
                        creator,
                        budget,
                        to,
                        currency,
                        id,
                        ..
                    } => {
                        needs.accounts.insert(budget.as_str());
                        needs.accounts.insert(to.as_str());
                        needs.transfer_ids.insert(id.as_str());
                        needs
                            .match_usage
                            .insert((program.as_str(), creator.as_str(), *currency));
                    }
                    Computed::PayOut { from, to, id, .. } => {
                        needs.accounts.insert(from.as_str());
                        needs.accounts.insert(to.as_str());
                        needs.transfer_ids.insert(id.as_str());
                    }
                    Computed::Drain {
                        from,
                        fallback,
                        to,
                        legs,
                        ..
                    } => {
                        needs.accounts.insert(from.as_str());
                        needs.accounts.insert(fallback.as_str());
                        needs.accounts.insert(to.as_str());
                        for (id, _) in legs {
                            needs.transfer_ids.insert(id.as_str());
                        }
                    }
                }
            }
            for effect in &job.effects {
                if let Effect::MatchUsage {
                    program,
                    creator,
                    currency,
                    ..
                } = effect
                {
                    needs
                        .match_usage
                        .insert((program.as_str(), creator.as_str(), *currency));
                }
            }
            if let Some(r) = &job.idempotency {
                needs
                    .keys
                    .entry((r.account_id.as_str(), r.key.as_str()))
                    .or_insert(r);
            }
            for guard in &job.guards {
                match guard {
                    Guard::Status(row, _) => {
                        needs.rows.insert(row);
                    }
                    Guard::SpendLimit {
                        viewer_id,
                        currency,
                        since,
                        ..
                    } => {
                        needs.spends.insert((
                            viewer_id.as_str(),
                            *currency,
                            crate::to_micros(*since),
                        ));
                    }
                }
            }
        }
        needs
    }
}

/// What a batch found in the database.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Existing accounts with their balances.
    pub(crate) accounts: Vec<(Account, Balances)>,
    /// Existing transfers, each with whether it is a pending one already posted or voided.
    pub(crate) transfers: Vec<(Transfer, bool)>,
    /// Stored answers of the batch's keys (not counting keys this batch claimed).
    pub(crate) answers: HashMap<(String, String), IdempotencyRecord>,
    /// The status of each row guards name that exists.
    pub(crate) statuses: HashMap<RowRef, String>,
    /// Committed match usage per (program, creator, currency).
    pub(crate) match_used: HashMap<(String, String, Currency), i64>,
    /// Committed spending per (viewer, currency, since).
    pub(crate) spent: HashMap<(String, Currency, i64), i64>,
}

/// What a batch writes.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    /// One per job, in order.
    pub(crate) outcomes: Vec<Outcome>,
    /// Accounts opened, transfers applied, balance changes summed per account.
    pub(crate) changes: ledger::Changes,
    /// Income per (owner, source, currency) to add to `income_totals`.
    pub(crate) income: Vec<(String, &'static str, Currency, i64)>,
    /// Purchases to insert (with their match, when one was computed).
    pub(crate) purchases: Vec<Cow<'a, Purchase>>,
    /// Holds to insert (with the match added).
    pub(crate) holds: Vec<Cow<'a, Hold>>,
    /// Top-ups to insert.
    pub(crate) topups: Vec<&'a Topup>,
    /// Top-ups whose status changes.
    pub(crate) topup_statuses: Vec<(&'a TopupId, TopupStatus, OffsetDateTime)>,
    /// Payouts to insert (with their computed amount).
    pub(crate) payouts: Vec<Cow<'a, Payout>>,
    /// Payouts whose status changes.
    pub(crate) payout_statuses: Vec<&'a Effect>,
    /// Match usage to add, per (program, creator, currency).
    pub(crate) match_usage: Vec<(String, String, Currency, i64)>,
    /// Purchases whose status changes.
    pub(crate) purchase_statuses: Vec<(&'a PurchaseId, PurchaseStatus, OffsetDateTime)>,
    /// Holds whose status changes, with the release that released them.
    pub(crate) hold_statuses: Vec<(&'a str, HoldStatus, Option<&'a str>, OffsetDateTime)>,
    /// Answers to store, one per key.
    pub(crate) answers: Vec<&'a IdempotencyRecord>,
}

/// Decides every job of the batch in order, each seeing what the jobs before it did.
pub(crate) fn plan(jobs: &[WriteJob], loaded: Loaded) -> Result<Plan<'_>, StoreError> {
    let Loaded {
        accounts,
        transfers,
        mut answers,
        mut statuses,
        spent: committed,
        match_used,
    } = loaded;
    let mut book = Book::new();
    for (account, balances) in accounts {
        book.load_account(account, balances);
    }
    for (transfer, resolved) in transfers {
        book.load_transfer(transfer, resolved);
    }

    let mut spent: HashMap<(&str, Currency, i64), i64> = HashMap::new();
    let mut usage: HashMap<(String, String, Currency), i64> = match_used;
    let mut usage_delta: HashMap<(String, String, Currency), i64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut new_answers: Vec<&IdempotencyRecord> = Vec::new();
    let mut purchases: Vec<Cow<'_, Purchase>> = Vec::new();
    let mut holds: Vec<Cow<'_, Hold>> = Vec::new();
    let mut topups = Vec::new();
    let mut topup_statuses = Vec::new();
    let mut payouts: Vec<Cow<'_, Payout>> = Vec::new();
    let mut payout_statuses = Vec::new();
    let mut purchase_statuses = Vec::new();
    let mut hold_statuses = Vec::new();

    for job in jobs {
        if let Some(record) = &job.idempotency
            && let Some(stored) = answers.get(&(record.account_id.clone(), record.key.clone()))
        {
            outcomes.push(Outcome::Duplicate(stored.clone()));
            continue;
        }
        if let Some(refusal) = check_guards(job, &statuses, &committed, &spent) {
            outcomes.push(Outcome::Refused(refusal));
            continue;
        }
        for account in &job.accounts {
            book.open_account(account.clone());
        }
        let computed = match &job.computed {
            Some(c) => match compute(c, &book, &usage) {
                Ok(extra) => Some(extra),
                Err(refusal) => {
                    outcomes.push(Outcome::Refused(refusal));
                    continue;
                }
            },
            None => None,
        };
        let set: Cow<'_, [Transfer]> = match &computed {
            Some((extra, _)) if !extra.is_empty() => {
                let mut set = job.transfers.clone();
                set.extend(extra.iter().cloned());
                Cow::Owned(set)
            }
            _ => Cow::Borrowed(&job.transfers),
        };
        let applied = if set.is_empty() {
            Applied::Posted
        } else {
            match book.apply(&set) {
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
            if let Guard::SpendLimit {
                viewer_id,
                currency,
                since,
                amount,
                ..
            } = guard
            {
                *spent
                    .entry((viewer_id.as_str(), *currency, crate::to_micros(*since)))
                    .or_default() += amount;
            }
        }
        let amount = computed.as_ref().map_or(0, |(_, amount)| *amount);
        let matched = match &job.computed {
            Some(Computed::Match {
                program,
                creator,
                currency,
                ..
            }) if amount > 0 => {
                let key = (program.clone(), creator.to_string(), *currency);
                *usage.entry(key.clone()).or_default() += amount;
                *usage_delta.entry(key).or_default() += amount;
                Some((program.as_str(), amount))
            }
            _ => None,
        };
        for effect in &job.effects {
            if let Some((row, status)) = effect.sets() {
                statuses.insert(row, status.to_owned());
            }
            match effect {
                Effect::InsertPurchase(p) => purchases.push(match matched {
                    Some((program, m)) => Cow::Owned(Purchase {
                        match_amount: money::Money::new(m, p.price.currency()),
                        match_program: Some(program.to_owned()),
                        ..(**p).clone()
                    }),
                    None => Cow::Borrowed(&**p),
                }),
                Effect::InsertHold(h) => {
                    let total = h.amount.amount() + matched.map_or(0, |(_, m)| m);
                    if total > 0 {
                        holds.push(if total == h.amount.amount() {
                            Cow::Borrowed(&**h)
                        } else {
                            Cow::Owned(Hold {
                                amount: money::Money::new(total, h.amount.currency()),
                                ..(**h).clone()
                            })
                        });
                    }
                }
                Effect::SetPurchaseStatus {
                    purchase_id,
                    status,
                    at,
                } => purchase_statuses.push((purchase_id, *status, *at)),
                Effect::SetHoldStatus {
                    hold_id,
                    status,
                    release_id,
                    at,
                } => hold_statuses.push((hold_id.as_str(), *status, release_id.as_deref(), *at)),
                Effect::InsertTopup(t) => topups.push(&**t),
                Effect::SetTopupStatus {
                    topup_id,
                    status,
                    at,
                } => topup_statuses.push((topup_id, *status, *at)),
                Effect::InsertPayout(p) => payouts.push(if amount > 0 {
                    Cow::Owned(Payout {
                        amount: money::Money::new(amount, p.amount.currency()),
                        ..(**p).clone()
                    })
                } else {
                    Cow::Borrowed(&**p)
                }),
                Effect::SetPayoutStatus { .. } => payout_statuses.push(effect),
                Effect::MatchUsage {
                    program,
                    creator,
                    currency,
                    delta,
                } => {
                    let key = (program.clone(), creator.to_string(), *currency);
                    *usage.entry(key.clone()).or_default() += delta;
                    *usage_delta.entry(key).or_default() += delta;
                }
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
    let mut income: HashMap<(&str, &'static str, Currency), i64> = HashMap::new();
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
    let income = income
        .into_iter()
        .map(|((owner, source, currency), amount)| (owner.to_owned(), source, currency, amount))
        .collect();
    let mut match_usage: Vec<(String, String, Currency, i64)> = usage_delta
        .into_iter()
        .filter(|(_, d)| *d != 0)
        .map(|((p, c, cur), d)| (p, c, cur, d))
        .collect();
    match_usage.sort();
    metrics::counter!("ovation_ledger_transfers_total").increment(changes.transfers.len() as u64);
    Ok(Plan {
        outcomes,
        changes,
        income,
        purchases,
        holds,
        topups,
        topup_statuses,
        payouts,
        payout_statuses,
        match_usage,
        purchase_statuses,
        hold_statuses,
        answers: new_answers,
    })
}

/// The transfers a [`Computed`] asks for, from the balances the book holds now, and the
/// amount decided (the match, the payout, the drained part).
fn compute(
    c: &Computed,
    book: &Book,
    usage: &HashMap<(String, String, Currency), i64>,
) -> Result<(Vec<Transfer>, i64), Refusal> {
    let balance = |id: &AccountId| book.account(id).map_or(0, |(_, b)| spendable(b));
    let posted = |id: &TransferId,
                  debit: &AccountId,
                  credit: &AccountId,
                  amount,
                  currency,
                  code,
                  reference: &str| Transfer {
        id: id.clone(),
        debit: debit.clone(),
        credit: credit.clone(),
        amount,
        currency,
        kind: TransferKind::Posted,
        code,
        reference: reference.to_owned(),
    };
    match c {
        Computed::Match {
            program,
            creator,
            budget,
            to,
            currency,
            wanted,
            cap,
            id,
            reference,
        } => {
            let used = usage
                .get(&(program.clone(), creator.to_string(), *currency))
                .copied()
                .unwrap_or(0);
            let amount = (*wanted)
                .min(cap.saturating_sub(used))
                .min(balance(budget))
                .max(0);
            let transfers = if amount > 0 {
                vec![posted(
                    id,
                    budget,
                    to,
                    amount,
                    *currency,
                    Code::MATCH,
                    reference,
                )]
            } else {
                Vec::new()
            };
            Ok((transfers, amount))
        }
        Computed::PayOut {
            from,
            to,
            currency,
            minimum,
            id,
            reference,
        } => {
            let amount = balance(from);
            if amount < (*minimum).max(1) {
                return Err(Refusal::BelowMinimum);
            }
            let mut transfer = posted(id, from, to, amount, *currency, Code::PAYOUT, reference);
            transfer.kind = TransferKind::Pending;
            Ok((vec![transfer], amount))
        }
        Computed::Drain {
            from,
            fallback,
            to,
            currency,
            amount,
            legs,
            reference,
        } => {
            let first = (*amount).min(balance(from)).max(0);
            let rest = amount - first;
            let mut transfers = Vec::with_capacity(2);
            if first > 0 {
                transfers.push(posted(
                    &legs[0].0, from, to, first, *currency, legs[0].1, reference,
                ));
            }
            if rest > 0 {
                transfers.push(posted(
                    &legs[1].0, fallback, to, rest, *currency, legs[1].1, reference,
                ));
            }
            Ok((transfers, first))
        }
    }
}

fn check_guards(
    job: &WriteJob,
    statuses: &HashMap<RowRef, String>,
    committed: &HashMap<(String, Currency, i64), i64>,
    spent: &HashMap<(&str, Currency, i64), i64>,
) -> Option<Refusal> {
    for guard in &job.guards {
        match guard {
            Guard::Status(row, expected) => {
                if statuses.get(row).map(String::as_str) != Some(*expected) {
                    return Some(Refusal::Status(row.clone()));
                }
            }
            Guard::SpendLimit {
                viewer_id,
                currency,
                since,
                amount,
                limit,
            } => {
                let since = crate::to_micros(*since);
                let before = committed
                    .get(&(viewer_id.as_str().to_owned(), *currency, since))
                    .copied()
                    .unwrap_or(0);
                let in_batch = spent
                    .get(&(viewer_id.as_str(), *currency, since))
                    .copied()
                    .unwrap_or(0);
                if before.saturating_add(in_batch).saturating_add(*amount) > *limit {
                    return Some(Refusal::SpendingLimit);
                }
            }
        }
    }
    None
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
