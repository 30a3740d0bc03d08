//! The business of money, as values: the one home of the rules by which money moves.
//!
//! It owns the money records (a purchase, a hold, a top-up, a payout, a match program, their
//! typed ids and statuses), the income sources, every business event's ledger postings
//! ([`rules`]: a badge purchase paid by card or wallet, its refund or chargeback, the
//! release of held income, a payout and its settlement, a wallet top-up and its dispute,
//! the funding of a match budget and the match itself, a shop order's commission and its
//! returns, a brand deal's fee held in escrow and then paid or given back), the ledger
//! writer's jobs and the
//! pure planning step that decides a batch of them ([`plan`]), the spending-cap policy
//! ([`caps`]) and the arithmetic of statements ([`statement`]).
//!
//! It must never know IO: no async runtime, no database, no HTTP. Handlers validate, charge,
//! take a job from here, submit it to the store's writer and answer; the store loads what
//! [`plan::Needs`] names, calls [`plan::plan`] and writes what it returns. A new income
//! source is one more [`IncomeSource`] and one more rule.

pub mod caps;
mod ids;
mod job;
pub mod plan;
mod records;
pub mod rules;
mod source;
pub mod statement;

pub use ids::{
    CampaignId, ClickId, CommentId, LiveId, MatchProgramId, OfferId, PayoutId, ProductId,
    PurchaseId, ShopOrderId, TopupId, UserId,
};
pub use job::{
    Computed, Effect, Guard, LIVE_ON_AIR, Outcome, Refusal, RowRef, WriteJob, spendable,
};
pub use records::{
    AttemptKind, AttemptStatus, Hold, HoldStatus, IdempotencyRecord, MatchProgram, Offer,
    OfferAction, OfferStatus, OrderAttribution, PaymentAttempt, PaymentMethod, Payout,
    PayoutStatus, Purchase, PurchaseStatus, SandboxCharge, ShopOrder, Topup, TopupStatus,
};
pub use rules::PLATFORM;
pub use source::IncomeSource;

use time::OffsetDateTime;

/// Microseconds since the Unix epoch, the stored form of every time (and the form in which
/// the planner compares the start of a spending period).
pub fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// The inverse of [`to_micros`].
pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
