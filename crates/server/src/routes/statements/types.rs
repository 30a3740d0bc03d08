//! The JSON body of a monthly statement, with its OpenAPI schemas.

use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::MoneyBody;

/// A creator's three balances at one instant.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub(crate) struct StatementBalances {
    /// Income inside its hold period.
    pub(crate) pending: MoneyBody,
    /// Income that can be paid out (payouts waiting for the provider are out of it).
    pub(crate) available: MoneyBody,
    /// Paid out.
    pub(crate) paid_out: MoneyBody,
}

/// One ledger transfer on a statement, with what it changed of each balance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatementLine {
    /// When it was booked, RFC 3339.
    pub(crate) at: String,
    /// `badge`, `match`, `refund`, `chargeback`, `release`, `payout`, `payout_paid`,
    /// `payout_failed`, `payout_returned`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// The income source, for income and its reversals (`badges`, `match`).
    pub(crate) source: Option<String>,
    /// The business object: a purchase, a release, a payout.
    pub(crate) reference: String,
    /// The ledger transfer.
    pub(crate) transfer_id: String,
    /// For a badge: what the fan paid.
    pub(crate) gross: Option<MoneyBody>,
    /// For a badge: the platform's fee.
    pub(crate) platform_fee: Option<MoneyBody>,
    /// For a badge: the payment processor's fee.
    pub(crate) processor_fee: Option<MoneyBody>,
    /// Change of the pending balance.
    pub(crate) pending: MoneyBody,
    /// Change of the available balance.
    pub(crate) available: MoneyBody,
    /// Change of the paid-out balance.
    pub(crate) paid_out: MoneyBody,
}

/// Sums of a statement's lines by kind.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatementTotals {
    /// Badge income (the creator's share).
    pub(crate) badges: MoneyBody,
    /// Platform match.
    pub(crate) matched: MoneyBody,
    /// Taken back by refunds (negative).
    pub(crate) refunds: MoneyBody,
    /// Taken back by chargebacks (negative).
    pub(crate) chargebacks: MoneyBody,
    /// Moved from pending to available.
    pub(crate) released: MoneyBody,
    /// Paid out (confirmed by the provider).
    pub(crate) paid_out: MoneyBody,
    /// Platform fees on this month's badges (not the creator's money; for reference).
    pub(crate) platform_fees: MoneyBody,
    /// Processor fees on this month's badges.
    pub(crate) processor_fees: MoneyBody,
}

/// A statement's part in one currency: opening + lines = closing, to the cent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatementCurrency {
    /// ISO 4217.
    pub(crate) currency: String,
    /// At the start of the month.
    pub(crate) opening: StatementBalances,
    /// At its end (or now, for the current month).
    pub(crate) closing: StatementBalances,
    /// Sums by kind.
    pub(crate) totals: StatementTotals,
    /// Every transfer of the month on the creator's accounts, in the order booked.
    pub(crate) lines: Vec<StatementLine>,
}

/// `GET /v1/creators/{id}/statements?month=YYYY-MM`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatementBody {
    /// The creator.
    pub(crate) creator_id: String,
    /// `YYYY-MM`.
    pub(crate) month: String,
    /// First instant, RFC 3339 (UTC).
    pub(crate) from: String,
    /// First instant after it.
    pub(crate) to: String,
    /// One part per currency the creator has accounts in.
    pub(crate) currencies: Vec<StatementCurrency>,
}
