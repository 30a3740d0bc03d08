//! Lives, chat and badge prices.

mod types;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::Response;
use live::{CommentText, CountryCode, CreatorFacts, LiveTitle};
use store::{Live, LiveId};

use crate::bus::Event;
use crate::dto::{CommentBody, MoneyBody};
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, Json, ListParams, Path, created, query_map};
use crate::state::AppState;

pub(crate) use self::types::{
    CommentList, CreateComment, CreateLive, LiveBody, PricesBody, SetGoal, SupporterBody,
    SupporterList, TierPriceBody,
};

/// Badge prices in a country (public).
#[utoipa::path(get, path = "/v1/badges/prices", tag = "badges", params(("country" = String, Query, description = "ISO 3166-1 alpha-2")),
    responses((status = 200, body = PricesBody), (status = 422, description = "country_not_supported or invalid_request", body = crate::error::ErrorBody)))]
pub(crate) async fn prices(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<Json<PricesBody>, ApiError> {
    let raw = query_map(&uri)?
        .remove("country")
        .ok_or_else(|| invalid("country is required (ISO 3166-1 alpha-2)"))?;
    let upper = raw.trim().to_ascii_uppercase();
    if upper.len() != 2 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid("country must be an ISO 3166-1 alpha-2 code"));
    }
    let not_supported = || ApiError::CountryNotSupported {
        country: upper.clone(),
        status: StatusCode::UNPROCESSABLE_ENTITY,
    };
    let country = CountryCode::parse(&upper).map_err(|_| not_supported())?;
    let prices = state
        .config
        .prices
        .for_country(country)
        .ok_or_else(not_supported)?;
    Ok(Json(PricesBody {
        country: country.as_str().to_owned(),
        currency: prices.currency.code().to_owned(),
        tiers: live::Tier::ALL
            .iter()
            .map(|t| TierPriceBody {
                tier: t.get(),
                hearts: t.hearts(),
                price: MoneyBody::from(prices.tiers[usize::from(t.get() - 1)]),
            })
            .collect(),
    }))
}

/// Starts a live (creator).
#[utoipa::path(post, path = "/v1/lives", tag = "lives", request_body = CreateLive,
    responses((status = 201, body = LiveBody), (status = 403, description = "creator_not_eligible or forbidden", body = crate::error::ErrorBody),
        (status = 409, description = "too_many_lives: the creator has as many lives open as allowed", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_live(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateLive>,
) -> Result<Response, ApiError> {
    let user = caller.user()?;
    if user.kind != live::AccountKind::Creator {
        return Err(ApiError::Forbidden("only creators go live".into()));
    }
    let title = LiveTitle::parse(&body.title).map_err(|e| invalid(e.to_string()))?;
    let facts = CreatorFacts {
        kind: user.kind,
        country: user.country,
        birth_date: user.birth_date,
        followers: user.followers,
        suspended: user.suspended,
    };
    live::check_creator_eligible(&facts, &state.config.eligibility, store::now().date())
        .map_err(|why| ApiError::CreatorNotEligible(why.to_string()))?;
    let goal = parse_goal(body.goal_hearts)?;
    let live = match state.config.open_lives_max {
        None => {
            state
                .store
                .create_live(&user.id, title.as_str(), goal)
                .await?
        }
        Some(max) => state
            .store
            .create_live_within(&user.id, title.as_str(), goal, max)
            .await?
            .ok_or_else(|| {
                ApiError::TooManyLives(format!(
                    "a creator may have {max} live(s) open at once: end one first"
                ))
            })?,
    };
    metrics::counter!("ovation_lives_started_total").increment(1);
    let body = LiveBody::from(&live);
    state.lives.put(live);
    Ok(created(body))
}

/// Most hearts a badge goal may ask for.
const GOAL_HEARTS_MAX: i64 = 1_000_000;

fn parse_goal(goal: Option<i64>) -> Result<Option<u32>, ApiError> {
    goal.map(|g| {
        u32::try_from(g)
            .ok()
            .filter(|g| (1..=GOAL_HEARTS_MAX).contains(&i64::from(*g)))
            .ok_or_else(|| invalid("goal_hearts must be from 1 to 1000000"))
    })
    .transpose()
}

/// Sets or clears a live's badge goal (its creator, or admin) and tells its viewers.
#[utoipa::path(put, path = "/v1/lives/{id}/goal", tag = "lives", params(("id" = String, Path)), request_body = SetGoal,
    responses((status = 200, body = LiveBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "live_not_active", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_goal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<SetGoal>,
) -> Result<Json<LiveBody>, ApiError> {
    let live = load_live(&state, id).await?;
    caller.admin_or(&live.creator_id).map_err(|_| {
        ApiError::Forbidden("only the live's creator or the platform sets its goal".into())
    })?;
    let goal = body
        .goal_hearts
        .ok_or_else(|| invalid("goal_hearts is required: 1 to 1000000 hearts, or null for none"))?;
    let goal = parse_goal(goal)?;
    let live = state
        .store
        .set_live_goal(&live.id, goal)
        .await?
        .ok_or(ApiError::LiveNotActive)?;
    state.lives.put(live.clone());
    state.bus.publish(
        live.id.as_str(),
        Event::Goal {
            live_id: live.id.as_str(),
            goal_hearts: live.goal_hearts,
        }
        .encode(),
    );
    Ok(Json(LiveBody::from(&live)))
}

/// The live as stored now.
pub(crate) async fn load_live(state: &AppState, id: String) -> Result<Live, ApiError> {
    state
        .store
        .live(&LiveId::from_string(id))
        .await?
        .ok_or(ApiError::NotFound("live"))
}

/// The live from the cache, or the store: for requests whose own write checks the status.
pub(crate) async fn cached_live(state: &AppState, id: String) -> Result<Arc<Live>, ApiError> {
    if let Some(live) = state.lives.get(&id) {
        return Ok(live);
    }
    Ok(state.lives.put(load_live(state, id).await?))
}

/// A live (any token).
#[utoipa::path(get, path = "/v1/lives/{id}", tag = "lives", params(("id" = String, Path)),
    responses((status = 200, body = LiveBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_live(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LiveBody>, ApiError> {
    Ok(Json(LiveBody::from(&load_live(&state, id).await?)))
}

/// Ends a live (its creator, or admin).
#[utoipa::path(post, path = "/v1/lives/{id}/end", tag = "lives", params(("id" = String, Path)),
    responses((status = 200, body = LiveBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn end_live(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<LiveBody>, ApiError> {
    let live = load_live(&state, id).await?;
    caller.admin_or(&live.creator_id).map_err(|_| {
        ApiError::Forbidden("only the live's creator or the platform ends a live".into())
    })?;
    let (live, ended_now) = state
        .store
        .end_live(&live.id)
        .await?
        .ok_or(ApiError::NotFound("live"))?;
    state.lives.put(live.clone());
    if ended_now {
        state.bus.publish(
            live.id.as_str(),
            Event::LiveEnded {
                live_id: live.id.as_str(),
            }
            .encode(),
        );
    }
    Ok(Json(LiveBody::from(&live)))
}

/// Comments in a live (any user token).
#[utoipa::path(post, path = "/v1/lives/{id}/comments", tag = "lives", params(("id" = String, Path)), request_body = CreateComment,
    responses((status = 201, body = CommentBody), (status = 409, description = "live_not_active", body = crate::error::ErrorBody),
              (status = 403, description = "forbidden: the admin token acts as no account and cannot comment", body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody),
              (status = 429, description = "rate_limited: the account's comment rate; see Retry-After", body = crate::error::ErrorBody),
              (status = 503, description = "unavailable: too many comments are waiting to be committed; see Retry-After", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_comment(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<CreateComment>,
) -> Result<Response, ApiError> {
    let user = caller.user()?;
    state.limits.comment(user.id.as_str())?;
    let live = cached_live(&state, id).await?;
    let text = CommentText::parse(&body.text).map_err(|e| invalid(e.to_string()))?;
    if !live.active {
        return Err(ApiError::LiveNotActive);
    }
    // The insert itself checks that the live is still on (another node may have ended it).
    // It is committed in one of the ledger writer's batches: a 201 means durable, and a
    // flood of comments never takes a write lock of its own.
    let comment = state
        .store
        .insert_comment(&live.id, user, text.as_str())
        .await?
        .ok_or(ApiError::LiveNotActive)?;
    let body = CommentBody::from(&comment);
    state
        .bus
        .publish(live.id.as_str(), Event::Comment { comment: &body }.encode());
    metrics::counter!("ovation_comments_total").increment(1);
    Ok(created(body))
}

/// The comments of a live, oldest first (any token).
#[utoipa::path(get, path = "/v1/lives/{id}/comments", tag = "lives",
    params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = CommentList), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_comments(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    list: ListParams,
) -> Result<Json<CommentList>, ApiError> {
    let live = load_live(&state, id).await?;
    let page = state
        .store
        .comments(&live.id, list.cursor.as_deref(), list.limit)
        .await?;
    Ok(Json(CommentList {
        data: page.data.iter().map(CommentBody::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Who supported a live (its creator, or admin).
#[utoipa::path(get, path = "/v1/lives/{id}/supporters", tag = "badges",
    params(("id" = String, Path), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = SupporterList), (status = 403, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn supporters(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    list: ListParams,
) -> Result<Json<SupporterList>, ApiError> {
    let live = load_live(&state, id).await?;
    caller.admin_or(&live.creator_id).map_err(|_| {
        ApiError::Forbidden("only the live's creator or the platform sees its supporters".into())
    })?;
    let page = state
        .store
        .supporters(&live.id, list.cursor.as_deref(), list.limit)
        .await?;
    Ok(Json(SupporterList {
        data: page
            .data
            .into_iter()
            .map(|s| SupporterBody {
                viewer_id: s.viewer_id.to_string(),
                viewer_handle: s.viewer_handle,
                top_tier: s.top_tier.get(),
                totals: s.totals.into_iter().map(MoneyBody::from).collect(),
                purchases: s.purchases,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}
