//! Card payments exactly once across the payment provider: no charge without a badge (or a
//! top-up), no badge without a charge.
//!
//! A card payment is recorded first, durably, as a [`PaymentAttempt`] under a provider
//! idempotency key derived from the caller and its `Idempotency-Key` ([`provider_key`]), with
//! the [`Order`] it pays for. Only then is the provider asked to charge, under that key: a
//! retry after a lost answer reaches the same charge. What the charge pays for is then booked
//! with the attempt marked `booked` in the same ledger batch, guarded by the status the
//! attempt was read in — so the request, the provider's webhook and the reconciler
//! ([`super::reconcile`]), whichever comes first, book it once. A charge whose booking the
//! ledger refuses (the live ended, a cap reached meanwhile) is refunded, and the attempt says
//! so.

use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use money::{Currency, Money};
use postings::rules;
use postings::{
    AttemptKind, AttemptStatus, Guard, IdempotencyRecord, Outcome, PaymentAttempt, PaymentMethod,
    Purchase, PurchaseId, PurchaseStatus, Refusal, RowRef, Topup, TopupId, TopupStatus, UserId,
    WriteJob, caps,
};
use serde::{Deserialize, Serialize};
use store::{Store, User};

use crate::bus::{Event, EventBus};
use crate::dto::PurchaseBody;
use crate::error::{ApiError, invalid};
use crate::extract::json_response;
use crate::payments::{ChargeRequest, PaymentError, PaymentProvider};
use crate::settings::Config;
use crate::state::ProgramCache;

use store::provider_key;

/// What a card payment books, kept in its attempt so that whoever settles the attempt books
/// the same thing, priced and split as the request was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Order {
    /// A badge.
    Purchase {
        /// The live.
        live_id: String,
        /// The buyer.
        viewer_id: String,
        /// The buyer's handle, for the live's `badge` event.
        viewer_handle: String,
        /// The live's creator.
        creator_id: String,
        /// 1, 2 or 3.
        tier: i64,
        /// ISO 4217.
        currency: String,
        /// The price, in minor units.
        price: i64,
        /// The creator's share.
        creator_share: i64,
        /// The platform's fee.
        platform_fee: i64,
        /// The processor's fee.
        processor_fee: i64,
        /// When the request was made (unix microseconds).
        created_at: i64,
    },
    /// A wallet top-up.
    Topup {
        /// The wallet's owner.
        user_id: String,
        /// ISO 4217.
        currency: String,
        /// Put in the wallet, in minor units.
        amount: i64,
        /// The processor's fee (the platform's cost).
        processor_fee: i64,
        /// When the request was made (unix microseconds).
        created_at: i64,
    },
}

fn corrupt(what: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("payment attempt: {what}"))
}

fn currency(code: &str) -> Result<Currency, ApiError> {
    Currency::parse(code).map_err(corrupt)
}

impl Order {
    /// The order of a validated purchase.
    pub fn of_purchase(p: &Purchase, viewer_handle: &str) -> Order {
        Order::Purchase {
            live_id: p.live_id.to_string(),
            viewer_id: p.viewer_id.to_string(),
            viewer_handle: viewer_handle.to_owned(),
            creator_id: p.creator_id.to_string(),
            tier: i64::from(p.tier.get()),
            currency: p.price.currency().code().to_owned(),
            price: p.price.amount(),
            creator_share: p.creator_share.amount(),
            platform_fee: p.platform_fee.amount(),
            processor_fee: p.processor_fee.amount(),
            created_at: postings::to_micros(p.created_at),
        }
    }

    /// The order of a validated top-up.
    pub fn of_topup(t: &Topup) -> Order {
        Order::Topup {
            user_id: t.user_id.to_string(),
            currency: t.amount.currency().code().to_owned(),
            amount: t.amount.amount(),
            processor_fee: t.processor_fee.amount(),
            created_at: postings::to_micros(t.created_at),
        }
    }

    /// What the attempt pays for.
    pub fn kind(&self) -> AttemptKind {
        match self {
            Order::Purchase { .. } => AttemptKind::Purchase,
            Order::Topup { .. } => AttemptKind::Topup,
        }
    }

    /// What the attempt records.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an order is plain JSON")
    }
}

/// The purchase `order` books as `id`, paid by `payment_id`.
fn purchase_of(order: &Order, id: &str, payment_id: &str) -> Result<Purchase, ApiError> {
    let Order::Purchase {
        live_id,
        viewer_id,
        creator_id,
        tier,
        currency: code,
        price,
        creator_share,
        platform_fee,
        processor_fee,
        created_at,
        ..
    } = order
    else {
        return Err(corrupt("not a purchase"));
    };
    let c = currency(code)?;
    Ok(Purchase {
        id: PurchaseId::from_string(id.to_owned()),
        live_id: postings::LiveId::from_string(live_id.clone()),
        viewer_id: UserId::from_string(viewer_id.clone()),
        creator_id: UserId::from_string(creator_id.clone()),
        tier: live::Tier::new(*tier).map_err(corrupt)?,
        price: Money::new(*price, c),
        creator_share: Money::new(*creator_share, c),
        platform_fee: Money::new(*platform_fee, c),
        processor_fee: Money::new(*processor_fee, c),
        match_amount: Money::zero(c),
        match_program: None,
        payment_method: PaymentMethod::Card,
        payment_id: payment_id.to_owned(),
        status: PurchaseStatus::Succeeded,
        created_at: postings::from_micros(*created_at),
        refunded_at: None,
    })
}

/// The top-up `order` books as `id`, paid by `payment_id`.
fn topup_of(order: &Order, id: &str, payment_id: &str) -> Result<Topup, ApiError> {
    let Order::Topup {
        user_id,
        currency: code,
        amount,
        processor_fee,
        created_at,
    } = order
    else {
        return Err(corrupt("not a top-up"));
    };
    let c = currency(code)?;
    Ok(Topup {
        id: TopupId::from_string(id.to_owned()),
        user_id: UserId::from_string(user_id.clone()),
        amount: Money::new(*amount, c),
        processor_fee: Money::new(*processor_fee, c),
        payment_id: payment_id.to_owned(),
        status: TopupStatus::Succeeded,
        created_at: postings::from_micros(*created_at),
    })
}

/// An answer to a card payment's request: its status and JSON body, and whether it is the
/// answer stored for an earlier request with the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: String,
    /// A stored answer, replayed.
    pub replayed: bool,
}

impl Answer {
    fn fresh(status: StatusCode, body: String) -> Answer {
        Answer {
            status,
            body,
            replayed: false,
        }
    }

    fn error(error: &ApiError) -> Answer {
        Answer::fresh(error.status_and_code().0, error.body_json())
    }

    fn replay(record: IdempotencyRecord) -> Answer {
        Answer {
            status: StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK),
            body: record.body,
            replayed: true,
        }
    }

    /// Whether what was paid for stands now (201, or 202 while the provider confirms).
    pub fn booked(&self) -> bool {
        self.status.is_success()
    }

    /// The HTTP response.
    pub fn response(self) -> Response {
        let mut response = json_response(self.status, self.body);
        if self.replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}

/// The answer stored under the attempt's caller key, with `status` and `body`.
fn record_of(
    attempt: &PaymentAttempt,
    status: StatusCode,
    body: &str,
) -> Option<IdempotencyRecord> {
    attempt
        .idempotency_key
        .as_ref()
        .map(|key| IdempotencyRecord {
            account_id: attempt.account_id.clone(),
            key: key.clone(),
            fingerprint: attempt.fingerprint.clone(),
            status: status.as_u16(),
            body: body.to_owned(),
        })
}

/// A new attempt to pay for `new`, not recorded yet, and the order it records (as made, so
/// that the one-step booking need not read it back from the attempt's JSON).
fn attempt_of(new: NewAttempt) -> (PaymentAttempt, Order) {
    let now = store::now();
    let attempt = PaymentAttempt {
        key: provider_key(&new.account_id, new.idempotency_key.as_deref()),
        kind: new.kind,
        reference: new.reference,
        account_id: new.account_id,
        idempotency_key: new.idempotency_key,
        fingerprint: new.fingerprint,
        order: new.order.to_json(),
        amount: new.amount,
        status: AttemptStatus::Pending,
        payment_id: None,
        created_at: now,
        updated_at: now,
    };
    (attempt, new.order)
}

/// The charge paying for `attempt`, under its provider key.
fn charge_request(
    attempt: &PaymentAttempt,
    payment_method: &str,
    description: &str,
) -> ChargeRequest {
    ChargeRequest {
        idempotency_key: attempt.key.clone(),
        amount: attempt.amount,
        payment_method: payment_method.to_owned(),
        description: description.to_owned(),
        reference: attempt.reference.clone(),
    }
}

/// A booking's answer, and what it books.
struct Booked {
    what: What,
    /// The 201's body.
    body: String,
}

/// What a booking books.
enum What {
    /// A purchase, with its answer and the buyer's handle (for its live's `badge` event).
    Purchase(Box<(Purchase, PurchaseBody, String)>),
    /// A wallet top-up.
    Topup(Topup),
}

/// The error a refused booking answers: the live ended or a cap was reached since the
/// request checked (anything else is a bug).
fn refused(booked: &Booked, refusal: Refusal) -> ApiError {
    match (&booked.what, refusal) {
        (What::Purchase(_), Refusal::Status(RowRef::Live(_))) => ApiError::LiveNotActive,
        (What::Purchase(p), Refusal::SpendingLimit) => ApiError::SpendingLimit(format!(
            "this {} badge would go over a spending limit",
            p.0.price
        )),
        (What::Purchase(p), other) => {
            ApiError::Internal(anyhow::anyhow!("purchase {} not booked: {other:?}", p.0.id))
        }
        (What::Topup(t), other) => {
            ApiError::Internal(anyhow::anyhow!("top-up {} not booked: {other:?}", t.id))
        }
    }
}

/// A booking's write that failed: when its commit is uncertain, the reconciler settles the
/// attempt (or finds nothing to settle: nothing of it committed), and the caller retries.
fn uncertain(attempt: &PaymentAttempt, e: store::StoreError) -> ApiError {
    if let store::StoreError::CommitUncertain = e {
        tracing::error!(attempt = %attempt.key, "booking commit uncertain: the reconciler settles it");
        return ApiError::Unavailable;
    }
    e.into()
}

/// What card payments are made and booked with.
#[derive(Clone, Copy)]
pub struct Checkout<'a> {
    /// The store.
    pub store: &'a Store,
    /// The provider that charges.
    pub provider: &'a dyn PaymentProvider,
    /// Fees, holds, caps.
    pub config: &'a Config,
    /// Where a booked badge is announced.
    pub bus: &'a dyn EventBus,
    /// The match programs.
    pub programs: &'a ProgramCache,
}

impl std::fmt::Debug for Checkout<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("provider", &self.provider.name())
            .finish_non_exhaustive()
    }
}

/// A new attempt's parts: who pays, under which key, for what.
#[derive(Debug, Clone)]
pub struct NewAttempt {
    /// What it pays for.
    pub kind: AttemptKind,
    /// The id the purchase or top-up will have.
    pub reference: String,
    /// The caller's idempotency scope.
    pub account_id: String,
    /// The caller's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// The request's fingerprint.
    pub fingerprint: String,
    /// What to book.
    pub order: Order,
    /// What to charge.
    pub amount: Money,
}

impl NewAttempt {
    /// The attempt of a request by `caller`, scoped to them, under its `Idempotency-Key` if
    /// it sent one, paying `amount` for `order`, to be booked as `reference`.
    pub(crate) fn of_request(
        caller: &User,
        idem: Option<&crate::idempotency::Idempotency>,
        reference: String,
        order: Order,
        amount: Money,
    ) -> NewAttempt {
        NewAttempt {
            kind: order.kind(),
            reference,
            account_id: caller.id.to_string(),
            idempotency_key: idem.map(|i| i.key().to_owned()),
            fingerprint: idem.map(|i| i.fingerprint().to_owned()).unwrap_or_default(),
            order,
            amount,
        }
    }
}

/// Counts a card declined by this very request (not a retry answered with its key's stored
/// answer) against the account's card-testing brake.
pub(crate) fn count_decline(state: &crate::state::AppState, user: &User, answer: &Answer) {
    if !answer.replayed && answer.status == StatusCode::PAYMENT_REQUIRED {
        state.limits.card_declined(user.id.as_str());
    }
}

impl Checkout<'_> {
    /// Pays for `new` with `payment_method` and books what it pays for: a card payment
    /// request's whole path, with the guards the request checked before the charge (a
    /// purchase's live and spending caps; none for a top-up).
    ///
    /// A provider whose records are the store's own charges a card that succeeds at once in
    /// the ledger job that books it ([`PaymentProvider::charge_with_booking`]): the attempt,
    /// the charge and the booking commit together, one write instead of three. Otherwise —
    /// and when the key's attempt is recorded already (a retry, a request still in flight) —
    /// the attempt is recorded first ([`Checkout::begin`]), then charged and booked
    /// ([`Checkout::pay`]).
    pub async fn buy(
        self,
        new: NewAttempt,
        payment_method: &str,
        description: &str,
        guards: Vec<Guard>,
    ) -> Result<Answer, ApiError> {
        let (attempt, order) = attempt_of(new);
        let request = charge_request(&attempt, payment_method, description);
        if let Some(charge) = self.provider.charge_with_booking(&request)
            && let Some(answer) = self
                .book_with_charge(&attempt, &order, &charge, guards.clone())
                .await?
        {
            return Ok(answer);
        }
        let attempt = self.record(attempt).await?;
        self.pay(&attempt, payment_method, description, guards)
            .await
    }

    /// Records the attempt before any charge, or finds the one an earlier request with the
    /// same key recorded (whose order, not this one's, is then what is charged and booked).
    pub async fn begin(self, new: NewAttempt) -> Result<PaymentAttempt, ApiError> {
        self.record(attempt_of(new).0).await
    }

    async fn record(self, attempt: PaymentAttempt) -> Result<PaymentAttempt, ApiError> {
        self.store
            .writer()
            .submit(rules::attempt_job(&attempt))
            .await?;
        let stored = self
            .store
            .attempt(&attempt.key)
            .await?
            .ok_or_else(|| corrupt(format!("{} not stored", attempt.key)))?;
        if stored.fingerprint != attempt.fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        Ok(stored)
    }

    /// Charges the recorded attempt's card under its provider key and books what it pays
    /// for, with the guards the request checked before the charge, so they are not read
    /// again. A lost answer or an unreachable provider is 503 with the attempt left pending
    /// (a retry, or the reconciler, settles it).
    pub async fn pay(
        self,
        attempt: &PaymentAttempt,
        payment_method: &str,
        description: &str,
        guards: Vec<Guard>,
    ) -> Result<Answer, ApiError> {
        if !attempt.status.unsettled() {
            return self.settled(attempt).await;
        }
        let request = charge_request(attempt, payment_method, description);
        match self.provider.charge(request).await {
            Ok(charge) if charge.processing => self.processing(attempt, &charge.id).await,
            Ok(charge) => self.book_with(attempt, &charge.id, Some(guards)).await,
            Err(PaymentError::Declined) => {
                metrics::counter!("ovation_payments_declined_total").increment(1);
                self.close(
                    attempt,
                    AttemptStatus::Declined,
                    None,
                    &ApiError::CardDeclined,
                )
                .await
            }
            Err(PaymentError::UnknownPaymentMethod(pm)) => {
                // Nothing was charged: the attempt ends here, and its 422 is the key's answer
                // (a retry with the key and this body gets it again; with another body, 409).
                let error = invalid(format!(
                    "payment_method {pm:?} is not a known payment method"
                ));
                self.close(attempt, AttemptStatus::Abandoned, None, &error)
                    .await
            }
            Err(PaymentError::Unavailable(why)) => {
                tracing::warn!(%why, attempt = %attempt.key, "payment provider unavailable or its answer lost: the attempt stays pending");
                Err(ApiError::Unavailable)
            }
        }
    }

    /// The provider has the payment pending: the attempt says so, and the request is
    /// answered 202 `processing` (not stored: a retry asks again, and the booking stores 201).
    async fn processing(
        self,
        attempt: &PaymentAttempt,
        payment_id: &str,
    ) -> Result<Answer, ApiError> {
        if attempt.status == AttemptStatus::Pending {
            let job = rules::attempt_settled_job(
                attempt,
                AttemptStatus::Processing,
                Some(payment_id.to_owned()),
                None,
                store::now(),
            );
            // Refused: settled meanwhile (the webhook booked it): say how.
            if let Outcome::Refused(_) = self.store.writer().submit(job).await? {
                return self.settled(attempt).await;
            }
        }
        let order: Order = serde_json::from_str(&attempt.order).map_err(corrupt)?;
        let mut body = match &order {
            Order::Purchase { .. } => serde_json::to_value(PurchaseBody::from(&purchase_of(
                &order,
                &attempt.reference,
                payment_id,
            )?)),
            Order::Topup { .. } => serde_json::to_value(crate::routes::wallet::topup_body(
                &topup_of(&order, &attempt.reference, payment_id)?,
            )),
        }
        .map_err(|e| ApiError::Internal(e.into()))?;
        body["status"] = serde_json::Value::from("processing");
        Ok(Answer::fresh(StatusCode::ACCEPTED, body.to_string()))
    }

    /// Books what a charged attempt pays for, once: the request's path after the charge, the
    /// provider's confirmation of a pending or unanswered payment, and the reconciler.
    pub async fn book(
        self,
        attempt: &PaymentAttempt,
        payment_id: &str,
    ) -> Result<Answer, ApiError> {
        self.book_with(attempt, payment_id, None).await
    }

    /// [`Checkout::book`], with a purchase's guards when the request checked them already
    /// (`None`: the live and the caps are read now).
    async fn book_with(
        self,
        attempt: &PaymentAttempt,
        payment_id: &str,
        checked: Option<Vec<Guard>>,
    ) -> Result<Answer, ApiError> {
        let order: Order = serde_json::from_str(&attempt.order).map_err(corrupt)?;
        let guards = match (checked, &order) {
            (Some(guards), _) => guards,
            (None, Order::Topup { .. }) => Vec::new(),
            (
                None,
                Order::Purchase {
                    live_id, viewer_id, ..
                },
            ) => {
                let mut guards = vec![Guard::live_active(&postings::LiveId::from_string(
                    live_id.clone(),
                ))];
                let viewer = UserId::from_string(viewer_id.clone());
                match self.cap_guards(&viewer, attempt.amount).await? {
                    Ok(caps) => guards.extend(caps),
                    Err(over) => return self.give_back(attempt, payment_id, &over).await,
                }
                guards
            }
        };
        let (job, booked) = self.booking(attempt, &order, payment_id, guards).await?;
        let job = rules::booked_with(job, attempt, payment_id, store::now());
        match self.store.writer().submit(job).await {
            Ok(Outcome::Applied) => Ok(self.booked(booked)),
            Ok(Outcome::Duplicate(record)) => Ok(Answer::replay(record)),
            Ok(Outcome::Refused(Refusal::Status(RowRef::Attempt(_))) | Outcome::Replayed) => {
                self.settled(attempt).await
            }
            Ok(Outcome::Refused(refusal)) => match refused(&booked, refusal) {
                // Charged and not booked: given back.
                error @ (ApiError::LiveNotActive | ApiError::SpendingLimit(_)) => {
                    self.give_back(attempt, payment_id, &error).await
                }
                error => Err(error),
            },
            Err(e) => Err(uncertain(attempt, e)),
        }
    }

    /// Books `attempt` — new, not recorded — with the provider's `charge` of it, in one
    /// ledger job that records both ([`rules::charged_with`]). `None` when an attempt has its
    /// key already: a retry, which goes the long way. A booking the ledger refuses (the live
    /// ended, a cap reached meanwhile) charged nothing: the refusal is the answer, stored
    /// nowhere, as a refusal before any charge. `order` is the attempt's, as made (not read
    /// back from its JSON).
    async fn book_with_charge(
        self,
        attempt: &PaymentAttempt,
        order: &Order,
        charge: &store::SandboxCharge,
        guards: Vec<Guard>,
    ) -> Result<Option<Answer>, ApiError> {
        let (job, booked) = self.booking(attempt, order, &charge.id, guards).await?;
        let job = rules::charged_with(job, attempt, charge, store::now());
        match self.store.writer().submit(job).await {
            Ok(Outcome::Applied) => {
                self.provider.charged_with_booking(charge);
                Ok(Some(self.booked(booked)))
            }
            // Another request with the key (on another node) was booked first.
            Ok(Outcome::Duplicate(record)) if record.fingerprint == attempt.fingerprint => {
                Ok(Some(Answer::replay(record)))
            }
            Ok(Outcome::Duplicate(_)) => Err(ApiError::IdempotencyKeyReused),
            Ok(Outcome::Refused(Refusal::Status(RowRef::Attempt(_)))) => Ok(None),
            Ok(Outcome::Refused(refusal)) => Err(refused(&booked, refusal)),
            Ok(Outcome::Replayed) => Err(corrupt(format!("{} replayed", attempt.key))),
            Err(e) => Err(uncertain(attempt, e)),
        }
    }

    /// The job booking `order` as `attempt`'s reference, paid by `payment_id`, with the
    /// answer stored under the attempt's key; and what to do once it is booked.
    async fn booking(
        self,
        attempt: &PaymentAttempt,
        order: &Order,
        payment_id: &str,
        guards: Vec<Guard>,
    ) -> Result<(WriteJob, Booked), ApiError> {
        let internal = |e: serde_json::Error| ApiError::Internal(e.into());
        match order {
            Order::Purchase { viewer_handle, .. } => {
                let purchase = purchase_of(order, &attempt.reference, payment_id)?;
                let matched = self.match_for(&purchase).await?;
                let answer = PurchaseBody::from(&purchase);
                let body = serde_json::to_string(&answer).map_err(internal)?;
                let job = rules::purchase_job(
                    &purchase,
                    self.config.hold_period,
                    matched,
                    guards,
                    record_of(attempt, StatusCode::CREATED, &body),
                );
                let what = What::Purchase(Box::new((purchase, answer, viewer_handle.clone())));
                Ok((job, Booked { what, body }))
            }
            Order::Topup { .. } => {
                let topup = topup_of(order, &attempt.reference, payment_id)?;
                let body = serde_json::to_string(&crate::routes::wallet::topup_body(&topup))
                    .map_err(internal)?;
                let job = rules::topup_job(&topup, record_of(attempt, StatusCode::CREATED, &body));
                Ok((
                    job,
                    Booked {
                        what: What::Topup(topup),
                        body,
                    },
                ))
            }
        }
    }

    /// The answer to a booking just committed, announced (a badge in its live) or counted.
    fn booked(self, booked: Booked) -> Answer {
        match &booked.what {
            What::Purchase(p) => {
                let (purchase, answer, viewer_handle) = &**p;
                self.announce(purchase, answer, viewer_handle);
            }
            What::Topup(_) => metrics::counter!("ovation_wallet_topups_total").increment(1),
        }
        Answer::fresh(StatusCode::CREATED, booked.body)
    }

    /// Counts a purchase just booked and announces it in its live (a `badge` event).
    pub(crate) fn announce(self, purchase: &Purchase, answer: &PurchaseBody, viewer_handle: &str) {
        let price = purchase.price;
        metrics::counter!("ovation_purchases_total", "tier" => purchase.tier.get().to_string(), "method" => purchase.payment_method.as_str())
            .increment(1);
        metrics::counter!("ovation_purchase_amount_minor_total", "currency" => price.currency().code())
            .increment(u64::try_from(price.amount()).unwrap_or(0));
        let public = crate::dto::BadgeEventPurchase::from(answer);
        let event = Event::Badge {
            purchase: &public,
            viewer_handle,
        };
        self.bus.publish(purchase.live_id.as_str(), event.encode());
    }

    /// A charge the ledger refused to book: refunded at the provider, then the attempt
    /// closed with the refusal as its answer.
    async fn give_back(
        self,
        attempt: &PaymentAttempt,
        payment_id: &str,
        error: &ApiError,
    ) -> Result<Answer, ApiError> {
        self.provider
            .refund(payment_id, attempt.amount, &format!("refund:{}", attempt.key))
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, attempt = %attempt.key, "refunding a charge that was not booked failed: the reconciler retries");
                ApiError::Unavailable
            })?;
        metrics::counter!("ovation_unbooked_charges_refunded_total").increment(1);
        self.close(
            attempt,
            AttemptStatus::Refunded,
            Some(payment_id.to_owned()),
            error,
        )
        .await
    }

    /// Closes the attempt without booking, storing `error` as the answer to its key.
    pub(crate) async fn close(
        self,
        attempt: &PaymentAttempt,
        status: AttemptStatus,
        payment_id: Option<String>,
        error: &ApiError,
    ) -> Result<Answer, ApiError> {
        let answer = Answer::error(error);
        let job = rules::attempt_settled_job(
            attempt,
            status,
            payment_id,
            record_of(attempt, answer.status, &answer.body),
            store::now(),
        );
        match self.store.writer().submit(job).await? {
            Outcome::Applied => Ok(answer),
            Outcome::Duplicate(record) => Ok(Answer::replay(record)),
            _ => self.settled(attempt).await,
        }
    }

    /// The answer of an attempt another request (or the webhook, or the reconciler) settled.
    async fn settled(self, attempt: &PaymentAttempt) -> Result<Answer, ApiError> {
        if let Some(key) = &attempt.idempotency_key
            && let Some(record) = self.store.idempotency(&attempt.account_id, key).await?
        {
            return Ok(Answer::replay(record));
        }
        let now = self
            .store
            .attempt(&attempt.key)
            .await?
            .ok_or_else(|| corrupt(format!("{} vanished", attempt.key)))?;
        match (now.status, now.kind) {
            (AttemptStatus::Booked, AttemptKind::Purchase) => {
                let purchase = self
                    .store
                    .purchase(&PurchaseId::from_string(now.reference.clone()))
                    .await?
                    .ok_or_else(|| corrupt(format!("{} booked without its purchase", now.key)))?;
                let body = serde_json::to_string(&PurchaseBody::from(&purchase))
                    .map_err(|e| ApiError::Internal(e.into()))?;
                Ok(Answer::fresh(StatusCode::CREATED, body))
            }
            (AttemptStatus::Booked, AttemptKind::Topup) => {
                let topup = self
                    .store
                    .topup(&TopupId::from_string(now.reference.clone()))
                    .await?
                    .ok_or_else(|| corrupt(format!("{} booked without its top-up", now.key)))?;
                let body = serde_json::to_string(&crate::routes::wallet::topup_body(&topup))
                    .map_err(|e| ApiError::Internal(e.into()))?;
                Ok(Answer::fresh(StatusCode::CREATED, body))
            }
            (AttemptStatus::Declined, _) => Ok(Answer::error(&ApiError::CardDeclined)),
            (AttemptStatus::Processing, _) if now.payment_id.is_some() => {
                Box::pin(self.processing(&now, now.payment_id.as_deref().unwrap_or_default())).await
            }
            // Refunded or abandoned without a stored answer, or still pending: ask again later.
            _ => Err(ApiError::Unavailable),
        }
    }

    /// The caps a purchase of `price` by `viewer` must stay within now, as ledger guards; a
    /// cap already reached is the refusal (`Err`).
    pub async fn cap_guards(
        self,
        viewer: &UserId,
        price: Money,
    ) -> Result<Result<Vec<Guard>, ApiError>, ApiError> {
        let Some(user) = self.store.user(viewer).await? else {
            return Ok(Ok(Vec::new()));
        };
        self.spending_guards(&user, price, store::now()).await
    }

    /// The caps a purchase of `price` by `user` must stay within: a minor's daily limit, the
    /// operator's daily and weekly caps, and the lower caps the buyer set. Each is checked
    /// here first (to refuse before charging a card) and again, exactly, in the ledger batch.
    pub async fn spending_guards(
        self,
        user: &User,
        price: Money,
        now: time::OffsetDateTime,
    ) -> Result<Result<Vec<Guard>, ApiError>, ApiError> {
        let currency = price.currency();
        let caps = caps_of(self.config, user, currency, now);
        let mut guards = Vec::new();
        for (period, since, limit) in caps.periods(now) {
            let spent = self.store.spent_since(&user.id, currency, since).await?;
            if caps::over_cap(spent, price, limit) {
                return Ok(Err(ApiError::SpendingLimit(caps::over_cap_message(
                    caps, period, limit, spent, price,
                ))));
            }
            guards.push(caps::cap_guard(&user.id, price, since, limit));
        }
        Ok(Ok(guards))
    }

    /// The match a purchase may get ([`rules::match_for`]) from the programs running now; the
    /// creator's country is read only when a program limits countries.
    pub async fn match_for(self, p: &Purchase) -> Result<Option<postings::Computed>, ApiError> {
        let programs = self.programs.get(self.store).await?;
        let country = if rules::match_needs_country(&programs, p) {
            self.store.user(&p.creator_id).await?.map(|u| u.country)
        } else {
            None
        };
        Ok(rules::match_for(&programs, p, country))
    }
}

/// The operator's caps from the configuration.
pub(crate) fn operator_caps(config: &Config) -> caps::OperatorCaps<'_> {
    caps::OperatorCaps {
        daily: &config.daily_spending_limit,
        weekly: &config.weekly_spending_limit,
        minors_daily: &config.minors_daily_limit,
        adult_age_years: config.eligibility.adult_age_years,
    }
}

/// `user`'s caps in `currency` now.
pub(crate) fn caps_of(
    config: &Config,
    user: &User,
    currency: Currency,
    now: time::OffsetDateTime,
) -> caps::Caps {
    let buyer = caps::Buyer {
        birth_date: user.birth_date,
        own_daily: user.own_daily_limit,
        own_weekly: user.own_weekly_limit,
    };
    caps::effective_caps(operator_caps(config), buyer, currency, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_books_the_purchase_it_was_made_from() {
        let p = Purchase {
            id: PurchaseId::from_string("pur_1".into()),
            live_id: postings::LiveId::from_string("liv_1".into()),
            viewer_id: UserId::from_string("usr_v".into()),
            creator_id: UserId::from_string("usr_c".into()),
            tier: live::Tier::new(2).expect("a tier"),
            price: Money::new(199, Currency::USD),
            creator_share: Money::new(150, Currency::USD),
            platform_fee: Money::new(20, Currency::USD),
            processor_fee: Money::new(29, Currency::USD),
            match_amount: Money::zero(Currency::USD),
            match_program: None,
            payment_method: PaymentMethod::Card,
            payment_id: "pi_1".into(),
            status: PurchaseStatus::Succeeded,
            created_at: postings::from_micros(1_700_000_000_000_000),
            refunded_at: None,
        };
        let order: Order =
            serde_json::from_str(&Order::of_purchase(&p, "bob").to_json()).expect("JSON");
        assert_eq!(purchase_of(&order, "pur_1", "pi_1").expect("a purchase"), p);
        assert!(topup_of(&order, "top_1", "pi_1").is_err());
    }
}
