//! Signed payment webhooks: Stripe's scheme, used by both providers, and the provider events
//! Ovation acts on.
//!
//! The signature header is `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`,
//! keyed with the endpoint's secret. Several `v1=` values may be present (the sender signs
//! with an old and a new secret while rotating): one must match. Other schemes (`v0=`) are
//! ignored. A `t` further than the tolerance from the server's clock is refused, so that a
//! captured request cannot be replayed later.

use hmac::{Hmac, KeyInit, Mac};
use money::{Currency, Money};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header.
    #[error("the signature header is missing")]
    Missing,
    /// Not `t=…,v1=…`.
    #[error("the signature header is malformed")]
    Malformed,
    /// No `v1` signature matches the body.
    #[error("no signature matches the body")]
    NoMatch,
    /// The signed time is outside the tolerance.
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value signing `body` at `t` with `secret`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let signature = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(signature))
}

/// Checks `header` against `body`: returns the signed time. The comparison is constant-time;
/// the time is checked after the signature, so a forged header learns nothing of the clock.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed);
                }
                t = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(secret, t, body);
    if !signatures
        .iter()
        .any(|s| expected.clone().verify_slice(s).is_ok())
    {
        return Err(SignatureError::NoMatch);
    }
    if now.abs_diff(t) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(t)
}

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
    let object = value
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or("data.object is required")?;
    let action = match kind.as_str() {
        "payment_intent.succeeded" => Action::PaymentSucceeded {
            payment_id: text(object, "id")?.to_owned(),
            amount: amount(object)?,
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
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn a_signed_body_verifies_within_the_tolerance() {
        let header = sign(SECRET, 1_000, b"{}");
        assert_eq!(verify(Some(&header), b"{}", SECRET, 1_000, 300), Ok(1_000));
        assert_eq!(verify(Some(&header), b"{}", SECRET, 1_300, 300), Ok(1_000));
        assert_eq!(verify(Some(&header), b"{}", SECRET, 700, 300), Ok(1_000));
    }

    #[test]
    fn a_forged_changed_or_stale_body_is_refused() {
        let header = sign(SECRET, 1_000, b"{}");
        assert_eq!(
            verify(Some(&header), b"{ }", SECRET, 1_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), b"{}", b"other", 1_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some(&header), b"{}", SECRET, 1_301, 300),
            Err(SignatureError::Stale)
        );
        // The time is part of what is signed: moving it breaks the signature.
        let moved = header.replace("t=1000", "t=1290");
        assert_eq!(
            verify(Some(&moved), b"{}", SECRET, 1_300, 300),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "t=1000",
            "v1=00",
            "t=x,v1=00",
            "t=1000,v1=zz",
            "t=1000,t=1000,v1=00",
            "nonsense",
        ] {
            assert_eq!(
                verify(Some(bad), b"{}", SECRET, 1_000, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(None, b"{}", SECRET, 1_000, 300),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn one_of_several_signatures_may_match_and_other_schemes_are_ignored() {
        let good = sign(SECRET, 1_000, b"{}");
        let old = sign(b"old secret", 1_000, b"{}");
        let v1_old = old.split(',').nth(1).expect("v1 part");
        let v1_good = good.split(',').nth(1).expect("v1 part");
        let header = format!("t=1000, {v1_old}, v0=abcdef, {v1_good}");
        assert_eq!(verify(Some(&header), b"{}", SECRET, 1_000, 300), Ok(1_000));
    }

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
