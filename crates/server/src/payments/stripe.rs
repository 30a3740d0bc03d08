//! The `stripe` provider: Stripe's HTTP API (PaymentIntents, Refunds, Connect transfers and
//! payouts), with webhooks verified by the same scheme as the sandbox's (`Stripe-Signature`).
//!
//! Stripe cannot be reached from where this is built and tested, so each call is split in
//! two pure halves that the tests check against Stripe's documented shapes: building the
//! request ([`StripeRequest`]: path, form fields, idempotency key, connected account) and
//! reading the answer. Only [`Stripe::send`] does IO.
//!
//! A payout is made exactly once: a Connect transfer, then a payout on the connected account.
//! The money never sits in a connected account while the ledger says it is the creator's
//! again: a payout refused after its transfer, or failed by the bank, has its transfer
//! reversed first. A payout sent again finds what an earlier attempt made (the transfer by
//! `transfer_group`, the payout by its metadata) rather than trusting keys Stripe forgets
//! after 24 hours.

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
/// methods and cards that need the buyer's action are refused (there is no page for them).
pub fn payment_intent_request(r: &ChargeRequest) -> StripeRequest {
    StripeRequest {
        read: false,
        path: "/v1/payment_intents".into(),
        form: vec![
            field("amount", r.amount.amount()),
            field("currency", r.amount.currency().code().to_ascii_lowercase()),
            field("payment_method", &r.payment_method),
            field("confirm", "true"),
            // A card that needs the buyer (3-D Secure) fails at once as a card error, moving no
            // money, instead of leaving a payment in `requires_action` that no page completes.
            field("error_on_requires_action", "true"),
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

/// The Connect transfers made for payout `payout_key` (its `transfer_group`): before a payout
/// is sent again, and before a failed one is booked back.
pub fn transfers_request(payout_key: &str) -> StripeRequest {
    StripeRequest {
        read: true,
        path: "/v1/transfers".into(),
        form: vec![field("transfer_group", payout_key), field("limit", 10)],
        idempotency_key: String::new(),
        account: None,
    }
}

/// Reverses a transfer in full, bringing its money back from the connected account to the
/// platform, under a key derived from the payout (and the transfer: a payout has one).
pub fn reversal_request(transfer_id: &str, payout_key: &str) -> StripeRequest {
    StripeRequest {
        read: false,
        path: format!("/v1/transfers/{transfer_id}/reversals"),
        form: vec![field("metadata[ovation_payout]", payout_key)],
        idempotency_key: format!("{payout_key}-reversal-{transfer_id}"),
        account: None,
    }
}

/// The payouts on connected account `account` created since `since` (unix seconds), a page
/// of 100 after `after`: Stripe cannot search payouts by metadata, so a resent payout's
/// earlier attempt is found by listing those made since its transfer.
pub fn payouts_request(account: &str, since: i64, after: Option<&str>) -> StripeRequest {
    let mut form = vec![field("created[gte]", since), field("limit", 100)];
    if let Some(after) = after {
        form.push(field("starting_after", after));
    }
    StripeRequest {
        read: true,
        path: "/v1/payouts".into(),
        form,
        idempotency_key: String::new(),
        account: Some(account.to_owned()),
    }
}

/// Pages of a connected account's payouts read at most when looking for an earlier attempt;
/// past that, nothing is sent (the payout stays pending) rather than maybe paying twice.
const PAYOUT_PAGES_MAX: usize = 10;

/// What Stripe answered: the HTTP status and the JSON body (or `None` when unreachable).
pub type StripeAnswer = Option<(u16, Value)>;

/// Reads a PaymentIntent answer: `succeeded` is a charge, `processing` one confirmed later; a
/// card error (402, which is also how `error_on_requires_action` refuses a card that needs
/// 3-D Secure) or any other state is a decline; an unknown payment method is the
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

/// A Connect transfer as Stripe lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTransfer {
    /// `tr_…`.
    pub id: String,
    /// The connected account it paid.
    pub destination: String,
    /// Minor units.
    pub amount: i64,
    /// How much of it was reversed.
    pub amount_reversed: i64,
    /// When it was made (unix seconds).
    pub created: i64,
}

impl FoundTransfer {
    /// Whether all of it came back to the platform.
    pub fn reversed(&self) -> bool {
        self.amount_reversed >= self.amount
    }
}

/// An error answer, or no answer, as a reason to try again later.
fn unavailable(answer: StripeAnswer) -> PayoutError {
    PayoutError::Unavailable(match answer {
        Some((status, body)) => format!(
            "stripe answered {status}: {}",
            body["error"]["message"].as_str().unwrap_or("no message")
        ),
        None => "stripe did not answer".into(),
    })
}

/// Reads a list of transfers: those of `payout_key`'s transfer group. A failed look-up is
/// never "none": it is a reason to wait.
pub fn transfers_from(
    answer: StripeAnswer,
    payout_key: &str,
) -> Result<Vec<FoundTransfer>, PayoutError> {
    let Some((200, body)) = answer else {
        return Err(unavailable(answer));
    };
    let Some(data) = body["data"].as_array() else {
        return Err(PayoutError::Unavailable(
            "a list of transfers without data".into(),
        ));
    };
    data.iter()
        .filter(|t| t["transfer_group"].as_str() == Some(payout_key))
        .map(|t| {
            let read = || {
                Some(FoundTransfer {
                    id: t["id"].as_str()?.to_owned(),
                    destination: t["destination"].as_str()?.to_owned(),
                    amount: t["amount"].as_i64()?,
                    amount_reversed: t["amount_reversed"].as_i64().unwrap_or(0),
                    created: t["created"].as_i64()?,
                })
            };
            read().ok_or_else(|| {
                PayoutError::Unavailable(format!("a transfer of {payout_key} that cannot be read"))
            })
        })
        .collect()
}

/// Reads a reversal's answer. Anything but a reversal made is a reason to wait: until the
/// money is back, the payout is not voided.
pub fn reversal_from(answer: StripeAnswer) -> Result<String, PayoutError> {
    match answer {
        Some((200, body)) => body["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| PayoutError::Unavailable("a reversal without an id".into())),
        other => Err(unavailable(other)),
    }
}

/// Reads a page of a connected account's payouts: the id of the one made for `payout_key`
/// (its `metadata[ovation_payout]`), if on this page, and where the next page starts.
pub fn payouts_from(
    answer: StripeAnswer,
    payout_key: &str,
) -> Result<(Option<String>, Option<String>), PayoutError> {
    let Some((200, body)) = answer else {
        return Err(unavailable(answer));
    };
    let data = body["data"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let found = data
        .iter()
        .find(|p| p["metadata"]["ovation_payout"].as_str() == Some(payout_key))
        .and_then(|p| p["id"].as_str())
        .map(str::to_owned);
    let next = (body["has_more"].as_bool() == Some(true))
        .then(|| data.last()?["id"].as_str().map(str::to_owned))
        .flatten();
    Ok((found, next))
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

    /// The transfers made for payout `payout_key`.
    async fn transfers_of(&self, payout_key: &str) -> Result<Vec<FoundTransfer>, PayoutError> {
        transfers_from(self.send(&transfers_request(payout_key)).await, payout_key)
    }

    /// The payout made on `account` for `payout_key` since `since`, if there is one.
    async fn payout_made(
        &self,
        payout_key: &str,
        account: &str,
        since: i64,
    ) -> Result<Option<String>, PayoutError> {
        let mut after: Option<String> = None;
        for _ in 0..PAYOUT_PAGES_MAX {
            let request = payouts_request(account, since, after.as_deref());
            let (found, next) = payouts_from(self.send(&request).await, payout_key)?;
            if found.is_some() {
                return Ok(found);
            }
            match next {
                Some(next) => after = Some(next),
                None => return Ok(None),
            }
        }
        Err(PayoutError::Unavailable(format!(
            "more than {PAYOUT_PAGES_MAX} pages of payouts on {account} to look through"
        )))
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

    /// A transfer to the connected account, then a payout there. A resend first looks for
    /// both (Stripe forgets idempotency keys after 24 hours): a standing transfer of the
    /// payout is reused (its account is where the money is), a payout already made for it
    /// is the answer. A payout refused after the transfer reverses the transfer before it
    /// answers `Rejected`: if the reversal cannot be made now the answer is `Unavailable`,
    /// so the ledger never voids while the money sits in the connected account.
    async fn payout(&self, request: PayoutRequest) -> Result<String, PayoutError> {
        let Some(destination) = request.destination.clone() else {
            return Err(PayoutError::Rejected(
                "the creator has no payout account (a Stripe connected account, acct_…)".into(),
            ));
        };
        let key = request.idempotency_key.as_str();
        let found = if request.resend {
            self.transfers_of(key).await?
        } else {
            Vec::new()
        };
        let (transfer, destination) = match found.iter().find(|t| !t.reversed()) {
            Some(t) => {
                if let Some(made) = self.payout_made(key, &t.destination, t.created).await? {
                    return Ok(made);
                }
                (t.id.clone(), t.destination.clone())
            }
            None if !found.is_empty() => {
                return Err(PayoutError::Rejected(
                    "its transfer was reversed: the money is back on the platform".into(),
                ));
            }
            None => {
                let made = self.send(&transfer_request(&request, &destination)).await;
                (payout_from(made)?, destination)
            }
        };
        match payout_from(self.send(&payout_request(&request, &destination)).await) {
            Err(PayoutError::Rejected(why)) => {
                match reversal_from(self.send(&reversal_request(&transfer, key)).await) {
                    Ok(_) => Err(PayoutError::Rejected(why)),
                    Err(e) => Err(PayoutError::Unavailable(format!(
                        "payout refused ({why}) and its transfer {transfer} not reversed yet: {e}"
                    ))),
                }
            }
            answer => answer,
        }
    }

    /// Reverses the payout's transfers that still stand: a failed payout's money is back in
    /// the connected account, not on the platform.
    async fn reclaim_payout(&self, payout_id: &str) -> Result<(), PayoutError> {
        for t in self.transfers_of(payout_id).await? {
            if !t.reversed() {
                reversal_from(self.send(&reversal_request(&t.id, payout_id)).await)?;
            }
        }
        Ok(())
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
            resend: false,
        };
        let t = transfer_request(&p, "acct_9");
        assert!(t.form.contains(&("destination".into(), "acct_9".into())));
        assert_eq!(t.account, None);
        let po = payout_request(&p, "acct_9");
        assert_eq!(po.account.as_deref(), Some("acct_9"));
        // The two calls of one payout have keys of their own.
        assert_ne!(t.idempotency_key, po.idempotency_key);
    }

    #[test]
    fn a_payout_s_transfers_are_found_by_transfer_group_and_reversed_under_a_key_of_the_payout() {
        let look = transfers_request("pay_1");
        assert!(look.read);
        assert_eq!(look.path, "/v1/transfers");
        assert!(
            look.form
                .contains(&("transfer_group".into(), "pay_1".into()))
        );
        assert_eq!(look.account, None);
        // Stripe's list of transfers (the documented transfer object, trimmed).
        let body = json!({"object": "list", "url": "/v1/transfers", "has_more": false, "data": [
            {"id": "tr_1", "object": "transfer", "amount": 10000, "amount_reversed": 0,
             "currency": "eur", "created": 1_764_547_000, "destination": "acct_9",
             "metadata": {"ovation_payout": "pay_1"}, "reversed": false, "reversals": {"data": []},
             "transfer_group": "pay_1"},
            {"id": "tr_0", "object": "transfer", "amount": 10000, "amount_reversed": 10000,
             "currency": "eur", "created": 1_764_546_000, "destination": "acct_9",
             "reversed": true, "transfer_group": "pay_1"},
            {"id": "tr_x", "object": "transfer", "amount": 5, "amount_reversed": 0,
             "currency": "eur", "created": 1_764_546_000, "destination": "acct_2",
             "reversed": false, "transfer_group": "pay_other"}
        ]});
        let found = transfers_from(Some((200, body)), "pay_1").expect("read");
        assert_eq!(
            found,
            [
                FoundTransfer {
                    id: "tr_1".into(),
                    destination: "acct_9".into(),
                    amount: 10_000,
                    amount_reversed: 0,
                    created: 1_764_547_000
                },
                FoundTransfer {
                    id: "tr_0".into(),
                    destination: "acct_9".into(),
                    amount: 10_000,
                    amount_reversed: 10_000,
                    created: 1_764_546_000
                }
            ]
        );
        assert_eq!(
            found
                .iter()
                .map(FoundTransfer::reversed)
                .collect::<Vec<_>>(),
            [false, true]
        );
        let none = json!({"object": "list", "has_more": false, "data": []});
        assert_eq!(transfers_from(Some((200, none)), "pay_1"), Ok(Vec::new()));
        // A look-up that fails is never "no transfer": that would transfer again.
        for answer in [
            Some((500, json!({"error": {"message": "boom"}}))),
            Some((401, json!({}))),
            None,
        ] {
            assert!(matches!(
                transfers_from(answer, "pay_1"),
                Err(PayoutError::Unavailable(_))
            ));
        }
        let reverse = reversal_request("tr_1", "pay_1");
        assert!(!reverse.read);
        assert_eq!(reverse.path, "/v1/transfers/tr_1/reversals");
        assert!(reverse.idempotency_key.starts_with("pay_1-reversal"));
        assert_eq!(reverse.account, None);
        assert_eq!(
            reversal_from(Some((
                200,
                json!({"id": "trr_1", "object": "transfer_reversal", "amount": 10000, "transfer": "tr_1"})
            ))),
            Ok("trr_1".into())
        );
        // Refused or unanswered, the money is still in the connected account: wait.
        let refused = json!({"error": {"type": "invalid_request_error", "message": "insufficient funds in the connected account"}});
        for answer in [Some((400, refused)), Some((503, json!({}))), None] {
            assert!(matches!(
                reversal_from(answer),
                Err(PayoutError::Unavailable(_))
            ));
        }
    }

    #[test]
    fn a_connected_account_s_payouts_are_listed_since_the_transfer_and_matched_by_metadata() {
        let list = payouts_request("acct_9", 1_764_547_000, Some("po_2"));
        assert!(list.read);
        assert_eq!(list.path, "/v1/payouts");
        assert_eq!(list.account.as_deref(), Some("acct_9"));
        assert!(
            list.form
                .contains(&("created[gte]".into(), "1764547000".into()))
        );
        assert!(
            list.form
                .contains(&("starting_after".into(), "po_2".into()))
        );
        let page = json!({"object": "list", "has_more": true, "data": [
            {"id": "po_3", "object": "payout", "amount": 500, "currency": "eur", "status": "paid",
             "metadata": {}},
            {"id": "po_4", "object": "payout", "amount": 10000, "currency": "eur", "status": "pending",
             "metadata": {"ovation_payout": "pay_1", "ovation_creator": "acc_1"}},
            {"id": "po_5", "object": "payout", "amount": 7, "currency": "eur", "status": "paid",
             "metadata": {"ovation_payout": "pay_0"}}
        ]});
        assert_eq!(
            payouts_from(Some((200, page.clone())), "pay_1"),
            Ok((Some("po_4".into()), Some("po_5".into())))
        );
        assert_eq!(
            payouts_from(Some((200, page)), "pay_7"),
            Ok((None, Some("po_5".into())))
        );
        let last = json!({"object": "list", "has_more": false, "data": []});
        assert_eq!(payouts_from(Some((200, last)), "pay_1"), Ok((None, None)));
        assert!(matches!(
            payouts_from(None, "pay_1"),
            Err(PayoutError::Unavailable(_))
        ));
    }
}
