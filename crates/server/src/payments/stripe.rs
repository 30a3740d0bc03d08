//! The `stripe` provider: Stripe's HTTP API (PaymentIntents, Refunds, Connect transfers and
//! payouts), with webhooks verified by the same scheme as the sandbox's (`Stripe-Signature`).
//!
//! Stripe cannot be reached from where this is built and tested, so each call is split in
//! two pure halves that the tests check against Stripe's documented shapes: building the
//! request ([`StripeRequest`]: path, form fields, idempotency key, connected account) and
//! reading the answer. Only [`Stripe::send`] does IO.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::payments::{
    Charge, ChargePage, ChargeRequest, ChargeState, PaymentError, PaymentProvider, PayoutError,
    PayoutRequest, ProviderCharge,
};

/// The API version Ovation speaks (sent as `Stripe-Version`).
pub const STRIPE_VERSION: &str = "2024-06-20";

/// One call to Stripe's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeRequest {
    /// A read (`GET`, the form in the query string) rather than a `POST`.
    pub read: bool,
    /// Under the API base, e.g. `/v1/payment_intents`.
    pub path: String,
    /// Form fields, in order (Stripe's API takes `application/x-www-form-urlencoded`).
    pub form: Vec<(String, String)>,
    /// Stripe keeps the answer for 24 hours under this key: a retry gets it again.
    pub idempotency_key: String,
    /// `Stripe-Account`, to act on a creator's connected account.
    pub account: Option<String>,
}

fn field(k: &str, v: impl std::fmt::Display) -> (String, String) {
    (k.to_owned(), v.to_string())
}

/// Confirms a card payment at once, off the buyer's saved payment method; redirect-based
/// methods are refused (there is no page to redirect to).
pub fn payment_intent_request(r: &ChargeRequest) -> StripeRequest {
    StripeRequest {
        read: false,
        path: "/v1/payment_intents".into(),
        form: vec![
            field("amount", r.amount.amount()),
            field("currency", r.amount.currency().code().to_ascii_lowercase()),
            field("payment_method", &r.payment_method),
            field("confirm", "true"),
            field("automatic_payment_methods[enabled]", "true"),
            field("automatic_payment_methods[allow_redirects]", "never"),
            field("description", &r.description),
            field("metadata[ovation_reference]", &r.reference),
        ],
        idempotency_key: r.idempotency_key.clone(),
        account: None,
    }
}

/// A full refund of a payment.
pub fn refund_request(payment_id: &str, idempotency_key: &str) -> StripeRequest {
    StripeRequest {
        read: false,
        path: "/v1/refunds".into(),
        form: vec![field("payment_intent", payment_id)],
        idempotency_key: idempotency_key.to_owned(),
        account: None,
    }
}

/// Connect: moves the payout's amount from the platform's balance to the creator's
/// connected account…
pub fn transfer_request(r: &PayoutRequest, destination: &str) -> StripeRequest {
    StripeRequest {
        read: false,
        path: "/v1/transfers".into(),
        form: vec![
            field("amount", r.amount.amount()),
            field("currency", r.amount.currency().code().to_ascii_lowercase()),
            field("destination", destination),
            field("transfer_group", &r.idempotency_key),
            field("metadata[ovation_payout]", &r.idempotency_key),
        ],
        idempotency_key: format!("{}-transfer", r.idempotency_key),
        account: None,
    }
}

/// …and pays it out from there to the creator's bank account; `payout.paid` or
/// `payout.failed` follow, naming the payout in their metadata.
pub fn payout_request(r: &PayoutRequest, destination: &str) -> StripeRequest {
    StripeRequest {
        read: false,
        path: "/v1/payouts".into(),
        form: vec![
            field("amount", r.amount.amount()),
            field("currency", r.amount.currency().code().to_ascii_lowercase()),
            field("metadata[ovation_payout]", &r.idempotency_key),
            field("metadata[ovation_creator]", &r.creator),
        ],
        idempotency_key: format!("{}-payout", r.idempotency_key),
        account: Some(destination.to_owned()),
    }
}

/// What Stripe answered: the HTTP status and the JSON body (or `None` when unreachable).
pub type StripeAnswer = Option<(u16, Value)>;

/// Reads a PaymentIntent answer: `succeeded` is a charge; a card error (402) or a payment
/// that would need the buyer (3-D Secure) is a decline; an unknown payment method is the
/// caller's mistake; the rest (5xx, 429, no answer) is Stripe being unavailable.
pub fn charge_from(answer: StripeAnswer) -> Result<Charge, PaymentError> {
    let Some((status, body)) = answer else {
        return Err(PaymentError::Unavailable("stripe did not answer".into()));
    };
    let error = &body["error"];
    match status {
        200 => {
            let processing = match body["status"].as_str() {
                Some("succeeded") => false,
                // Accepted, confirmed later by `payment_intent.succeeded` (or failed).
                Some("processing") => true,
                _ => return Err(PaymentError::Declined),
            };
            body["id"]
                .as_str()
                .map(|id| Charge {
                    id: id.to_owned(),
                    processing,
                })
                .ok_or_else(|| PaymentError::Unavailable("payment intent without an id".into()))
        }
        402 => Err(PaymentError::Declined),
        400 | 404 if error["param"] == "payment_method" => Err(PaymentError::UnknownPaymentMethod(
            error["message"]
                .as_str()
                .unwrap_or("unknown payment method")
                .to_owned(),
        )),
        _ => Err(PaymentError::Unavailable(format!(
            "stripe answered {status}: {}",
            error["message"].as_str().unwrap_or("no message")
        ))),
    }
}

/// Finds the PaymentIntent whose metadata names Ovation's `reference` (Stripe's search, with
/// its latest charge expanded to see refunds and disputes).
pub fn search_request(reference: &str) -> StripeRequest {
    StripeRequest {
        read: true,
        path: "/v1/payment_intents/search".into(),
        form: vec![
            field(
                "query",
                format!(
                    "metadata['ovation_reference']:'{}'",
                    reference.replace('\'', "")
                ),
            ),
            field("expand[]", "data.latest_charge"),
        ],
        idempotency_key: String::new(),
        account: None,
    }
}

/// PaymentIntents created since `since`, a page of 100 after `after`.
pub fn list_request(since: time::OffsetDateTime, after: Option<&str>) -> StripeRequest {
    let mut form = vec![
        field("created[gte]", since.unix_timestamp()),
        field("limit", 100),
        field("expand[]", "data.latest_charge"),
    ];
    if let Some(after) = after {
        form.push(field("starting_after", after));
    }
    StripeRequest {
        read: true,
        path: "/v1/payment_intents".into(),
        form,
        idempotency_key: String::new(),
        account: None,
    }
}

/// A PaymentIntent as a [`ProviderCharge`] (`None` for one that cannot be read).
fn provider_charge(pi: &Value) -> Option<ProviderCharge> {
    let currency = money::Currency::parse(&pi["currency"].as_str()?.to_ascii_uppercase()).ok()?;
    let charge = &pi["latest_charge"];
    let state = match pi["status"].as_str()? {
        "succeeded" if charge["disputed"].as_bool() == Some(true) => ChargeState::Disputed,
        "succeeded" if charge["refunded"].as_bool() == Some(true) => ChargeState::Refunded,
        "succeeded" => ChargeState::Succeeded,
        "processing" => ChargeState::Processing,
        _ => ChargeState::Failed,
    };
    Some(ProviderCharge {
        id: pi["id"].as_str()?.to_owned(),
        amount: money::Money::new(pi["amount"].as_i64()?, currency),
        state,
        reference: pi["metadata"]["ovation_reference"]
            .as_str()
            .map(str::to_owned),
        created: time::OffsetDateTime::from_unix_timestamp(pi["created"].as_i64()?).ok()?,
    })
}

/// Reads a list or search answer of PaymentIntents.
pub fn charges_from(answer: StripeAnswer) -> Result<ChargePage, PaymentError> {
    match answer {
        Some((200, body)) => {
            let charges: Vec<ProviderCharge> = body["data"]
                .as_array()
                .map(|data| data.iter().filter_map(provider_charge).collect())
                .unwrap_or_default();
            let next = (body["has_more"].as_bool() == Some(true))
                .then(|| {
                    body["data"].as_array()?.last()?["id"]
                        .as_str()
                        .map(str::to_owned)
                })
                .flatten();
            Ok(ChargePage { charges, next })
        }
        Some((status, body)) => Err(PaymentError::Unavailable(format!(
            "stripe answered {status}: {}",
            body["error"]["message"].as_str().unwrap_or("no message")
        ))),
        None => Err(PaymentError::Unavailable("stripe did not answer".into())),
    }
}

/// Reads the id of a created object (a refund, a transfer, a payout).
fn created_id(answer: StripeAnswer) -> Result<String, (u16, String)> {
    match answer {
        Some((200, body)) => body["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or((200, "no id in the answer".to_owned())),
        Some((status, body)) => Err((
            status,
            body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_owned(),
        )),
        None => Err((0, "stripe did not answer".into())),
    }
}

/// Reads a transfer's or payout's answer: a 4xx is Stripe refusing it for good (an account
/// that cannot receive payouts); 429, 5xx and no answer are worth retrying.
pub fn payout_from(answer: StripeAnswer) -> Result<String, PayoutError> {
    created_id(answer).map_err(|(status, why)| match status {
        400..=428 | 430..=499 => PayoutError::Rejected(why),
        _ => PayoutError::Unavailable(why),
    })
}

/// The `stripe` provider.
#[derive(Debug)]
pub struct Stripe {
    http: reqwest::Client,
    base: String,
    key: SecretString,
}

impl Stripe {
    /// A client of the API at `base` (`https://api.stripe.com`) with the secret key.
    pub fn new(base: &str, key: SecretString) -> Stripe {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client with a timeout builds");
        Stripe {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// Sends a request; `None` when Stripe could not be reached or answered no JSON.
    pub async fn send(&self, r: &StripeRequest) -> StripeAnswer {
        let url = format!("{}{}", self.base, r.path);
        let mut request = if r.read {
            let Ok(url) = reqwest::Url::parse_with_params(&url, &r.form) else {
                tracing::warn!(%url, "not a URL");
                return None;
            };
            self.http.get(url)
        } else {
            self.http
                .post(url)
                .header("Idempotency-Key", &r.idempotency_key)
                .form(&r.form)
        }
        .bearer_auth(self.key.expose_secret())
        .header("Stripe-Version", STRIPE_VERSION);
        if let Some(account) = &r.account {
            request = request.header("Stripe-Account", account);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, path = %r.path, "stripe unreachable");
                return None;
            }
        };
        let status = response.status().as_u16();
        response
            .json::<Value>()
            .await
            .ok()
            .map(|body| (status, body))
    }
}

#[async_trait::async_trait]
impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn signature_header(&self) -> &'static str {
        "stripe-signature"
    }

    async fn charge(&self, request: ChargeRequest) -> Result<Charge, PaymentError> {
        charge_from(self.send(&payment_intent_request(&request)).await)
    }

    async fn refund(
        &self,
        payment_id: &str,
        _amount: money::Money,
        idempotency_key: &str,
    ) -> Result<String, PaymentError> {
        created_id(
            self.send(&refund_request(payment_id, idempotency_key))
                .await,
        )
        .map_err(|(_, why)| PaymentError::Unavailable(why))
    }

    async fn find_charge(
        &self,
        _idempotency_key: &str,
        reference: &str,
    ) -> Result<Option<ProviderCharge>, PaymentError> {
        let page = charges_from(self.send(&search_request(reference)).await)?;
        Ok(page
            .charges
            .into_iter()
            .find(|c| c.reference.as_deref() == Some(reference)))
    }

    async fn charges_since(
        &self,
        since: time::OffsetDateTime,
        after: Option<&str>,
    ) -> Result<ChargePage, PaymentError> {
        charges_from(self.send(&list_request(since, after)).await)
    }

    async fn payout(&self, request: PayoutRequest) -> Result<String, PayoutError> {
        let Some(destination) = request.destination.clone() else {
            return Err(PayoutError::Rejected(
                "the creator has no payout account (a Stripe connected account, acct_…)".into(),
            ));
        };
        payout_from(self.send(&transfer_request(&request, &destination)).await)?;
        payout_from(self.send(&payout_request(&request, &destination)).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use money::{Currency, Money};
    use serde_json::json;

    #[test]
    fn payment_intent_answers_map_to_charges_declines_and_outages() {
        let ok = json!({"id": "pi_1", "object": "payment_intent", "status": "succeeded"});
        assert_eq!(
            charge_from(Some((200, ok))),
            Ok(Charge {
                id: "pi_1".into(),
                processing: false
            })
        );
        let pending = json!({"id": "pi_3", "object": "payment_intent", "status": "processing"});
        assert_eq!(
            charge_from(Some((200, pending))),
            Ok(Charge {
                id: "pi_3".into(),
                processing: true
            })
        );
        let needs_3ds = json!({"id": "pi_2", "status": "requires_action"});
        assert_eq!(
            charge_from(Some((200, needs_3ds))),
            Err(PaymentError::Declined)
        );
        let card_error = json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}});
        assert_eq!(
            charge_from(Some((402, card_error))),
            Err(PaymentError::Declined)
        );
        let no_such_pm = json!({"error": {"type": "invalid_request_error", "code": "resource_missing",
            "param": "payment_method", "message": "No such PaymentMethod: 'pm_x'"}});
        assert!(matches!(
            charge_from(Some((400, no_such_pm))),
            Err(PaymentError::UnknownPaymentMethod(_))
        ));
        for answer in [
            Some((500, json!({"error": {"type": "api_error"}}))),
            Some((429, json!({"error": {"type": "rate_limit_error"}}))),
            None,
        ] {
            assert!(matches!(
                charge_from(answer),
                Err(PaymentError::Unavailable(_))
            ));
        }
    }

    #[test]
    fn payment_intent_lists_read_into_charges_with_refunds_disputes_and_references() {
        let body = json!({"object": "list", "has_more": true, "data": [
            {"id": "pi_a", "status": "succeeded", "amount": 199, "currency": "usd", "created": 1_700_000_000,
             "metadata": {"ovation_reference": "pur_1"}, "latest_charge": {"refunded": false, "disputed": false}},
            {"id": "pi_b", "status": "succeeded", "amount": 120, "currency": "jpy", "created": 1_700_000_001,
             "metadata": {}, "latest_charge": {"refunded": true, "disputed": false}},
            {"id": "pi_c", "status": "succeeded", "amount": 499, "currency": "usd", "created": 1_700_000_002,
             "metadata": {"ovation_reference": "top_1"}, "latest_charge": {"refunded": false, "disputed": true}},
            {"id": "pi_d", "status": "processing", "amount": 99, "currency": "usd", "created": 1_700_000_003,
             "metadata": {"ovation_reference": "pur_2"}, "latest_charge": null},
            {"id": "pi_e", "status": "requires_payment_method", "amount": 99, "currency": "usd",
             "created": 1_700_000_004, "metadata": {}}
        ]});
        let page = charges_from(Some((200, body))).expect("a page");
        let states: Vec<_> = page
            .charges
            .iter()
            .map(|c| (c.id.as_str(), c.state))
            .collect();
        assert_eq!(
            states,
            [
                ("pi_a", ChargeState::Succeeded),
                ("pi_b", ChargeState::Refunded),
                ("pi_c", ChargeState::Disputed),
                ("pi_d", ChargeState::Processing),
                ("pi_e", ChargeState::Failed)
            ]
        );
        assert_eq!(page.charges[0].reference.as_deref(), Some("pur_1"));
        assert_eq!(page.charges[1].reference, None);
        assert_eq!(page.charges[1].amount, Money::new(120, Currency::JPY));
        assert_eq!(page.next.as_deref(), Some("pi_e"));
        let search = search_request("pur_1");
        assert!(search.read);
        assert_eq!(search.path, "/v1/payment_intents/search");
        assert_eq!(search.form[0].1, "metadata['ovation_reference']:'pur_1'");
        let list = list_request(
            time::OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("a time"),
            Some("pi_a"),
        );
        assert!(
            list.form
                .contains(&("created[gte]".into(), "1700000000".into()))
        );
        assert!(
            list.form
                .contains(&("starting_after".into(), "pi_a".into()))
        );
    }

    #[test]
    fn payout_answers_are_rejections_for_4xx_and_retries_otherwise() {
        assert_eq!(
            payout_from(Some((200, json!({"id": "po_1"})))),
            Ok("po_1".into())
        );
        let closed = json!({"error": {"type": "invalid_request_error", "message": "account cannot receive payouts"}});
        assert_eq!(
            payout_from(Some((400, closed))),
            Err(PayoutError::Rejected(
                "account cannot receive payouts".into()
            ))
        );
        assert!(matches!(
            payout_from(Some((429, json!({})))),
            Err(PayoutError::Unavailable(_))
        ));
        assert!(matches!(
            payout_from(Some((503, json!({})))),
            Err(PayoutError::Unavailable(_))
        ));
        assert!(matches!(
            payout_from(None),
            Err(PayoutError::Unavailable(_))
        ));
    }

    #[test]
    fn requests_carry_stripe_s_field_names_in_minor_units_and_lowercase_currencies() {
        let r = payment_intent_request(&ChargeRequest {
            idempotency_key: "pur_1".into(),
            amount: Money::new(120, Currency::JPY),
            payment_method: "pm_card_visa".into(),
            description: "badge".into(),
            reference: "pur_1".into(),
        });
        assert_eq!(r.path, "/v1/payment_intents");
        assert!(r.form.contains(&("amount".into(), "120".into())));
        assert!(r.form.contains(&("currency".into(), "jpy".into())));
        assert_eq!(r.idempotency_key, "pur_1");
        let p = PayoutRequest {
            idempotency_key: "pay_1".into(),
            amount: Money::new(10_000, Currency::EUR),
            creator: "acc_1".into(),
            destination: Some("acct_9".into()),
        };
        let t = transfer_request(&p, "acct_9");
        assert!(t.form.contains(&("destination".into(), "acct_9".into())));
        assert_eq!(t.account, None);
        let po = payout_request(&p, "acct_9");
        assert_eq!(po.account.as_deref(), Some("acct_9"));
        // The two calls of one payout have keys of their own.
        assert_ne!(t.idempotency_key, po.idempotency_key);
    }
}
