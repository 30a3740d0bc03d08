//! Badge purchases and refunds: the money path.
//!
//! A purchase is validated, charged through the payment provider, and then handed to the
//! ledger's batching writer as one job: the purchase row, its balanced transfers and the
//! stored idempotent answer commit together or not at all. Only then is it answered and
//! announced in the live.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use money::Money;
use postings::rules::{self, Reversal};
use postings::{
    Guard, IncomeSource, Outcome, PaymentMethod, Purchase, PurchaseId, PurchaseStatus, Refusal,
    RowRef, WriteJob, caps,
};
use serde::Deserialize;
use store::User;
use utoipa::ToSchema;

use crate::bus::Event;
use crate::dto::PurchaseBody;
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, json_response, parse_json};
use crate::idempotency::{Idempotency, Keyed, replay};
use crate::payments::{ChargeRequest, PaymentError};
use crate::routes::lives::cached_live;
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// `POST /v1/lives/{id}/badges`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct BuyBadge {
    /// 1, 2 or 3.
    pub(crate) tier: i64,
    /// `pm_card_visa`, `pm_card_chargeDeclined`, …
    pub(crate) payment_method: String,
}

// ---- Handlers and their helpers ----

/// Buys a badge in a live.
#[utoipa::path(post, path = "/v1/lives/{id}/badges", tag = "badges", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
    request_body = BuyBadge,
    responses((status = 201, body = PurchaseBody),
        (status = 402, description = "card_declined, insufficient_funds (wallet)", body = crate::error::ErrorBody),
        (status = 403, description = "self_purchase, country_not_supported, spending_limit, forbidden", body = crate::error::ErrorBody),
        (status = 409, description = "live_not_active, idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn buy_badge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Response, ApiError> {
    let user = caller.user()?.clone();
    let body = request.body()?;
    if user.kind == live::AccountKind::Brand {
        return Err(ApiError::Forbidden(
            "badges are bought with a viewer or creator token".into(),
        ));
    }
    let wallet =
        serde_json::from_slice::<BuyBadge>(body).is_ok_and(|r| r.payment_method == "wallet");
    let buy = |idem| purchase(&state, &user, id, body, idem);
    if wallet {
        return request.once_in_batch(&state, user.id.as_str(), buy).await;
    }
    request.once(&state, user.id.as_str(), buy).await
}

/// A purchase: validated, then charged, then booked and answered.
async fn purchase(
    state: &AppState,
    user: &User,
    live_id: String,
    body: &Bytes,
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let order = validate(state, user, live_id, body).await?;
    let payment_id = match charge(state, &order, idem.as_ref()).await? {
        Ok(payment_id) => payment_id,
        Err(declined) => return Ok(declined),
    };
    book(state, user, order, payment_id, idem).await
}

/// A purchase validated and priced, not yet paid.
struct Order {
    purchase: Purchase,
    /// What the buyer typed as the payment method (a card's, or `wallet`).
    payment_method: String,
    /// The live still on and the spending caps, checked again in the batch.
    guards: Vec<Guard>,
}

/// The tier, the live (on, not the buyer's own), the price from the buyer's country, the
/// spending caps (read here to refuse before charging), the split of the price.
async fn validate(
    state: &AppState,
    user: &User,
    live_id: String,
    body: &Bytes,
) -> Result<Order, ApiError> {
    let request: BuyBadge = parse_json(body)?;
    let tier = live::Tier::new(request.tier).map_err(|_| invalid("tier must be 1, 2 or 3"))?;
    if request.payment_method.trim().is_empty() {
        return Err(invalid("payment_method is required"));
    }
    let method = if request.payment_method == "wallet" {
        PaymentMethod::Wallet
    } else {
        PaymentMethod::Card
    };
    let live = cached_live(state, live_id).await?;
    if !live.active {
        return Err(ApiError::LiveNotActive);
    }
    if live.creator_id == user.id {
        return Err(ApiError::SelfPurchase);
    }
    let price = state
        .config
        .prices
        .price(user.country, tier)
        .ok_or_else(|| ApiError::CountryNotSupported {
            country: user.country.to_string(),
            status: StatusCode::FORBIDDEN,
        })?;
    let currency = price.currency();
    let now = store::now();
    // The live may have been ended on another node since it was cached: the batch checks.
    let mut guards = vec![Guard::live_active(&live.id)];
    guards.extend(spending_guards(state, user, price, now).await?);
    let processor_fee = match method {
        PaymentMethod::Card => state.config.processor_fee(currency),
        // The processor was paid when the wallet was topped up.
        PaymentMethod::Wallet => live::ProcessorFee::NONE,
    };
    let split = live::split_badge_price(
        price,
        processor_fee,
        state.config.platform_fee_for(IncomeSource::Badges),
    );
    let id = PurchaseId::generate();
    Ok(Order {
        purchase: Purchase {
            payment_id: format!("wallet:{id}"),
            id,
            live_id: live.id.clone(),
            viewer_id: user.id.clone(),
            creator_id: live.creator_id.clone(),
            tier,
            price,
            creator_share: split.creator_share,
            platform_fee: split.platform_fee,
            processor_fee: split.processor_fee,
            match_amount: Money::zero(currency),
            match_program: None,
            payment_method: method,
            status: PurchaseStatus::Succeeded,
            created_at: now,
            refunded_at: None,
        },
        payment_method: request.payment_method,
        guards,
    })
}

/// Charges the card (idempotent by purchase id) and gives the payment's id; a wallet
/// purchase is paid in the ledger batch. A decline is the request's answer (`Err`).
async fn charge(
    state: &AppState,
    order: &Order,
    idem: Option<&Idempotency>,
) -> Result<Result<String, Response>, ApiError> {
    let p = &order.purchase;
    if p.payment_method == PaymentMethod::Wallet {
        return Ok(Ok(p.payment_id.clone()));
    }
    let charge = ChargeRequest {
        idempotency_key: p.id.to_string(),
        amount: p.price,
        payment_method: order.payment_method.clone(),
        description: format!("{}-heart badge in live {}", p.tier.hearts(), p.live_id),
        reference: p.id.to_string(),
    };
    Ok(charge_card(state, charge, idem)
        .await?
        .map(|charge| charge.id))
}

/// Submits the purchase's job ([`rules::purchase_job`]) and answers: 201 and a `badge` event
/// once it is committed; any other outcome gives the charge back first (but an uncertain
/// commit, which may have booked it).
async fn book(
    state: &AppState,
    user: &User,
    order: Order,
    payment_id: String,
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let purchase = Purchase {
        payment_id,
        ..order.purchase
    };
    let (price, method) = (purchase.price, purchase.payment_method);
    let answer = PurchaseBody::from(&purchase);
    let answer_json = serde_json::to_string(&answer).map_err(|e| ApiError::Internal(e.into()))?;
    let void = || async {
        if method == PaymentMethod::Card {
            void_charge(state, &purchase.payment_id, price).await;
        }
    };
    let matched = match match_for(state, &purchase).await {
        Ok(matched) => matched,
        Err(e) => {
            void().await;
            return Err(e.into());
        }
    };
    let job = rules::purchase_job(
        &purchase,
        state.config.hold_period,
        matched,
        order.guards,
        idem.as_ref()
            .map(|i| i.record(StatusCode::CREATED, answer_json.clone())),
    );
    match state.store.writer().submit(job).await {
        Ok(Outcome::Applied) => {
            metrics::counter!("ovation_purchases_total", "tier" => purchase.tier.get().to_string(), "method" => method.as_str())
                .increment(1);
            metrics::counter!("ovation_purchase_amount_minor_total", "currency" => price.currency().code())
                .increment(u64::try_from(price.amount()).unwrap_or(0));
            let event = Event::Badge {
                purchase: &answer,
                viewer_handle: &user.handle,
            };
            state.bus.publish(purchase.live_id.as_str(), event.encode());
            Ok(json_response(StatusCode::CREATED, answer_json))
        }
        Ok(Outcome::Duplicate(record)) => {
            void().await;
            let fingerprint = idem.map(|i| i.fingerprint().to_owned()).unwrap_or_default();
            Ok(replay(&record, &fingerprint))
        }
        Ok(Outcome::Refused(Refusal::Status(RowRef::Live(_)))) => {
            void().await;
            Err(ApiError::LiveNotActive)
        }
        Ok(Outcome::Refused(Refusal::SpendingLimit)) => {
            void().await;
            Err(ApiError::SpendingLimit(format!(
                "this {price} badge would go over a spending limit"
            )))
        }
        // A wallet purchase's only account with a balance rule is the buyer's wallet.
        Ok(Outcome::Refused(Refusal::InsufficientFunds { .. }))
            if method == PaymentMethod::Wallet =>
        {
            let error = ApiError::InsufficientFunds(format!(
                "the wallet holds less than this badge's {price}"
            ));
            // Like a declined card, an empty wallet is an answer: the same key replays it.
            remember_refusal(state, idem.as_ref(), StatusCode::PAYMENT_REQUIRED, error).await
        }
        Ok(other) => {
            void().await;
            Err(ApiError::Internal(anyhow::anyhow!(
                "purchase {} not booked: {other:?}",
                answer.id
            )))
        }
        Err(store::StoreError::CommitUncertain) => {
            // The purchase may be booked: voiding its charge could pay the creator from
            // nothing. The client's retry with its key replays it if it was booked; a charge
            // that was not is refunded when the provider's confirmation finds no purchase.
            tracing::error!(payment = %purchase.payment_id, purchase = %answer.id, "purchase commit uncertain: charge kept");
            Err(ApiError::Unavailable)
        }
        Err(e) => {
            void().await;
            Err(e.into())
        }
    }
}

/// The match a purchase may get ([`rules::match_for`]) from the programs running now; the
/// creator's country is read only when a program limits countries.
async fn match_for(
    state: &AppState,
    p: &Purchase,
) -> Result<Option<postings::Computed>, store::StoreError> {
    let programs = state.programs.get(&state.store).await?;
    let country = if rules::match_needs_country(&programs, p) {
        state.store.user(&p.creator_id).await?.map(|u| u.country)
    } else {
        None
    };
    Ok(rules::match_for(&programs, p, country))
}

/// The operator's caps from the configuration.
pub(crate) fn operator_caps(config: &crate::Config) -> caps::OperatorCaps<'_> {
    caps::OperatorCaps {
        daily: &config.daily_spending_limit,
        weekly: &config.weekly_spending_limit,
        minors_daily: &config.minors_daily_limit,
        adult_age_years: config.eligibility.adult_age_years,
    }
}

/// `user`'s caps in `currency` now.
pub(crate) fn caps_of(
    config: &crate::Config,
    user: &User,
    currency: money::Currency,
    now: time::OffsetDateTime,
) -> caps::Caps {
    let buyer = caps::Buyer {
        birth_date: user.birth_date,
        own_daily: user.own_daily_limit,
        own_weekly: user.own_weekly_limit,
    };
    caps::effective_caps(operator_caps(config), buyer, currency, now)
}

/// The caps a purchase of `price` by `user` must stay within: a minor's daily limit, the
/// operator's daily and weekly caps, and the lower caps the buyer set. Each is checked here
/// first (to refuse before charging a card) and again, exactly, inside the ledger batch.
async fn spending_guards(
    state: &AppState,
    user: &User,
    price: Money,
    now: time::OffsetDateTime,
) -> Result<Vec<Guard>, ApiError> {
    let currency = price.currency();
    let caps = caps_of(&state.config, user, currency, now);
    let mut guards = Vec::new();
    for (period, since, limit) in caps.periods(now) {
        let spent = state.store.spent_since(&user.id, currency, since).await?;
        if caps::over_cap(spent, price, limit) {
            return Err(ApiError::SpendingLimit(caps::over_cap_message(
                caps, period, limit, spent, price,
            )));
        }
        guards.push(caps::cap_guard(&user.id, price, since, limit));
    }
    Ok(guards)
}

/// Stores a refusal as the answer to the request's key (so that a retry replays it) and
/// answers it.
pub(crate) async fn remember_refusal(
    state: &AppState,
    idem: Option<&Idempotency>,
    status: StatusCode,
    error: ApiError,
) -> Result<Response, ApiError> {
    if let Some(idem) = idem {
        let job = WriteJob::answer(idem.record(status, error.body_json()));
        if let Outcome::Duplicate(record) = state.store.writer().submit(job).await? {
            return Ok(replay(&record, idem.fingerprint()));
        }
    }
    Err(error)
}

/// Charges a card; a decline is the request's answer (`Err(answer)`), stored under its key.
pub(crate) async fn charge_card(
    state: &AppState,
    request: ChargeRequest,
    idem: Option<&Idempotency>,
) -> Result<Result<crate::payments::Charge, Response>, ApiError> {
    match state.payments.charge(request).await {
        Ok(charge) => Ok(Ok(charge)),
        Err(PaymentError::Declined) => {
            metrics::counter!("ovation_payments_declined_total").increment(1);
            remember_refusal(
                state,
                idem,
                StatusCode::PAYMENT_REQUIRED,
                ApiError::CardDeclined,
            )
            .await
            .map(Err)
        }
        Err(PaymentError::UnknownPaymentMethod(pm)) => Err(invalid(format!(
            "payment_method {pm:?} is not a known payment method"
        ))),
        Err(PaymentError::Unavailable(why)) => {
            tracing::warn!(%why, "payment provider unavailable");
            Err(ApiError::Unavailable)
        }
    }
}

/// Refunds a charge that was not booked (its job was refused or failed before the commit).
pub(crate) async fn void_charge(state: &AppState, payment_id: &str, amount: Money) {
    if let Err(e) = state
        .payments
        .refund(payment_id, amount, &format!("void:{payment_id}"))
        .await
    {
        tracing::error!(payment = %payment_id, error = %e, "could not void a charge that was not booked");
    }
}

/// Refunds a purchase in full (admin).
#[utoipa::path(post, path = "/v1/purchases/{id}/refund", tag = "badges", params(("id" = String, Path)),
    responses((status = 200, body = PurchaseBody), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "already_refunded, purchase_disputed", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn refund(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Response, ApiError> {
    caller.admin()?;
    request
        .once(&state, caller.scope(), |idem| {
            refund_purchase(&state, id, idem)
        })
        .await
}

async fn refund_purchase(
    state: &AppState,
    id: String,
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let mut purchase = state
        .store
        .purchase(&PurchaseId::from_string(id))
        .await?
        .ok_or(ApiError::NotFound("purchase"))?;
    match purchase.status {
        PurchaseStatus::Succeeded => {}
        PurchaseStatus::Refunded => return Err(ApiError::AlreadyRefunded),
        PurchaseStatus::Disputed => return Err(ApiError::PurchaseDisputed),
    }
    // A wallet purchase is refunded to the wallet by the ledger alone.
    if purchase.payment_method == PaymentMethod::Card {
        state
            .payments
            .refund(
                &purchase.payment_id,
                purchase.price,
                &format!("refund:{}", purchase.id),
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "refund at the provider failed");
                ApiError::Unavailable
            })?;
    }
    let now = store::now();
    purchase.status = PurchaseStatus::Refunded;
    purchase.refunded_at = Some(now);
    let answer = serde_json::to_string(&PurchaseBody::from(&purchase))
        .map_err(|e| ApiError::Internal(e.into()))?;
    let record = idem
        .as_ref()
        .map(|i| i.record(StatusCode::OK, answer.clone()));
    match crate::flows::reverse_purchase(
        &state.store,
        &purchase,
        Reversal::Refund,
        state.config.fee_on_reversal,
        record,
        now,
    )
    .await?
    {
        Outcome::Applied => {
            metrics::counter!("ovation_refunds_total").increment(1);
            Ok(json_response(StatusCode::OK, answer))
        }
        Outcome::Duplicate(record) => Ok(replay(
            &record,
            &idem.map(|i| i.fingerprint().to_owned()).unwrap_or_default(),
        )),
        Outcome::Replayed | Outcome::Refused(Refusal::Status(RowRef::Purchase(_))) => {
            Err(ApiError::AlreadyRefunded)
        }
        Outcome::Refused(other) => Err(ApiError::Internal(anyhow::anyhow!(
            "refund of {} refused: {other:?}",
            purchase.id
        ))),
    }
}
