//! `POST /v1/webhooks/payments`: the payment provider's signed events.
//!
//! An event is verified (signature and time), then recorded under its id in the same
//! ledger batch as whatever it changes, so that a redelivery finds it and changes nothing.
//! Events that change nothing (a payment Ovation already booked) are answered without a
//! write: delivering them again is harmless.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use postings::rules::{self, Reversal};
use postings::{IdempotencyRecord, Outcome, PaymentMethod, Purchase, PurchaseStatus, WriteJob};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::{ApiError, invalid};
use crate::extract::json_response;
use crate::flows;
use crate::idempotency::{Keyed, fingerprint};
use crate::payments::signature::verify;
use crate::payments::{Action, Event, SignatureError, parse_event};
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// `POST /v1/webhooks/payments`: what became of the event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookBody {
    /// The event's id.
    pub(crate) id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// `already_applied`, `refunded`, `charged_back`, `already_refunded`,
    /// `already_charged_back`, `orphan_refunded`, `unknown_payment`,
    /// `partial_refund_not_booked` or `ignored`.
    pub(crate) result: String,
}

// ---- Handlers and their helpers ----

/// A confirmed payment with no purchase is left alone this long (its purchase may still be
/// committing, or its buyer's retry may book it); delivered after that, it is an orphan —
/// charged, never booked — and is refunded.
const ORPHAN_AFTER: Duration = Duration::from_secs(600);

/// Receives a signed event from the payment provider.
#[utoipa::path(post, path = "/v1/webhooks/payments", tag = "webhooks",
    params(("Ovation-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\"> (Stripe-Signature with the stripe provider)")),
    request_body(content = String, description = "The provider's event: {\"id\", \"type\", \"created\", \"data\": {\"object\": {…}}}", content_type = "application/json"),
    responses(
        (status = 200, description = "recorded (or seen before, or of a type Ovation ignores)", body = WebhookBody),
        (status = 400, description = "invalid_signature", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request: signed, but not an event", body = crate::error::ErrorBody),
        (status = 503, description = "unavailable: the store is down; retry later", body = crate::error::ErrorBody)))]
pub(crate) async fn payment_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Keyed,
) -> Result<Response, ApiError> {
    let body = request.body()?;
    let signature = headers
        .get(state.payments.signature_header())
        .and_then(|v| v.to_str().ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let tolerance = i64::try_from(state.config.webhooks.tolerance.as_secs()).unwrap_or(300);
    verify(
        signature,
        body,
        state.webhook_secret.expose_secret().as_bytes(),
        now,
        tolerance,
    )
    .map_err(|e| {
        metrics::counter!("ovation_webhooks_rejected_total").increment(1);
        ApiError::InvalidSignature(match e {
            SignatureError::Missing => "the signature header is missing",
            SignatureError::Malformed => "the signature header is malformed",
            SignatureError::NoMatch => "the signature does not match the body",
            SignatureError::Stale => "the signature's timestamp is outside the tolerance",
        })
    })?;
    let event = parse_event(body).map_err(invalid)?;
    let scope = format!("webhook:{}", state.payments.name());
    if let Some(seen) = state.store.idempotency(&scope, &event.id).await? {
        return Ok(answer(seen.body, true));
    }
    let record = |result: &str| IdempotencyRecord {
        account_id: scope.clone(),
        key: event.id.clone(),
        fingerprint: fingerprint("/v1/webhooks/payments", body),
        status: 200,
        body: json!({"id": event.id, "type": event.kind, "result": result}).to_string(),
    };
    metrics::counter!("ovation_webhooks_total", "type" => event.kind.clone()).increment(1);
    match &event.action {
        Action::PaymentSucceeded { payment_id, amount } => {
            confirmed(&state, &event, payment_id, *amount, record).await
        }
        Action::PaymentRefunded { payment_id, full } => {
            let Some(purchase) = state.store.purchase_by_payment(payment_id).await? else {
                return remember(&state, record("unknown_payment")).await;
            };
            if !full {
                tracing::warn!(payment = %payment_id, purchase = %purchase.id, "partial refund at the provider: Ovation refunds whole purchases only; not booked");
                return remember(&state, record("partial_refund_not_booked")).await;
            }
            reverse(&state, &purchase, Reversal::Refund, record).await
        }
        Action::PaymentDisputed { payment_id, .. } => {
            if let Some(purchase) = state.store.purchase_by_payment(payment_id).await? {
                return reverse(&state, &purchase, Reversal::Chargeback, record).await;
            }
            if let Some(topup) = state.store.topup_by_payment(payment_id).await? {
                return dispute_topup(&state, &topup, record).await;
            }
            tracing::warn!(payment = %payment_id, "dispute of a payment Ovation does not know");
            remember(&state, record("unknown_payment")).await
        }
        Action::PayoutPaid {
            payout_id,
            provider_id,
        } => payout_settled(&state, payout_id, true, provider_id, None, record).await,
        Action::PayoutFailed {
            payout_id,
            provider_id,
            reason,
        } => {
            payout_settled(
                &state,
                payout_id,
                false,
                provider_id,
                Some(reason.clone()),
                record,
            )
            .await
        }
        Action::Ignored => Ok(answer(
            json!({"id": event.id, "type": event.kind, "result": "ignored"}).to_string(),
            false,
        )),
    }
}

/// `payment_intent.succeeded`: booked already (the usual case), not yet (wait), or never
/// (an orphan charge: the process died between the charge and the commit; refunded).
async fn confirmed(
    state: &AppState,
    event: &Event,
    payment_id: &str,
    amount: money::Money,
    record: impl Fn(&str) -> IdempotencyRecord,
) -> Result<Response, ApiError> {
    if state.store.purchase_by_payment(payment_id).await?.is_some()
        || state.store.topup_by_payment(payment_id).await?.is_some()
    {
        return Ok(answer(record("already_applied").body, false));
    }
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - event.created;
    if age < i64::try_from(ORPHAN_AFTER.as_secs()).unwrap_or(600) {
        // Not booked (yet, or by a request that died after the charge). Nothing is recorded,
        // so the same event delivered again after ORPHAN_AFTER refunds it as an orphan.
        tracing::warn!(payment = %payment_id, "confirmation of a payment that is not booked");
        return Ok(answer(record("unknown_payment").body, false));
    }
    tracing::warn!(payment = %payment_id, "a payment confirmed long ago was never booked: refunding it");
    state
        .payments
        .refund(payment_id, amount, &format!("orphan:{payment_id}"))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "refunding an orphan payment failed");
            ApiError::Unavailable
        })?;
    metrics::counter!("ovation_orphan_payments_refunded_total").increment(1);
    remember(state, record("orphan_refunded")).await
}

/// Reverses a purchase the provider refunded or charged back, recording the event with it.
async fn reverse(
    state: &AppState,
    purchase: &Purchase,
    reversal: Reversal,
    record: impl Fn(&str) -> IdempotencyRecord,
) -> Result<Response, ApiError> {
    let already = match (purchase.status, reversal) {
        (PurchaseStatus::Succeeded, _) => None,
        (PurchaseStatus::Refunded, Reversal::Refund)
        | (PurchaseStatus::Disputed, Reversal::Chargeback) => Some("already_applied"),
        // A bank may dispute a payment the platform refunded: the provider contests it with
        // the refund as evidence; nothing more to book.
        (PurchaseStatus::Refunded, Reversal::Chargeback) => Some("already_refunded"),
        (PurchaseStatus::Disputed, Reversal::Refund) => Some("already_charged_back"),
    };
    if let Some(result) = already {
        return remember(state, record(result)).await;
    }
    if purchase.payment_method == PaymentMethod::Wallet {
        return remember(state, record("unknown_payment")).await;
    }
    let result = match reversal {
        Reversal::Refund => "refunded",
        Reversal::Chargeback => "charged_back",
    };
    let now = store::now();
    match flows::reverse_purchase(&state.store, purchase, reversal, Some(record(result)), now)
        .await?
    {
        Outcome::Applied => {
            metrics::counter!("ovation_reversals_total", "reason" => result).increment(1);
            Ok(answer(record(result).body, false))
        }
        Outcome::Duplicate(seen) => Ok(answer(seen.body, true)),
        // Reversed meanwhile by another request: read it again to say how.
        refused @ (Outcome::Refused(_) | Outcome::Replayed) => {
            let now = state
                .store
                .purchase(&purchase.id)
                .await?
                .ok_or(ApiError::NotFound("purchase"))?;
            if now.status == PurchaseStatus::Succeeded {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "reversal of {} refused: {refused:?}",
                    purchase.id
                )));
            }
            Box::pin(reverse(state, &now, reversal, record)).await
        }
    }
}

/// A disputed wallet top-up: the bank takes the money back from the platform. What is still
/// in the wallet goes back to clearing; the part already spent (the creators keep what they
/// earned from it) is the platform's loss.
async fn dispute_topup(
    state: &AppState,
    topup: &store::Topup,
    record: impl Fn(&str) -> IdempotencyRecord,
) -> Result<Response, ApiError> {
    if topup.status == store::TopupStatus::Disputed {
        return remember(state, record("already_applied")).await;
    }
    let job = rules::topup_dispute_job(topup, Some(record("charged_back")), store::now());
    match state.store.writer().submit(job).await? {
        Outcome::Applied => {
            metrics::counter!("ovation_reversals_total", "reason" => "topup_chargeback")
                .increment(1);
            Ok(answer(record("charged_back").body, false))
        }
        Outcome::Duplicate(seen) => Ok(answer(seen.body, true)),
        // Disputed meanwhile by a concurrent delivery of another event.
        _ => remember(state, record("already_applied")).await,
    }
}

/// `payout.paid` posts the payout's pending transfer; `payout.failed` voids it, and the
/// money is available again (paid by the next run). A payout settled already stays as it is.
async fn payout_settled(
    state: &AppState,
    payout_id: &str,
    paid: bool,
    provider_id: &str,
    failure: Option<String>,
    record: impl Fn(&str) -> IdempotencyRecord,
) -> Result<Response, ApiError> {
    let id = store::PayoutId::from_string(payout_id.to_owned());
    let Some(payout) = state.store.payout(&id).await? else {
        tracing::warn!(payout = %payout_id, "payout event for a payout Ovation does not know");
        return remember(state, record("unknown_payout")).await;
    };
    if payout.status != store::PayoutStatus::Pending {
        return remember(state, record("already_applied")).await;
    }
    let result = if paid { "paid" } else { "failed" };
    let outcome = flows::settle_payout(
        &state.store,
        &payout,
        paid,
        Some(provider_id.to_owned()),
        failure,
        Some(record(result)),
    )
    .await?;
    match outcome {
        Outcome::Applied => {
            metrics::counter!("ovation_payouts_settled_total", "result" => result).increment(1);
            Ok(answer(record(result).body, false))
        }
        Outcome::Duplicate(seen) => Ok(answer(seen.body, true)),
        _ => remember(state, record("already_applied")).await,
    }
}

/// Records an event that changes nothing, so that it is answered the same next time.
async fn remember(state: &AppState, record: IdempotencyRecord) -> Result<Response, ApiError> {
    let job = WriteJob::answer(record.clone());
    match state.store.writer().submit(job).await? {
        Outcome::Duplicate(seen) => Ok(answer(seen.body, true)),
        _ => Ok(answer(record.body, false)),
    }
}

fn answer(body: String, seen: bool) -> Response {
    let mut response = json_response(StatusCode::OK, body);
    if seen {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
