//! Holds, payouts and the money lifecycle's operator endpoints.

use axum::extract::{Path, State};

use crate::dto::{PayoutBody, PayoutList, PayoutRunBody, ReleaseBody};
use crate::error::ApiError;
use crate::extract::{Caller, Json, ListParams};
use crate::flows;
use crate::state::AppState;

/// Releases every hold whose period has ended (admin): the same run `serve` does on its
/// schedule and `ovation payouts release` does from the command line. Safe to call while
/// another node runs it: a hold is released once.
#[utoipa::path(post, path = "/v1/holds/release", tag = "earnings",
    responses((status = 200, body = ReleaseBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn release_holds(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ReleaseBody>, ApiError> {
    caller.admin()?;
    let report = flows::release_due(&state.store, store::now()).await?;
    Ok(Json(report.into()))
}

/// Pays every creator whose available balance reaches the minimum (admin); the same run as
/// `ovation payouts run`. Safe to call twice at once: each balance is paid once.
#[utoipa::path(post, path = "/v1/payouts/run", tag = "payouts",
    responses((status = 200, body = PayoutRunBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn run_payouts(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PayoutRunBody>, ApiError> {
    caller.admin()?;
    let report = state.payouts().run(&|_, _| {}).await?;
    Ok(Json(report.into()))
}

/// A creator's payouts, newest first (that creator, or admin).
#[utoipa::path(get, path = "/v1/creators/{id}/payouts", tag = "payouts",
    params(("id" = String, Path), ("limit" = Option<u32>, Query, description = "1–500, default 50"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = PayoutList), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn creator_payouts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: ListParams,
) -> Result<Json<PayoutList>, ApiError> {
    let id = crate::routes::ops::creator_for(&state, &caller, id, "payouts").await?;
    let page = state
        .store
        .payouts_of(&id, params.cursor.as_deref(), params.limit)
        .await?;
    Ok(Json(PayoutList {
        data: page.data.iter().map(PayoutBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One payout (its creator, or admin).
#[utoipa::path(get, path = "/v1/payouts/{id}", tag = "payouts", params(("id" = String, Path)),
    responses((status = 200, body = PayoutBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_payout(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PayoutBody>, ApiError> {
    let payout = state
        .store
        .payout(&store::PayoutId::from_string(id))
        .await?
        .ok_or(ApiError::NotFound("payout"))?;
    // Someone else's payout is not found rather than forbidden: its id says nothing.
    caller
        .admin_or(&payout.creator_id)
        .map_err(|_| ApiError::NotFound("payout"))?;
    Ok(Json(PayoutBody::from(&payout)))
}
