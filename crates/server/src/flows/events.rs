//! The payment provider's events applied to the ledger: a payment confirmed, refunded or
//! disputed, a top-up disputed, a payout paid or failed. An event is recorded under its id
//! in the same ledger batch as whatever it changes, so that a redelivery finds it and
//! changes nothing; events that change nothing (a payment Ovation already booked) are
//! answered without a write: delivering them again is harmless.
//!
//! This takes the store and the provider, not the HTTP state: the webhook route verifies
//! the signature and calls [`ProviderEvents::apply`]; a command that pays through the sandbox
//! (`ovation payouts run`) applies the sandbox's events itself.

use std::time::Duration;

use postings::rules::{self, Reversal};
use postings::{
    AttemptStatus, IdempotencyRecord, Outcome, PaymentAttempt, PaymentMethod, Payout, PayoutId,
    PayoutStatus, Purchase, PurchaseStatus, Topup, TopupStatus, WriteJob,
};
use serde_json::json;
use store::{Store, StoreError};

use super::checkout::Checkout;
use crate::idempotency::fingerprint;
use crate::payments::{Action, Event, PaymentProvider, PayoutError};

/// A confirmed payment with no purchase is left alone this long (its purchase may still be
/// committing, or its buyer's retry may book it); delivered after that, it is an orphan —
/// charged, never booked — and is refunded.
const ORPHAN_AFTER: Duration = Duration::from_secs(600);

/// Where provider events are recorded among idempotency keys, per provider.
pub fn scope(provider: &dyn PaymentProvider) -> String {
    format!("webhook:{}", provider.name())
}

/// What applying an event answered: the JSON body `{"id", "type", "result"}`, and whether
/// it is the answer stored for an earlier delivery of the same event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The answer's body.
    pub body: String,
    /// Whether the event was seen before.
    pub replayed: bool,
    /// Whether it was kept for later (its payment is not booked yet).
    pub kept: bool,
}

/// Why an event could not be applied now; the provider delivers it again.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider could not be asked (an orphan's refund).
    #[error("payment provider unavailable: {0}")]
    Provider(String),
    /// The ledger refused a change that should have applied.
    #[error("{0}")]
    Inconsistent(String),
}

/// What provider events are applied with: the checkout (the store, the provider, the
/// settings), which also books a payment the provider confirms.
#[derive(Debug, Clone, Copy)]
pub struct ProviderEvents<'a> {
    /// Books confirmed payments; its store and provider are the events'.
    pub checkout: Checkout<'a>,
}

/// A kept event older than this is given up (logged): its payment never appeared.
const KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Kept events applied per page.
const PENDING_PAGE: u32 = 500;

/// The answer to an event, recorded with whatever it changes.
struct Answer<'e> {
    scope: String,
    event: &'e Event,
    fingerprint: String,
}

impl Answer<'_> {
    fn record(&self, result: &str) -> IdempotencyRecord {
        IdempotencyRecord {
            account_id: self.scope.clone(),
            key: self.event.id.clone(),
            fingerprint: self.fingerprint.clone(),
            status: 200,
            body: json!({"id": self.event.id, "type": self.event.kind, "result": result})
                .to_string(),
        }
    }

    fn fresh(&self, result: &str) -> Applied {
        Applied {
            body: self.record(result).body,
            replayed: false,
            kept: false,
        }
    }
}

fn replayed(seen: IdempotencyRecord) -> Applied {
    Applied {
        body: seen.body,
        replayed: true,
        kept: false,
    }
}

impl ProviderEvents<'_> {
    /// Applies `event` (its raw body is what an earlier delivery is compared by), once.
    pub async fn apply(self, event: &Event, raw: &[u8]) -> Result<Applied, EventError> {
        let answer = Answer {
            scope: scope(self.checkout.provider),
            event,
            fingerprint: fingerprint("/v1/webhooks/payments", raw),
        };
        if let Some(seen) = self
            .checkout
            .store
            .idempotency(&answer.scope, &event.id)
            .await?
        {
            return Ok(replayed(seen));
        }
        metrics::counter!("ovation_webhooks_total", "type" => event.kind.clone()).increment(1);
        match &event.action {
            Action::PaymentSucceeded {
                payment_id,
                amount,
                reference,
            } => {
                self.confirmed(&answer, payment_id, *amount, reference.as_deref())
                    .await
            }
            Action::PaymentRefunded { payment_id, full } => {
                let purchase = self.checkout.store.purchase_by_payment(payment_id).await?;
                let topup = match purchase {
                    Some(_) => None,
                    None => self.checkout.store.topup_by_payment(payment_id).await?,
                };
                if purchase.is_none() && topup.is_none() {
                    return self.keep(&answer, payment_id, raw).await;
                }
                if !full {
                    tracing::warn!(payment = %payment_id, "partial refund at the provider: Ovation refunds whole purchases and top-ups only; not booked");
                    return self
                        .remember(answer.record("partial_refund_not_booked"))
                        .await;
                }
                match (purchase, topup) {
                    (Some(purchase), _) => self.reverse(&answer, &purchase, Reversal::Refund).await,
                    (None, Some(topup)) => self.refund_topup(&answer, &topup).await,
                    (None, None) => self.keep(&answer, payment_id, raw).await,
                }
            }
            Action::PaymentDisputed { payment_id, .. } => {
                if let Some(purchase) = self.checkout.store.purchase_by_payment(payment_id).await? {
                    return self.reverse(&answer, &purchase, Reversal::Chargeback).await;
                }
                if let Some(topup) = self.checkout.store.topup_by_payment(payment_id).await? {
                    return self.dispute_topup(&answer, &topup).await;
                }
                self.keep(&answer, payment_id, raw).await
            }
            Action::PayoutPaid {
                payout_id,
                provider_id,
            } => {
                self.payout_settled(&answer, payout_id, true, provider_id, None)
                    .await
            }
            Action::PayoutFailed {
                payout_id,
                provider_id,
                reason,
            } => {
                self.payout_settled(&answer, payout_id, false, provider_id, Some(reason))
                    .await
            }
            Action::Ignored => Ok(answer.fresh("ignored")),
        }
    }

    /// `payment_intent.succeeded`: booked already (the usual case), not yet (wait), or never
    /// (an orphan charge: the process died between the charge and the commit; refunded).
    /// A payment without Ovation's reference in its metadata is not Ovation's: left alone.
    async fn confirmed(
        self,
        answer: &Answer<'_>,
        payment_id: &str,
        amount: money::Money,
        reference: Option<&str>,
    ) -> Result<Applied, EventError> {
        if self
            .checkout
            .store
            .purchase_by_payment(payment_id)
            .await?
            .is_some()
            || self
                .checkout
                .store
                .topup_by_payment(payment_id)
                .await?
                .is_some()
        {
            return Ok(answer.fresh("already_applied"));
        }
        let Some(reference) = reference else {
            return self.remember(answer.record("not_ovation")).await;
        };
        if let Some(attempt) = self.checkout.store.attempt_by_reference(reference).await? {
            return self.confirmed_attempt(answer, &attempt, payment_id).await;
        }
        let age = time::OffsetDateTime::now_utc().unix_timestamp() - answer.event.created;
        if age < i64::try_from(ORPHAN_AFTER.as_secs()).unwrap_or(600) {
            // Not booked (yet, or by a request that died after the charge). Nothing is
            // recorded, so the same event delivered again after ORPHAN_AFTER refunds it.
            tracing::warn!(payment = %payment_id, "confirmation of a payment that is not booked");
            return Ok(answer.fresh("unknown_payment"));
        }
        tracing::warn!(payment = %payment_id, "a payment confirmed long ago was never booked: refunding it");
        self.checkout
            .provider
            .refund(payment_id, amount, &format!("orphan:{payment_id}"))
            .await
            .map_err(|e| EventError::Provider(e.to_string()))?;
        metrics::counter!("ovation_orphan_payments_refunded_total").increment(1);
        self.remember(answer.record("orphan_refunded")).await
    }

    /// A payment confirmed for a recorded attempt: booked now if the attempt is unsettled (a
    /// pending payment, or a request whose answer was lost), refunded if the attempt was
    /// closed without it (or paid by another charge).
    async fn confirmed_attempt(
        self,
        answer: &Answer<'_>,
        attempt: &PaymentAttempt,
        payment_id: &str,
    ) -> Result<Applied, EventError> {
        if attempt.status.unsettled() {
            let booked =
                self.checkout.book(attempt, payment_id).await.map_err(|e| {
                    EventError::Inconsistent(format!("booking {}: {e}", attempt.key))
                })?;
            let result = if booked.booked() {
                "booked"
            } else {
                "refunded"
            };
            let applied = self.remember(answer.record(result)).await?;
            // A refund or dispute that came before this confirmation applies now.
            Box::pin(self.apply_pending(Some(payment_id))).await?;
            return Ok(applied);
        }
        if attempt.status == AttemptStatus::Booked
            && attempt.payment_id.as_deref() == Some(payment_id)
        {
            return Ok(answer.fresh("already_applied"));
        }
        tracing::warn!(payment = %payment_id, attempt = %attempt.key, status = attempt.status.as_str(), "a charge for an attempt settled without it: refunding it");
        self.checkout
            .provider
            .refund(payment_id, attempt.amount, &format!("orphan:{payment_id}"))
            .await
            .map_err(|e| EventError::Provider(e.to_string()))?;
        metrics::counter!("ovation_orphan_payments_refunded_total").increment(1);
        self.remember(answer.record("orphan_refunded")).await
    }

    /// Reverses a purchase the provider refunded or charged back, recording the event with it.
    async fn reverse(
        self,
        answer: &Answer<'_>,
        purchase: &Purchase,
        reversal: Reversal,
    ) -> Result<Applied, EventError> {
        let already = match (purchase.status, reversal) {
            (PurchaseStatus::Succeeded, _) => None,
            (PurchaseStatus::Refunded, Reversal::Refund)
            | (PurchaseStatus::Disputed, Reversal::Chargeback) => Some("already_applied"),
            // A bank may dispute a payment the platform refunded: the provider contests it
            // with the refund as evidence; nothing more to book.
            (PurchaseStatus::Refunded, Reversal::Chargeback) => Some("already_refunded"),
            (PurchaseStatus::Disputed, Reversal::Refund) => Some("already_charged_back"),
        };
        if let Some(result) = already {
            return self.remember(answer.record(result)).await;
        }
        if purchase.payment_method == PaymentMethod::Wallet {
            return self.remember(answer.record("unknown_payment")).await;
        }
        let result = match reversal {
            Reversal::Refund => "refunded",
            Reversal::Chargeback => "charged_back",
        };
        let record = answer.record(result);
        match super::reverse_purchase(
            self.checkout.store,
            purchase,
            reversal,
            self.checkout.config.fee_on_reversal,
            Some(record),
            store::now(),
        )
        .await?
        {
            Outcome::Applied => {
                metrics::counter!("ovation_reversals_total", "reason" => result).increment(1);
                Ok(answer.fresh(result))
            }
            Outcome::Duplicate(seen) => Ok(replayed(seen)),
            // Reversed meanwhile by another request: read it again to say how.
            refused @ (Outcome::Refused(_) | Outcome::Replayed) => {
                let now = self
                    .checkout
                    .store
                    .purchase(&purchase.id)
                    .await?
                    .ok_or_else(|| {
                        EventError::Inconsistent(format!("purchase {} vanished", purchase.id))
                    })?;
                if now.status == PurchaseStatus::Succeeded {
                    return Err(EventError::Inconsistent(format!(
                        "reversal of {} refused: {refused:?}",
                        purchase.id
                    )));
                }
                Box::pin(self.reverse(answer, &now, reversal)).await
            }
        }
    }

    /// A disputed wallet top-up: the bank takes the money back from the platform. What is
    /// still in the wallet goes back to clearing; the part already spent (the creators keep
    /// what they earned from it) is the platform's loss.
    async fn dispute_topup(
        self,
        answer: &Answer<'_>,
        topup: &Topup,
    ) -> Result<Applied, EventError> {
        if topup.status == TopupStatus::Disputed {
            return self.remember(answer.record("already_applied")).await;
        }
        let job =
            rules::topup_dispute_job(topup, Some(answer.record("charged_back")), store::now());
        match self.checkout.store.writer().submit(job).await? {
            Outcome::Applied => {
                metrics::counter!("ovation_reversals_total", "reason" => "topup_chargeback")
                    .increment(1);
                Ok(answer.fresh("charged_back"))
            }
            Outcome::Duplicate(seen) => Ok(replayed(seen)),
            // Disputed meanwhile by a concurrent delivery of another event.
            _ => self.remember(answer.record("already_applied")).await,
        }
    }

    /// A top-up refunded at the provider: what is still in the wallet goes back; the part
    /// already spent becomes the owner's debt, which later top-ups pay back first.
    async fn refund_topup(self, answer: &Answer<'_>, topup: &Topup) -> Result<Applied, EventError> {
        if topup.status != TopupStatus::Succeeded {
            return self.remember(answer.record("already_applied")).await;
        }
        let job = rules::topup_refund_job(topup, Some(answer.record("refunded")), store::now());
        match self.checkout.store.writer().submit(job).await? {
            Outcome::Applied => {
                metrics::counter!("ovation_reversals_total", "reason" => "topup_refund")
                    .increment(1);
                Ok(answer.fresh("refunded"))
            }
            Outcome::Duplicate(seen) => Ok(replayed(seen)),
            // Refunded or disputed meanwhile by a concurrent delivery of another event.
            _ => self.remember(answer.record("already_applied")).await,
        }
    }

    /// `payout.paid` posts the payout's pending transfer; `payout.failed` voids it, and the
    /// money is available again (paid by the next run). `payout.failed` after `payout.paid`
    /// is the bank returning the payout: booked back to the creator's available balance
    /// (`returned`). Otherwise a payout settled already stays as it is.
    ///
    /// An event is applied only to the payout it is about ([`ProviderEvents::bound`]); a
    /// failure brings the money back to the platform at the provider before the ledger gives
    /// it back to the creator (with Stripe Connect it is in the connected account): if that
    /// cannot be done now, nothing is booked and the provider delivers the event again.
    async fn payout_settled(
        self,
        answer: &Answer<'_>,
        payout_id: &str,
        paid: bool,
        provider_id: &str,
        failure: Option<&String>,
    ) -> Result<Applied, EventError> {
        let id = PayoutId::from_string(payout_id.to_owned());
        let Some(mut payout): Option<Payout> = self.checkout.store.payout(&id).await? else {
            tracing::warn!(payout = %payout_id, "payout event for a payout Ovation does not know");
            return self.remember(answer.record("unknown_payout")).await;
        };
        if !self
            .bound(&payout, answer.event.account.as_deref(), provider_id)
            .await?
        {
            tracing::warn!(
                payout = %payout_id,
                event_account = ?answer.event.account,
                event_payout = %provider_id,
                recorded = ?payout.provider_id,
                "a payout event about another account's or another provider payout: not applied"
            );
            metrics::counter!("ovation_payout_events_mismatched_total").increment(1);
            return self.remember(answer.record("payout_mismatch")).await;
        }
        // Settled meanwhile by another event: read again and decide again (at most once
        // per status a payout can leave).
        for _ in 0..3 {
            let (result, job) = match (payout.status, paid) {
                (PayoutStatus::Pending, true) => (
                    "paid",
                    rules::settlement_job(
                        &payout,
                        true,
                        Some(provider_id.to_owned()),
                        None,
                        Some(answer.record("paid")),
                        store::now(),
                    ),
                ),
                (PayoutStatus::Pending, false) => {
                    self.reclaim(&payout).await?;
                    (
                        "failed",
                        rules::settlement_job(
                            &payout,
                            false,
                            Some(provider_id.to_owned()),
                            failure.cloned(),
                            Some(answer.record("failed")),
                            store::now(),
                        ),
                    )
                }
                (PayoutStatus::Paid, false) => {
                    self.reclaim(&payout).await?;
                    (
                        "returned",
                        rules::payout_returned_job(
                            &payout,
                            failure.cloned().unwrap_or_default(),
                            Some(answer.record("returned")),
                            store::now(),
                        ),
                    )
                }
                (PayoutStatus::Paid, true) | (PayoutStatus::Failed, _) => {
                    return self.remember(answer.record("already_applied")).await;
                }
            };
            match self.checkout.store.writer().submit(job).await? {
                Outcome::Applied => {
                    metrics::counter!("ovation_payouts_settled_total", "result" => result)
                        .increment(1);
                    return Ok(answer.fresh(result));
                }
                Outcome::Duplicate(seen) => return Ok(replayed(seen)),
                _ => {
                    payout =
                        self.checkout.store.payout(&id).await?.ok_or_else(|| {
                            EventError::Inconsistent(format!("payout {id} vanished"))
                        })?;
                }
            }
        }
        Err(EventError::Inconsistent(format!(
            "payout {id}: settling it was refused three times"
        )))
    }

    /// Whether a payout event is about `payout`: once the provider's payout id is recorded
    /// (when the provider answered, or by the first event) the event must name it — Stripe's
    /// ids are unique, and that one was made on the account the payout was sent to; before,
    /// the event must come from the creator's payout account (Stripe's `account`), or carry
    /// no account when the creator has none (the platform's own: the sandbox). A connected
    /// account cannot settle, fail or return another creator's payout by naming it in its
    /// own payout's metadata.
    async fn bound(
        self,
        payout: &Payout,
        account: Option<&str>,
        provider_id: &str,
    ) -> Result<bool, StoreError> {
        if let Some(recorded) = &payout.provider_id {
            return Ok(recorded == provider_id);
        }
        let destination = self
            .checkout
            .store
            .user(&payout.creator_id)
            .await?
            .and_then(|u| u.payout_account);
        Ok(destination.as_deref() == account)
    }

    /// Brings a failed or returned payout's money back to the platform at the provider.
    async fn reclaim(self, payout: &Payout) -> Result<(), EventError> {
        self.checkout
            .provider
            .reclaim_payout(payout.id.as_str())
            .await
            .map_err(|e| {
                tracing::warn!(payout = %payout.id, error = %e, "a failed payout's money is not back on the platform yet: not booked; the provider delivers the event again");
                let (PayoutError::Rejected(why) | PayoutError::Unavailable(why)) = e;
                EventError::Provider(format!("payout {}: {why}", payout.id))
            })
    }

    /// An event about a payment not booked (yet): kept, and applied when the payment is
    /// booked (by the confirmation that books it, or the reconciler). Answered `kept` without
    /// a record, so a redelivery is kept again (once).
    async fn keep(
        self,
        answer: &Answer<'_>,
        payment_id: &str,
        raw: &[u8],
    ) -> Result<Applied, EventError> {
        tracing::info!(payment = %payment_id, event = %answer.event.id, "an event about a payment not booked yet: kept");
        self.checkout
            .store
            .keep_event(&store::PendingEvent {
                provider: self.checkout.provider.name().to_owned(),
                id: answer.event.id.clone(),
                payment_id: payment_id.to_owned(),
                body: String::from_utf8_lossy(raw).into_owned(),
                received_at: store::now(),
            })
            .await?;
        Ok(Applied {
            kept: true,
            ..answer.fresh("kept")
        })
    }

    /// Applies kept events (those about `payment_id`, or all), forgetting each once it
    /// applies, or once it is older than [`KEEP_FOR`]; gives how many applied.
    pub async fn apply_pending(self, payment_id: Option<&str>) -> Result<u64, EventError> {
        let provider = self.checkout.provider.name();
        let mut applied = 0;
        let mut after: Option<(time::OffsetDateTime, String)> = None;
        loop {
            let page = self
                .checkout
                .store
                .pending_events(
                    payment_id,
                    after.as_ref().map(|(at, id)| (*at, id.as_str())),
                    PENDING_PAGE,
                )
                .await?;
            let Some(last) = page.last() else {
                return Ok(applied);
            };
            after = Some((last.received_at, last.id.clone()));
            for kept in page.into_iter().filter(|e| e.provider == provider) {
                let result = match crate::payments::parse_event(kept.body.as_bytes()) {
                    Ok(event) => Some(Box::pin(self.apply(&event, kept.body.as_bytes())).await?),
                    Err(_) => None,
                };
                let still_kept = result.as_ref().is_some_and(|a| a.kept);
                if !still_kept {
                    applied += u64::from(result.is_some());
                } else if store::now() - kept.received_at < KEEP_FOR {
                    continue;
                } else {
                    tracing::warn!(event = %kept.id, payment = %kept.payment_id, "a kept event whose payment never appeared: given up");
                }
                self.checkout
                    .store
                    .forget_event(&kept.provider, &kept.id)
                    .await?;
            }
        }
    }

    /// Records an event that changes nothing, so that it is answered the same next time.
    async fn remember(self, record: IdempotencyRecord) -> Result<Applied, EventError> {
        let job = WriteJob::answer(record.clone());
        Ok(match self.checkout.store.writer().submit(job).await? {
            Outcome::Duplicate(seen) => replayed(seen),
            _ => Applied {
                body: record.body,
                replayed: false,
                kept: false,
            },
        })
    }
}

/// Delivers a provider event (its JSON text) straight to the ledger, for a command that has
/// no HTTP server (`ovation payouts run` with the sandbox): `true` once it is applied.
/// Badges it books are announced on `bus`.
pub fn apply_directly(
    store: Store,
    provider: std::sync::Arc<dyn PaymentProvider>,
    config: std::sync::Arc<crate::Config>,
    bus: std::sync::Arc<dyn crate::bus::EventBus>,
) -> impl Fn(String) -> futures_util::future::BoxFuture<'static, bool> + Clone + Send + Sync {
    let programs = std::sync::Arc::new(crate::state::ProgramCache::default());
    move |body: String| {
        let (store, provider, config, bus, programs) = (
            store.clone(),
            provider.clone(),
            config.clone(),
            bus.clone(),
            programs.clone(),
        );
        Box::pin(async move {
            let events = ProviderEvents {
                checkout: Checkout {
                    store: &store,
                    provider: &*provider,
                    config: &config,
                    bus: &*bus,
                    programs: &programs,
                },
            };
            events.apply_text(&body).await
        })
    }
}

impl ProviderEvents<'_> {
    /// Applies an event delivered in this process (its JSON text, from the sandbox's
    /// outbox): `true` once applied; `false` to have it delivered again.
    pub async fn apply_text(self, body: &str) -> bool {
        let event = match crate::payments::parse_event(body.as_bytes()) {
            Ok(event) => event,
            Err(why) => {
                tracing::warn!(%why, "a provider event that cannot be read");
                return false;
            }
        };
        match self.apply(&event, body.as_bytes()).await {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "provider event not applied; retrying");
                false
            }
        }
    }
}
