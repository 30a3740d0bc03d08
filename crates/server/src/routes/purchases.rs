//! Badge purchases and refunds: the money path.
//!
//! A purchase is validated, then paid: by card through [`crate::flows::checkout`] (the payment
//! attempt recorded, the card charged under the attempt's provider key, the purchase booked
//! with the attempt settled), or from the wallet inside the ledger batch. The purchase row,
//! its balanced transfers and the stored idempotent answer commit together or not at all.
//! Only then is it answered and announced in the live.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use money::Money;
use postings::rules::{self, Reversal};
use postings::{
    Guard, IncomeSource, Outcome, PaymentMethod, Purchase, PurchaseId, PurchaseStatus, Refusal,
    RowRef, WriteJob,
};
use serde::Deserialize;
use store::User;
use utoipa::ToSchema;

use crate::dto::PurchaseBody;
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, Path, json_response, parse_json};
use crate::flows::checkout::{self, NewAttempt};
use crate::idempotency::{Idempotency, Keyed, replay};
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
        (status = 202, description = "the provider has not confirmed the payment yet: the purchase with `\"status\": \"processing\"`; the badge is granted when it confirms", body = PurchaseBody),
        (status = 402, description = "card_declined, insufficient_funds (wallet)", body = crate::error::ErrorBody),
        (status = 403, description = "self_purchase, country_not_supported, spending_limit, forbidden", body = crate::error::ErrorBody),
        (status = 409, description = "live_not_active, idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 429, description = "rate_limited: too many purchases, or too many declined cards (card testing); see Retry-After", body = crate::error::ErrorBody),
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
    // Read as the handlers below read it (a malformed body is refused there, with its key).
    let wallet =
        crate::extract::parse_json::<BuyBadge>(body).is_ok_and(|r| r.payment_method == "wallet");
    // Before the key is taken: a 429 is not stored as the key's answer.
    state.limits.purchase(user.id.as_str())?;
    if !wallet {
        state.limits.card_payment(user.id.as_str())?;
    }
    if wallet {
        let buy = |idem| wallet_purchase(&state, &user, id, body, idem);
        return request.once_in_batch(&state, user.id.as_str(), buy).await;
    }
    let buy = |idem| card_purchase(&state, &user, id, body, idem);
    request.once_charging(&state, user.id.as_str(), buy).await
}

/// A card purchase: validated, then paid and booked ([`crate::flows::checkout`]: the payment
/// attempt recorded, the card charged, the purchase booked), answered.
async fn card_purchase(
    state: &AppState,
    user: &User,
    live_id: String,
    body: &Bytes,
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let order = validate(state, user, live_id, body).await?;
    let p = &order.purchase;
    let attempt = NewAttempt::of_request(
        user,
        idem.as_ref(),
        p.id.to_string(),
        checkout::Order::of_purchase(p, &user.handle),
        p.price,
    );
    let description = format!("{}-heart badge in live {}", p.tier.hearts(), p.live_id);
    let answer = state
        .checkout()
        .buy(attempt, &order.payment_method, &description, order.guards)
        .await?;
    checkout::count_decline(state, user, &answer);
    Ok(answer.response())
}

/// A wallet purchase: validated, then booked (the wallet is debited in the batch).
async fn wallet_purchase(
    state: &AppState,
    user: &User,
    live_id: String,
    body: &Bytes,
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let order = validate(state, user, live_id, body).await?;
    book(state, user, order, idem).await
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
    guards.extend(state.checkout().spending_guards(user, price, now).await??);
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

/// Submits a wallet purchase's job ([`rules::purchase_job`]) and answers: 201 and a `badge`
/// event once it is committed.
async fn book(
    state: &AppState,
    user: &User,
    order: Order,
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let purchase = order.purchase;
    let price = purchase.price;
    let answer = PurchaseBody::from(&purchase);
    let answer_json = serde_json::to_string(&answer).map_err(|e| ApiError::Internal(e.into()))?;
    let matched = state.checkout().match_for(&purchase).await?;
    let job = rules::purchase_job(
        &purchase,
        state.config.hold_period,
        matched,
        order.guards,
        idem.as_ref()
            .map(|i| i.record(StatusCode::CREATED, answer_json.clone())),
    );
    match state.store.writer().submit(job).await? {
        Outcome::Applied => {
            state.checkout().announce(&purchase, &answer, &user.handle);
            Ok(json_response(StatusCode::CREATED, answer_json))
        }
        Outcome::Duplicate(record) => {
            let fingerprint = idem.map(|i| i.fingerprint().to_owned()).unwrap_or_default();
            Ok(replay(&record, &fingerprint))
        }
        Outcome::Refused(Refusal::Status(RowRef::Live(_))) => Err(ApiError::LiveNotActive),
        Outcome::Refused(Refusal::SpendingLimit) => Err(ApiError::SpendingLimit(format!(
            "this {price} badge would go over a spending limit"
        ))),
        // A wallet purchase's only account with a balance rule is the buyer's wallet.
        Outcome::Refused(Refusal::InsufficientFunds { .. }) => {
            let error = ApiError::InsufficientFunds(format!(
                "the wallet holds less than this badge's {price}"
            ));
            // Like a declined card, an empty wallet is an answer: the same key replays it.
            remember_refusal(state, idem.as_ref(), StatusCode::PAYMENT_REQUIRED, error).await
        }
        other => Err(ApiError::Internal(anyhow::anyhow!(
            "purchase {} not booked: {other:?}",
            answer.id
        ))),
    }
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

/// Refunds a purchase in full (admin).
#[utoipa::path(post, path = "/v1/purchases/{id}/refund", tag = "badges", params(("id" = String, Path)),
    responses((status = 200, body = PurchaseBody), (status = 404, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: only the platform (admin token) refunds", body = crate::error::ErrorBody),
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
    let now = store::now();
    purchase.status = PurchaseStatus::Refunded;
    purchase.refunded_at = Some(now);
    let answer = serde_json::to_string(&PurchaseBody::from(&purchase))
        .map_err(|e| ApiError::Internal(e.into()))?;
    let record = idem
        .as_ref()
        .map(|i| i.record(StatusCode::OK, answer.clone()));
    // The ledger decides first (a racing chargeback or refund wins there, once); then the
    // card is refunded at the provider. A refund the provider cannot make now is made by the
    // reconciler, which refunds every charge whose purchase no longer stands.
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
            // A wallet purchase is refunded to the wallet by the ledger alone.
            if purchase.payment_method == PaymentMethod::Card
                && let Err(e) = state
                    .payments
                    .refund(
                        &purchase.payment_id,
                        purchase.price,
                        &format!("refund:{}", purchase.id),
                    )
                    .await
            {
                tracing::warn!(error = %e, purchase = %purchase.id, "refund at the provider failed: the reconciler makes it");
            }
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
