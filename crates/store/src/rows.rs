//! The records the store keeps, as plain values: the money records are `postings`' (and
//! re-exported here), the rest — accounts, lives, comments and the read models — are the
//! store's own.

use money::{Currency, Money};
use postings::IncomeSource;
use time::OffsetDateTime;

pub use postings::{
    AttemptKind, AttemptStatus, CommentId, Hold, HoldStatus, IdempotencyRecord, LiveId,
    MatchProgram, MatchProgramId, OrderAttribution, PaymentAttempt, PaymentMethod, Payout,
    PayoutId, PayoutStatus, ProductId, Purchase, PurchaseId, PurchaseStatus, SandboxCharge,
    ShopOrder, ShopOrderId, Topup, TopupId, TopupStatus, UserId,
};

/// A user account: a creator, a viewer or a brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Unique handle.
    pub handle: String,
    /// `creator`, `viewer` or `brand`.
    pub kind: live::AccountKind,
    /// ISO 3166-1 alpha-2.
    pub country: live::CountryCode,
    /// When the platform told us.
    pub birth_date: Option<time::Date>,
    /// Follower count the platform reported.
    pub followers: Option<u64>,
    /// Suspended accounts are not eligible to earn.
    pub suspended: bool,
    /// The daily badge spending cap the viewer set for themselves (minor units).
    pub own_daily_limit: Option<i64>,
    /// The weekly one.
    pub own_weekly_limit: Option<i64>,
    /// Where the payment provider pays the creator (Stripe: the connected account).
    pub payout_account: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A live session of a creator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Its id.
    pub id: LiveId,
    /// The creator who is live.
    pub creator_id: UserId,
    /// Title.
    pub title: String,
    /// Whether it still runs.
    pub active: bool,
    /// Start time.
    pub started_at: OffsetDateTime,
    /// End time, once ended.
    pub ended_at: Option<OffsetDateTime>,
    /// The creator's badge goal for the live, in hearts.
    pub goal_hearts: Option<u32>,
}

/// A chat message in a live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id.
    pub id: CommentId,
    /// The live.
    pub live_id: LiveId,
    /// Who wrote it.
    pub author_id: UserId,
    /// The author's handle.
    pub author_handle: String,
    /// Trimmed text.
    pub text: String,
    /// The highest badge tier the author held in this live when writing.
    pub badge_tier: Option<live::Tier>,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A supporter of a live, aggregated over their non-refunded purchases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supporter {
    /// The viewer.
    pub viewer_id: UserId,
    /// Their handle.
    pub viewer_handle: String,
    /// Highest tier bought.
    pub top_tier: live::Tier,
    /// Totals per currency.
    pub totals: Vec<Money>,
    /// Number of purchases.
    pub purchases: u64,
}

/// A creator's balances in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyBalances {
    /// The currency.
    pub currency: Currency,
    /// Income inside its hold period.
    pub pending: Money,
    /// Income that can be paid out.
    pub available: Money,
    /// Paid out so far.
    pub paid_out: Money,
}

/// Income of one source in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTotal {
    /// The income source.
    pub source: IncomeSource,
    /// Net of refunds.
    pub total: Money,
}

/// A creator's earnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earnings {
    /// Per currency.
    pub balances: Vec<CurrencyBalances>,
    /// Per source and currency.
    pub by_source: Vec<SourceTotal>,
}
