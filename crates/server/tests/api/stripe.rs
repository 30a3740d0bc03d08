//! The `stripe` provider, without Stripe: its requests go to a recording double of Stripe's
//! API, and its webhooks are payloads in Stripe's documented shapes, signed as Stripe signs
//! (`tests/fixtures/stripe`, with the signatures they were recorded with).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use server::payments::signature::verify;
use server::payments::{Action, parse_event};
use testkit::conformance;

use crate::common::{ADMIN, TestApp, amounts, spawn_app_with, string};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/stripe");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}.json")).expect("the fixture exists")
}

fn signatures() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/signatures.json")).expect("exists"),
    )
    .expect("json")
}

#[test]
fn recorded_payloads_verify_with_their_recorded_signatures_and_parse() {
    let recorded = signatures();
    let secret = string(&recorded, "secret").as_bytes().to_vec();
    let expected = [
        ("payment_intent.succeeded", "pi_3PqRy8Kx1JfTwU2a0aT5cK9n"),
        ("charge.refunded", "pi_3PqRy8Kx1JfTwU2a0aT5cK9n"),
        ("charge.dispute.created", "pi_3PqRy8Kx1JfTwU2a0aT5cK9n"),
        ("payout.paid", "pay_0193a6f2c1d87e32b6f4a0c1d2e3f406"),
        ("payout.failed", "pay_0193a6f2c1d87e32b6f4a0c1d2e3f407"),
    ];
    for (name, id) in expected {
        let body = fixture(name);
        let header = string(&recorded["signatures"], name);
        let t: i64 = header
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .and_then(|t| t.parse().ok())
            .expect("a time");
        assert_eq!(
            verify(Some(header), body.as_bytes(), &secret, t + 10, 300),
            Ok(t),
            "{name}"
        );
        // Five minutes later it is stale; any other secret or body does not match.
        assert!(verify(Some(header), body.as_bytes(), &secret, t + 301, 300).is_err());
        assert!(verify(Some(header), body.as_bytes(), b"whsec_other", t, 300).is_err());
        assert!(
            verify(
                Some(header),
                body.replacen("\"livemode\": false", "\"livemode\": true", 1)
                    .as_bytes(),
                &secret,
                t,
                300
            )
            .is_err()
        );
        let event = parse_event(body.as_bytes()).expect("parses");
        assert_eq!(event.kind, name);
        let named = match &event.action {
            Action::PaymentSucceeded {
                payment_id, amount, ..
            } => {
                assert_eq!(amount, &money::Money::new(499, money::Currency::USD));
                payment_id
            }
            Action::PaymentRefunded { payment_id, full } => {
                assert!(full);
                payment_id
            }
            Action::PaymentDisputed {
                payment_id,
                dispute_id,
            } => {
                assert!(dispute_id.starts_with("du_"));
                payment_id
            }
            Action::PayoutPaid {
                payout_id,
                provider_id,
            } => {
                assert!(provider_id.starts_with("po_"));
                payout_id
            }
            Action::PayoutFailed {
                payout_id, reason, ..
            } => {
                assert_eq!(reason, "The bank account has been closed.");
                payout_id
            }
            Action::Ignored => panic!("{name} is handled"),
        };
        assert_eq!(named, id, "{name}");
    }
}

/// What the double of Stripe received: method, path, the headers that matter, the form (or
/// the query of a read).
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    authorization: String,
    idempotency_key: String,
    version: String,
    account: Option<String>,
    form: Vec<(String, String)>,
}

impl Received {
    fn field(&self, k: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// The double's memory: what it received, the transfers and payouts it made, and the faults
/// a test asks of it. It keeps no idempotency keys, as Stripe after 24 hours: a request made
/// again makes the object again.
#[derive(Debug, Default)]
struct Double {
    received: Vec<Received>,
    /// Transfer objects, as Stripe lists them.
    transfers: Vec<Value>,
    /// (connected account, payout object).
    payouts: Vec<(String, Value)>,
    /// Every payout is refused (an account that cannot receive payouts).
    refuse_payouts: bool,
    /// So many transfers are made but answered 500 (an answer lost).
    lose_transfer_answers: u32,
    /// So many payouts are made but answered 500.
    lose_payout_answers: u32,
    /// So many reversals are answered 500 without being made.
    fail_reversals: u32,
    /// So many transfers are answered 503 without being made (Stripe unreachable).
    fail_transfers: u32,
    /// How long a listing of transfers takes to answer.
    lookup_delay: Duration,
}

impl Double {
    fn count(&self, method: &str, path: &str) -> usize {
        self.received.iter().filter(|r| r.is(method, path)).count()
    }

    /// The transfers not reversed.
    fn standing_transfers(&self) -> Vec<&Value> {
        self.transfers
            .iter()
            .filter(|t| t["reversed"] != json!(true))
            .collect()
    }
}

type Log = Arc<Mutex<Double>>;

fn answer(status: u16, body: Value) -> (axum::http::StatusCode, axum::Json<Value>) {
    (
        axum::http::StatusCode::from_u16(status).expect("a status"),
        axum::Json(body),
    )
}

fn lost() -> (axum::http::StatusCode, axum::Json<Value>) {
    answer(
        500,
        json!({"error": {"type": "api_error", "message": "the answer was lost"}}),
    )
}

/// Answers like Stripe's test mode: `pm_card_chargeDeclined` is a card error, the rest
/// succeeds; transfers, their reversals and payouts are kept and listed; every request is
/// recorded.
async fn stripe_double(
    State(log): State<Log>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let read = method == axum::http::Method::GET;
    let form: Vec<(String, String)> = url_pairs(if read {
        uri.query().unwrap_or_default()
    } else {
        &body
    });
    let received = Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        authorization: header("authorization").unwrap_or_default(),
        idempotency_key: header("idempotency-key").unwrap_or_default(),
        version: header("stripe-version").unwrap_or_default(),
        account: header("stripe-account"),
        form,
    };
    let (n, delay) = {
        let mut double = log.lock().expect("not poisoned");
        double.received.push(received.clone());
        let slow = read && received.path == "/v1/transfers";
        let delay = if slow {
            double.lookup_delay
        } else {
            Duration::ZERO
        };
        (double.received.len(), delay)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut double = log.lock().expect("not poisoned");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let amount = received
        .field("amount")
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or(0);
    let path = received.path.as_str();
    match (read, path) {
        (false, "/v1/payment_intents")
            if received.field("payment_method") == Some("pm_card_chargeDeclined") =>
        {
            answer(
                402,
                json!({"error": {"type": "card_error", "code": "card_declined",
                "decline_code": "generic_decline", "message": "Your card was declined."}}),
            )
        }
        (false, "/v1/payment_intents") => answer(
            200,
            json!({"id": format!("pi_double_{n}"), "object": "payment_intent", "status": "succeeded"}),
        ),
        (false, "/v1/refunds") => answer(
            200,
            json!({"id": format!("re_double_{n}"), "object": "refund"}),
        ),
        (false, "/v1/transfers") if double.fail_transfers > 0 => {
            double.fail_transfers -= 1;
            answer(
                503,
                json!({"error": {"type": "api_error", "message": "try again later"}}),
            )
        }
        (false, "/v1/transfers") => {
            let transfer = json!({
                "id": format!("tr_double_{n}"), "object": "transfer", "amount": amount,
                "amount_reversed": 0, "currency": received.field("currency"),
                "created": now, "destination": received.field("destination"),
                "metadata": {"ovation_payout": received.field("metadata[ovation_payout]")},
                "reversed": false, "transfer_group": received.field("transfer_group"),
            });
            double.transfers.push(transfer.clone());
            if double.lose_transfer_answers > 0 {
                double.lose_transfer_answers -= 1;
                return lost();
            }
            answer(200, transfer)
        }
        (true, "/v1/transfers") => {
            let group = received.field("transfer_group");
            let data: Vec<Value> = double
                .transfers
                .iter()
                .filter(|t| group.is_none() || t["transfer_group"].as_str() == group)
                .rev()
                .cloned()
                .collect();
            answer(
                200,
                json!({"object": "list", "url": "/v1/transfers", "has_more": false, "data": data}),
            )
        }
        (false, _) if path.starts_with("/v1/transfers/") && path.ends_with("/reversals") => {
            let id = &path["/v1/transfers/".len()..path.len() - "/reversals".len()];
            if double.fail_reversals > 0 {
                double.fail_reversals -= 1;
                return answer(
                    503,
                    json!({"error": {"type": "api_error", "message": "try again later"}}),
                );
            }
            let Some(transfer) = double.transfers.iter_mut().find(|t| t["id"] == json!(id)) else {
                return answer(
                    404,
                    json!({"error": {"type": "invalid_request_error", "message": "no such transfer"}}),
                );
            };
            if transfer["reversed"] == json!(true) {
                return answer(
                    400,
                    json!({"error": {"type": "invalid_request_error", "message": "the transfer is already fully reversed"}}),
                );
            }
            transfer["amount_reversed"] = transfer["amount"].clone();
            transfer["reversed"] = json!(true);
            answer(
                200,
                json!({"id": format!("trr_double_{n}"), "object": "transfer_reversal",
                       "amount": transfer["amount"], "transfer": id}),
            )
        }
        (false, "/v1/payouts") if double.refuse_payouts => answer(
            400,
            json!({"error": {"type": "invalid_request_error", "message": "this account cannot receive payouts"}}),
        ),
        (false, "/v1/payouts") => {
            let payout = json!({
                "id": format!("po_double_{n}"), "object": "payout", "amount": amount,
                "currency": received.field("currency"), "created": now, "status": "pending",
                "metadata": {"ovation_payout": received.field("metadata[ovation_payout]"),
                             "ovation_creator": received.field("metadata[ovation_creator]")},
            });
            let account = received.account.clone().unwrap_or_default();
            double.payouts.push((account, payout.clone()));
            if double.lose_payout_answers > 0 {
                double.lose_payout_answers -= 1;
                return lost();
            }
            answer(200, payout)
        }
        (true, "/v1/payouts") => {
            let since = received
                .field("created[gte]")
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0);
            let data: Vec<Value> = double
                .payouts
                .iter()
                .filter(|(account, p)| {
                    Some(account.as_str()) == received.account.as_deref()
                        && p["created"].as_i64().unwrap_or(0) >= since
                })
                .map(|(_, p)| p.clone())
                .rev()
                .collect();
            answer(
                200,
                json!({"object": "list", "url": "/v1/payouts", "has_more": false, "data": data}),
            )
        }
        _ => answer(
            404,
            json!({"error": {"type": "invalid_request_error", "message": "no such path"}}),
        ),
    }
}

/// Decodes `a=1&b%5Bc%5D=2`.
fn url_pairs(body: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("3f");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// An Ovation with the `stripe` provider talking to a double of Stripe.
async fn with_stripe() -> (TestApp, Log) {
    let log: Log = Arc::default();
    let double = axum::Router::new()
        .fallback(stripe_double)
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, double).await;
    });
    let secret = string(&signatures(), "secret").to_owned();
    let app = spawn_app_with(move |c| {
        c.payments = server::settings::PaymentsConfig::Stripe {
            secret_key: secrecy::SecretString::from("sk_test_ovation"),
            api_base: base,
        };
        c.webhooks.secret = Some(secrecy::SecretString::from(secret));
        c.hold_period = Duration::ZERO;
        c.release_interval = None;
        c.payout_minimum_major = 1;
    })
    .await;
    (app, log)
}

/// Posts a Stripe event with `Stripe-Signature`: signed now, or with the header given.
async fn stripe_webhook(app: &TestApp, body: &str, signature: Option<&str>) -> (u16, Value) {
    let now = app.sign_at(time::OffsetDateTime::now_utc().unix_timestamp(), body);
    let response = app
        .client
        .post(app.url("/v1/webhooks/payments"))
        .header("Stripe-Signature", signature.unwrap_or(&now))
        .body(body.to_owned())
        .send()
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[conformance]
async fn a_badge_is_charged_as_a_confirmed_payment_intent_and_a_decline_books_nothing() {
    let (app, log) = with_stripe().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "stripe").await;
    let p = app.bought(&bob.token, &live, 3).await;
    let id = string(&p, "id");
    let sent = log.lock().expect("not poisoned").received[0].clone();
    assert_eq!(sent.path, "/v1/payment_intents");
    assert_eq!(sent.authorization, "Bearer sk_test_ovation");
    assert_eq!(sent.version, server::payments::STRIPE_VERSION);
    // Without an Idempotency-Key, the request's own provider key (a retry is another payment).
    assert!(
        sent.idempotency_key.starts_with("ovation-req-"),
        "{}",
        sent.idempotency_key
    );
    for (k, v) in [
        ("amount", "499"),
        ("currency", "usd"),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
        ("error_on_requires_action", "true"),
        ("automatic_payment_methods[allow_redirects]", "never"),
        ("metadata[ovation_reference]", id),
    ] {
        assert_eq!(sent.field(k), Some(v), "{k} in {sent:?}");
    }
    assert_eq!(app.payment_of(id).await, "pi_double_1");
    let declined = app
        .buy(&bob.token, &live, 1, "pm_card_chargeDeclined", None)
        .await;
    assert_eq!(declined.0, 402, "{declined:?}");
    assert_eq!(declined.1["error"]["code"], json!("card_declined"));
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (499, 0, 0));
    // A refund is a refund of the payment intent.
    let (status, body) = app.refund(ADMIN, id, None).await;
    assert_eq!(status, 200, "{body}");
    let refund = log
        .lock()
        .expect("not poisoned")
        .received
        .last()
        .cloned()
        .expect("a request");
    assert_eq!(refund.path, "/v1/refunds");
    assert_eq!(refund.field("payment_intent"), Some("pi_double_1"));
    assert_eq!(refund.idempotency_key, format!("refund:{id}"));
    app.verify().await;
}

#[conformance]
async fn stripe_s_recorded_events_are_handled_and_their_old_signatures_are_stale() {
    let (app, _log) = with_stripe().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "stripe").await;
    let p = app.bought(&bob.token, &live, 3).await;
    let payment = app.payment_of(string(&p, "id")).await;
    // The recorded dispute, about this purchase's payment.
    let body = fixture("charge.dispute.created").replace("pi_3PqRy8Kx1JfTwU2a0aT5cK9n", &payment);
    let recorded = signatures();
    let old = string(&recorded["signatures"], "charge.dispute.created");
    let (status, answer) = stripe_webhook(&app, &body, Some(old)).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (400, json!("invalid_signature"))
    );
    // The sandbox's header is not Stripe's.
    let now = app.sign_at(time::OffsetDateTime::now_utc().unix_timestamp(), &body);
    let (status, _, _) = app.webhook_raw(&body, Some(&now)).await;
    assert_eq!(status, 400);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (499, 0, 0));
    let (status, answer) = stripe_webhook(&app, &body, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], json!("charged_back"));
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    // Redelivered: applied once.
    let (status, again) = stripe_webhook(&app, &body, None).await;
    assert_eq!((status, &again), (200, &answer));
    app.verify().await;
}

#[conformance]
async fn a_payout_is_a_connect_transfer_then_a_payout_on_the_connected_account() {
    let (app, log) = with_stripe().await;
    let ana = app.creator("ana").await;
    let eve = app.creator("eve").await;
    let bob = app.viewer("bob", "US").await;
    for c in [&ana, &eve] {
        let live = app.start_live(&c.token, "stripe").await;
        app.bought(&bob.token, &live, 3).await;
    }
    let (status, body) = app
        .request(
            reqwest::Method::PUT,
            &format!("/v1/accounts/{}/payout-account", ana.id),
            Some(ADMIN),
            None,
            Some(json!({"payout_account": "acct_1PqS5xQ9RKHgCVdK"}).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.release().await;
    let (status, report) = app.post_empty("/v1/payouts/run", Some(ADMIN)).await;
    assert_eq!(status, 200, "{report}");
    // Eve has no connected account: her payout is rejected and voided.
    assert_eq!(
        (report["payouts"].clone(), report["rejected"].clone()),
        (json!(2), json!(1)),
        "{report}"
    );
    assert_eq!(amounts(&app.earnings_of(&eve.id).await, "USD"), (0, 499, 0));
    let sent: Vec<Received> = log
        .lock()
        .expect("not poisoned")
        .received
        .iter()
        .filter(|r| r.path == "/v1/transfers" || r.path == "/v1/payouts")
        .cloned()
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (transfer, payout) = (&sent[0], &sent[1]);
    assert_eq!(transfer.path, "/v1/transfers");
    assert_eq!(transfer.field("destination"), Some("acct_1PqS5xQ9RKHgCVdK"));
    assert_eq!(transfer.field("amount"), Some("499"));
    assert_eq!(transfer.account, None);
    assert_eq!(payout.path, "/v1/payouts");
    assert_eq!(payout.account.as_deref(), Some("acct_1PqS5xQ9RKHgCVdK"));
    let payout_id = payout
        .field("metadata[ovation_payout]")
        .expect("named")
        .to_owned();
    assert!(payout.idempotency_key.starts_with(&payout_id));
    // Pending until Stripe's payout.paid, recorded shape, naming this payout and the payout
    // Stripe made for it (on the connected account the fixture names).
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    let (_, p) = app
        .get(&format!("/v1/payouts/{payout_id}"), Some(ADMIN))
        .await;
    let provider_id = string(&p, "provider_id").to_owned();
    assert!(provider_id.starts_with("po_double_"), "{p}");
    let paid = fixture("payout.paid")
        .replace("pay_0193a6f2c1d87e32b6f4a0c1d2e3f406", &payout_id)
        .replace("po_1PqS6HQ9RKHgCVdKo2Lr3Z1x", &provider_id);
    let (status, answer) = stripe_webhook(&app, &paid, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], json!("paid"));
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 499));
    let (_, p) = app
        .get(&format!("/v1/payouts/{payout_id}"), Some(ADMIN))
        .await;
    assert_eq!(p["status"], json!("paid"));
    app.verify().await;
}

const ACCT: &str = "acct_1PqS5xQ9RKHgCVdK";

/// Sets `creator`'s payout account (a Stripe connected account).
async fn set_payout_account(app: &TestApp, creator: &str, account: &str) {
    let (status, body) = app
        .request(
            reqwest::Method::PUT,
            &format!("/v1/accounts/{creator}/payout-account"),
            Some(ADMIN),
            None,
            Some(json!({ "payout_account": account }).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A creator with a connected account and US$4.99 available.
async fn creator_with_499_available(app: &TestApp) -> crate::common::User {
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    set_payout_account(app, &ana.id, ACCT).await;
    let live = app.start_live(&ana.token, "stripe").await;
    app.bought(&bob.token, &live, 3).await;
    app.release().await;
    ana
}

async fn run_payouts(app: &TestApp) -> Value {
    let (status, report) = app.post_empty("/v1/payouts/run", Some(ADMIN)).await;
    assert_eq!(status, 200, "{report}");
    report
}

/// `(payouts, resumed, rejected, unsent)` of a run's report.
fn counts(report: &Value) -> (Value, Value, Value, Value) {
    (
        report["payouts"].clone(),
        report["resumed"].clone(),
        report["rejected"].clone(),
        report["unsent"].clone(),
    )
}

/// A creator's payouts, newest first.
async fn payouts_of(app: &TestApp, creator: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/creators/{creator}/payouts"), Some(ADMIN))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("data").clone()
}

/// Stripe's recorded `payout.paid` or `payout.failed`, made about Ovation's payout `payout`
/// and Stripe's payout `provider_id` on `account` (none: the platform's own).
fn payout_event(
    kind: &str,
    event_id: &str,
    payout: &str,
    provider_id: &str,
    account: Option<&str>,
) -> String {
    let mut event: Value = serde_json::from_str(&fixture(kind)).expect("json");
    event["id"] = json!(event_id);
    event["data"]["object"]["id"] = json!(provider_id);
    event["data"]["object"]["metadata"]["ovation_payout"] = json!(payout);
    match account {
        Some(account) => event["account"] = json!(account),
        None => {
            event.as_object_mut().expect("an object").remove("account");
        }
    }
    event.to_string()
}

#[conformance]
async fn a_payout_refused_after_its_transfer_is_reversed_then_voided_and_the_next_run_pays_once() {
    let (app, log) = with_stripe().await;
    let ana = creator_with_499_available(&app).await;
    log.lock().expect("not poisoned").refuse_payouts = true;
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(1), json!(0), json!(1), json!(0)),
        "{report}"
    );
    let refused = payouts_of(&app, &ana.id).await[0].clone();
    let id = string(&refused, "id").to_owned();
    assert_eq!(
        (refused["status"].clone(), refused["failure"].clone()),
        (
            json!("failed"),
            json!("this account cannot receive payouts")
        ),
        "{refused}"
    );
    {
        let double = log.lock().expect("not poisoned");
        // The money went to the connected account and came back before the ledger voided.
        assert_eq!(double.transfers.len(), 1, "{:?}", double.transfers);
        assert!(
            double.standing_transfers().is_empty(),
            "{:?}",
            double.transfers
        );
        let reversal = double
            .received
            .iter()
            .find(|r| r.method == "POST" && r.path.ends_with("/reversals"))
            .expect("a reversal");
        assert_eq!(
            reversal.path,
            format!(
                "/v1/transfers/{}/reversals",
                double.transfers[0]["id"].as_str().expect("an id")
            )
        );
        assert!(reversal.idempotency_key.starts_with(&id), "{reversal:?}");
        assert_eq!(reversal.account, None);
        assert!(double.payouts.is_empty());
    }
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    // The account can receive payouts again: the next run pays once.
    log.lock().expect("not poisoned").refuse_payouts = false;
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(1), json!(0), json!(0), json!(0)),
        "{report}"
    );
    {
        let double = log.lock().expect("not poisoned");
        let standing = double.standing_transfers();
        assert_eq!(standing.len(), 1, "{:?}", double.transfers);
        assert_eq!(standing[0]["amount"], json!(499));
        assert_eq!(double.payouts.len(), 1);
        assert_eq!(double.payouts[0].0, ACCT);
    }
    let paid = payouts_of(&app, &ana.id).await[0].clone();
    let paid_event = payout_event(
        "payout.paid",
        "evt_paid_once",
        string(&paid, "id"),
        string(&paid, "provider_id"),
        Some(ACCT),
    );
    let (status, answer) = stripe_webhook(&app, &paid_event, None).await;
    assert_eq!(
        (status, answer["result"].clone()),
        (200, json!("paid")),
        "{answer}"
    );
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 499));
    app.verify().await;
}

#[conformance]
async fn a_payout_whose_transfer_cannot_be_reversed_yet_stays_pending_until_a_run_reverses_it() {
    let (app, log) = with_stripe().await;
    let ana = creator_with_499_available(&app).await;
    {
        let mut double = log.lock().expect("not poisoned");
        double.refuse_payouts = true;
        double.fail_reversals = 1;
    }
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(1), json!(0), json!(0), json!(1)),
        "{report}"
    );
    // Not voided: the money is in the connected account, so it is not available again.
    let pending = payouts_of(&app, &ana.id).await[0].clone();
    assert_eq!(pending["status"], json!("pending"), "{pending}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    assert_eq!(
        log.lock().expect("not poisoned").standing_transfers().len(),
        1
    );
    app.verify().await;
    // The next run sends it again: the transfer found, the payout refused again, the
    // transfer reversed now, the payout voided; the balance, available again, is booked and
    // refused the same way.
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(1), json!(1), json!(2), json!(0)),
        "{report}"
    );
    {
        let double = log.lock().expect("not poisoned");
        assert_eq!(double.transfers.len(), 2, "{:?}", double.transfers);
        assert!(
            double.standing_transfers().is_empty(),
            "{:?}",
            double.transfers
        );
    }
    let listed = payouts_of(&app, &ana.id).await;
    assert!(
        listed.iter().all(|p| p["status"] == json!("failed")),
        "{listed:?}"
    );
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    app.verify().await;
}

#[conformance]
async fn an_unsent_payout_is_sent_again_with_the_transfer_and_the_payout_stripe_already_made() {
    let (app, log) = with_stripe().await;
    let ana = creator_with_499_available(&app).await;
    // The transfer is made, its answer lost.
    log.lock().expect("not poisoned").lose_transfer_answers = 1;
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(1), json!(0), json!(0), json!(1)),
        "{report}"
    );
    let id = string(&payouts_of(&app, &ana.id).await[0], "id").to_owned();
    // A day later (Stripe has forgotten the key; the double keeps none): found by its
    // transfer group and reused; then the payout is made, its answer lost too.
    log.lock().expect("not poisoned").lose_payout_answers = 1;
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(0), json!(1), json!(0), json!(1)),
        "{report}"
    );
    {
        let double = log.lock().expect("not poisoned");
        assert_eq!(double.count("POST", "/v1/transfers"), 1);
        let look = double
            .received
            .iter()
            .find(|r| r.is("GET", "/v1/transfers"))
            .expect("a look-up");
        assert_eq!(look.field("transfer_group"), Some(id.as_str()));
        assert_eq!(double.count("POST", "/v1/payouts"), 1);
    }
    // Then the payout Stripe made is found on the connected account by its metadata.
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(0), json!(1), json!(0), json!(0)),
        "{report}"
    );
    let made = {
        let double = log.lock().expect("not poisoned");
        assert_eq!(double.count("POST", "/v1/transfers"), 1);
        assert_eq!(double.count("POST", "/v1/payouts"), 1);
        let listed = double
            .received
            .iter()
            .find(|r| r.is("GET", "/v1/payouts"))
            .expect("a listing");
        assert_eq!(listed.account.as_deref(), Some(ACCT));
        assert_eq!(double.payouts.len(), 1);
        double.payouts[0].1["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let p = payouts_of(&app, &ana.id).await[0].clone();
    assert_eq!(
        (p["status"].clone(), p["provider_id"].clone()),
        (json!("pending"), json!(made)),
        "{p}"
    );
    let paid = payout_event("payout.paid", "evt_paid_resent", &id, &made, Some(ACCT));
    let (status, answer) = stripe_webhook(&app, &paid, None).await;
    assert_eq!(
        (status, answer["result"].clone()),
        (200, json!("paid")),
        "{answer}"
    );
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 499));
    assert_eq!(
        log.lock().expect("not poisoned").standing_transfers().len(),
        1
    );
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_send_an_unsent_payout_once_after_stripe_forgot_its_key() {
    let (app, log) = with_stripe().await;
    let ana = creator_with_499_available(&app).await;
    // Stripe is unreachable: the payout is booked, its transfer never made.
    log.lock().expect("not poisoned").fail_transfers = 1;
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(1), json!(0), json!(0), json!(1)),
        "{report}"
    );
    // A day later (the double keeps no keys), two runs at once. Each looks for an earlier
    // transfer first, slowly: without a claim, both would find none and both would pay.
    log.lock().expect("not poisoned").lookup_delay = Duration::from_millis(300);
    let (a, b) = tokio::join!(run_payouts(&app), run_payouts(&app));
    let resumed = |r: &Value| r["resumed"].as_u64().expect("a count");
    assert_eq!(resumed(&a) + resumed(&b), 1, "{a} {b}");
    {
        let double = log.lock().expect("not poisoned");
        assert_eq!(double.standing_transfers().len(), 1);
        assert_eq!(double.payouts.len(), 1);
    }
    let p = payouts_of(&app, &ana.id).await[0].clone();
    assert_eq!(p["status"], json!("pending"), "{p}");
    assert!(p["provider_id"].is_string(), "{p}");
    app.verify().await;
}

#[conformance]
async fn stripe_payout_events_apply_only_to_the_payout_stripe_made_for_it() {
    let (app, log) = with_stripe().await;
    let ana = creator_with_499_available(&app).await;
    // Stripe makes the payout but its answer is lost: its id is not recorded yet.
    log.lock().expect("not poisoned").lose_payout_answers = 1;
    let report = run_payouts(&app).await;
    assert_eq!(report["unsent"], json!(1), "{report}");
    let id = string(&payouts_of(&app, &ana.id).await[0], "id").to_owned();
    let made = log.lock().expect("not poisoned").payouts[0].1["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    // Until it is, the event must come from the creator's connected account: another
    // account's payout naming this one in its metadata, or the platform's own, is not it.
    for (n, account) in [Some("acct_other"), None].into_iter().enumerate() {
        let paid = payout_event("payout.paid", &format!("evt_a{n}"), &id, &made, account);
        let (status, answer) = stripe_webhook(&app, &paid, None).await;
        assert_eq!(
            (status, answer["result"].clone()),
            (200, json!("payout_mismatch")),
            "{account:?}: {answer}"
        );
    }
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    let paid = payout_event("payout.paid", "evt_paid", &id, &made, Some(ACCT));
    let (status, answer) = stripe_webhook(&app, &paid, None).await;
    assert_eq!(
        (status, answer["result"].clone()),
        (200, json!("paid")),
        "{answer}"
    );
    let (_, p) = app.get(&format!("/v1/payouts/{id}"), Some(ADMIN)).await;
    assert_eq!(
        (p["status"].clone(), p["provider_id"].clone()),
        (json!("paid"), json!(made)),
        "{p}"
    );
    // Once recorded, the event must name Stripe's payout: another payout on the same
    // account, or on no account, failing is not this one's return.
    for (n, account) in [Some(ACCT), None].into_iter().enumerate() {
        let failed = payout_event(
            "payout.failed",
            &format!("evt_b{n}"),
            &id,
            "po_other",
            account,
        );
        let (status, answer) = stripe_webhook(&app, &failed, None).await;
        assert_eq!(
            (status, answer["result"].clone()),
            (200, json!("payout_mismatch")),
            "{account:?}: {answer}"
        );
    }
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 499));
    {
        let double = log.lock().expect("not poisoned");
        assert_eq!(double.standing_transfers().len(), 1);
        assert!(
            !double
                .received
                .iter()
                .any(|r| r.path.ends_with("/reversals"))
        );
    }
    // The next run finds nothing unsent and nothing to pay.
    let report = run_payouts(&app).await;
    assert_eq!(
        counts(&report),
        (json!(0), json!(0), json!(0), json!(0)),
        "{report}"
    );
    app.verify().await;
}

#[conformance]
async fn a_stripe_payout_that_fails_or_comes_back_is_reversed_before_its_money_is_available_again()
{
    let (app, log) = with_stripe().await;
    let ana = creator_with_499_available(&app).await;
    run_payouts(&app).await;
    let p = payouts_of(&app, &ana.id).await[0].clone();
    let (id, po) = (
        string(&p, "id").to_owned(),
        string(&p, "provider_id").to_owned(),
    );
    // The bank refuses it: Stripe puts the money back in the connected account. The transfer
    // cannot be reversed at first: nothing is booked, and Stripe delivers the event again.
    log.lock().expect("not poisoned").fail_reversals = 1;
    let failed = payout_event("payout.failed", "evt_failed", &id, &po, Some(ACCT));
    let (status, answer) = stripe_webhook(&app, &failed, None).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (503, json!("unavailable")),
        "{answer}"
    );
    let (_, p) = app.get(&format!("/v1/payouts/{id}"), Some(ADMIN)).await;
    assert_eq!(p["status"], json!("pending"), "{p}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    let (status, answer) = stripe_webhook(&app, &failed, None).await;
    assert_eq!(
        (status, answer["result"].clone()),
        (200, json!("failed")),
        "{answer}"
    );
    {
        let double = log.lock().expect("not poisoned");
        assert!(
            double.standing_transfers().is_empty(),
            "{:?}",
            double.transfers
        );
        let reversal = double
            .received
            .iter()
            .rfind(|r| r.method == "POST" && r.path.ends_with("/reversals"))
            .expect("a reversal");
        assert!(reversal.idempotency_key.starts_with(&id), "{reversal:?}");
    }
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    app.verify().await;
    // Paid again by the next run; then the bank returns it after it was paid.
    let report = run_payouts(&app).await;
    assert_eq!(report["payouts"], json!(1), "{report}");
    let p = payouts_of(&app, &ana.id).await[0].clone();
    let (id, po) = (
        string(&p, "id").to_owned(),
        string(&p, "provider_id").to_owned(),
    );
    let paid = payout_event("payout.paid", "evt_paid_2", &id, &po, Some(ACCT));
    let (status, answer) = stripe_webhook(&app, &paid, None).await;
    assert_eq!(
        (status, answer["result"].clone()),
        (200, json!("paid")),
        "{answer}"
    );
    assert_eq!(
        log.lock().expect("not poisoned").standing_transfers().len(),
        1
    );
    let returned = payout_event("payout.failed", "evt_returned", &id, &po, Some(ACCT));
    let (status, answer) = stripe_webhook(&app, &returned, None).await;
    assert_eq!(
        (status, answer["result"].clone()),
        (200, json!("returned")),
        "{answer}"
    );
    assert!(
        log.lock()
            .expect("not poisoned")
            .standing_transfers()
            .is_empty()
    );
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    // Redelivered: the recorded answer; nothing reversed or booked again.
    let reversals = |log: &Log| {
        log.lock()
            .expect("not poisoned")
            .received
            .iter()
            .filter(|r| r.path.ends_with("/reversals"))
            .count()
    };
    let before = reversals(&log);
    let (status, again) = stripe_webhook(&app, &returned, None).await;
    assert_eq!((status, &again), (200, &answer));
    assert_eq!(reversals(&log), before);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    app.verify().await;
}
