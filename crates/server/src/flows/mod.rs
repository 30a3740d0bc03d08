//! The money flows that take more than one ledger job or a call to the payment provider:
//! a reversal read and retried around a concurrent release, a release run paging through
//! due holds, and a payout run booking payouts then asking the provider to pay them. What
//! each job moves is decided in `postings`; these only read, submit and count. They take the
//! store and the provider, not the HTTP state, so the CLI runs them beside a server.
//! [`events`] applies the provider's events.

pub mod checkout;
pub mod deals;
pub mod events;
pub mod reconcile;
pub mod shop;

use money::Currency;
use postings::rules::{self, ProcessorFeeOnReversal, Reversal};
use postings::{IdempotencyRecord, Outcome, Payout, PayoutId, Purchase, Refusal, RowRef, UserId};
use std::collections::BTreeMap;
use store::{Store, StoreError};
use time::OffsetDateTime;

use crate::payments::{PaymentProvider, PayoutError, PayoutRequest};

/// Reverses `p` on the ledger (the provider's side is the caller's), storing `answer` with
/// it; `fee` says who bears the processor's fee. A release that moves the hold between the
/// read and the write makes the job refused on the hold's guard: it is read again and tried
/// once more.
pub async fn reverse_purchase(
    store: &Store,
    p: &Purchase,
    reversal: Reversal,
    fee: ProcessorFeeOnReversal,
    answer: Option<IdempotencyRecord>,
    at: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let hold = store.hold(p.id.as_str()).await?.map(|h| h.status);
        let job = postings::WriteJob {
            idempotency: answer.clone(),
            ..rules::reversal_job(p, reversal, fee, hold, at)
        };
        let outcome = store.writer().submit(job).await?;
        match &outcome {
            Outcome::Refused(Refusal::Status(RowRef::Hold(_))) if attempts < 3 => {}
            _ => return Ok(outcome),
        }
    }
}

/// What one release run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseReport {
    /// Holds released.
    pub holds: u64,
    /// Release transfers posted (one per creator and currency per page of holds).
    pub releases: u64,
    /// Amount released per currency.
    pub released: BTreeMap<Currency, i64>,
    /// Holds another run released first (or that a reversal took back meanwhile).
    pub skipped: u64,
}

/// Holds read per page.
const RELEASE_PAGE: u32 = 5_000;

/// Releases every hold whose period ended by `now` ([`rules::release_job`] per owner and
/// currency of each page of due holds). Idempotent and safe to run on several nodes at once:
/// a hold released by another run fails its guard and its job is skipped (its holds are then
/// no longer due).
pub async fn release_due(store: &Store, now: OffsetDateTime) -> Result<ReleaseReport, StoreError> {
    let mut report = ReleaseReport::default();
    let mut after: Option<(OffsetDateTime, String)> = None;
    loop {
        let page = store
            .due_holds(
                now,
                after.as_ref().map(|(at, id)| (*at, id.as_str())),
                RELEASE_PAGE,
            )
            .await?;
        let Some(last) = page.last() else {
            return Ok(report);
        };
        after = Some((last.release_at, last.id.clone()));
        let jobs = rules::release_groups(page).into_iter().map(|group| {
            let release_id = format!("rel_{}", uuid::Uuid::now_v7().simple());
            let job = rules::release_job(&group, &release_id, now);
            async move { (store.writer().submit(job).await, group) }
        });
        for (outcome, group) in futures_util::future::join_all(jobs).await {
            let n = group.holds.len() as u64;
            match outcome? {
                Outcome::Applied => {
                    report.holds += n;
                    report.releases += 1;
                    *report.released.entry(group.currency).or_default() += group.amount();
                }
                Outcome::Refused(Refusal::Status(_)) | Outcome::Replayed => report.skipped += n,
                other => {
                    tracing::error!(?other, holds = n, "release refused");
                    report.skipped += n;
                }
            }
        }
    }
}

/// What one payout run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutReport {
    /// Creators' balances looked at (one per creator and currency with money available).
    pub checked: u64,
    /// Payouts created now (each pending until the provider confirms).
    pub payouts: u64,
    /// Their amounts per currency.
    pub amounts: BTreeMap<Currency, i64>,
    /// Balances below the minimum payout (or paid by another run at the same time).
    pub below_minimum: u64,
    /// Payouts from earlier runs the provider had not acknowledged, sent again now.
    pub resumed: u64,
    /// Payouts the provider refused (voided: the money is available again).
    pub rejected: u64,
    /// Payouts the provider could not be asked for now, or whose money it could not bring
    /// back yet after refusing them (retried by the next run).
    pub unsent: u64,
}

/// What a payout run works with.
#[derive(Clone, Copy)]
pub struct Payouts<'a> {
    /// The store.
    pub store: &'a Store,
    /// The provider that pays.
    pub provider: &'a dyn PaymentProvider,
    /// The smallest payout, in major units of each currency.
    pub minimum_major: u64,
}

impl std::fmt::Debug for Payouts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payouts")
            .field("provider", &self.provider.name())
            .finish_non_exhaustive()
    }
}

/// Balances read per page.
const PAYOUT_PAGE: u32 = 1_000;

/// How long a run holds the payouts it sends again before another run may: longer than a
/// run takes to send them (each send is bounded by the provider client's timeouts).
const RESEND_CLAIM: time::Duration = time::Duration::minutes(15);

/// Payouts sent to the provider at once: their ledger jobs share batches.
const SENDING: usize = 256;

impl Payouts<'_> {
    /// Pays every creator whose available balance in a currency reaches the minimum: one
    /// payout per creator and currency ([`rules::payout_job`]), then the provider is asked to
    /// pay (idempotent by payout id); its webhook settles it. Payouts a previous run booked
    /// but could not send are claimed by this run and sent again first. `progress` hears (done, total).
    pub async fn run(
        self,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<PayoutReport, StoreError> {
        use futures_util::StreamExt;
        let store = self.store;
        let mut report = PayoutReport::default();
        let unsent = store
            .claim_unsent_payouts(store::now() + RESEND_CLAIM, 10_000)
            .await?;
        report.resumed = unsent.len() as u64;
        self.send_all(unsent, true, &mut report).await?;
        let total = store.count_payable().await?;
        let mut done = 0;
        let mut after = String::new();
        loop {
            let page = store.payable(&after, PAYOUT_PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(report);
            };
            after = last.0.clone();
            let jobs = page
                .iter()
                .filter(|(_, _, currency, spendable)| {
                    *spendable >= rules::payout_minimum(self.minimum_major, *currency)
                })
                .map(|(_, creator, currency, _)| {
                    let id = PayoutId::generate();
                    let job = payout_job(
                        &id,
                        creator,
                        *currency,
                        rules::payout_minimum(self.minimum_major, *currency),
                    );
                    async move { (store.writer().submit(job).await, id) }
                });
            let booked: Vec<_> = futures_util::future::join_all(jobs).await;
            let mut to_send = Vec::new();
            for (outcome, payout) in booked {
                if outcome? == Outcome::Applied {
                    to_send.push(payout);
                }
            }
            report.checked += page.len() as u64;
            report.below_minimum += page.len() as u64 - to_send.len() as u64;
            // Read back the amounts the batches decided, then ask the provider.
            let read: Vec<Result<Option<Payout>, StoreError>> = futures_util::stream::iter(to_send)
                .map(|payout| async move { store.payout(&payout).await })
                .buffer_unordered(SENDING)
                .collect()
                .await;
            let mut booked = Vec::with_capacity(read.len());
            for payout in read {
                let Some(payout) = payout? else { continue };
                report.payouts += 1;
                *report.amounts.entry(payout.amount.currency()).or_default() +=
                    payout.amount.amount();
                booked.push(payout);
            }
            self.send_all(booked, false, &mut report).await?;
            done += page.len() as u64;
            progress(done.min(total), total.max(done));
        }
    }

    /// Sends `payouts` (`resend`: sent before, see [`PayoutRequest::resend`]), [`SENDING`]
    /// at a time, and counts the outcomes.
    async fn send_all(
        self,
        payouts: Vec<Payout>,
        resend: bool,
        report: &mut PayoutReport,
    ) -> Result<(), StoreError> {
        use futures_util::StreamExt;
        let results: Vec<Result<Sent, StoreError>> = futures_util::stream::iter(payouts)
            .map(|payout| async move { self.send(&payout, resend).await })
            .buffer_unordered(SENDING)
            .collect()
            .await;
        for result in results {
            match result? {
                Sent::Accepted => {}
                Sent::Rejected => report.rejected += 1,
                Sent::Unsent => report.unsent += 1,
            }
        }
        Ok(())
    }

    /// Asks the provider to pay `payout` and records its id, or voids one the provider
    /// rejected (it answers `Rejected` only when no money left the platform: Stripe reverses
    /// a transfer whose payout was refused first). A payout the provider could not be asked
    /// about, or whose money could not be brought back yet, stays pending for the next run.
    async fn send(self, payout: &Payout, resend: bool) -> Result<Sent, StoreError> {
        let destination = self
            .store
            .user(&payout.creator_id)
            .await?
            .and_then(|u| u.payout_account);
        let request = PayoutRequest {
            idempotency_key: payout.id.to_string(),
            amount: payout.amount,
            creator: payout.creator_id.to_string(),
            destination,
            resend,
        };
        match self.provider.payout(request).await {
            Ok(provider_id) => {
                let job = rules::payout_sent_job(&payout.id, provider_id, store::now());
                // Refused: the provider's webhook settled it first.
                self.store.writer().submit(job).await?;
                Ok(Sent::Accepted)
            }
            Err(PayoutError::Rejected(why)) => {
                settle_payout(self.store, payout, false, None, Some(why), None).await?;
                Ok(Sent::Rejected)
            }
            Err(PayoutError::Unavailable(why)) => {
                tracing::warn!(payout = %payout.id, %why, "payout not sent: the next run sends it");
                if resend {
                    self.store.release_payout_claim(&payout.id).await?;
                }
                Ok(Sent::Unsent)
            }
        }
    }
}

fn payout_job(
    id: &PayoutId,
    creator: &UserId,
    currency: Currency,
    minimum: i64,
) -> postings::WriteJob {
    rules::payout_job(id, creator, currency, minimum, store::now())
}

/// What became of a payout sent to the provider.
enum Sent {
    Accepted,
    Rejected,
    Unsent,
}

/// Posts (`paid`) or voids a pending payout, storing `answer` with it. Refused when the payout
/// is not pending any more (settled by an earlier event).
pub async fn settle_payout(
    store: &Store,
    payout: &Payout,
    paid: bool,
    provider_id: Option<String>,
    failure: Option<String>,
    answer: Option<IdempotencyRecord>,
) -> Result<Outcome, StoreError> {
    let job = rules::settlement_job(payout, paid, provider_id, failure, answer, store::now());
    store.writer().submit(job).await
}
