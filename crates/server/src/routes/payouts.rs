//! Holds, payouts and the money lifecycle's operator endpoints.

use axum::extract::State;
use money::Money;
use serde::Serialize;
use utoipa::ToSchema;

use crate::dto::{MoneyBody, rfc3339};
use crate::error::ApiError;
use crate::extract::{Caller, Json, ListParams, Path};
use crate::flows;
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// `POST /v1/holds/release`: what one release run did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReleaseBody {
    /// Holds whose period had ended and that were released now.
    pub(crate) holds: u64,
    /// Release transfers posted (one per creator and currency per page of holds).
    pub(crate) releases: u64,
    /// Released amounts per currency.
    pub(crate) released: Vec<MoneyBody>,
    /// Holds another run (another node) released first, or a reversal took back meanwhile.
    pub(crate) skipped: u64,
}

impl From<crate::flows::ReleaseReport> for ReleaseBody {
    fn from(r: crate::flows::ReleaseReport) -> ReleaseBody {
        ReleaseBody {
            holds: r.holds,
            releases: r.releases,
            released: r
                .released
                .into_iter()
                .map(|(c, a)| MoneyBody::from(Money::new(a, c)))
                .collect(),
            skipped: r.skipped,
        }
    }
}

/// A payout.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PayoutBody {
    /// `pay_…`.
    pub(crate) id: String,
    /// The creator paid.
    pub(crate) creator_id: String,
    /// How much.
    pub(crate) amount: MoneyBody,
    /// `pending` (sent, not yet confirmed), `paid` or `failed`.
    pub(crate) status: String,
    /// The provider's id, once it has one.
    pub(crate) provider_id: Option<String>,
    /// Why it failed.
    pub(crate) failure: Option<String>,
    /// RFC 3339.
    pub(crate) created_at: String,
    /// RFC 3339.
    pub(crate) updated_at: String,
}

impl From<&store::Payout> for PayoutBody {
    fn from(p: &store::Payout) -> PayoutBody {
        PayoutBody {
            id: p.id.to_string(),
            creator_id: p.creator_id.to_string(),
            amount: p.amount.into(),
            status: p.status.as_str().to_owned(),
            provider_id: p.provider_id.clone(),
            failure: p.failure.clone(),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// A page of payouts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PayoutList {
    /// Newest first.
    pub(crate) data: Vec<PayoutBody>,
    /// Cursor of the next page.
    pub(crate) next_cursor: Option<String>,
}

/// `POST /v1/payouts/run`: what the run did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PayoutRunBody {
    /// Creators' balances looked at (one per creator and currency with money available).
    pub(crate) checked: u64,
    /// Payouts created (pending until the provider confirms).
    pub(crate) payouts: u64,
    /// Their amounts per currency.
    pub(crate) amounts: Vec<MoneyBody>,
    /// Balances below the minimum payout.
    pub(crate) below_minimum: u64,
    /// Payouts of earlier runs sent again.
    pub(crate) resumed: u64,
    /// Payouts the provider refused (voided).
    pub(crate) rejected: u64,
    /// Payouts not sent now (the provider was unreachable, or a refused payout's transfer
    /// could not be reversed yet); the next run sends them.
    pub(crate) unsent: u64,
}

impl From<crate::flows::PayoutReport> for PayoutRunBody {
    fn from(r: crate::flows::PayoutReport) -> PayoutRunBody {
        PayoutRunBody {
            checked: r.checked,
            payouts: r.payouts,
            amounts: r
                .amounts
                .into_iter()
                .map(|(c, a)| MoneyBody::from(Money::new(a, c)))
                .collect(),
            below_minimum: r.below_minimum,
            resumed: r.resumed,
            rejected: r.rejected,
            unsent: r.unsent,
        }
    }
}

// ---- Handlers and their helpers ----

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
    responses((status = 200, body = PayoutBody), (status = 404, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: another account's", body = crate::error::ErrorBody)),
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
