//! The payment provider boundary: charging, refunding, paying out, and reading the
//! provider's signed events. Handlers and flows speak only to the [`PaymentProvider`] trait
//! and the request, answer and error types defined here; which provider runs is chosen from
//! the settings when the app is built. Nothing here touches the store or the ledger: applying
//! an event is `flows::events`'s job.
//!
//! - [`sandbox`]: the default provider, Stripe's test mode answered in memory, with the
//!   webhooks it sends; [`outbox`] delivers them (`serve`: through its own endpoint);
//! - [`stripe`]: the `stripe` provider, pure request builders and answer readers around one
//!   `send`;
//! - [`signature`]: Stripe's signature scheme (`t=…,v1=…`), signing and verifying, used by
//!   both providers;
//! - [`events`]: the provider's events read into the [`Action`]s Ovation takes.

pub mod events;
pub mod outbox;
pub mod sandbox;
pub mod signature;
pub mod stripe;

use std::fmt::Debug;

use money::Money;

pub use events::{Action, Event, parse_event};
pub use outbox::{Outbox, Outgoing, Undelivered};
pub use sandbox::{SANDBOX_METHODS, SANDBOX_WEBHOOK_DELAY, Sandbox};
pub use signature::SignatureError;
pub use stripe::{STRIPE_VERSION, Stripe};

/// A card charge to make.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// The provider dedups charges with the same key.
    pub idempotency_key: String,
    /// How much.
    pub amount: Money,
    /// The processor's payment method id.
    pub payment_method: String,
    /// What for.
    pub description: String,
    /// Ovation's id of what is paid (a purchase), kept in the payment's metadata.
    pub reference: String,
}

/// A charge the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The processor's payment id.
    pub id: String,
    /// Paid now, or pending at the provider (it confirms later by webhook).
    pub processing: bool,
}

/// Where a charge stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeState {
    /// Pending: it succeeds or fails later.
    Processing,
    /// Paid.
    Succeeded,
    /// Given back to the buyer.
    Refunded,
    /// Taken back by the buyer's bank.
    Disputed,
    /// Failed or canceled: nothing was taken.
    Failed,
}

/// A charge as the provider keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCharge {
    /// The processor's payment id.
    pub id: String,
    /// How much.
    pub amount: Money,
    /// Where it stands.
    pub state: ChargeState,
    /// Ovation's reference in its metadata (the purchase or top-up), if it is Ovation's.
    pub reference: Option<String>,
    /// When it was made.
    pub created: time::OffsetDateTime,
}

/// A page of the provider's charges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChargePage {
    /// The charges.
    pub charges: Vec<ProviderCharge>,
    /// Where the next page starts, if there is one.
    pub next: Option<String>,
}

/// Why a charge or refund failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The card was declined.
    #[error("card was declined")]
    Declined,
    /// The payment method id is not one the provider knows.
    #[error("payment_method {0:?} is not a known payment method")]
    UnknownPaymentMethod(String),
    /// The provider cannot be reached.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

/// A payout to make to a creator's bank account (with Stripe Connect: a transfer to the
/// creator's connected account, paid out from there).
#[derive(Debug, Clone)]
pub struct PayoutRequest {
    /// The provider dedups payouts with the same key (Ovation's payout id).
    pub idempotency_key: String,
    /// How much.
    pub amount: Money,
    /// The creator paid.
    pub creator: String,
    /// The creator's payout account at the provider (Stripe: the connected account), if
    /// the platform set one.
    pub destination: Option<String>,
    /// Sent before by a run whose answer never came back (lost, or the process stopped): the
    /// provider may have made part of it, and may have forgotten the key (Stripe keeps keys
    /// 24 hours), so it looks for what that run made before making anything.
    pub resend: bool,
}

/// Why a payout could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    /// The provider refused it for good (no payout account, account closed).
    #[error("payout rejected: {0}")]
    Rejected(String),
    /// The provider cannot be reached: try again later with the same key.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

/// A payment processor.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + Debug {
    /// The provider's name in configuration.
    fn name(&self) -> &'static str;
    /// The header its webhooks carry their signature in (lowercase).
    fn signature_header(&self) -> &'static str {
        "ovation-signature"
    }
    /// Charges a payment method; the same idempotency key gives the same answer.
    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError>;
    /// The charge of `request` as a record to write with its booking, for a provider whose
    /// records are the store's own (the sandbox): the checkout writes it in the ledger job
    /// that records the attempt and books what it pays for
    /// ([`postings::rules::charged_with`]), so that the charge is made exactly when the
    /// booking commits. `None` — any other provider, or a payment method that does not
    /// simply succeed at once — is charged with [`PaymentProvider::charge`].
    fn charge_with_booking(&self, request: &ChargeRequest) -> Option<store::SandboxCharge> {
        let _ = request;
        None
    }
    /// What the provider does once a charge from [`PaymentProvider::charge_with_booking`]
    /// committed with its booking (the sandbox: a dispute's webhook, for the card whose
    /// charge is disputed later; no confirmation, which would find the booking made).
    fn charged_with_booking(&self, charge: &store::SandboxCharge) {
        let _ = charge;
    }
    /// Refunds a charge in full; the same key refunds once.
    async fn refund(
        &self,
        payment_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<String, PaymentError>;
    /// The charge made under `idempotency_key` for Ovation's `reference`, if the provider
    /// has one.
    async fn find_charge(
        &self,
        idempotency_key: &str,
        reference: &str,
    ) -> Result<Option<ProviderCharge>, PaymentError>;
    /// Charges made since `since`, oldest first, a page at a time from `after`.
    async fn charges_since(
        &self,
        since: time::OffsetDateTime,
        after: Option<&str>,
    ) -> Result<ChargePage, PaymentError>;
    /// Sends a payout; the same key pays once. Its outcome arrives later as a webhook
    /// (`payout.paid` or `payout.failed`, with the payout id in its metadata). `Rejected`
    /// means no money left the platform (the ledger voids the payout); whatever may have
    /// left and could not be brought back is `Unavailable` (the payout stays pending).
    async fn payout(&self, request: PayoutRequest) -> Result<String, PayoutError>;
    /// Brings the money of payout `payout_id`, which the provider failed (or the bank
    /// returned), back to the platform's balance before the ledger gives it back to the
    /// creator. With Stripe Connect a failed payout's money returns to the connected
    /// account, so its transfer is reversed; a provider that pays from the platform's own
    /// balance (the sandbox) has it back already.
    async fn reclaim_payout(&self, payout_id: &str) -> Result<(), PayoutError> {
        let _ = payout_id;
        Ok(())
    }
}
