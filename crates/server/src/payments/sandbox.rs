//! The `sandbox` provider, which behaves like a card processor's test mode: test payment
//! method ids that succeed, decline, are disputed later, lose their answer
//! (`pm_card_lostAnswer`) or stay pending a moment (`pm_card_processing`), followed by the
//! events a processor sends (Stripe's), which `serve` applies in the process with retries
//! through the same code as a webhook's. Its charges are kept in its own table, so they
//! outlive the process; a card that succeeds at once is charged in the ledger job that books
//! it ([`PaymentProvider::charge_with_booking`]), the others by [`PaymentProvider::charge`].

use std::time::{Duration, Instant};

use money::Money;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use store::{SandboxCharge, Store};

use super::outbox::{Outbox, Outgoing, Undelivered};
use super::{
    Charge, ChargePage, ChargeRequest, ChargeState, PaymentError, PaymentProvider, PayoutError,
    PayoutRequest, ProviderCharge,
};

/// How long after the charge the sandbox sends its webhook by default, like a processor's
/// own delay: by then the purchase is booked, and the event is recognised as already applied.
/// A `pm_card_processing` charge succeeds after the same delay.
pub const SANDBOX_WEBHOOK_DELAY: Duration = Duration::from_millis(500);

/// Charges listed per page for the reconciler.
const CHARGES_PAGE: u32 = 500;

/// Most webhooks waiting to be sent; more are dropped (with a warning): the reconciler
/// finds what they would have told.
const SANDBOX_OUTBOX_MAX: usize = 65_536;

/// The sandbox's test payment methods the pages offer, with what each does.
pub const SANDBOX_METHODS: [(&str, &str); 3] = [
    ("pm_card_visa", "Test card: succeeds (pm_card_visa)"),
    (
        "pm_card_chargeDeclined",
        "Test card: declined (pm_card_chargeDeclined)",
    ),
    (
        "pm_card_createDispute",
        "Test card: disputed later (pm_card_createDispute)",
    ),
];

/// Every payment method the sandbox knows (Stripe's test methods of the same names); any
/// other is 422.
pub const SANDBOX_PAYMENT_METHODS: [&str; 10] = [
    "pm_card_visa",
    "pm_card_mastercard",
    "pm_card_amex",
    "pm_card_visa_debit",
    "pm_card_createDispute",
    "pm_card_lostAnswer",
    "pm_card_processing",
    "pm_card_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_chargeDeclinedExpiredCard",
];

/// What a test payment method does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Succeeds,
    Disputed,
    /// Charged, but the first answer under its key never reaches the caller.
    LostAnswer,
    /// Pending; succeeds after the sandbox's delay.
    Processing,
    Declined,
}

fn method(payment_method: &str) -> Option<Method> {
    Some(match payment_method {
        "pm_card_visa" | "pm_card_mastercard" | "pm_card_amex" | "pm_card_visa_debit" => {
            Method::Succeeds
        }
        "pm_card_createDispute" => Method::Disputed,
        "pm_card_lostAnswer" => Method::LostAnswer,
        "pm_card_processing" => Method::Processing,
        "pm_card_chargeDeclined"
        | "pm_card_chargeDeclinedInsufficientFunds"
        | "pm_card_chargeDeclinedExpiredCard" => Method::Declined,
        _ => return None,
    })
}

/// Records written in one commit, at most.
const RECORDS_PER_COMMIT: usize = 512;

/// A record to write, and who waits for what was stored.
type Request<T, R> = (T, tokio::sync::oneshot::Sender<Result<R, String>>);

/// Writes the records of concurrent requests together, one commit per group with `write` (as
/// the ledger's writer does): one commit per charge or payout would cost each a disk flush of
/// its own, fighting the ledger's writer for SQLite's write lock.
fn grouped<T, R, F, Fut>(write: F) -> mpsc::Sender<Request<T, R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<Vec<R>, store::StoreError>> + Send,
{
    let (tx, mut rx) = mpsc::channel::<Request<T, R>>(RECORDS_PER_COMMIT * 4);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut group = vec![first];
            while group.len() < RECORDS_PER_COMMIT {
                match rx.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            let (records, replies): (Vec<T>, Vec<_>) = group.into_iter().unzip();
            match write(records).await {
                Ok(stored) => {
                    for (reply, record) in replies.into_iter().zip(stored) {
                        let _ = reply.send(Ok(record));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
        }
    });
    tx
}

/// Sends `record` to a group writer and waits for what was stored.
async fn write_grouped<T, R>(writer: &mpsc::Sender<Request<T, R>>, record: T) -> Result<R, String> {
    let (reply, stored) = tokio::sync::oneshot::channel();
    writer
        .send((record, reply))
        .await
        .map_err(|_| "the sandbox is stopping".to_owned())?;
    stored
        .await
        .map_err(|_| "the sandbox is stopping".to_owned())?
}

/// The group writer of charges.
fn charge_writer(store: Store) -> mpsc::Sender<Request<SandboxCharge, SandboxCharge>> {
    grouped(move |charges: Vec<SandboxCharge>| {
        let store = store.clone();
        async move { store.sandbox_charges_insert(&charges).await }
    })
}

/// The group writer of payout ids claimed under their keys.
fn payout_writer(store: Store) -> mpsc::Sender<Request<(String, String), (String, bool)>> {
    grouped(move |claims: Vec<(String, String)>| {
        let store = store.clone();
        async move { store.sandbox_payouts_claim(&claims).await }
    })
}

/// The default provider: Stripe's test payment methods, with the charges kept in the
/// sandbox's own table (`sandbox_charges`) of the store's database, as a processor keeps its
/// records: they survive a restart of Ovation.
#[derive(Debug)]
pub struct Sandbox {
    store: Store,
    charges: mpsc::Sender<Request<SandboxCharge, SandboxCharge>>,
    payouts: mpsc::Sender<Request<(String, String), (String, bool)>>,
    outbox: Option<mpsc::Sender<Outgoing>>,
    /// How long after the fact a webhook is sent (and a processing charge succeeds).
    delay: Duration,
    /// Webhooks queued or being delivered.
    undelivered: Undelivered,
    /// Charges a card that succeeds with its booking ([`PaymentProvider::charge_with_booking`]).
    with_booking: bool,
}

fn unavailable(e: impl std::fmt::Display) -> PaymentError {
    PaymentError::Unavailable(format!("the sandbox's records: {e}"))
}

impl Sandbox {
    /// A sandbox on `store` that sends no webhooks.
    pub fn new(store: Store) -> Sandbox {
        Sandbox {
            charges: charge_writer(store.clone()),
            payouts: payout_writer(store.clone()),
            store,
            outbox: None,
            delay: SANDBOX_WEBHOOK_DELAY,
            undelivered: Undelivered::default(),
            with_booking: true,
        }
    }

    /// This sandbox, charging every card first and leaving the booking to follow, as a
    /// remote processor does (none of its charges is written with its booking).
    pub fn charging_first(self) -> Sandbox {
        Sandbox {
            with_booking: false,
            ..self
        }
    }

    /// A sandbox on `store` whose webhooks come out of the outbox, for the caller to deliver.
    pub fn with_webhooks(store: Store, delay: Duration) -> (Sandbox, Outbox) {
        let (tx, receiver) = mpsc::channel(SANDBOX_OUTBOX_MAX);
        let undelivered = Undelivered::default();
        (
            Sandbox {
                charges: charge_writer(store.clone()),
                payouts: payout_writer(store.clone()),
                store,
                outbox: Some(tx),
                delay,
                undelivered: undelivered.clone(),
                with_booking: true,
            },
            Outbox {
                receiver,
                undelivered,
            },
        )
    }

    /// Queues a Stripe-shaped event about `object`, sent after `delay`.
    fn send(&self, kind: &str, object: Value, delay: Duration) {
        self.send_on(None, kind, object, delay);
    }

    /// The same, about an object of connected account `account` (Stripe's `account` on
    /// Connect events), if any.
    fn send_on(&self, account: Option<&str>, kind: &str, object: Value, delay: Duration) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        let mut data = serde_json::Map::new();
        data.insert("object".into(), object);
        let mut event = json!({
            "id": format!("evt_{}", uuid::Uuid::now_v7().simple()),
            "object": "event",
            "type": kind,
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "livemode": false,
            "data": Value::Object(data),
        });
        if let Some(account) = account {
            event["account"] = json!(account);
        }
        let outgoing = Outgoing {
            due: Instant::now() + delay,
            event,
        };
        self.undelivered.add();
        if outbox.try_send(outgoing).is_err() {
            self.undelivered.done();
            metrics::counter!("ovation_sandbox_webhooks_dropped_total").increment(1);
            tracing::warn!(kind, "sandbox webhook outbox full: event dropped");
        }
    }

    /// `payment_intent.succeeded` for `charge`.
    fn send_succeeded(&self, charge: &SandboxCharge, delay: Duration) {
        self.send(
            "payment_intent.succeeded",
            json!({
                "id": charge.id, "object": "payment_intent", "status": "succeeded",
                "amount": charge.amount.amount(),
                "currency": charge.amount.currency().code().to_ascii_lowercase(),
                "metadata": {"ovation_reference": charge.reference},
            }),
            delay,
        );
    }

    /// The webhooks that follow a new charge: `payment_intent.succeeded` (for a processing
    /// one, when it succeeds), and a dispute for `pm_card_createDispute`'s.
    fn charged(&self, charge: &SandboxCharge) {
        if charge.status != "processing" {
            self.send_succeeded(charge, self.delay);
        }
        self.disputed(charge);
    }

    /// `charge.dispute.created` for a charge of `pm_card_createDispute`.
    fn disputed(&self, charge: &SandboxCharge) {
        if charge.status == "disputed" {
            let amount = charge.amount.amount();
            let currency = charge.amount.currency().code().to_ascii_lowercase();
            self.send(
                "charge.dispute.created",
                json!({
                    "id": format!("dp_{}", charge.id.trim_start_matches("pi_")),
                    "object": "dispute", "status": "needs_response", "reason": "fraudulent",
                    "charge": format!("ch_{}", charge.id.trim_start_matches("pi_")),
                    "payment_intent": charge.id, "amount": amount, "currency": currency,
                }),
                self.delay,
            );
        }
    }

    /// A processing charge whose delay has passed succeeds (once, whoever sees it first).
    async fn settle_processing(
        &self,
        charge: SandboxCharge,
    ) -> Result<SandboxCharge, PaymentError> {
        if charge.status != "processing"
            || time::OffsetDateTime::now_utc() - charge.created_at < self.delay
        {
            return Ok(charge);
        }
        let now = store::now();
        if self
            .store
            .sandbox_charge_set(&charge.id, "processing", "succeeded", charge.answered, now)
            .await
            .map_err(unavailable)?
        {
            let charge = SandboxCharge {
                status: "succeeded".into(),
                updated_at: now,
                ..charge
            };
            self.send_succeeded(&charge, Duration::ZERO);
            return Ok(charge);
        }
        self.store
            .sandbox_charge(&charge.id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| PaymentError::Unavailable("a sandbox charge vanished".into()))
    }

    /// Makes every processing charge whose delay has passed succeed: run every delay by
    /// `serve`; the reconciler's look-ups settle them too.
    pub async fn settle_due(&self) -> Result<(), PaymentError> {
        loop {
            let due = self
                .store
                .sandbox_processing(time::OffsetDateTime::now_utc() - self.delay, 500)
                .await
                .map_err(unavailable)?;
            let n = due.len();
            for charge in due {
                self.settle_processing(charge).await?;
            }
            if n < 500 {
                return Ok(());
            }
        }
    }

    /// How often [`Sandbox::settle_due`] should run.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    fn as_provider_charge(charge: &SandboxCharge) -> ProviderCharge {
        ProviderCharge {
            id: charge.id.clone(),
            amount: charge.amount,
            state: match charge.status.as_str() {
                "processing" => ChargeState::Processing,
                "refunded" => ChargeState::Refunded,
                "disputed" => ChargeState::Disputed,
                _ => ChargeState::Succeeded,
            },
            reference: Some(charge.reference.clone()),
            created: charge.created_at,
        }
    }
}

/// A new charge of `request` by a card that does `method` (not declined).
fn new_charge(request: &ChargeRequest, method: Method) -> SandboxCharge {
    let now = store::now();
    SandboxCharge {
        id: format!("pi_{}", uuid::Uuid::now_v7().simple()),
        idempotency_key: request.idempotency_key.clone(),
        amount: request.amount,
        payment_method: request.payment_method.clone(),
        status: match method {
            Method::Processing => "processing",
            // Stripe's test card whose payment succeeds and is then disputed.
            Method::Disputed => "disputed",
            _ => "succeeded",
        }
        .into(),
        reference: request.reference.clone(),
        answered: method != Method::LostAnswer,
        created_at: now,
        updated_at: now,
    }
}

/// The answer a stored charge gives.
fn answer_of(charge: &SandboxCharge) -> Charge {
    Charge {
        id: charge.id.clone(),
        processing: charge.status == "processing",
    }
}

#[async_trait::async_trait]
impl PaymentProvider for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        let method = method(&request.payment_method)
            .ok_or_else(|| PaymentError::UnknownPaymentMethod(request.payment_method.clone()))?;
        if method == Method::Declined {
            return Err(PaymentError::Declined);
        }
        let fresh = new_charge(&request, method);
        let charge = write_grouped(&self.charges, fresh.clone())
            .await
            .map_err(unavailable)?;
        if charge.id != fresh.id {
            // A charge under this key exists (a retry's, or a concurrent call's): its answer
            // is this one's, and now it has reached the caller.
            let charge = self.settle_processing(charge).await?;
            if !charge.answered {
                self.store
                    .sandbox_charge_set(
                        &charge.id,
                        &charge.status,
                        &charge.status,
                        true,
                        store::now(),
                    )
                    .await
                    .map_err(unavailable)?;
            }
            return Ok(answer_of(&charge));
        }
        self.charged(&charge);
        if method == Method::LostAnswer {
            return Err(PaymentError::Unavailable(
                "the sandbox charged pm_card_lostAnswer and lost its answer".into(),
            ));
        }
        Ok(answer_of(&charge))
    }

    fn charge_with_booking(&self, request: &ChargeRequest) -> Option<SandboxCharge> {
        // A card that succeeds (or succeeds and is disputed later) is charged with its
        // booking; the others' outcomes (declined, pending, a lost answer) go the long way.
        let method = method(&request.payment_method)?;
        (self.with_booking && matches!(method, Method::Succeeds | Method::Disputed))
            .then(|| new_charge(request, method))
    }

    fn charged_with_booking(&self, charge: &SandboxCharge) {
        // Booked in the commit that recorded the charge: its `payment_intent.succeeded` would
        // find it booked and change nothing (two reads per card purchase for nothing), so
        // none is sent. A dispute still follows.
        self.disputed(charge);
    }

    async fn refund(
        &self,
        payment_id: &str,
        amount: Money,
        _key: &str,
    ) -> Result<String, PaymentError> {
        let charge = self
            .store
            .sandbox_charge(payment_id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| PaymentError::Unavailable(format!("no sandbox charge {payment_id}")))?;
        let charge = self.settle_processing(charge).await?;
        let id = payment_id.trim_start_matches("pi_");
        let moved = self
            .store
            .sandbox_charge_set(
                payment_id,
                "succeeded",
                "refunded",
                charge.answered,
                store::now(),
            )
            .await
            .map_err(unavailable)?;
        if moved {
            self.send(
                "charge.refunded",
                json!({
                    "id": format!("ch_{id}"), "object": "charge", "payment_intent": payment_id,
                    "amount": amount.amount(), "amount_refunded": amount.amount(), "refunded": true,
                    "currency": amount.currency().code().to_ascii_lowercase(),
                }),
                self.delay,
            );
        } else {
            // Refunded meanwhile by a concurrent call, or disputed: the buyer's bank has taken
            // the money back already, so there is nothing left to give back.
            let now = self
                .store
                .sandbox_charge(payment_id)
                .await
                .map_err(unavailable)?
                .map(|c| c.status);
            if !matches!(now.as_deref(), Some("refunded" | "disputed")) {
                return Err(PaymentError::Unavailable(format!(
                    "sandbox charge {payment_id} is {} and cannot be refunded",
                    now.as_deref().unwrap_or("missing")
                )));
            }
        }
        Ok(format!("re_{id}"))
    }

    async fn find_charge(
        &self,
        idempotency_key: &str,
        _reference: &str,
    ) -> Result<Option<ProviderCharge>, PaymentError> {
        let Some(charge) = self
            .store
            .sandbox_charge_by_key(idempotency_key)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let charge = self.settle_processing(charge).await?;
        Ok(Some(Sandbox::as_provider_charge(&charge)))
    }

    async fn charges_since(
        &self,
        since: time::OffsetDateTime,
        after: Option<&str>,
    ) -> Result<ChargePage, PaymentError> {
        // The cursor is the last charge's `<created, unix µs>/<id>`: the page starts there,
        // through the index on (created_at, id), not at the table's first charge.
        let after = after.and_then(|cursor| {
            let (at, id) = cursor.split_once('/')?;
            Some((postings::from_micros(at.parse().ok()?), id))
        });
        let page = self
            .store
            .sandbox_charges_since(since, after, CHARGES_PAGE)
            .await
            .map_err(unavailable)?;
        let next = (page.len() == CHARGES_PAGE as usize)
            .then(|| page.last())
            .flatten()
            .map(|c| format!("{}/{}", postings::to_micros(c.created_at), c.id));
        let mut charges = Vec::with_capacity(page.len());
        for charge in page {
            let charge = self.settle_processing(charge).await?;
            charges.push(Sandbox::as_provider_charge(&charge));
        }
        Ok(ChargePage { charges, next })
    }

    async fn payout(&self, request: PayoutRequest) -> Result<String, PayoutError> {
        // The payout under this key, kept in the sandbox's records (a restart keeps it).
        let fresh = format!("po_{}", uuid::Uuid::now_v7().simple());
        let (id, new) = write_grouped(&self.payouts, (request.idempotency_key.clone(), fresh))
            .await
            .map_err(|e| PayoutError::Unavailable(format!("the sandbox's records: {e}")))?;
        if new {
            // Paid on the creator's payout account, when the platform set one, as Stripe
            // Connect pays from a connected account.
            self.send_on(
                request.destination.as_deref(),
                "payout.paid",
                json!({
                    "id": id, "object": "payout", "status": "paid",
                    "amount": request.amount.amount(),
                    "currency": request.amount.currency().code().to_ascii_lowercase(),
                    "metadata": {"ovation_payout": request.idempotency_key, "ovation_creator": request.creator},
                }),
                self.delay,
            );
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use money::Currency;

    #[test]
    fn every_listed_payment_method_is_known_and_no_other() {
        for pm in SANDBOX_PAYMENT_METHODS {
            assert!(method(pm).is_some(), "{pm}");
        }
        for (pm, _) in SANDBOX_METHODS {
            assert!(SANDBOX_PAYMENT_METHODS.contains(&pm), "{pm}");
        }
        assert!(method("pm_card_unknown").is_none());
    }

    fn request(key: &str, pm: &str) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: key.into(),
            amount: Money::new(199, Currency::USD),
            payment_method: pm.into(),
            description: "test".into(),
            reference: "pur_test".into(),
        }
    }

    /// A store of its own, in a temporary directory that lives as long as the test.
    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open(&store::StoreConfig {
            database_url: format!("sqlite://{}", dir.path().join("sandbox.db").display()),
            pool_size: 2,
            writer: store::WriterConfig::default(),
        })
        .await
        .expect("the store opens");
        (dir, store)
    }

    #[tokio::test]
    async fn visa_succeeds_and_the_declined_card_declines() {
        let (_dir, store) = store().await;
        let sandbox = Sandbox::new(store);
        assert!(sandbox.charge(request("a", "pm_card_visa")).await.is_ok());
        assert_eq!(
            sandbox.charge(request("b", "pm_card_chargeDeclined")).await,
            Err(PaymentError::Declined)
        );
        assert!(matches!(
            sandbox.charge(request("c", "pm_nope")).await,
            Err(PaymentError::UnknownPaymentMethod(_))
        ));
    }

    #[tokio::test]
    async fn a_charge_is_followed_by_its_webhooks() {
        let (_dir, store) = store().await;
        let (sandbox, mut outbox) = Sandbox::with_webhooks(store, SANDBOX_WEBHOOK_DELAY);
        let charge = sandbox
            .charge(request("d", "pm_card_createDispute"))
            .await
            .expect("succeeds");
        let first = outbox.receiver.recv().await.expect("an event");
        assert_eq!(first.event["type"], "payment_intent.succeeded");
        assert_eq!(first.event["data"]["object"]["id"], charge.id.as_str());
        assert_eq!(
            first.event["data"]["object"]["metadata"]["ovation_reference"],
            "pur_test"
        );
        let second = outbox.receiver.recv().await.expect("an event");
        assert_eq!(second.event["type"], "charge.dispute.created");
        assert_eq!(
            second.event["data"]["object"]["payment_intent"],
            charge.id.as_str()
        );
        assert!(second.due >= first.due);
        // A decline sends nothing.
        let _ = sandbox.charge(request("e", "pm_card_chargeDeclined")).await;
        assert!(outbox.receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_charge_booked_with_its_booking_sends_no_confirmation_but_its_dispute() {
        let (_dir, store) = store().await;
        let (sandbox, mut outbox) = Sandbox::with_webhooks(store, SANDBOX_WEBHOOK_DELAY);
        let visa = sandbox
            .charge_with_booking(&request("f", "pm_card_visa"))
            .expect("charged with its booking");
        sandbox.charged_with_booking(&visa);
        assert!(outbox.receiver.try_recv().is_err());
        let disputed = sandbox
            .charge_with_booking(&request("g", "pm_card_createDispute"))
            .expect("charged with its booking");
        sandbox.charged_with_booking(&disputed);
        let event = outbox.receiver.recv().await.expect("an event");
        assert_eq!(event.event["type"], "charge.dispute.created");
        assert_eq!(
            event.event["data"]["object"]["payment_intent"],
            disputed.id.as_str()
        );
        assert!(outbox.receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_payout_to_a_payout_account_is_paid_on_that_account_and_once_per_key() {
        let (_dir, store) = store().await;
        let (sandbox, mut outbox) = Sandbox::with_webhooks(store, SANDBOX_WEBHOOK_DELAY);
        let payout = |key: &str, destination: Option<&str>| PayoutRequest {
            idempotency_key: key.into(),
            amount: Money::new(1_000, Currency::USD),
            creator: "acc_1".into(),
            destination: destination.map(str::to_owned),
            resend: false,
        };
        let id = sandbox
            .payout(payout("pay_1", Some("acct_1")))
            .await
            .expect("pays");
        let again = sandbox
            .payout(payout("pay_1", Some("acct_1")))
            .await
            .expect("pays");
        assert_eq!(id, again);
        let paid = outbox.receiver.recv().await.expect("an event");
        assert_eq!(paid.event["type"], "payout.paid");
        assert_eq!(paid.event["account"], "acct_1");
        assert_eq!(paid.event["data"]["object"]["id"], id.as_str());
        assert_eq!(
            paid.event["data"]["object"]["metadata"]["ovation_payout"],
            "pay_1"
        );
        // Without a payout account, the platform's own: no account on the event.
        sandbox.payout(payout("pay_2", None)).await.expect("pays");
        let own = outbox.receiver.recv().await.expect("an event");
        assert!(own.event.get("account").is_none(), "{}", own.event);
        assert!(outbox.receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn the_same_key_gives_the_same_charge_even_after_a_restart() {
        let (_dir, store) = store().await;
        let first = Sandbox::new(store.clone())
            .charge(request("k", "pm_card_visa"))
            .await;
        let second = Sandbox::new(store.clone())
            .charge(request("k", "pm_card_visa"))
            .await;
        assert_eq!(first, second);
        let page = store.sandbox_charges(None, 10).await.expect("reads");
        assert_eq!(page.data.len(), 1);
    }

    #[tokio::test]
    async fn a_lost_answer_charges_once_and_the_retry_gets_the_charge() {
        let (_dir, store) = store().await;
        let sandbox = Sandbox::new(store.clone());
        assert!(matches!(
            sandbox.charge(request("l", "pm_card_lostAnswer")).await,
            Err(PaymentError::Unavailable(_))
        ));
        let retry = sandbox
            .charge(request("l", "pm_card_lostAnswer"))
            .await
            .expect("the retry gets the charge");
        assert!(!retry.processing);
        let found = sandbox
            .find_charge("l", "pur_test")
            .await
            .expect("reads")
            .expect("the charge");
        assert_eq!((found.id, found.state), (retry.id, ChargeState::Succeeded));
        assert_eq!(
            store
                .sandbox_charges(None, 10)
                .await
                .expect("reads")
                .data
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn a_processing_charge_succeeds_after_the_delay() {
        let (_dir, store) = store().await;
        let (sandbox, mut outbox) = Sandbox::with_webhooks(store, Duration::from_millis(50));
        let charge = sandbox
            .charge(request("p", "pm_card_processing"))
            .await
            .expect("accepted");
        assert!(charge.processing);
        assert!(outbox.receiver.try_recv().is_err());
        tokio::time::sleep(Duration::from_millis(60)).await;
        sandbox.settle_due().await.expect("settles");
        let event = outbox.receiver.recv().await.expect("an event");
        assert_eq!(event.event["type"], "payment_intent.succeeded");
        let found = sandbox
            .find_charge("p", "pur_test")
            .await
            .expect("reads")
            .expect("the charge");
        assert_eq!(found.state, ChargeState::Succeeded);
    }

    #[tokio::test]
    async fn a_payout_sent_again_after_a_restart_is_the_same_payout() {
        let (_dir, store) = store().await;
        let payout = |key: &str| PayoutRequest {
            idempotency_key: key.into(),
            amount: Money::new(10_000, Currency::USD),
            creator: "acc_1".into(),
            destination: None,
            resend: false,
        };
        let first = Sandbox::new(store.clone())
            .payout(payout("pay_1"))
            .await
            .expect("paid");
        let again = Sandbox::new(store.clone())
            .payout(payout("pay_1"))
            .await
            .expect("paid");
        assert_eq!(first, again);
        let other = Sandbox::new(store)
            .payout(payout("pay_2"))
            .await
            .expect("paid");
        assert_ne!(first, other);
    }

    #[tokio::test]
    async fn a_refund_is_made_once() {
        let (_dir, store) = store().await;
        let sandbox = Sandbox::new(store.clone());
        let charge = sandbox
            .charge(request("r", "pm_card_visa"))
            .await
            .expect("succeeds");
        let amount = Money::new(199, Currency::USD);
        sandbox
            .refund(&charge.id, amount, "x")
            .await
            .expect("refunds");
        sandbox
            .refund(&charge.id, amount, "x")
            .await
            .expect("again: nothing more");
        let stored = store
            .sandbox_charge(&charge.id)
            .await
            .expect("reads")
            .expect("kept");
        assert_eq!(stored.status, "refunded");
    }
}
