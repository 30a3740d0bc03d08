//! The reconciler: the provider's charges and the ledger made to agree. Run by `serve` every
//! minute, by `POST /v1/payments/reconcile` and by `ovation payments reconcile`; safe on
//! several nodes at once (every settlement is guarded by the attempt's status).
//!
//! 1. Payment attempts still pending or processing after the grace period
//!    (`reconcile_grace_secs`, 30 s) (their request died,
//!    or its answer was lost and the buyer never retried) are looked up at the provider by
//!    their key: a charge that succeeded is booked (or refunded if the ledger refuses it
//!    now), one refunded, disputed or failed closes the attempt, none at all abandons it
//!    once the request cannot be running any more.
//! 2. The provider's recent charges that stand with no standing purchase or top-up, and that
//!    are Ovation's (their metadata names a purchase or top-up of an attempt), are refunded:
//!    a refund the admin route could not make at the provider, a second charge.
//! 3. Provider events kept because their payment was not booked yet are applied.

use std::time::Duration;

use postings::{AttemptStatus, PaymentAttempt};
use time::OffsetDateTime;

use super::checkout::Checkout;
use crate::error::ApiError;
use crate::payments::{ChargeState, ProviderCharge};

/// An attempt the provider has no charge for after this was never charged: abandoned.
const ABANDON_AFTER: Duration = Duration::from_secs(600);

/// How far back the provider's charges are compared with the ledger.
const CHARGES_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Attempts read per page.
const PAGE: u32 = 500;

/// What one reconciliation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Attempts and charges looked at.
    pub checked: u64,
    /// Charges booked now.
    pub booked: u64,
    /// Charges refunded now.
    pub refunded: u64,
    /// Left for a later run (the provider unreachable, a payment still pending).
    pub unresolved: u64,
}

/// What became of one attempt or charge.
#[derive(Clone, Copy)]
enum Settled {
    Booked,
    Refunded,
    Closed,
    Unresolved,
}

impl ReconcileReport {
    fn count(&mut self, settled: Settled) {
        self.checked += 1;
        match settled {
            Settled::Booked => self.booked += 1,
            Settled::Refunded => self.refunded += 1,
            Settled::Closed => {}
            Settled::Unresolved => self.unresolved += 1,
        }
    }
}

impl Checkout<'_> {
    /// Reconciles the provider's charges with the ledger as of `now`.
    pub async fn reconcile(self, now: OffsetDateTime) -> Result<ReconcileReport, ApiError> {
        let mut report = ReconcileReport::default();
        let mut after: Option<(OffsetDateTime, String)> = None;
        loop {
            let page = self
                .store
                .unsettled_attempts(
                    now - self.config.reconcile_grace,
                    after.as_ref().map(|(at, key)| (*at, key.as_str())),
                    PAGE,
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((last.created_at, last.key.clone()));
            for attempt in &page {
                report.count(self.settle_attempt(attempt, now).await?);
            }
        }
        let mut cursor: Option<String> = None;
        loop {
            let page = match self
                .provider
                .charges_since(now - CHARGES_WINDOW, cursor.as_deref())
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "reconcile: the provider's charges could not be listed");
                    report.unresolved += 1;
                    break;
                }
            };
            for charge in &page.charges {
                if let Some(settled) = self.settle_charge(charge, now).await? {
                    report.count(settled);
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        // Refunds and disputes that came before their payment was booked.
        let events = super::events::ProviderEvents { checkout: self };
        if let Err(e) = events.apply_pending(None).await {
            tracing::warn!(error = %e, "reconcile: kept provider events not applied");
            report.unresolved += 1;
        }
        if report.booked + report.refunded > 0 {
            tracing::info!(?report, "reconciled the provider's charges with the ledger");
        }
        Ok(report)
    }

    async fn settle_attempt(
        self,
        attempt: &PaymentAttempt,
        now: OffsetDateTime,
    ) -> Result<Settled, ApiError> {
        let charge = match self
            .provider
            .find_charge(&attempt.key, &attempt.reference)
            .await
        {
            Ok(charge) => charge,
            Err(e) => {
                tracing::warn!(error = %e, attempt = %attempt.key, "reconcile: the provider could not be asked");
                return Ok(Settled::Unresolved);
            }
        };
        let Some(charge) = charge else {
            if now - attempt.created_at < ABANDON_AFTER {
                return Ok(Settled::Unresolved);
            }
            self.close_quietly(attempt, AttemptStatus::Abandoned, None)
                .await?;
            return Ok(Settled::Closed);
        };
        match charge.state {
            ChargeState::Succeeded => match self.book(attempt, &charge.id).await {
                Ok(answer) if answer.booked() => Ok(Settled::Booked),
                Ok(_) => Ok(Settled::Refunded),
                Err(e) => {
                    tracing::warn!(error = %e, attempt = %attempt.key, "reconcile: booking failed");
                    Ok(Settled::Unresolved)
                }
            },
            ChargeState::Processing => Ok(Settled::Unresolved),
            ChargeState::Refunded | ChargeState::Disputed => {
                self.close_quietly(attempt, AttemptStatus::Refunded, Some(charge.id))
                    .await?;
                Ok(Settled::Closed)
            }
            ChargeState::Failed => {
                self.close_quietly(attempt, AttemptStatus::Abandoned, Some(charge.id))
                    .await?;
                Ok(Settled::Closed)
            }
        }
    }

    /// Closes an attempt without booking (its payment failed, or was refunded or disputed
    /// before it was booked): a retry with its key is answered 402 `card_declined`. Another
    /// run may have settled it first.
    async fn close_quietly(
        self,
        attempt: &PaymentAttempt,
        status: AttemptStatus,
        payment_id: Option<String>,
    ) -> Result<(), ApiError> {
        match self
            .close(attempt, status, payment_id, &ApiError::CardDeclined)
            .await
        {
            Ok(_) | Err(ApiError::Unavailable) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A charge that stands: nothing to do if its purchase or top-up stands too (or it is
    /// not Ovation's, or its attempt is still being settled); refunded otherwise.
    async fn settle_charge(
        self,
        charge: &ProviderCharge,
        now: OffsetDateTime,
    ) -> Result<Option<Settled>, ApiError> {
        if charge.state != ChargeState::Succeeded
            || now - charge.created < self.config.reconcile_grace
        {
            return Ok(None);
        }
        let Some(reference) = &charge.reference else {
            return Ok(None);
        };
        let Some(attempt) = self.store.attempt_by_reference(reference).await? else {
            // Not from an attempt of this Ovation: not Ovation's to refund.
            return Ok(None);
        };
        if attempt.status.unsettled() {
            return Ok(None);
        }
        let stands = match (
            self.store.purchase_by_payment(&charge.id).await?,
            self.store.topup_by_payment(&charge.id).await?,
        ) {
            (Some(p), _) => p.status == postings::PurchaseStatus::Succeeded,
            (None, Some(t)) => t.status == postings::TopupStatus::Succeeded,
            (None, None) => false,
        };
        if stands {
            return Ok(None);
        }
        match self
            .provider
            .refund(
                &charge.id,
                charge.amount,
                &format!("reconcile:{}", charge.id),
            )
            .await
        {
            Ok(_) => {
                tracing::warn!(charge = %charge.id, attempt = %attempt.key, "reconcile: a charge with no standing booking refunded");
                metrics::counter!("ovation_unbooked_charges_refunded_total").increment(1);
                Ok(Some(Settled::Refunded))
            }
            Err(e) => {
                tracing::warn!(error = %e, charge = %charge.id, "reconcile: refund failed");
                Ok(Some(Settled::Unresolved))
            }
        }
    }
}
