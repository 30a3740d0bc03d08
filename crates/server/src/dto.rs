//! The JSON shapes of the API (API.md), with their OpenAPI schemas.

use money::Money;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// RFC 3339 in UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("a UTC time always formats as RFC 3339")
}

/// `{"amount": <minor units>, "currency": "USD"}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct MoneyBody {
    /// Integer minor units (cents; yen have none).
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

impl From<Money> for MoneyBody {
    fn from(m: Money) -> MoneyBody {
        MoneyBody {
            amount: m.amount(),
            currency: m.currency().code().to_owned(),
        }
    }
}

/// `POST /v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAccount {
    /// 1–30 characters of a-z, 0-9, `_` and `.`.
    pub handle: String,
    /// `creator`, `viewer` or `brand`.
    pub kind: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// Follower count.
    #[serde(default)]
    pub followers: Option<i64>,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountBody {
    /// Id.
    pub id: String,
    /// Handle.
    pub handle: String,
    /// `creator`, `viewer` or `brand`.
    pub kind: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// `YYYY-MM-DD`, when known.
    pub birth_date: Option<String>,
    /// Followers, when known.
    pub followers: Option<u64>,
    /// RFC 3339.
    pub created_at: String,
}

/// A new user token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    /// Opaque secret; shown once.
    pub token: String,
}

/// A tier's price.
#[derive(Debug, Serialize, ToSchema)]
pub struct TierPriceBody {
    /// 1, 2 or 3.
    pub tier: u8,
    /// Hearts shown.
    pub hearts: u8,
    /// Local price.
    pub price: MoneyBody,
}

/// `GET /v1/badges/prices`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PricesBody {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// ISO 4217.
    pub currency: String,
    /// The three tiers.
    pub tiers: Vec<TierPriceBody>,
}

/// `POST /v1/lives`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateLive {
    /// 1–200 characters.
    pub title: String,
    /// The creator's badge goal for the live, in hearts (1–1,000,000); optional.
    #[serde(default)]
    pub goal_hearts: Option<i64>,
}

/// `PUT /v1/lives/{id}/goal`: the badge goal in hearts, or `null` for none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGoal {
    /// 1–1,000,000 hearts; `null` clears the goal. Required (absent is not `null`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, required = true)]
    pub goal_hearts: Option<Option<i64>>,
}

/// A field that is present, `null` or not: `Some(None)` for `null`, and the field's
/// `#[serde(default)]` gives `None` when it is absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// A live.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveBody {
    /// Id.
    pub id: String,
    /// The creator.
    pub creator_id: String,
    /// Title.
    pub title: String,
    /// `live` or `ended`.
    pub status: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339, once ended.
    pub ended_at: Option<String>,
    /// The creator's badge goal in hearts, if set.
    pub goal_hearts: Option<u32>,
}

impl From<&store::Live> for LiveBody {
    fn from(l: &store::Live) -> LiveBody {
        LiveBody {
            id: l.id.to_string(),
            creator_id: l.creator_id.to_string(),
            title: l.title.clone(),
            status: if l.active { "live" } else { "ended" }.to_owned(),
            started_at: rfc3339(l.started_at),
            ended_at: l.ended_at.map(rfc3339),
            goal_hearts: l.goal_hearts,
        }
    }
}

/// `POST /v1/lives/{id}/comments`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateComment {
    /// 1–300 characters after trimming.
    pub text: String,
}

/// A badge as shown beside a comment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BadgeBody {
    /// 1, 2 or 3.
    pub tier: u8,
    /// Hearts.
    pub hearts: u8,
}

/// A comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentBody {
    /// Id.
    pub id: String,
    /// The live.
    pub live_id: String,
    /// The author.
    pub author_id: String,
    /// The author's handle.
    pub author_handle: String,
    /// Text.
    pub text: String,
    /// The author's highest badge in this live.
    pub badge: Option<BadgeBody>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&store::Comment> for CommentBody {
    fn from(c: &store::Comment) -> CommentBody {
        CommentBody {
            id: c.id.to_string(),
            live_id: c.live_id.to_string(),
            author_id: c.author_id.to_string(),
            author_handle: c.author_handle.clone(),
            text: c.text.clone(),
            badge: c.badge_tier.map(|t| BadgeBody {
                tier: t.get(),
                hearts: t.hearts(),
            }),
            created_at: rfc3339(c.created_at),
        }
    }
}

/// A page of comments.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentList {
    /// Oldest first.
    pub data: Vec<CommentBody>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/lives/{id}/badges`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct BuyBadge {
    /// 1, 2 or 3.
    pub tier: i64,
    /// `pm_card_visa`, `pm_card_chargeDeclined`, …
    pub payment_method: String,
}

/// A badge purchase.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseBody {
    /// Id.
    pub id: String,
    /// The live.
    pub live_id: String,
    /// The buyer.
    pub viewer_id: String,
    /// The live's creator.
    pub creator_id: String,
    /// 1, 2 or 3.
    pub tier: u8,
    /// Hearts.
    pub hearts: u8,
    /// What the buyer paid.
    pub price: MoneyBody,
    /// `succeeded` or `refunded`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once refunded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<String>,
}

impl From<&store::Purchase> for PurchaseBody {
    fn from(p: &store::Purchase) -> PurchaseBody {
        PurchaseBody {
            id: p.id.to_string(),
            live_id: p.live_id.to_string(),
            viewer_id: p.viewer_id.to_string(),
            creator_id: p.creator_id.to_string(),
            tier: p.tier.get(),
            hearts: p.tier.hearts(),
            price: p.price.into(),
            status: p.status.as_str().to_owned(),
            created_at: rfc3339(p.created_at),
            refunded_at: p.refunded_at.map(rfc3339),
        }
    }
}

/// A supporter of a live.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupporterBody {
    /// The viewer.
    pub viewer_id: String,
    /// Their handle.
    pub viewer_handle: String,
    /// Highest tier bought.
    pub top_tier: u8,
    /// Spent per currency.
    pub totals: Vec<MoneyBody>,
    /// Purchases made.
    pub purchases: u64,
}

/// A page of supporters.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupporterList {
    /// By top tier, then purchases, descending.
    pub data: Vec<SupporterBody>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// A creator's balances in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceBody {
    /// ISO 4217.
    pub currency: String,
    /// In the hold period.
    pub pending: MoneyBody,
    /// Can be paid out.
    pub available: MoneyBody,
    /// Paid out.
    pub paid_out: MoneyBody,
}

/// Income of one source.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceBody {
    /// `badges`, `match`, `commissions` or `brand_deals`.
    pub source: String,
    /// Net of refunds.
    pub total: MoneyBody,
}

/// `GET /v1/creators/{id}/earnings`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EarningsBody {
    /// The creator.
    pub creator_id: String,
    /// Per currency.
    pub balances: Vec<BalanceBody>,
    /// Per source and currency.
    pub by_source: Vec<SourceBody>,
}

/// `GET /v1/ledger/verify`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyBody {
    /// No problem found.
    pub ok: bool,
    /// Transfers checked.
    pub transfers: u64,
    /// Accounts checked.
    pub accounts: u64,
    /// What is wrong.
    pub problems: Vec<String>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    /// `ok` or `unavailable`.
    pub status: String,
}

/// `POST /v1/holds/release`: what one release run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseBody {
    /// Holds whose period had ended and that were released now.
    pub holds: u64,
    /// Release transfers posted (one per creator and currency per page of holds).
    pub releases: u64,
    /// Released amounts per currency.
    pub released: Vec<MoneyBody>,
    /// Holds another run (another node) released first, or a reversal took back meanwhile.
    pub skipped: u64,
}

impl From<crate::flows::ReleaseReport> for ReleaseBody {
    fn from(r: crate::flows::ReleaseReport) -> ReleaseBody {
        ReleaseBody {
            holds: r.holds,
            releases: r.releases,
            released: r
                .released
                .into_iter()
                .map(|(c, a)| MoneyBody::from(Money::new(a, c)))
                .collect(),
            skipped: r.skipped,
        }
    }
}

/// `POST /v1/webhooks/payments`: what became of the event.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    /// The event's id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `already_applied`, `refunded`, `charged_back`, `already_refunded`,
    /// `already_charged_back`, `orphan_refunded`, `unknown_payment`,
    /// `partial_refund_not_booked` or `ignored`.
    pub result: String,
}

impl MoneyBody {
    /// The amount as [`Money`], or 422 naming `field` (an unknown currency, a negative
    /// amount, or one above `max`).
    pub fn to_money(&self, field: &str, max: i64) -> Result<Money, crate::error::ApiError> {
        let currency = money::Currency::parse(&self.currency)
            .map_err(|e| crate::error::invalid(format!("{field}.currency: {e}")))?;
        if self.amount <= 0 || self.amount > max {
            return Err(crate::error::invalid(format!(
                "{field}.amount must be 1..={max} minor units"
            )));
        }
        Ok(Money::new(self.amount, currency))
    }
}

/// `POST /v1/wallet/topups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopupRequest {
    /// How much to put in the wallet, in the currency of the buyer's country.
    pub amount: MoneyBody,
    /// The card's payment method (`pm_card_visa`, …).
    pub payment_method: String,
}

/// A wallet top-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopupBody {
    /// `top_…`.
    pub id: String,
    /// The wallet's owner.
    pub user_id: String,
    /// Put in the wallet.
    pub amount: MoneyBody,
    /// `succeeded` or `disputed`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `GET /v1/wallet`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletBody {
    /// The wallet's owner.
    pub user_id: String,
    /// What can be spent, per currency.
    pub balances: Vec<MoneyBody>,
}

/// `PUT /v1/me/spending-limits`: caps the buyer sets for themselves, in the currency of
/// their country; `null` (or absent) removes one. The operator's caps still apply: the lower
/// of the two counts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendingLimitsRequest {
    /// Most spent on badges per day (UTC).
    #[serde(default)]
    pub daily: Option<MoneyBody>,
    /// Most spent per week (from Monday 00:00 UTC).
    #[serde(default)]
    pub weekly: Option<MoneyBody>,
}

/// `GET /v1/me/spending-limits`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpendingLimitsBody {
    /// The buyer's currency.
    pub currency: String,
    /// The daily cap that applies (the lower of the operator's and the buyer's), if any.
    pub daily: Option<MoneyBody>,
    /// The weekly cap that applies, if any.
    pub weekly: Option<MoneyBody>,
    /// The daily cap the buyer set.
    pub own_daily: Option<MoneyBody>,
    /// The weekly cap the buyer set.
    pub own_weekly: Option<MoneyBody>,
    /// Spent on badges today.
    pub spent_today: MoneyBody,
    /// Spent on badges this week.
    pub spent_this_week: MoneyBody,
}

/// `POST /v1/match-programs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchProgramRequest {
    /// For people.
    pub name: String,
    /// Match rate in basis points of the creator's share (10000 doubles it).
    pub rate_bps: u32,
    /// Most matched per creator, one per currency matched.
    pub caps: Vec<MoneyBody>,
    /// Creators' countries that are eligible (absent or empty: every country).
    #[serde(default)]
    pub countries: Vec<String>,
    /// RFC 3339; absent: now.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// RFC 3339, after `starts_at`.
    pub ends_at: String,
    /// Money put in the budget now, per currency (more can be added later).
    #[serde(default)]
    pub budget: Vec<MoneyBody>,
}

/// A page of match programs.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchProgramList {
    /// Oldest first.
    pub data: Vec<MatchProgramBody>,
    /// Always null: every program is on the one page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/match-programs/{id}/budget`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundRequest {
    /// Added to the budget of its currency.
    pub amount: MoneyBody,
}

/// A match program's budget in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetBody {
    /// ISO 4217.
    pub currency: String,
    /// Put in so far: matched plus remaining.
    pub funded: MoneyBody,
    /// Matched so far, net of matches that refunds and chargebacks took back.
    pub matched: MoneyBody,
    /// What is left to match with.
    pub remaining: MoneyBody,
}

/// A match program.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchProgramBody {
    /// `mp_…`.
    pub id: String,
    /// For people.
    pub name: String,
    /// Basis points of the creator's share.
    pub rate_bps: u32,
    /// Per-creator caps.
    pub caps: Vec<MoneyBody>,
    /// Eligible creators' countries (empty: all).
    pub countries: Vec<String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339.
    pub ends_at: String,
    /// Budgets per currency.
    pub budgets: Vec<BudgetBody>,
    /// RFC 3339.
    pub created_at: String,
}

/// A payout.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutBody {
    /// `pay_…`.
    pub id: String,
    /// The creator paid.
    pub creator_id: String,
    /// How much.
    pub amount: MoneyBody,
    /// `pending` (sent, not yet confirmed), `paid` or `failed`.
    pub status: String,
    /// The provider's id, once it has one.
    pub provider_id: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&store::Payout> for PayoutBody {
    fn from(p: &store::Payout) -> PayoutBody {
        PayoutBody {
            id: p.id.to_string(),
            creator_id: p.creator_id.to_string(),
            amount: p.amount.into(),
            status: p.status.as_str().to_owned(),
            provider_id: p.provider_id.clone(),
            failure: p.failure.clone(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// A page of payouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutList {
    /// Newest first.
    pub data: Vec<PayoutBody>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// `POST /v1/payouts/run`: what the run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutRunBody {
    /// Creators' balances looked at (one per creator and currency with money available).
    pub checked: u64,
    /// Payouts created (pending until the provider confirms).
    pub payouts: u64,
    /// Their amounts per currency.
    pub amounts: Vec<MoneyBody>,
    /// Balances below the minimum payout.
    pub below_minimum: u64,
    /// Payouts of earlier runs sent again.
    pub resumed: u64,
    /// Payouts the provider refused (voided).
    pub rejected: u64,
    /// Payouts not sent now (the provider was unreachable); the next run sends them.
    pub unsent: u64,
}

impl From<crate::flows::PayoutReport> for PayoutRunBody {
    fn from(r: crate::flows::PayoutReport) -> PayoutRunBody {
        PayoutRunBody {
            checked: r.checked,
            payouts: r.payouts,
            amounts: r
                .amounts
                .into_iter()
                .map(|(c, a)| MoneyBody::from(Money::new(a, c)))
                .collect(),
            below_minimum: r.below_minimum,
            resumed: r.resumed,
            rejected: r.rejected,
            unsent: r.unsent,
        }
    }
}

/// A creator's three balances at one instant.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct StatementBalances {
    /// Income inside its hold period.
    pub pending: MoneyBody,
    /// Income that can be paid out (payouts waiting for the provider are out of it).
    pub available: MoneyBody,
    /// Paid out.
    pub paid_out: MoneyBody,
}

/// One ledger transfer on a statement, with what it changed of each balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementLine {
    /// When it was booked, RFC 3339.
    pub at: String,
    /// `badge`, `match`, `refund`, `chargeback`, `release`, `payout`, `payout_paid`,
    /// `payout_failed`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The income source, for income and its reversals (`badges`, `match`).
    pub source: Option<String>,
    /// The business object: a purchase, a release, a payout.
    pub reference: String,
    /// The ledger transfer.
    pub transfer_id: String,
    /// For a badge: what the fan paid.
    pub gross: Option<MoneyBody>,
    /// For a badge: the platform's fee.
    pub platform_fee: Option<MoneyBody>,
    /// For a badge: the payment processor's fee.
    pub processor_fee: Option<MoneyBody>,
    /// Change of the pending balance.
    pub pending: MoneyBody,
    /// Change of the available balance.
    pub available: MoneyBody,
    /// Change of the paid-out balance.
    pub paid_out: MoneyBody,
}

/// Sums of a statement's lines by kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementTotals {
    /// Badge income (the creator's share).
    pub badges: MoneyBody,
    /// Platform match.
    pub matched: MoneyBody,
    /// Taken back by refunds (negative).
    pub refunds: MoneyBody,
    /// Taken back by chargebacks (negative).
    pub chargebacks: MoneyBody,
    /// Moved from pending to available.
    pub released: MoneyBody,
    /// Paid out (confirmed by the provider).
    pub paid_out: MoneyBody,
    /// Platform fees on this month's badges (not the creator's money; for reference).
    pub platform_fees: MoneyBody,
    /// Processor fees on this month's badges.
    pub processor_fees: MoneyBody,
}

/// A statement's part in one currency: opening + lines = closing, to the cent.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementCurrency {
    /// ISO 4217.
    pub currency: String,
    /// At the start of the month.
    pub opening: StatementBalances,
    /// At its end (or now, for the current month).
    pub closing: StatementBalances,
    /// Sums by kind.
    pub totals: StatementTotals,
    /// Every transfer of the month on the creator's accounts, in the order booked.
    pub lines: Vec<StatementLine>,
}

/// `GET /v1/creators/{id}/statements?month=YYYY-MM`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementBody {
    /// The creator.
    pub creator_id: String,
    /// `YYYY-MM`.
    pub month: String,
    /// First instant, RFC 3339 (UTC).
    pub from: String,
    /// First instant after it.
    pub to: String,
    /// One part per currency the creator has accounts in.
    pub currencies: Vec<StatementCurrency>,
}

/// `PUT /v1/accounts/{id}/payout-account`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutAccountBody {
    /// Where the provider pays the creator (Stripe: the connected account, `acct_…`);
    /// `null` removes it.
    pub payout_account: Option<String>,
}
