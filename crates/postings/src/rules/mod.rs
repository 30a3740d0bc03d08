//! How each business event is written on the ledger: its accounts, its balanced transfers,
//! the rows written with them and the guards that must hold, as one [`WriteJob`] per event.
//! Every caller — the HTTP handlers, the webhook handler, the scheduled release, the CLI —
//! takes its jobs from here, so one event always moves money the same way.
//!
//! Transfer ids derive from the event (`pur_…/share`, `…/share/refund`, `pay_…/pending`), so a
//! retried event produces the same ids and replays instead of moving money twice.
//!
//! ```text
//! fan's card ──▶ processor_clearing ──share──▶ creator_pending ──release──▶ creator_available ──payout──▶ creator_paid_out
//!                        │           ──fee────▶ platform_fees
//!                        │           ──fee────▶ processor_fees
//!                        └─top-up──▶ wallet ──(badge paid from the wallet)──▶ creator_pending, platform_fees
//! platform_funds ──funding──▶ <program>/match_budget ──match──▶ creator_pending
//! <brand>/wallet ──commission──▶ creator_pending, platform_fees (returns: back to the wallet)
//! <brand>/wallet ──deal fee (pending)──▶ creator_pending, platform_fees (posted on approval, voided otherwise)
//! ```
//!
//! [`WriteJob`]: crate::WriteJob

mod attempts;
mod deals;
mod matching;
mod payout;
mod purchase;
mod release;
mod reversal;
mod shop;
mod wallet;

pub use attempts::{attempt_job, attempt_settled_job, booked_with, charged_with};
pub use deals::{InvalidStep, StepDetails, StepTimes, deal_split, offer_job, offer_step_job};
pub use matching::{budget_account, funding_job, match_for, match_needs_country};
pub use payout::{
    payout_job, payout_minimum, payout_returned_job, payout_sent_job, settlement_job,
};
pub use purchase::{purchase_accounts, purchase_hold, purchase_job, purchase_transfers};
pub use release::{ReleaseGroup, release_groups, release_job};
pub use reversal::{ProcessorFeeOnReversal, Reversal, reversal_job};
pub use shop::{commission_split, order_claim, order_job, order_return_job, return_claim};
pub use wallet::{topup_dispute_job, topup_job, topup_refund_job};

use ledger::{AccountId, Code, Transfer, TransferId, TransferKind};
use money::Money;

/// The owner of the platform's own ledger accounts.
pub const PLATFORM: &str = "platform";

/// A posted transfer of `amount` from `debit` to `credit`.
fn posted(
    id: impl Into<String>,
    debit: AccountId,
    credit: AccountId,
    amount: Money,
    code: Code,
    reference: &str,
) -> Transfer {
    Transfer {
        id: TransferId::new(id.into()),
        debit,
        credit,
        amount: amount.amount(),
        currency: amount.currency(),
        kind: TransferKind::Posted,
        code,
        reference: reference.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod testing;
