//! Holds, payouts and the money lifecycle's operator endpoints.

use axum::extract::State;

use crate::books;
use crate::dto::ReleaseBody;
use crate::error::ApiError;
use crate::extract::{Caller, Json};
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
    let report = books::release_due(&state.store, store::now()).await?;
    Ok(Json(report.into()))
}
