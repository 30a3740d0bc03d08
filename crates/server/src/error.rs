//! The one error type of the API: each variant has its stable `code` from API.md.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer of the API.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or a token we do not know.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Wrong role, or not the caller's resource.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there (or nothing the caller may know of).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The path exists but not with this method.
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 413: the body is larger than the server takes.
    #[error("the body is larger than {} bytes", crate::extract::BODY_MAX_BYTES)]
    PayloadTooLarge,
    /// A plain HTTP request to a WebSocket endpoint; says what is missing.
    #[error("this endpoint is a WebSocket: {0}")]
    UpgradeRequired(String),
    /// A malformed body or field; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// Handle taken.
    #[error("handle is taken")]
    HandleTaken,
    /// Idempotency key reused with another body.
    #[error("idempotency key was used with a different request")]
    IdempotencyKeyReused,
    /// Live has ended.
    #[error("live is not active")]
    LiveNotActive,
    /// Badges are not offered in the country (422 for the price list, 403 for a buyer).
    #[error("badges are not offered in {country}")]
    CountryNotSupported {
        /// The country.
        country: String,
        /// 403 for a buyer, 422 for a query.
        status: StatusCode,
    },
    /// The live's creator buying in their own live.
    #[error("a creator cannot buy badges in their own live")]
    SelfPurchase,
    /// Over a spending limit.
    #[error("{0}")]
    SpendingLimit(String),
    /// The card was declined.
    #[error("card was declined")]
    CardDeclined,
    /// Already refunded.
    #[error("purchase is already refunded")]
    AlreadyRefunded,
    /// The purchase was charged back: it cannot be refunded as well.
    #[error("purchase was charged back by the buyer's bank")]
    PurchaseDisputed,
    /// A webhook's signature is missing, malformed, wrong or outside the tolerance.
    #[error("{0}")]
    InvalidSignature(&'static str),
    /// The wallet holds less than the price.
    #[error("{0}")]
    InsufficientFunds(String),
    /// Creator not eligible; says why.
    #[error("creator is not eligible: {0}")]
    CreatorNotEligible(String),
    /// A brand has this coupon code already.
    #[error("coupon code is taken at this brand")]
    CouponTaken,
    /// The order's return window has closed: its commission is locked.
    #[error("the order is locked: its return window has closed")]
    OrderLocked,
    /// The step is not allowed from where the offer (or campaign) stands; says why.
    #[error("{0}")]
    InvalidState(String),
    /// Beyond a configured rate: retry after the given seconds (`Retry-After`).
    #[error("too many requests: retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until a request would be allowed again.
        retry_after_secs: u64,
    },
    /// The creator has as many lives open as allowed; says how many.
    #[error("{0}")]
    TooManyLives(String),
    /// The store or a provider is down: retry later.
    #[error("service unavailable, retry later")]
    Unavailable,
    /// A bug or an unexpected failure; logged with its cause, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The code and message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case.
    pub code: String,
    /// For humans.
    pub message: String,
}

impl ApiError {
    /// HTTP status and stable code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UpgradeRequired(_) => (StatusCode::UPGRADE_REQUIRED, "upgrade_required"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            ApiError::HandleTaken => (StatusCode::CONFLICT, "handle_taken"),
            ApiError::IdempotencyKeyReused => (StatusCode::CONFLICT, "idempotency_key_reused"),
            ApiError::LiveNotActive => (StatusCode::CONFLICT, "live_not_active"),
            ApiError::CountryNotSupported { status, .. } => (*status, "country_not_supported"),
            ApiError::SelfPurchase => (StatusCode::FORBIDDEN, "self_purchase"),
            ApiError::SpendingLimit(_) => (StatusCode::FORBIDDEN, "spending_limit"),
            ApiError::CardDeclined => (StatusCode::PAYMENT_REQUIRED, "card_declined"),
            ApiError::AlreadyRefunded => (StatusCode::CONFLICT, "already_refunded"),
            ApiError::PurchaseDisputed => (StatusCode::CONFLICT, "purchase_disputed"),
            ApiError::InvalidSignature(_) => (StatusCode::BAD_REQUEST, "invalid_signature"),
            ApiError::InsufficientFunds(_) => (StatusCode::PAYMENT_REQUIRED, "insufficient_funds"),
            ApiError::CreatorNotEligible(_) => (StatusCode::FORBIDDEN, "creator_not_eligible"),
            ApiError::CouponTaken => (StatusCode::CONFLICT, "coupon_taken"),
            ApiError::OrderLocked => (StatusCode::CONFLICT, "order_locked"),
            ApiError::InvalidState(_) => (StatusCode::CONFLICT, "invalid_state"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::TooManyLives(_) => (StatusCode::CONFLICT, "too_many_lives"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The JSON body as text, for storing idempotent answers.
    pub fn body_json(&self) -> String {
        let (_, code) = self.status_and_code();
        serde_json::to_string(&ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: self.to_string(),
            },
        })
        .expect("an error body always serializes")
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> ApiError {
        match e {
            store::StoreError::HandleTaken => ApiError::HandleTaken,
            store::StoreError::Unavailable(_)
            | store::StoreError::CommitUncertain
            | store::StoreError::Sqlite(_)
            | store::StoreError::WriterStopped => {
                tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "store unavailable");
                ApiError::Unavailable
            }
            // A flood of comments fills their queue; logged once per refusal would be a
            // second flood (`ovation_writer_comments_refused_total` counts them).
            store::StoreError::Busy => ApiError::Unavailable,
            other => ApiError::Internal(other.into()),
        }
    }
}

/// A rejection of one of our extractors.
pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::Invalid(message.into())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _) = self.status_and_code();
        let retry_after = match &self {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        };
        if let ApiError::Internal(cause) = &self {
            // Logged once, here, with the whole cause chain; the client gets a generic message.
            tracing::error!(error = ?cause, "internal error");
        }
        let mut response = (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body_json(),
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
