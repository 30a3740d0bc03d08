//! The records of money's business events, as plain values: a badge purchase, the hold of
//! new income, a wallet top-up, a payout, a match program, and the answer stored under an
//! idempotency key. Statuses are enums with one stored (and public) name each.

use money::Money;
use time::OffsetDateTime;

use crate::IncomeSource;
use crate::ids::{LiveId, MatchProgramId, PayoutId, PurchaseId, TopupId, UserId};

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
    /// The income source it came from.
    pub source: IncomeSource,
    /// Held, released or reversed.
    pub status: HoldStatus,
    /// When the hold period ends.
    pub release_at: OffsetDateTime,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// Where a top-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopupStatus {
    /// Paid: the money is in the wallet.
    Succeeded,
    /// Charged back by the buyer's bank.
    Disputed,
    /// Refunded at the provider.
    Refunded,
}

impl TopupStatus {
    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            TopupStatus::Succeeded => "succeeded",
            TopupStatus::Disputed => "disputed",
            TopupStatus::Refunded => "refunded",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<TopupStatus> {
        [
            TopupStatus::Succeeded,
            TopupStatus::Disputed,
            TopupStatus::Refunded,
        ]
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

/// What a card payment attempt pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    /// A badge purchase.
    Purchase,
    /// A wallet top-up.
    Topup,
}

impl AttemptKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Purchase => "purchase",
            AttemptKind::Topup => "topup",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<AttemptKind> {
        [AttemptKind::Purchase, AttemptKind::Topup]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a card payment attempt stands. `Pending` and `Processing` are unsettled: the
/// reconciler asks the provider about them; the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    /// Recorded before the provider was called; whether it charged is not known yet.
    Pending,
    /// The provider has the payment pending (it succeeds or fails later).
    Processing,
    /// Charged and booked: its purchase or top-up stands on the ledger.
    Booked,
    /// The card was declined: no charge.
    Declined,
    /// Charged but not booked (refused after the charge, or no longer wanted): refunded.
    Refunded,
    /// Never charged: the provider has no payment under its key.
    Abandoned,
}

impl AttemptStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Pending => "pending",
            AttemptStatus::Processing => "processing",
            AttemptStatus::Booked => "booked",
            AttemptStatus::Declined => "declined",
            AttemptStatus::Refunded => "refunded",
            AttemptStatus::Abandoned => "abandoned",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<AttemptStatus> {
        [
            AttemptStatus::Pending,
            AttemptStatus::Processing,
            AttemptStatus::Booked,
            AttemptStatus::Declined,
            AttemptStatus::Refunded,
            AttemptStatus::Abandoned,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Whether the provider still has to be asked what became of it.
    pub fn unsettled(self) -> bool {
        matches!(self, AttemptStatus::Pending | AttemptStatus::Processing)
    }
}

/// A card payment, recorded durably before the provider is called, under the provider
/// idempotency key derived from the caller and its `Idempotency-Key`: a retry reaches the
/// same charge, and the reconciler can book or refund a charge whose request died.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAttempt {
    /// The provider idempotency key (unique).
    pub key: String,
    /// What it pays for.
    pub kind: AttemptKind,
    /// The id of the purchase or top-up it books (unique; the charge's metadata).
    pub reference: String,
    /// The caller's idempotency scope (their account).
    pub account_id: String,
    /// The caller's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
    /// The request's fingerprint (a retry with another body under the key is refused).
    pub fingerprint: String,
    /// What to book, as the server wrote it (JSON).
    pub order: String,
    /// What is charged.
    pub amount: Money,
    /// Where it stands.
    pub status: AttemptStatus,
    /// The provider's payment id, once known.
    pub payment_id: Option<String>,
    /// When it was recorded.
    pub created_at: OffsetDateTime,
    /// When its status last changed.
    pub updated_at: OffsetDateTime,
}

/// A charge in the sandbox provider's own records (a table of the store's database, as a
/// processor keeps its own). Usually written by the sandbox itself; a charge that succeeds at
/// once is written by the ledger batch that books what it pays for
/// ([`crate::Effect::InsertCharge`]), so that the charge and its booking commit together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxCharge {
    /// `pi_…`.
    pub id: String,
    /// The idempotency key it was made under.
    pub idempotency_key: String,
    /// How much.
    pub amount: Money,
    /// The test payment method.
    pub payment_method: String,
    /// `processing`, `succeeded`, `refunded` or `disputed`.
    pub status: String,
    /// Ovation's reference in its metadata (the purchase or top-up).
    pub reference: String,
    /// Whether an answer under its key reached the caller (`pm_card_lostAnswer`'s first did not).
    pub answered: bool,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When its status last changed.
    pub updated_at: OffsetDateTime,
}

/// Who a shop sale was attributed to, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAttribution {
    /// The creator's coupon was used.
    Coupon,
    /// The creator's link was clicked last.
    Click,
    /// No one.
    None,
}

impl OrderAttribution {
    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderAttribution::Coupon => "coupon",
            OrderAttribution::Click => "click",
            OrderAttribution::None => "none",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<OrderAttribution> {
        [
            OrderAttribution::Coupon,
            OrderAttribution::Click,
            OrderAttribution::None,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// A brand's order reported to Ovation, with the commission it pays the creator it is
/// attributed to. Its `commission` is the current one (returns reduce it), split into the
/// platform's fee and the creator's share, the share held until `locks_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopOrder {
    /// Ovation's id.
    pub id: crate::ids::ShopOrderId,
    /// The brand's own order id (unique per brand).
    pub order_id: String,
    /// The brand that sold.
    pub brand_id: UserId,
    /// The creator credited, if any.
    pub creator_id: Option<UserId>,
    /// How.
    pub attribution: OrderAttribution,
    /// The click it was attributed to, for a click.
    pub click_id: Option<String>,
    /// The code of the link clicked, for a click.
    pub link: Option<String>,
    /// The coupon used, for a coupon.
    pub coupon: Option<String>,
    /// What was sold, with the terms of each product then and the units returned.
    pub lines: Vec<shop::Line>,
    /// The commission now (after returns); zero without a creator.
    pub commission: Money,
    /// The platform's fee in it.
    pub platform_fee: Money,
    /// The creator's share of it (held until `locks_at`).
    pub creator_share: Money,
    /// Returns recorded so far.
    pub returns: u32,
    /// The hold of the share now (each return replaces it), if any.
    pub hold_id: Option<String>,
    /// When the brand says it was ordered.
    pub ordered_at: OffsetDateTime,
    /// When returns stop and the commission locks.
    pub locks_at: OffsetDateTime,
    /// When Ovation booked it.
    pub created_at: OffsetDateTime,
    /// When a return last changed it.
    pub updated_at: OffsetDateTime,
}

impl ShopOrder {
    /// `pending` until `locks_at`, then `locked`; `reversed` once returns took all of a
    /// commission back.
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        let had_commission = self.lines.iter().any(|l| l.commission().is_positive());
        if had_commission && self.commission.is_zero() {
            "reversed"
        } else if now >= self.locks_at {
            "locked"
        } else {
            "pending"
        }
    }
}

/// Where a brand's offer to a creator stands. Its money follows: held (pending transfers from
/// the brand's wallet) while `offered`, `accepted`, `delivered` or `changes_requested`; paid
/// to the creator when `approved`; given back when `declined`, `expired` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferStatus {
    /// Made, waiting for the creator (expires unanswered).
    Offered,
    /// The creator accepted; waiting for the delivery.
    Accepted,
    /// The creator declined: the hold is given back.
    Declined,
    /// Not accepted in time: the hold is given back.
    Expired,
    /// Cancelled by the brand before delivery: the hold is given back.
    Cancelled,
    /// Delivered; waiting for the brand (approved automatically unanswered).
    Delivered,
    /// The brand asked for changes; waiting for a new delivery.
    ChangesRequested,
    /// Approved (by the brand or automatically): the fee is paid.
    Approved,
}

/// What someone does to an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferAction {
    /// The creator accepts.
    Accept,
    /// The creator declines.
    Decline,
    /// Time runs out before acceptance.
    Expire,
    /// The brand cancels.
    Cancel,
    /// The creator delivers (again, after changes were asked).
    Deliver,
    /// The brand asks for changes.
    RequestChanges,
    /// The brand approves, or time runs out on a delivery.
    Approve,
}

impl OfferStatus {
    /// Every status.
    pub const ALL: [OfferStatus; 8] = [
        OfferStatus::Offered,
        OfferStatus::Accepted,
        OfferStatus::Declined,
        OfferStatus::Expired,
        OfferStatus::Cancelled,
        OfferStatus::Delivered,
        OfferStatus::ChangesRequested,
        OfferStatus::Approved,
    ];

    /// The stored and public name.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Offered => "offered",
            OfferStatus::Accepted => "accepted",
            OfferStatus::Declined => "declined",
            OfferStatus::Expired => "expired",
            OfferStatus::Cancelled => "cancelled",
            OfferStatus::Delivered => "delivered",
            OfferStatus::ChangesRequested => "changes_requested",
            OfferStatus::Approved => "approved",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<OfferStatus> {
        OfferStatus::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the fee is still held (the offer is neither paid nor given back).
    pub fn holds(self) -> bool {
        matches!(
            self,
            OfferStatus::Offered
                | OfferStatus::Accepted
                | OfferStatus::Delivered
                | OfferStatus::ChangesRequested
        )
    }

    /// The state machine: the status `action` leads to from this one, or `None` when the
    /// action is not allowed now. A brand cancels only before delivery; a creator delivers
    /// once accepted, and again after changes were asked.
    pub fn after(self, action: OfferAction) -> Option<OfferStatus> {
        use OfferAction as A;
        use OfferStatus as S;
        match (self, action) {
            (S::Offered, A::Accept) => Some(S::Accepted),
            (S::Offered, A::Decline) => Some(S::Declined),
            (S::Offered, A::Expire) => Some(S::Expired),
            (S::Offered | S::Accepted, A::Cancel) => Some(S::Cancelled),
            (S::Accepted | S::ChangesRequested, A::Deliver) => Some(S::Delivered),
            (S::Delivered, A::RequestChanges) => Some(S::ChangesRequested),
            (S::Delivered, A::Approve) => Some(S::Approved),
            _ => None,
        }
    }
}

/// A brand's offer to a creator for a campaign, its fee held in escrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Its id.
    pub id: crate::ids::OfferId,
    /// The campaign.
    pub campaign_id: crate::ids::CampaignId,
    /// The brand paying.
    pub brand_id: UserId,
    /// The creator offered.
    pub creator_id: UserId,
    /// The whole fee, held from the brand's wallet.
    pub fee: Money,
    /// The platform's fee in it (decided when the offer is made).
    pub platform_fee: Money,
    /// The creator's share of it.
    pub creator_share: Money,
    /// Where it stands.
    pub status: OfferStatus,
    /// When an offer not accepted expires.
    pub expires_at: OffsetDateTime,
    /// The delivery's address, once delivered.
    pub delivery_url: Option<String>,
    /// When last delivered.
    pub delivered_at: Option<OffsetDateTime>,
    /// When a delivery not answered is approved.
    pub approve_by: Option<OffsetDateTime>,
    /// The brand's last request for changes.
    pub note: Option<String>,
    /// Whether the delivery came by the campaign's deadline (known once delivered).
    pub on_time: Option<bool>,
    /// Whether approval came from time running out rather than the brand.
    pub auto_approved: bool,
    /// The hold of the creator's share once approved.
    pub hold_id: Option<String>,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// Its last change.
    pub updated_at: OffsetDateTime,
}
