//! Prepaid wallets (like Facebook Stars or Twitch Bits) and the buyer's own spending caps.
//!
//! A top-up is a card charge booked as `clearing → wallet`; the processor's fee on it is the
//! platform's (`platform_fees → processor_fees`). Badges paid with `"payment_method":
//! "wallet"` are booked `wallet → creator + fees` with no card round trip; the wallet's
//! balance rule (debits never above credits) is checked inside the ledger batch, so it never
//! goes below zero whatever the concurrency, on one node or several.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use money::Money;
use postings::{Topup, TopupId, TopupStatus};
use serde::{Deserialize, Serialize};
use store::User;
use utoipa::ToSchema;

use crate::dto::{MoneyBody, rfc3339};
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, Json, parse_json};
use crate::flows::checkout::{self, NewAttempt, caps_of};
use crate::idempotency::{Idempotency, Keyed};
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// `POST /v1/wallet/topups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopupRequest {
    /// How much to put in the wallet, in the currency of the buyer's country (a brand's, in
    /// any currency: it pays commissions in its products' currencies).
    pub(crate) amount: MoneyBody,
    /// The card's payment method (`pm_card_visa`, …).
    pub(crate) payment_method: String,
}

/// A wallet top-up.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TopupBody {
    /// `top_…`.
    pub(crate) id: String,
    /// The wallet's owner.
    pub(crate) user_id: String,
    /// Put in the wallet.
    pub(crate) amount: MoneyBody,
    /// `succeeded` or `disputed`.
    pub(crate) status: String,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// `GET /v1/wallet`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WalletBody {
    /// The wallet's owner.
    pub(crate) user_id: String,
    /// What can be spent, per currency (a brand's every wallet; a buyer's, the one of their
    /// country), with what open offers hold.
    pub(crate) balances: Vec<WalletBalance>,
}

/// A wallet in one currency: `amount` is what can be spent (what open offers hold is not).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WalletBalance {
    /// Spendable, in minor units.
    pub(crate) amount: i64,
    /// ISO 4217.
    pub(crate) currency: String,
    /// Held by the brand's open offers (escrow), not spendable until given back.
    pub(crate) held: MoneyBody,
}

impl From<store::Wallet> for WalletBalance {
    fn from(w: store::Wallet) -> WalletBalance {
        WalletBalance {
            amount: w.spendable.amount(),
            currency: w.spendable.currency().code().to_owned(),
            held: w.held.into(),
        }
    }
}

/// `PUT /v1/me/spending-limits`: caps the buyer sets for themselves, in the currency of
/// their country; `null` (or absent) removes one. The operator's caps still apply: the lower
/// of the two counts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpendingLimitsRequest {
    /// Most spent on badges per day (UTC).
    #[serde(default)]
    pub(crate) daily: Option<MoneyBody>,
    /// Most spent per week (from Monday 00:00 UTC).
    #[serde(default)]
    pub(crate) weekly: Option<MoneyBody>,
}

/// `GET /v1/me/spending-limits`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SpendingLimitsBody {
    /// The buyer's currency.
    pub(crate) currency: String,
    /// The daily cap that applies (the lower of the operator's and the buyer's), if any.
    pub(crate) daily: Option<MoneyBody>,
    /// The weekly cap that applies, if any.
    pub(crate) weekly: Option<MoneyBody>,
    /// The daily cap the buyer set.
    pub(crate) own_daily: Option<MoneyBody>,
    /// The weekly cap the buyer set.
    pub(crate) own_weekly: Option<MoneyBody>,
    /// Spent on badges today.
    pub(crate) spent_today: MoneyBody,
    /// Spent on badges this week.
    pub(crate) spent_this_week: MoneyBody,
}

// ---- Handlers and their helpers ----

/// Largest top-up, in minor units.
pub(crate) const TOPUP_MAX: i64 = 100_000_000;

/// The currency of `user`'s wallet: their country's badge currency.
fn wallet_currency(state: &AppState, user: &User) -> Result<money::Currency, ApiError> {
    state
        .config
        .prices
        .for_country(user.country)
        .map(|p| p.currency)
        .ok_or_else(|| ApiError::CountryNotSupported {
            country: user.country.to_string(),
            status: StatusCode::FORBIDDEN,
        })
}

/// A buyer of badges: spending caps are theirs, not brands'.
fn buyer(caller: &Caller) -> Result<std::sync::Arc<User>, ApiError> {
    let user = caller.user()?.clone();
    if user.kind == live::AccountKind::Brand {
        return Err(ApiError::Forbidden(
            "spending limits belong to viewers and creators".into(),
        ));
    }
    Ok(user)
}

/// Tops up the caller's wallet by card.
#[utoipa::path(post, path = "/v1/wallet/topups", tag = "wallet",
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
    request_body = TopupRequest,
    responses((status = 201, body = TopupBody),
        (status = 202, description = "the provider has not confirmed the payment yet: the top-up with `\"status\": \"processing\"`", body = TopupBody),
        (status = 402, description = "card_declined", body = crate::error::ErrorBody),
        (status = 403, description = "forbidden, country_not_supported", body = crate::error::ErrorBody),
        (status = 409, description = "idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 429, description = "rate_limited: too many declined cards (card testing); see Retry-After", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn top_up(
    State(state): State<AppState>,
    caller: Caller,
    request: Keyed,
) -> Result<Response, ApiError> {
    let user = caller.user()?.clone();
    let body = request.body()?;
    // Before the key is taken: a 429 is not stored as the key's answer.
    state.limits.card_payment(user.id.as_str())?;
    request
        .once_charging(&state, user.id.as_str(), |idem| {
            book_topup(&state, &user, body, idem)
        })
        .await
}

async fn book_topup(
    state: &AppState,
    user: &User,
    body: &Bytes,
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let request: TopupRequest = parse_json(body)?;
    let amount = request.amount.to_money("amount", TOPUP_MAX)?;
    // A brand pays commissions in its products' currencies: its wallets may be in any.
    let currency = if user.kind == live::AccountKind::Brand {
        amount.currency()
    } else {
        wallet_currency(state, user)?
    };
    if amount.currency() != currency {
        return Err(invalid(format!(
            "amount.currency must be {currency}, the currency of the wallet"
        )));
    }
    if request.payment_method.trim().is_empty() || request.payment_method == "wallet" {
        return Err(invalid("payment_method must be a card's payment method"));
    }
    let topup = Topup {
        id: TopupId::generate(),
        user_id: user.id.clone(),
        amount,
        processor_fee: state.config.processor_fee(currency).on(amount),
        payment_id: String::new(),
        status: TopupStatus::Succeeded,
        created_at: store::now(),
    };
    let attempt = NewAttempt::of_request(
        user,
        idem.as_ref(),
        topup.id.to_string(),
        checkout::Order::of_topup(&topup),
        amount,
    );
    let answer = state
        .checkout()
        .buy(
            attempt,
            &request.payment_method,
            "wallet top-up",
            Vec::new(),
        )
        .await?;
    checkout::count_decline(state, user, &answer);
    Ok(answer.response())
}

pub(crate) fn topup_body(t: &Topup) -> TopupBody {
    TopupBody {
        id: t.id.to_string(),
        user_id: t.user_id.to_string(),
        amount: t.amount.into(),
        status: t.status.as_str().to_owned(),
        created_at: rfc3339(t.created_at),
    }
}

/// The caller's wallet balance.
#[utoipa::path(get, path = "/v1/wallet", tag = "wallet",
    responses((status = 200, body = WalletBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn wallet(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<WalletBody>, ApiError> {
    let user = caller.user()?.clone();
    let balances = if user.kind == live::AccountKind::Brand {
        state.store.wallets(&user.id).await?
    } else {
        let currency = wallet_currency(&state, &user)?;
        vec![store::Wallet {
            spendable: wallet_spendable(&state, &user.id, currency).await?,
            held: Money::zero(currency),
        }]
    };
    Ok(Json(WalletBody {
        user_id: user.id.to_string(),
        balances: balances.into_iter().map(WalletBalance::from).collect(),
    }))
}

/// What `user` can spend from their wallet in `currency` (zero before any top-up).
pub(crate) async fn wallet_spendable(
    state: &AppState,
    user: &store::UserId,
    currency: money::Currency,
) -> Result<Money, ApiError> {
    Ok(state.store.wallet_spendable(user, currency).await?)
}

/// The caller's badge spending caps and what they spent.
#[utoipa::path(get, path = "/v1/me/spending-limits", tag = "wallet",
    responses((status = 200, body = SpendingLimitsBody), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn spending_limits(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SpendingLimitsBody>, ApiError> {
    let user = buyer(&caller)?;
    // Read fresh: the cached user may predate a change.
    let user = state
        .store
        .user(&user.id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    limits_body(&state, &user).await.map(Json)
}

async fn limits_body(state: &AppState, user: &User) -> Result<SpendingLimitsBody, ApiError> {
    let currency = wallet_currency(state, user)?;
    let now = store::now();
    let caps = caps_of(&state.config, user, currency, now);
    let (daily, weekly) = (caps.daily, caps.weekly);
    let (day, week) = postings::caps::day_and_week(now);
    let money = |a: Option<i64>| a.map(|a| MoneyBody::from(Money::new(a, currency)));
    Ok(SpendingLimitsBody {
        currency: currency.code().to_owned(),
        daily: money(daily),
        weekly: money(weekly),
        own_daily: money(user.own_daily_limit),
        own_weekly: money(user.own_weekly_limit),
        spent_today: Money::new(
            state.store.spent_since(&user.id, currency, day).await?,
            currency,
        )
        .into(),
        spent_this_week: Money::new(
            state.store.spent_since(&user.id, currency, week).await?,
            currency,
        )
        .into(),
    })
}

/// Sets the caller's own caps (lower than the operator's to have an effect).
#[utoipa::path(put, path = "/v1/me/spending-limits", tag = "wallet",
    request_body = SpendingLimitsRequest,
    responses((status = 200, body = SpendingLimitsBody), (status = 403, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_spending_limits(
    State(state): State<AppState>,
    caller: Caller,
    request: Keyed,
) -> Result<Json<SpendingLimitsBody>, ApiError> {
    let user = buyer(&caller)?;
    let request: SpendingLimitsRequest = parse_json(request.body()?)?;
    let currency = wallet_currency(&state, &user)?;
    let mut caps = [None, None];
    for (i, (field, cap)) in [("daily", &request.daily), ("weekly", &request.weekly)]
        .into_iter()
        .enumerate()
    {
        if let Some(cap) = cap {
            if cap.amount == 0 && money::Currency::parse(&cap.currency) == Ok(currency) {
                // Zero is a cap too: no badges at all.
                caps[i] = Some(0);
                continue;
            }
            let m = cap.to_money(field, i64::MAX)?;
            if m.currency() != currency {
                return Err(invalid(format!("{field}.currency must be {currency}")));
            }
            caps[i] = Some(m.amount());
        }
    }
    state
        .store
        .set_own_limits(&user.id, caps[0], caps[1])
        .await?;
    state.tokens.forget_user(&user.id);
    let user = state
        .store
        .user(&user.id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    limits_body(&state, &user).await.map(Json)
}
