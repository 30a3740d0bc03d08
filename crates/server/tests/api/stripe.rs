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

/// What the double of Stripe received: path, the headers that matter, the form.
#[derive(Debug, Clone)]
struct Received {
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
}

type Log = Arc<Mutex<Vec<Received>>>;

/// Answers like Stripe's test mode: `pm_card_chargeDeclined` is a card error, the rest
/// succeeds; every request is recorded.
async fn stripe_double(
    State(log): State<Log>,
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
    let form: Vec<(String, String)> = url_pairs(&body);
    let received = Received {
        path: uri.path().to_owned(),
        authorization: header("authorization").unwrap_or_default(),
        idempotency_key: header("idempotency-key").unwrap_or_default(),
        version: header("stripe-version").unwrap_or_default(),
        account: header("stripe-account"),
        form,
    };
    let n = {
        let mut log = log.lock().expect("not poisoned");
        log.push(received.clone());
        log.len()
    };
    let ok = axum::http::StatusCode::OK;
    match received.path.as_str() {
        "/v1/payment_intents"
            if received.field("payment_method") == Some("pm_card_chargeDeclined") =>
        {
            (
                axum::http::StatusCode::PAYMENT_REQUIRED,
                axum::Json(
                    json!({"error": {"type": "card_error", "code": "card_declined",
                "decline_code": "generic_decline", "message": "Your card was declined."}}),
                ),
            )
        }
        "/v1/payment_intents" => (
            ok,
            axum::Json(
                json!({"id": format!("pi_double_{n}"), "object": "payment_intent", "status": "succeeded"}),
            ),
        ),
        "/v1/refunds" => (
            ok,
            axum::Json(json!({"id": format!("re_double_{n}"), "object": "refund"})),
        ),
        "/v1/transfers" => (
            ok,
            axum::Json(json!({"id": format!("tr_double_{n}"), "object": "transfer"})),
        ),
        "/v1/payouts" => (
            ok,
            axum::Json(json!({"id": format!("po_double_{n}"), "object": "payout"})),
        ),
        _ => (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(
                json!({"error": {"type": "invalid_request_error", "message": "no such path"}}),
            ),
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
    let sent = log.lock().expect("not poisoned")[0].clone();
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
    // Pending until Stripe's payout.paid, recorded shape, naming this payout.
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    let paid = fixture("payout.paid").replace("pay_0193a6f2c1d87e32b6f4a0c1d2e3f406", &payout_id);
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
