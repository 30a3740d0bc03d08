//! The records the store keeps, as plain values.

use std::fmt;

use money::{Currency, Money};
use time::OffsetDateTime;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> $name {
                $name(format!(concat!($prefix, "_{}"), uuid::Uuid::now_v7().simple()))
            }

            /// Wraps an id that came from outside (a path, the store); it is only compared,
            /// never interpreted.
            pub fn from_string(id: String) -> $name {
                $name(id)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A user account's id (creator, viewer or brand).
    UserId,
    "acc"
);
id_type!(
    /// A live's id.
    LiveId,
    "live"
);
id_type!(
    /// A comment's id.
    CommentId,
    "cmt"
);
id_type!(
    /// A badge purchase's id.
    PurchaseId,
    "pur"
);

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

/// Status of a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseStatus {
    /// Paid and posted.
    Succeeded,
    /// Reversed by a refund.
    Refunded,
    /// Reversed by a chargeback: the buyer disputed the payment with their bank.
    Disputed,
}

impl PurchaseStatus {
    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            PurchaseStatus::Succeeded => "succeeded",
            PurchaseStatus::Refunded => "refunded",
            PurchaseStatus::Disputed => "disputed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<PurchaseStatus> {
        [
            PurchaseStatus::Succeeded,
            PurchaseStatus::Refunded,
            PurchaseStatus::Disputed,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// How a purchase was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMethod {
    /// A card charge through the payment provider.
    Card,
    /// The buyer's prepaid wallet.
    Wallet,
}

impl PaymentMethod {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Card => "card",
            PaymentMethod::Wallet => "wallet",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<PaymentMethod> {
        [PaymentMethod::Card, PaymentMethod::Wallet]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// A badge purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// Its id.
    pub id: PurchaseId,
    /// The live it was bought in.
    pub live_id: LiveId,
    /// The buyer.
    pub viewer_id: UserId,
    /// The live's creator.
    pub creator_id: UserId,
    /// Badge tier.
    pub tier: live::Tier,
    /// What the buyer paid.
    pub price: Money,
    /// The creator's part of the price.
    pub creator_share: Money,
    /// The platform's part of the price.
    pub platform_fee: Money,
    /// The payment processor's part of the price (zero for wallet payments).
    pub processor_fee: Money,
    /// What a match program added for the creator (decided inside the ledger batch).
    pub match_amount: Money,
    /// The match program that matched it, if one did.
    pub match_program: Option<String>,
    /// Card or wallet.
    pub payment_method: PaymentMethod,
    /// Succeeded, refunded or disputed.
    pub status: PurchaseStatus,
    /// The payment provider's id for the charge (the wallet payment's own id for a wallet).
    pub payment_id: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When it was refunded or charged back.
    pub refunded_at: Option<OffsetDateTime>,
}

/// The stored answer to a POST with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The calling account (`admin` for the admin token).
    pub account_id: String,
    /// The key as sent.
    pub key: String,
    /// Hash of the request (method, path, canonical body).
    pub fingerprint: String,
    /// HTTP status answered.
    pub status: u16,
    /// JSON body answered.
    pub body: String,
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
    /// `badges`, `match`, `commissions` or `brand_deals`.
    pub source: String,
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

/// Where a hold stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldStatus {
    /// Inside its hold period: the money is in the creator's pending balance.
    Held,
    /// Moved to the creator's available balance.
    Released,
    /// Taken back by a refund or a chargeback before it was released.
    Reversed,
}

impl HoldStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Held => "held",
            HoldStatus::Released => "released",
            HoldStatus::Reversed => "reversed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<HoldStatus> {
        [HoldStatus::Held, HoldStatus::Released, HoldStatus::Reversed]
            .into_iter()
            .find(|h| h.as_str() == s)
    }
}

/// New income inside its hold period: one per income event (its id is the event's, a
/// purchase id), released to the owner's available balance at `release_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The income event's id.
    pub id: String,
    /// The creator.
    pub owner: UserId,
    /// How much, in the owner's pending balance (the share plus any match).
    pub amount: Money,
    /// `badges`, and later other income sources.
    pub source: &'static str,
    /// Held, released or reversed.
    pub status: HoldStatus,
    /// When the hold period ends.
    pub release_at: OffsetDateTime,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

id_type!(
    /// A wallet top-up's id.
    TopupId,
    "top"
);
id_type!(
    /// A payout's id.
    PayoutId,
    "pay"
);
id_type!(
    /// A match program's id.
    MatchProgramId,
    "mp"
);

/// Where a top-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopupStatus {
    /// Paid: the money is in the wallet.
    Succeeded,
    /// Charged back by the buyer's bank.
    Disputed,
}

impl TopupStatus {
    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            TopupStatus::Succeeded => "succeeded",
            TopupStatus::Disputed => "disputed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<TopupStatus> {
        [TopupStatus::Succeeded, TopupStatus::Disputed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// A viewer's prepaid wallet top-up, paid by card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topup {
    /// Its id.
    pub id: TopupId,
    /// The wallet's owner.
    pub user_id: UserId,
    /// What was paid into the wallet.
    pub amount: Money,
    /// What the processor kept (borne by the platform).
    pub processor_fee: Money,
    /// The provider's payment.
    pub payment_id: String,
    /// Succeeded or disputed.
    pub status: TopupStatus,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// Where a payout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutStatus {
    /// Sent to the provider (or about to be); pending on the ledger.
    Pending,
    /// The provider paid it: posted.
    Paid,
    /// The provider could not pay it: voided, the money is available again.
    Failed,
}

impl PayoutStatus {
    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<PayoutStatus> {
        [
            PayoutStatus::Pending,
            PayoutStatus::Paid,
            PayoutStatus::Failed,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// A payout of a creator's available balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Its id.
    pub id: PayoutId,
    /// The creator paid.
    pub creator_id: UserId,
    /// How much (decided inside the ledger batch: the whole available balance).
    pub amount: Money,
    /// Pending, paid or failed.
    pub status: PayoutStatus,
    /// The provider's id of the payout, once it has one.
    pub provider_id: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A platform earnings-match program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchProgram {
    /// Its id.
    pub id: MatchProgramId,
    /// For people.
    pub name: String,
    /// Match rate, basis points of the creator's share.
    pub rate: money::Bps,
    /// Most matched per creator, per currency (a currency not listed is not matched).
    pub caps: Vec<Money>,
    /// Creators' countries that are eligible (empty: all).
    pub countries: Vec<live::CountryCode>,
    /// First instant it matches.
    pub starts_at: OffsetDateTime,
    /// First instant it no longer matches.
    pub ends_at: OffsetDateTime,
    /// Creation time.
    pub created_at: OffsetDateTime,
}
