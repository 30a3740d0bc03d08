//! Brand deals in escrow: an offer's fee held from the brand's wallet, each step of the offer
//! taken through the ledger writer under a guard on the status it starts from, and the steps
//! time takes (expiry of an unanswered offer, approval of an unanswered delivery), run by
//! `serve` every minute on every node and by `ovation offers run`. What each step moves is
//! [`postings::rules::offer_step_job`]'s; this reads, submits and retries.

use postings::rules::{self, InvalidStep, StepDetails, StepTimes};
use postings::{IdempotencyRecord, Offer, OfferAction, OfferStatus, Outcome, Refusal, RowRef};
use store::{Store, StoreError};
use time::{Duration, OffsetDateTime};

/// How long an offer waits for the creator before it expires.
pub const OFFER_TTL: Duration = Duration::days(7);
/// How long a delivery waits for the brand before it is approved.
pub const REVIEW_PERIOD: Duration = Duration::days(7);

/// What a step came to.
#[derive(Debug)]
pub enum Stepped {
    /// Taken: the offer now.
    Done(Offer),
    /// The offer's key was used before: the stored answer.
    Replayed(IdempotencyRecord),
    /// Not allowed from where the offer stands (after any concurrent step).
    Invalid(InvalidStep),
    /// No such offer.
    Missing,
    /// Refused by the ledger or a guard other than the offer's (a bug: logged, 500).
    Refused(Outcome),
}

/// The times a step of `at` depends on: the review period, the hold period (`serve`'s
/// setting), and whether time takes it rather than a person.
pub fn step_times(
    at: OffsetDateTime,
    hold_period: std::time::Duration,
    automatic: bool,
) -> StepTimes {
    StepTimes {
        at,
        review: REVIEW_PERIOD,
        hold_period: Duration::try_from(hold_period).unwrap_or(Duration::days(7)),
        automatic,
    }
}

/// Takes `action` on `before` (the offer as the caller read it), storing `answer(after)`
/// under the caller's key. A concurrent step that changed the offer first makes the guard
/// refuse this one; the offer is read again and the step tried from where it stands now
/// (most likely [`Stepped::Invalid`]).
pub async fn step(
    store: &Store,
    mut before: Offer,
    action: OfferAction,
    details: &StepDetails,
    times: StepTimes,
    answer: impl Fn(&Offer) -> Option<IdempotencyRecord>,
) -> Result<Stepped, StoreError> {
    for _ in 0..3 {
        let (mut job, after) =
            match rules::offer_step_job(&before, action, details.clone(), times, None) {
                Ok(stepped) => stepped,
                Err(invalid) => return Ok(Stepped::Invalid(invalid)),
            };
        job.idempotency = answer(&after);
        match store.writer().submit(job).await? {
            Outcome::Applied => return Ok(Stepped::Done(after)),
            Outcome::Duplicate(record) => return Ok(Stepped::Replayed(record)),
            Outcome::Refused(Refusal::Status(RowRef::Offer(_))) => {}
            other => return Ok(Stepped::Refused(other)),
        }
        match store.offer(before.id.as_str()).await? {
            Some(now) => before = now,
            None => return Ok(Stepped::Missing),
        }
    }
    Ok(Stepped::Invalid(InvalidStep {
        from: before.status.as_str(),
        action,
    }))
}

/// What a run of time's steps did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DueReport {
    /// Offers not accepted in time: expired, their hold given back.
    pub expired: u64,
    /// Deliveries not answered in time: approved, the fee paid.
    pub approved: u64,
    /// Offers another run (or a person) moved first.
    pub skipped: u64,
}

/// Offers read per page.
const DUE_PAGE: u32 = 500;

/// Expires every offer unanswered past its `expires_at` and approves every delivery
/// unanswered past its `approve_by`, as of `now`. Safe on several nodes at once: each step is
/// guarded by the status it starts from, so it happens once and the others skip it.
pub async fn run_due(
    store: &Store,
    now: OffsetDateTime,
    hold_period: std::time::Duration,
) -> Result<DueReport, StoreError> {
    let mut report = DueReport::default();
    let times = step_times(now, hold_period, true);
    loop {
        let due = store.offers_due(now, DUE_PAGE).await?;
        let mut moved = 0;
        for offer in &due {
            let action = if offer.status == OfferStatus::Offered {
                OfferAction::Expire
            } else {
                OfferAction::Approve
            };
            let Ok((job, _)) =
                rules::offer_step_job(offer, action, StepDetails::default(), times, None)
            else {
                report.skipped += 1;
                continue;
            };
            match store.writer().submit(job).await? {
                Outcome::Applied if action == OfferAction::Expire => report.expired += 1,
                Outcome::Applied => report.approved += 1,
                _ => report.skipped += 1,
            }
            moved += 1;
        }
        if due.len() < DUE_PAGE as usize || moved == 0 {
            return Ok(report);
        }
    }
}
