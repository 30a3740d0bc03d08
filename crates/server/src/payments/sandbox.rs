//! The `sandbox` provider, which behaves like a card processor's test mode: test payment
//! method ids that succeed or decline while the request waits, followed by the signed
//! webhooks a processor sends (Stripe's events), delivered through the server's own
//! `POST /v1/webhooks/payments` with retries, so that the sandbox exercises the real webhook
//! path.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use money::Money;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::outbox::{Outbox, Outgoing, Undelivered};
use super::{Charge, ChargeRequest, PaymentError, PaymentProvider, PayoutError, PayoutRequest};

/// Most idempotency answers the sandbox remembers.
const SANDBOX_KEYS_MAX: usize = 200_000;

/// Remembered answers by idempotency key, and the keys oldest first.
type Answers = (
    HashMap<String, Result<Charge, PaymentError>>,
    VecDeque<String>,
);

/// How long after the charge the sandbox sends its webhook by default, like a processor's
/// own delay: by then the purchase is booked, and the event is recognised as already applied.
pub const SANDBOX_WEBHOOK_DELAY: Duration = Duration::from_millis(500);

/// Most webhooks waiting to be sent; more are dropped (with a warning): they only confirm.
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

/// The default provider: Stripe's test payment methods, answered in memory.
#[derive(Debug, Default)]
pub struct Sandbox {
    answers: Mutex<Answers>,
    payouts: Mutex<HashMap<String, String>>,
    outbox: Option<mpsc::Sender<Outgoing>>,
    /// How long after the fact a webhook is sent.
    delay: Duration,
    /// Webhooks queued or being delivered.
    undelivered: Undelivered,
}

impl Sandbox {
    /// A fresh sandbox that sends no webhooks.
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    /// A sandbox whose webhooks come out of the outbox, for the caller to deliver.
    pub fn with_webhooks(delay: Duration) -> (Sandbox, Outbox) {
        let (tx, receiver) = mpsc::channel(SANDBOX_OUTBOX_MAX);
        let undelivered = Undelivered::default();
        (
            Sandbox {
                answers: Mutex::default(),
                payouts: Mutex::default(),
                outbox: Some(tx),
                delay,
                undelivered: undelivered.clone(),
            },
            Outbox {
                receiver,
                undelivered,
            },
        )
    }

    /// Queues a Stripe-shaped event about `object`.
    fn send(&self, kind: &str, object: Value) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        let mut data = serde_json::Map::new();
        data.insert("object".into(), object);
        let event = json!({
            "id": format!("evt_{}", uuid::Uuid::now_v7().simple()),
            "object": "event",
            "type": kind,
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "livemode": false,
            "data": Value::Object(data),
        });
        let outgoing = Outgoing {
            due: Instant::now() + self.delay,
            event,
        };
        self.undelivered.add();
        if outbox.try_send(outgoing).is_err() {
            self.undelivered.done();
            metrics::counter!("ovation_sandbox_webhooks_dropped_total").increment(1);
            tracing::warn!(kind, "sandbox webhook outbox full: event dropped");
        }
    }

    fn remember(&self, key: &str, answer: &Result<Charge, PaymentError>) {
        let mut guard = self.answers.lock().expect("sandbox lock is never poisoned");
        let (map, order) = &mut *guard;
        if map.insert(key.to_owned(), answer.clone()).is_none() {
            order.push_back(key.to_owned());
            let evicted = if order.len() > SANDBOX_KEYS_MAX {
                order.pop_front()
            } else {
                None
            };
            if let Some(old) = evicted {
                map.remove(&old);
            }
        }
    }
}

#[async_trait::async_trait]
impl PaymentProvider for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        if let Some(answer) = self
            .answers
            .lock()
            .expect("sandbox lock is never poisoned")
            .0
            .get(&request.idempotency_key)
        {
            return answer.clone();
        }
        let disputed = request.payment_method == "pm_card_createDispute";
        let answer = match request.payment_method.as_str() {
            "pm_card_visa"
            | "pm_card_mastercard"
            | "pm_card_amex"
            | "pm_card_visa_debit"
            | "pm_card_createDispute" => Ok(Charge {
                id: format!("pi_{}", uuid::Uuid::now_v7().simple()),
            }),
            "pm_card_chargeDeclined"
            | "pm_card_chargeDeclinedInsufficientFunds"
            | "pm_card_chargeDeclinedExpiredCard" => Err(PaymentError::Declined),
            other => return Err(PaymentError::UnknownPaymentMethod(other.to_owned())),
        };
        self.remember(&request.idempotency_key, &answer);
        if let Ok(charge) = &answer {
            let amount = request.amount.amount();
            let currency = request.amount.currency().code().to_ascii_lowercase();
            self.send(
                "payment_intent.succeeded",
                json!({
                    "id": charge.id, "object": "payment_intent", "status": "succeeded",
                    "amount": amount, "currency": currency,
                    "metadata": {"ovation_reference": request.reference},
                }),
            );
            // Stripe's test card whose payment succeeds and is then disputed.
            if disputed {
                self.send(
                    "charge.dispute.created",
                    json!({
                        "id": format!("dp_{}", charge.id.trim_start_matches("pi_")),
                        "object": "dispute", "status": "needs_response", "reason": "fraudulent",
                        "charge": format!("ch_{}", charge.id.trim_start_matches("pi_")),
                        "payment_intent": charge.id, "amount": amount, "currency": currency,
                    }),
                );
            }
        }
        answer
    }

    async fn refund(
        &self,
        payment_id: &str,
        amount: Money,
        _key: &str,
    ) -> Result<String, PaymentError> {
        let id = payment_id.trim_start_matches("pi_");
        self.send(
            "charge.refunded",
            json!({
                "id": format!("ch_{id}"), "object": "charge", "payment_intent": payment_id,
                "amount": amount.amount(), "amount_refunded": amount.amount(), "refunded": true,
                "currency": amount.currency().code().to_ascii_lowercase(),
            }),
        );
        Ok(format!("re_{id}"))
    }

    async fn payout(&self, request: PayoutRequest) -> Result<String, PayoutError> {
        let (id, new) = {
            let mut payouts = self.payouts.lock().expect("sandbox lock is never poisoned");
            if payouts.len() >= SANDBOX_KEYS_MAX {
                payouts.clear();
            }
            match payouts.get(&request.idempotency_key) {
                Some(id) => (id.clone(), false),
                None => {
                    let id = format!("po_{}", uuid::Uuid::now_v7().simple());
                    payouts.insert(request.idempotency_key.clone(), id.clone());
                    (id, true)
                }
            }
        };
        if new {
            self.send(
                "payout.paid",
                json!({
                    "id": id, "object": "payout", "status": "paid",
                    "amount": request.amount.amount(),
                    "currency": request.amount.currency().code().to_ascii_lowercase(),
                    "metadata": {"ovation_payout": request.idempotency_key, "ovation_creator": request.creator},
                }),
            );
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use money::Currency;

    fn request(key: &str, pm: &str) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: key.into(),
            amount: Money::new(199, Currency::USD),
            payment_method: pm.into(),
            description: "test".into(),
            reference: "pur_test".into(),
        }
    }

    #[tokio::test]
    async fn visa_succeeds_and_the_declined_card_declines() {
        let sandbox = Sandbox::new();
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
        let (sandbox, mut outbox) = Sandbox::with_webhooks(SANDBOX_WEBHOOK_DELAY);
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
    async fn the_same_key_gives_the_same_charge() {
        let sandbox = Sandbox::new();
        let first = sandbox.charge(request("k", "pm_card_visa")).await;
        let second = sandbox.charge(request("k", "pm_card_visa")).await;
        assert_eq!(first, second);
    }
}
