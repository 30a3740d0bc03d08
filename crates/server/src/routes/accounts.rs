//! Accounts and tokens.

use axum::extract::State;
use axum::response::Response;
use live::{AccountKind, CountryCode, Handle};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use store::{NewUser, User, UserId};
use utoipa::ToSchema;

use crate::dto::rfc3339;
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, Json, Path, created, token_hash};
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// `POST /v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateAccount {
    /// 1–30 characters of a-z, 0-9, `_` and `.`.
    pub(crate) handle: String,
    /// `creator`, `viewer` or `brand`.
    pub(crate) kind: String,
    /// ISO 3166-1 alpha-2.
    pub(crate) country: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub(crate) birth_date: Option<String>,
    /// Follower count.
    #[serde(default)]
    pub(crate) followers: Option<i64>,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountBody {
    /// Id.
    pub(crate) id: String,
    /// Handle.
    pub(crate) handle: String,
    /// `creator`, `viewer` or `brand`.
    pub(crate) kind: String,
    /// ISO 3166-1 alpha-2.
    pub(crate) country: String,
    /// `YYYY-MM-DD`, when known.
    pub(crate) birth_date: Option<String>,
    /// Followers, when known.
    pub(crate) followers: Option<u64>,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// A new user token.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenBody {
    /// Opaque secret; shown once.
    pub(crate) token: String,
    /// The token's id, to revoke it by (`DELETE /v1/accounts/{id}/tokens/{token_id}`).
    pub(crate) id: String,
    /// RFC 3339; `null` when the token lasts until revoked.
    pub(crate) expires_at: Option<String>,
}

/// `POST /v1/accounts/{id}/tokens` (the body is optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// Seconds the token is valid for, from 60 to the configured maximum (a year by
    /// default); absent: until revoked.
    #[serde(default)]
    pub(crate) expires_in_secs: Option<i64>,
}

/// `PUT /v1/accounts/{id}/payout-account`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PayoutAccountBody {
    /// Where the provider pays the creator (Stripe: the connected account, `acct_…`);
    /// `null` removes it.
    pub(crate) payout_account: Option<String>,
}

// ---- Handlers and their helpers ----

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

pub(crate) fn account_body(u: &User) -> AccountBody {
    AccountBody {
        id: u.id.to_string(),
        handle: u.handle.clone(),
        kind: u.kind.as_str().to_owned(),
        country: u.country.as_str().to_owned(),
        birth_date: u.birth_date.and_then(|d| d.format(DATE_FORMAT).ok()),
        followers: u.followers,
        created_at: rfc3339(u.created_at),
    }
}

fn parse_new_user(body: &CreateAccount) -> Result<NewUser, ApiError> {
    let handle = Handle::parse(&body.handle).map_err(|e| invalid(e.to_string()))?;
    let kind = AccountKind::parse(&body.kind).map_err(|e| invalid(e.to_string()))?;
    let country = CountryCode::parse(&body.country).map_err(|e| invalid(e.to_string()))?;
    let birth_date = body
        .birth_date
        .as_deref()
        .map(|d| time::Date::parse(d, DATE_FORMAT))
        .transpose()
        .map_err(|_| invalid("birth_date must be a date as YYYY-MM-DD"))?;
    if birth_date.is_some_and(|d| d > store::now().date()) {
        return Err(invalid("birth_date must not be in the future"));
    }
    let followers = body
        .followers
        .map(u64::try_from)
        .transpose()
        .map_err(|_| invalid("followers must be a non-negative integer"))?;
    Ok(NewUser {
        handle,
        kind,
        country,
        birth_date,
        followers,
    })
}

/// Creates an account (admin).
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = CreateAccount,
    responses((status = 201, body = AccountBody), (status = 403, description = "forbidden: this needs the admin token", body = crate::error::ErrorBody), (status = 409, description = "handle_taken", body = crate::error::ErrorBody),
              (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_account(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateAccount>,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let user = state.store.create_user(parse_new_user(&body)?).await?;
    Ok(created(account_body(&user)))
}

/// An account (admin, or the account itself).
#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = AccountBody), (status = 404, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: another account's", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AccountBody>, ApiError> {
    let id = UserId::from_string(id);
    caller.admin_or(&id)?;
    let user = state
        .store
        .user(&id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(Json(account_body(&user)))
}

/// Issues a user token that acts as the account (admin), valid until revoked or for
/// `expires_in_secs`.
#[utoipa::path(post, path = "/v1/accounts/{id}/tokens", tag = "accounts", params(("id" = String, Path)),
    request_body(content = Option<CreateToken>, description = "optional"),
    responses((status = 201, body = TokenBody), (status = 403, description = "forbidden: this needs the admin token", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: bytes::Bytes,
) -> Result<Response, ApiError> {
    caller.admin()?;
    // No body, or `null`, asks for a token that lasts until revoked.
    let request: CreateToken = if body.iter().all(u8::is_ascii_whitespace) {
        CreateToken::default()
    } else {
        crate::extract::parse_json::<Option<CreateToken>>(&body)?.unwrap_or_default()
    };
    let max_secs = i64::try_from(state.config.token_lifetime_max.as_secs()).unwrap_or(i64::MAX);
    let expires_at = match request.expires_in_secs {
        None => None,
        Some(secs) if (60..=max_secs).contains(&secs) => {
            Some(store::now() + time::Duration::seconds(secs))
        }
        Some(_) => {
            return Err(invalid(format!(
                "expires_in_secs must be from 60 to {max_secs} seconds"
            )));
        }
    };
    let id = UserId::from_string(id);
    state
        .store
        .user(&id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    let token = new_token();
    let token_id = format!("tok_{}", uuid::Uuid::now_v7().simple());
    state
        .store
        .insert_token(&token_hash(&token), &id, &token_id, expires_at)
        .await?;
    Ok(created(TokenBody {
        token,
        id: token_id,
        expires_at: expires_at.map(rfc3339),
    }))
}

/// Revokes one of the account's tokens (admin): from then on it is 401 on this node at
/// once, and on other nodes within their 30 s token cache. Revoking twice is 204 again.
#[utoipa::path(delete, path = "/v1/accounts/{id}/tokens/{token_id}", tag = "accounts",
    params(("id" = String, Path), ("token_id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 403, description = "forbidden: this needs the admin token", body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, token_id)): Path<(String, String)>,
) -> Result<axum::http::StatusCode, ApiError> {
    caller.admin()?;
    let id = UserId::from_string(id);
    let hash = state
        .store
        .revoke_token(&id, &token_id, store::now())
        .await?
        .ok_or(ApiError::NotFound("token"))?;
    state.tokens.forget(&hash);
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// A random opaque token: 32 bytes, hex, with a prefix that says what it is.
pub(crate) fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("ovt_{}", hex::encode(bytes))
}

/// The caller's own account.
#[utoipa::path(get, path = "/v1/me", tag = "accounts",
    responses((status = 200, body = AccountBody), (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: the admin token acts as no account", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn me(caller: Caller) -> Result<Json<AccountBody>, ApiError> {
    Ok(Json(account_body(caller.user()?)))
}

/// Sets where the payment provider pays a creator (admin): with Stripe, the creator's
/// connected account. A payout to a creator without one is rejected and voided.
#[utoipa::path(put, path = "/v1/accounts/{id}/payout-account", tag = "accounts", params(("id" = String, Path)),
    request_body = PayoutAccountBody,
    responses((status = 200, body = PayoutAccountBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_payout_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<PayoutAccountBody>,
) -> Result<Json<PayoutAccountBody>, ApiError> {
    caller.admin()?;
    if let Some(account) = &body.payout_account
        && (account.is_empty()
            || account.len() > 255
            || !account
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        return Err(crate::error::invalid(
            "payout_account must be 1–255 letters, digits, _ or - (e.g. acct_1Nv0FGQ9RKHgCVdK)",
        ));
    }
    let id = store::UserId::from_string(id);
    let user = state
        .store
        .user(&id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    if user.kind != live::AccountKind::Creator {
        return Err(crate::error::invalid("only creators are paid out"));
    }
    state
        .store
        .set_payout_account(&id, body.payout_account.as_deref())
        .await?;
    Ok(Json(body))
}
