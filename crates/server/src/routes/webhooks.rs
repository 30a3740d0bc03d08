//! `POST /v1/webhooks/payments`: the payment provider's signed events. The route verifies
//! the signature and the time, reads the event, and hands it to
//! [`crate::flows::events::ProviderEvents`], which applies it once.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, invalid};
use crate::extract::json_response;
use crate::flows::events::{Applied, EventError};
use crate::idempotency::Keyed;
use crate::payments::signature::verify;
use crate::payments::{SignatureError, parse_event};
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
    /// `already_charged_back`, `orphan_refunded`, `unknown_payment`, `not_ovation`, `booked`,
    /// `kept`, `partial_refund_not_booked`, `paid`, `failed`, `returned`, `unknown_payout`,
    /// `payout_mismatch` or `ignored`.
    pub(crate) result: String,
}

// ---- Handlers and their helpers ----

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
    let Applied { body, replayed, .. } = state.provider_events().apply(&event, body).await?;
    let mut response = json_response(StatusCode::OK, body);
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> ApiError {
        match e {
            EventError::Store(e) => e.into(),
            EventError::Provider(why) => {
                tracing::warn!(%why, "applying a provider event needs the provider, which is unavailable");
                ApiError::Unavailable
            }
            EventError::Inconsistent(why) => ApiError::Internal(anyhow::anyhow!(why)),
        }
    }
}
