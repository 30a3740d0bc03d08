//! The payment-provider interface and the `sandbox` provider, which behaves like a card
//! processor's test mode: test payment method ids that succeed or decline while the request
//! waits.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::sync::Mutex;

use money::Money;

/// A card charge to make.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// The provider dedups charges with the same key.
    pub idempotency_key: String,
    /// How much.
    pub amount: Money,
    /// The processor's payment method id.
    pub payment_method: String,
    /// What for.
    pub description: String,
}

/// A successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The processor's payment id.
    pub id: String,
}

/// Why a charge or refund failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The card was declined.
    #[error("card was declined")]
    Declined,
    /// The payment method id is not one the provider knows.
    #[error("payment_method {0:?} is not a known payment method")]
    UnknownPaymentMethod(String),
    /// The provider cannot be reached.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

/// A payment processor.
#[async_trait::async_trait]
pub trait PaymentProvider: Send + Sync + Debug {
    /// The provider's name in configuration.
    fn name(&self) -> &'static str;
    /// Charges a payment method; the same idempotency key gives the same answer.
    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError>;
    /// Refunds a charge in full; the same key refunds once.
    async fn refund(
        &self,
        payment_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<String, PaymentError>;
}

/// Most idempotency answers the sandbox remembers.
const SANDBOX_KEYS_MAX: usize = 200_000;

/// Remembered answers by idempotency key, and the keys oldest first.
type Answers = (
    HashMap<String, Result<Charge, PaymentError>>,
    VecDeque<String>,
);

/// The default provider: Stripe's test payment methods, answered in memory.
#[derive(Debug, Default)]
pub struct Sandbox {
    answers: Mutex<Answers>,
}

impl Sandbox {
    /// A fresh sandbox.
    pub fn new() -> Sandbox {
        Sandbox::default()
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
        let answer = match request.payment_method.as_str() {
            "pm_card_visa" | "pm_card_mastercard" | "pm_card_amex" | "pm_card_visa_debit" => {
                Ok(Charge {
                    id: format!("pi_{}", uuid::Uuid::now_v7().simple()),
                })
            }
            "pm_card_chargeDeclined"
            | "pm_card_chargeDeclinedInsufficientFunds"
            | "pm_card_chargeDeclinedExpiredCard" => Err(PaymentError::Declined),
            other => return Err(PaymentError::UnknownPaymentMethod(other.to_owned())),
        };
        self.remember(&request.idempotency_key, &answer);
        answer
    }

    async fn refund(
        &self,
        payment_id: &str,
        _amount: Money,
        _key: &str,
    ) -> Result<String, PaymentError> {
        Ok(format!("re_{}", payment_id.trim_start_matches("pi_")))
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
    async fn the_same_key_gives_the_same_charge() {
        let sandbox = Sandbox::new();
        let first = sandbox.charge(request("k", "pm_card_visa")).await;
        let second = sandbox.charge(request("k", "pm_card_visa")).await;
        assert_eq!(first, second);
    }
}
