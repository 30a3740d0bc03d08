//! The provider events Ovation acts on: the body of a signed event, read into the
//! [`Action`] it asks of Ovation. Both providers send Stripe's shape (the sandbox sends
//! Stripe's events); `routes/webhooks.rs` applies them.

use money::{Currency, Money};
use serde_json::Value;

/// What an event asks of Ovation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A card payment succeeded (`payment_intent.succeeded`): Ovation booked it when the
    /// charge answered; the event confirms it.
    PaymentSucceeded {
        /// The provider's payment id (`pi_…`).
        payment_id: String,
        /// How much was paid.
        amount: Money,
        /// Ovation's reference in its metadata (`ovation_reference`): absent on a payment
        /// that is not Ovation's (a Stripe account the platform shares).
        reference: Option<String>,
    },
    /// A payment was refunded at the provider (`charge.refunded`).
    PaymentRefunded {
        /// The payment refunded.
        payment_id: String,
        /// Whether all of it was refunded (Ovation refunds only whole purchases).
        full: bool,
    },
    /// The buyer's bank disputed a payment (`charge.dispute.created`): a chargeback.
    PaymentDisputed {
        /// The payment disputed.
        payment_id: String,
        /// The provider's dispute id (`dp_…`).
        dispute_id: String,
    },
    /// The provider paid a payout (`payout.paid`).
    PayoutPaid {
        /// Ovation's payout id, from the payout's metadata.
        payout_id: String,
        /// The provider's (`po_…`).
        provider_id: String,
    },
    /// The provider could not pay a payout (`payout.failed`).
    PayoutFailed {
        /// Ovation's payout id.
        payout_id: String,
        /// The provider's.
        provider_id: String,
        /// Why.
        reason: String,
    },
    /// An event Ovation does not act on.
    Ignored,
}

/// A provider event: `{"id", "type", "created", "data": {"object": {…}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Unique per event; a redelivery has the same id.
    pub id: String,
    /// The type, e.g. `charge.dispute.created`.
    pub kind: String,
    /// When the provider created it (unix seconds).
    pub created: i64,
    /// The connected account it happened on (Stripe's `account` on Connect events); `None`
    /// for the platform's own account.
    pub account: Option<String>,
    /// What it asks.
    pub action: Action,
}

fn text<'v>(object: &'v Value, field: &str) -> Result<&'v str, String> {
    object
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("data.object.{field} is required"))
}

/// `amount` and `currency` of an object (Stripe writes currency codes in lowercase).
fn amount(object: &Value) -> Result<Money, String> {
    let currency = Currency::parse(&text(object, "currency")?.to_ascii_uppercase())
        .map_err(|e| format!("data.object.currency: {e}"))?;
    let amount = object
        .get("amount")
        .and_then(Value::as_i64)
        .filter(|a| *a >= 0)
        .ok_or("data.object.amount is required (minor units)")?;
    Ok(Money::new(amount, currency))
}

/// Parses an event (the same shape from both providers: the sandbox sends Stripe's).
pub fn parse_event(body: &[u8]) -> Result<Event, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or("id is required (1–255 characters)")?
        .to_owned();
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or("type is required")?
        .to_owned();
    let created = value
        .get("created")
        .and_then(Value::as_i64)
        .ok_or("created is required (unix seconds)")?;
    let account = value
        .get("account")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    let object = value
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or("data.object is required")?;
    let action = match kind.as_str() {
        "payment_intent.succeeded" => Action::PaymentSucceeded {
            payment_id: text(object, "id")?.to_owned(),
            amount: amount(object)?,
            reference: object
                .pointer("/metadata/ovation_reference")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
        },
        "charge.refunded" => Action::PaymentRefunded {
            payment_id: text(object, "payment_intent")?.to_owned(),
            full: object.get("refunded").and_then(Value::as_bool) == Some(true),
        },
        "charge.dispute.created" => Action::PaymentDisputed {
            payment_id: text(object, "payment_intent")?.to_owned(),
            dispute_id: text(object, "id")?.to_owned(),
        },
        "payout.paid" | "payout.failed" => {
            let payout_id = object
                .get("metadata")
                .and_then(|m| m.get("ovation_payout"))
                .and_then(Value::as_str)
                .ok_or("data.object.metadata.ovation_payout is required")?
                .to_owned();
            let provider_id = text(object, "id")?.to_owned();
            if kind == "payout.paid" {
                Action::PayoutPaid {
                    payout_id,
                    provider_id,
                }
            } else {
                let reason = object
                    .get("failure_message")
                    .or_else(|| object.get("failure_code"))
                    .and_then(Value::as_str)
                    .unwrap_or("the provider could not pay it")
                    .to_owned();
                Action::PayoutFailed {
                    payout_id,
                    provider_id,
                    reason,
                }
            }
        }
        _ => Action::Ignored,
    };
    Ok(Event {
        id,
        kind,
        created,
        account,
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_into_actions() {
        let dispute = br#"{"id":"evt_1","type":"charge.dispute.created","created":5,
            "data":{"object":{"id":"dp_1","object":"dispute","payment_intent":"pi_1","amount":499}}}"#;
        assert_eq!(
            parse_event(dispute).expect("parses").action,
            Action::PaymentDisputed {
                payment_id: "pi_1".into(),
                dispute_id: "dp_1".into()
            }
        );
        let paid = br#"{"id":"evt_4","type":"payout.paid","created":5,"account":"acct_1",
            "data":{"object":{"id":"po_1","object":"payout","metadata":{"ovation_payout":"pay_1"}}}}"#;
        let paid = parse_event(paid).expect("parses");
        assert_eq!(paid.account.as_deref(), Some("acct_1"));
        assert_eq!(
            paid.action,
            Action::PayoutPaid {
                payout_id: "pay_1".into(),
                provider_id: "po_1".into()
            }
        );
        assert_eq!(parse_event(dispute).expect("parses").account, None);
        let other = br#"{"id":"evt_2","type":"customer.created","created":5,"data":{"object":{}}}"#;
        assert_eq!(parse_event(other).expect("parses").action, Action::Ignored);
        for bad in [
            &br#"{"type":"charge.refunded","created":5,"data":{"object":{}}}"#[..],
            br#"{"id":"evt_3","type":"charge.refunded","created":5,"data":{"object":{}}}"#,
            br#"{"id":"evt_3","type":"charge.refunded","data":{"object":{"payment_intent":"pi"}}}"#,
            b"not json",
        ] {
            assert!(parse_event(bad).is_err());
        }
    }
}
