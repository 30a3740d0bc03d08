//! The provider and the ledger agree: the reconciler on demand
//! (`POST /v1/payments/reconcile`) and the sandbox's own records of its charges
//! (`GET /v1/sandbox/charges`).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::{MoneyBody, rfc3339};
use crate::error::ApiError;
use crate::extract::{Caller, Json, ListParams};
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// A charge in the sandbox provider's records.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SandboxChargeBody {
    /// `pi_…`.
    pub(crate) id: String,
    /// How much.
    pub(crate) amount: MoneyBody,
    /// `processing`, `succeeded`, `refunded` or `disputed`.
    pub(crate) status: String,
    /// Ovation's reference in the charge's metadata (the purchase or top-up paid).
    pub(crate) reference: String,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// `GET /v1/sandbox/charges`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SandboxChargeList {
    /// Oldest first.
    pub(crate) data: Vec<SandboxChargeBody>,
    /// The next page's cursor.
    pub(crate) next_cursor: Option<String>,
}

/// `POST /v1/payments/reconcile`: what the reconciliation did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReconcileBody {
    /// Payment attempts and charges looked at.
    pub(crate) checked: u64,
    /// Charges booked now.
    pub(crate) booked: u64,
    /// Charges refunded now.
    pub(crate) refunded: u64,
    /// Left for a later run (the provider unreachable, a payment still pending).
    pub(crate) unresolved: u64,
}

// ---- Handlers ----

/// Compares the provider's charges with the ledger and books or refunds each charge that
/// has no booking (admin). `serve` runs it every minute.
#[utoipa::path(post, path = "/v1/payments/reconcile", tag = "payments",
    responses((status = 200, body = ReconcileBody),
        (status = 401, description = "unauthenticated", body = crate::error::ErrorBody),
        (status = 403, description = "forbidden", body = crate::error::ErrorBody),
        (status = 503, description = "unavailable", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn reconcile(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ReconcileBody>, ApiError> {
    caller.admin()?;
    let report = state.checkout().reconcile(store::now()).await?;
    Ok(Json(ReconcileBody {
        checked: report.checked,
        booked: report.booked,
        refunded: report.refunded,
        unresolved: report.unresolved,
    }))
}

/// The sandbox provider's charges, as its records hold them (admin; sandbox provider only).
#[utoipa::path(get, path = "/v1/sandbox/charges", tag = "payments",
    params(("limit" = Option<u32>, Query, description = "1–500, default 50"),
        ("cursor" = Option<String>, Query)),
    responses((status = 200, body = SandboxChargeList),
        (status = 401, description = "unauthenticated", body = crate::error::ErrorBody),
        (status = 403, description = "forbidden", body = crate::error::ErrorBody),
        (status = 404, description = "not_found: the provider is not the sandbox", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn sandbox_charges(
    State(state): State<AppState>,
    caller: Caller,
    params: ListParams,
) -> Result<Json<SandboxChargeList>, ApiError> {
    caller.admin()?;
    if state.payments.name() != "sandbox" {
        return Err(ApiError::NotFound("sandbox"));
    }
    let page = state
        .store
        .sandbox_charges(params.cursor.as_deref(), params.limit)
        .await?;
    Ok(Json(SandboxChargeList {
        data: page
            .data
            .iter()
            .map(|c| SandboxChargeBody {
                id: c.id.clone(),
                amount: MoneyBody::from(c.amount),
                status: c.status.clone(),
                reference: c.reference.clone(),
                created_at: rfc3339(c.created_at),
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
