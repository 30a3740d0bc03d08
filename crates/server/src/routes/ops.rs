//! Health, metrics, earnings and the ledger audit.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::MoneyBody;
use crate::error::ApiError;
use crate::extract::{Caller, Json, Path};
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// A creator's balances in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BalanceBody {
    /// ISO 4217.
    pub(crate) currency: String,
    /// In the hold period.
    pub(crate) pending: MoneyBody,
    /// Can be paid out.
    pub(crate) available: MoneyBody,
    /// Paid out.
    pub(crate) paid_out: MoneyBody,
}

/// Income of one source.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceBody {
    /// `badges`, `match`, `commissions` or `brand_deals`.
    pub(crate) source: String,
    /// Net of refunds.
    pub(crate) total: MoneyBody,
}

/// `GET /v1/creators/{id}/earnings`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EarningsBody {
    /// The creator.
    pub(crate) creator_id: String,
    /// Per currency.
    pub(crate) balances: Vec<BalanceBody>,
    /// Per source and currency.
    pub(crate) by_source: Vec<SourceBody>,
}

/// `GET /v1/ledger/verify`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VerifyBody {
    /// No problem found.
    pub(crate) ok: bool,
    /// Transfers checked.
    pub(crate) transfers: u64,
    /// Accounts checked.
    pub(crate) accounts: u64,
    /// What is wrong.
    pub(crate) problems: Vec<String>,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StatusBody {
    /// `ok` or `unavailable`.
    pub(crate) status: String,
}

// ---- Handlers and their helpers ----

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = StatusBody)))]
pub(crate) async fn healthz() -> Json<StatusBody> {
    Json(StatusBody {
        status: "ok".into(),
    })
}

/// The store answers, and NATS is connected when live events go through it.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = StatusBody),
    (status = 503, body = StatusBody, headers(("Retry-After" = String, description = "seconds to wait before asking again")))))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let store = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await,
        Ok(Ok(()))
    );
    let bus = state.nats.as_ref().is_none_or(|nats| nats.connected());
    if store && bus {
        return Json(StatusBody {
            status: "ok".into(),
        })
        .into_response();
    }
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(StatusBody {
            status: "unavailable".into(),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Prometheus text format, for the admin token or the metrics token (it shows revenue).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String),
        (status = 401, description = "unauthenticated: neither the admin token nor the metrics token", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    // Only the header: a scraper sends it, and the token needs no database look-up.
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthenticated("missing bearer token"))?;
    // Hashes are compared, so the comparison's time says nothing about the tokens.
    let hash = crate::auth::token_hash(token);
    let metrics_token = state
        .config
        .metrics_token
        .as_ref()
        .map(|t| crate::auth::token_hash(secrecy::ExposeSecret::expose_secret(t)));
    if !state.admin_token_hashes.contains(&hash) && metrics_token.as_deref() != Some(hash.as_str())
    {
        return Err(ApiError::Unauthenticated(
            "metrics need the admin token or the metrics token",
        ));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        {
            crate::telemetry::collect_process();
            state.metrics.render()
        },
    )
        .into_response())
}

/// The creator `id` when the caller is that creator or the admin: 403 for anyone else
/// (naming `what` they may not see), 404 when `id` is not a creator.
pub(crate) async fn creator_for(
    state: &AppState,
    caller: &Caller,
    id: String,
    what: &str,
) -> Result<store::UserId, ApiError> {
    let id = store::UserId::from_string(id);
    caller
        .admin_or(&id)
        .map_err(|_| ApiError::Forbidden(format!("a creator sees only their own {what}")))?;
    let user = state
        .store
        .user(&id)
        .await?
        .ok_or(ApiError::NotFound("creator"))?;
    if user.kind != live::AccountKind::Creator {
        return Err(ApiError::NotFound("creator"));
    }
    Ok(id)
}

/// A creator's earnings (that creator, or admin).
#[utoipa::path(get, path = "/v1/creators/{id}/earnings", tag = "earnings", params(("id" = String, Path)),
    responses((status = 200, body = EarningsBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn earnings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<EarningsBody>, ApiError> {
    let id = creator_for(&state, &caller, id, "earnings").await?;
    let earnings = state.store.earnings(&id).await?;
    Ok(Json(EarningsBody {
        creator_id: id.to_string(),
        balances: earnings
            .balances
            .into_iter()
            .map(|b| BalanceBody {
                currency: b.currency.code().to_owned(),
                pending: b.pending.into(),
                available: b.available.into(),
                paid_out: b.paid_out.into(),
            })
            .collect(),
        by_source: earnings
            .by_source
            .into_iter()
            .map(|s| SourceBody {
                source: s.source.as_str().to_owned(),
                total: MoneyBody::from(s.total),
            })
            .collect(),
    }))
}

/// Recomputes every balance from the transfers and checks every rule (admin); with the
/// sandbox provider, also that its charges and the ledger agree.
#[utoipa::path(get, path = "/v1/ledger/verify", tag = "earnings",
    responses((status = 200, body = VerifyBody), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerifyBody>, ApiError> {
    caller.admin()?;
    let mut report = state.store.verify_ledger().await?;
    // With the sandbox, whose charges are in the same database: the provider and the ledger
    // agree (every standing charge one standing booking, and the reverse).
    if state.payments.name() == "sandbox" {
        let problems = state.store.verify_payments().await?;
        report.ok &= problems.is_empty();
        report.problems.extend(problems);
    }
    Ok(Json(VerifyBody {
        ok: report.ok,
        transfers: report.transfers,
        accounts: report.accounts,
        problems: report.problems,
    }))
}
