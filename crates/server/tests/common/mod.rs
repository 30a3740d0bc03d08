//! `spawn_app()`: the real server, in process, on port 0, with a fresh database per test on
//! the backend of the running `#[conformance]` test (SQLite or PostgreSQL, see `testkit`),
//! and a `TestApp` with typed request helpers (zero-to-production's `tests/api/helpers.rs`).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;

/// The admin token every test app accepts.
pub(crate) const ADMIN: &str = "test-admin-token-at-least-32-characters";

/// A running server and a client for it. Dropping it stops the server.
pub(crate) struct TestApp {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// The platform's token.
    pub(crate) admin_token: String,
    /// Plain HTTP, no proxy.
    pub(crate) client: reqwest::Client,
    /// The server's state, for tests that reach past HTTP (publishing straight to the bus).
    pub(crate) state: server::state::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    // Last: the database is removed after the server has been told to stop.
    db: testkit::TestDb,
}

/// An account with a token that acts as it.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) handle: String,
    pub(crate) token: String,
}

/// The answer of a request: status and JSON body (`Null` when empty).
pub(crate) type Answer = (u16, Value);

/// A server with the default configuration.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server whose configuration `configure` changed from the defaults.
pub(crate) async fn spawn_app_with(configure: impl FnOnce(&mut server::Config)) -> TestApp {
    spawn_app_on(0, configure).await
}

/// A server on a port chosen before it starts, whose `public_url` is its own address: the
/// tracked links it hands out lead back to it.
pub(crate) async fn spawn_app_reachable(configure: impl FnOnce(&mut server::Config)) -> TestApp {
    let port = testkit::free_port();
    spawn_app_on(port, |c| {
        c.public_url = format!("http://127.0.0.1:{port}");
        configure(c);
    })
    .await
}

async fn spawn_app_on(port: u16, configure: impl FnOnce(&mut server::Config)) -> TestApp {
    let db = testkit::TestDb::fresh().await;
    let mut config = server::Config::for_database(db.url());
    config.admin_token = Some(secrecy::SecretString::from(ADMIN));
    configure(&mut config);
    let app = server::App::build(config).await.expect("the app builds");
    let admin_token = app.admin_token.clone();
    let state = app.state.clone();
    let (listener, addr) = server::bind(([127, 0, 0, 1], port).into())
        .await
        .expect("the port binds");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = app
            .serve(listener, async move {
                let _ = rx.await;
            })
            .await;
    });
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client");
    TestApp {
        addr,
        admin_token,
        client,
        state,
        shutdown: Some(tx),
        db,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A birth date `years` ago today (minus a day, so the birthday has passed).
pub(crate) fn born_years_ago(years: i32) -> String {
    let today = OffsetDateTime::now_utc().date();
    let date = today
        .replace_year(today.year() - years)
        .unwrap_or_else(|_| today.replace_day(28).expect("28 is a day of every month"));
    let date = date.previous_day().expect("not the first day of time");
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

impl TestApp {
    /// `http://127.0.0.1:port` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `ws://127.0.0.1:port` + `path`.
    pub(crate) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Any request; `body` is sent as is, `key` as `Idempotency-Key`.
    pub(crate) async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<String>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        if text.is_empty() {
            return (status, Value::Null);
        }
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path} answered {status} with non-JSON {text:?}: {e}"));
        (status, value)
    }

    /// GET, JSON answer.
    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.request(reqwest::Method::GET, path, token, None, None)
            .await
    }

    /// GET, text answer.
    pub(crate) async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    /// POST of a JSON value.
    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.request(
            reqwest::Method::POST,
            path,
            token,
            None,
            Some(body.to_string()),
        )
        .await
    }

    /// Another node on this test's database (its own writer, caches and matching index),
    /// not serving HTTP: for races between nodes.
    pub(crate) async fn another_node(&self) -> server::App {
        let mut config = server::Config::for_database(self.db.url());
        config.admin_token = Some(secrecy::SecretString::from(ADMIN));
        server::App::build(config)
            .await
            .expect("the second node builds")
    }

    /// PUT of a JSON body.
    pub(crate) async fn put(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.request(
            reqwest::Method::PUT,
            path,
            Some(token),
            None,
            Some(body.to_string()),
        )
        .await
    }

    /// POST of raw text (malformed bodies).
    pub(crate) async fn post_raw(&self, path: &str, token: Option<&str>, body: &str) -> Answer {
        self.request(
            reqwest::Method::POST,
            path,
            token,
            None,
            Some(body.to_owned()),
        )
        .await
    }

    /// POST without a body.
    pub(crate) async fn post_empty(&self, path: &str, token: Option<&str>) -> Answer {
        self.request(reqwest::Method::POST, path, token, None, None)
            .await
    }

    /// `POST /v1/accounts` as admin, whatever the answer.
    pub(crate) async fn try_create_account(&self, body: &Value) -> Answer {
        self.post("/v1/accounts", Some(ADMIN), body).await
    }

    /// Creates an account; asserts 201 and returns it.
    pub(crate) async fn create_account(
        &self,
        handle: &str,
        kind: &str,
        country: &str,
        birth_date: Option<&str>,
        followers: Option<i64>,
    ) -> Value {
        let mut body = json!({"handle": handle, "kind": kind, "country": country});
        if let Some(b) = birth_date {
            body["birth_date"] = json!(b);
        }
        if let Some(f) = followers {
            body["followers"] = json!(f);
        }
        let (status, account) = self.try_create_account(&body).await;
        assert_eq!(status, 201, "creating {handle}: {account}");
        account
    }

    /// Issues a token for the account `id`; asserts 201.
    pub(crate) async fn token_for(&self, id: &str) -> String {
        let (status, body) = self
            .post_empty(&format!("/v1/accounts/{id}/tokens"), Some(ADMIN))
            .await;
        assert_eq!(status, 201, "token for {id}: {body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// An account with its token.
    pub(crate) async fn user(
        &self,
        handle: &str,
        kind: &str,
        country: &str,
        birth_date: Option<&str>,
        followers: Option<i64>,
    ) -> User {
        let account = self
            .create_account(handle, kind, country, birth_date, followers)
            .await;
        let id = account["id"].as_str().expect("an id").to_owned();
        let token = self.token_for(&id).await;
        User {
            id,
            handle: handle.to_owned(),
            token,
        }
    }

    /// A US creator with a token.
    pub(crate) async fn creator(&self, handle: &str) -> User {
        self.user(handle, "creator", "US", None, Some(50_000)).await
    }

    /// A viewer in `country` with a token.
    pub(crate) async fn viewer(&self, handle: &str, country: &str) -> User {
        self.user(handle, "viewer", country, None, None).await
    }

    /// `POST /v1/lives`, whatever the answer.
    pub(crate) async fn try_start_live(&self, token: &str, title: &str) -> Answer {
        self.post("/v1/lives", Some(token), &json!({"title": title}))
            .await
    }

    /// Starts a live; asserts 201 and returns its id.
    pub(crate) async fn start_live(&self, creator_token: &str, title: &str) -> String {
        let (status, live) = self.try_start_live(creator_token, title).await;
        assert_eq!(status, 201, "starting a live: {live}");
        live["id"].as_str().expect("a live id").to_owned()
    }

    /// `POST /v1/lives/{id}/end`.
    pub(crate) async fn end_live(&self, token: &str, live: &str) -> Answer {
        self.post_empty(&format!("/v1/lives/{live}/end"), Some(token))
            .await
    }

    /// `POST /v1/lives/{id}/badges` with `{"tier", "payment_method"}`.
    pub(crate) async fn buy(
        &self,
        token: &str,
        live: &str,
        tier: i64,
        pm: &str,
        key: Option<&str>,
    ) -> Answer {
        self.request(
            reqwest::Method::POST,
            &format!("/v1/lives/{live}/badges"),
            Some(token),
            key,
            Some(json!({"tier": tier, "payment_method": pm}).to_string()),
        )
        .await
    }

    /// Buys with `pm_card_visa`; asserts 201 and returns the purchase.
    pub(crate) async fn bought(&self, token: &str, live: &str, tier: i64) -> Value {
        let (status, purchase) = self.buy(token, live, tier, "pm_card_visa", None).await;
        assert_eq!(status, 201, "buying tier {tier}: {purchase}");
        purchase
    }

    /// `POST /v1/lives/{id}/comments`.
    pub(crate) async fn comment(&self, token: &str, live: &str, text: &str) -> Answer {
        self.post(
            &format!("/v1/lives/{live}/comments"),
            Some(token),
            &json!({"text": text}),
        )
        .await
    }

    /// `POST /v1/purchases/{id}/refund`.
    pub(crate) async fn refund(&self, token: &str, purchase: &str, key: Option<&str>) -> Answer {
        self.request(
            reqwest::Method::POST,
            &format!("/v1/purchases/{purchase}/refund"),
            Some(token),
            key,
            None,
        )
        .await
    }

    /// `GET /v1/creators/{id}/earnings`.
    pub(crate) async fn earnings(&self, token: &str, creator: &str) -> Answer {
        self.get(&format!("/v1/creators/{creator}/earnings"), Some(token))
            .await
    }

    /// `POST /v1/webhooks/payments` with `body` and the signature header as given.
    pub(crate) async fn webhook_raw(
        &self,
        body: &str,
        signature: Option<&str>,
    ) -> (u16, Value, bool) {
        let mut request = self
            .client
            .post(self.url("/v1/webhooks/payments"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("Ovation-Signature", signature);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let text = response.text().await.expect("a body");
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == 200 {
            self.as_the_provider_recorded(body).await;
        }
        (status, value, replayed)
    }

    /// A refund or dispute event a test makes up is what the provider did: the sandbox's
    /// records say so too (the invariant the audit checks compares them with the ledger).
    async fn as_the_provider_recorded(&self, body: &str) {
        let Ok(event) = serde_json::from_str::<Value>(body) else {
            return;
        };
        let to = match event["type"].as_str() {
            Some("charge.refunded") => "refunded",
            Some("charge.dispute.created") => "disputed",
            _ => return,
        };
        let Some(payment) = event["data"]["object"]["payment_intent"].as_str() else {
            return;
        };
        self.state
            .store
            .sandbox_charge_set(payment, "succeeded", to, true, store::now())
            .await
            .expect("the sandbox's records");
    }

    /// Sends `event`, signed now with the server's webhook secret, as the provider does.
    pub(crate) async fn webhook(&self, event: &Value) -> (u16, Value, bool) {
        let body = event.to_string();
        let signature = self.sign_at(time::OffsetDateTime::now_utc().unix_timestamp(), &body);
        self.webhook_raw(&body, Some(&signature)).await
    }

    /// The signature header of `body` at unix time `t` with the server's secret.
    pub(crate) fn sign_at(&self, t: i64, body: &str) -> String {
        use secrecy::ExposeSecret;
        server::payments::signature::sign(
            self.state.webhook_secret.expose_secret().as_bytes(),
            t,
            body.as_bytes(),
        )
    }

    /// The provider's payment id of a purchase (not part of the API's answers).
    pub(crate) async fn payment_of(&self, purchase: &str) -> String {
        self.stored_purchase(purchase).await.payment_id
    }

    /// The purchase as stored.
    pub(crate) async fn stored_purchase(&self, purchase: &str) -> store::Purchase {
        self.state
            .store
            .purchase(&store::PurchaseId::from_string(purchase.to_owned()))
            .await
            .expect("the store answers")
            .expect("the purchase exists")
    }

    /// `POST /v1/holds/release` as admin; asserts 200.
    pub(crate) async fn release(&self) -> Value {
        let (status, body) = self.post_empty("/v1/holds/release", Some(ADMIN)).await;
        assert_eq!(status, 200, "release: {body}");
        body
    }

    /// The balance of a platform ledger account (`platform/<purpose>/<currency>`), credits
    /// minus debits, posted.
    pub(crate) async fn platform_balance(&self, purpose: ledger::Purpose, currency: &str) -> i64 {
        let currency = money::Currency::parse(currency).expect("a currency");
        let id = ledger::AccountId::of("platform", purpose, currency);
        self.state
            .store
            .ledger_balance(&id)
            .await
            .expect("the store answers")
            .map_or(0, |b| b.credits_posted - b.debits_posted)
    }

    /// Waits until the sandbox has delivered every webhook it queued.
    pub(crate) async fn settled(&self) {
        eventually("the sandbox's webhooks delivered", || async {
            self.state.sandbox_undelivered.count() == 0
        })
        .await;
    }

    /// This month's statement of `creator`, checked: for each currency, the opening balances
    /// plus every line equal the closing ones, the closing ones equal the earnings now, and
    /// the CSV has the same lines. Returns the JSON.
    pub(crate) async fn statement_reconciles(&self, creator: &str) -> Value {
        let now = OffsetDateTime::now_utc();
        let month = format!("{:04}-{:02}", now.year(), u8::from(now.month()));
        let path = format!("/v1/creators/{creator}/statements?month={month}");
        let (status, statement) = self.get(&path, Some(ADMIN)).await;
        assert_eq!(status, 200, "statement: {statement}");
        let earnings = self.earnings_of(creator).await;
        let currencies = statement["currencies"].as_array().expect("currencies");
        assert_eq!(
            currencies.len(),
            earnings["balances"].as_array().expect("balances").len(),
            "{statement}"
        );
        let mut csv_lines = 0;
        for c in currencies {
            let currency = string(c, "currency");
            let mut sums = [0_i64; 3];
            for (i, k) in ["pending", "available", "paid_out"].iter().enumerate() {
                sums[i] = c["opening"][k]["amount"].as_i64().expect("an amount");
                for line in c["lines"].as_array().expect("lines") {
                    sums[i] += line[k]["amount"].as_i64().expect("an amount");
                }
                assert_eq!(
                    sums[i],
                    c["closing"][k]["amount"].as_i64().expect("an amount"),
                    "{k} does not add up: {statement}"
                );
            }
            assert_eq!(
                amounts(&earnings, currency),
                (sums[0], sums[1], sums[2]),
                "the statement's closing balances are not the ledger's: {statement} {earnings}"
            );
            csv_lines += c["lines"].as_array().expect("lines").len() + 2;
        }
        let response = self
            .client
            .get(self.url(&format!("{path}&format=csv")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("answers");
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/csv")
        );
        let csv = response.text().await.expect("a body");
        assert_eq!(csv.lines().count(), csv_lines + 1, "{csv}");
        statement
    }

    /// The creator's earnings as the admin sees them; asserts 200.
    pub(crate) async fn earnings_of(&self, creator: &str) -> Value {
        let (status, body) = self.earnings(ADMIN, creator).await;
        assert_eq!(status, 200, "earnings: {body}");
        body
    }

    /// `GET /v1/lives/{id}/supporters` as admin; asserts 200.
    pub(crate) async fn supporters(&self, live: &str, query: &str) -> Value {
        let (status, body) = self
            .get(&format!("/v1/lives/{live}/supporters{query}"), Some(ADMIN))
            .await;
        assert_eq!(status, 200, "supporters: {body}");
        body
    }

    /// Runs `sqlite` or `postgres` (the statements for the test's backend) on the server's
    /// database from a connection of the test's own, as an operator's `psql` would: for faults
    /// the server must survive, such as a trigger that makes an insert fail.
    pub(crate) async fn execute(&self, sqlite: &'static str, postgres: &'static str) {
        use sqlx::Connection;
        let url = self.db.url();
        let done = if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(url)
                .await
                .expect("connects");
            sqlx::raw_sql(sqlite).execute(&mut conn).await.map(drop)
        } else {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connects");
            sqlx::raw_sql(postgres).execute(&mut conn).await.map(drop)
        };
        done.expect("the statements run");
    }

    /// `GET /v1/ledger/verify`; asserts 200 and `ok` with no problems, returns the report.
    pub(crate) async fn verify(&self) -> Value {
        let (status, report) = self.get("/v1/ledger/verify", Some(ADMIN)).await;
        assert_eq!(status, 200, "verify: {report}");
        assert_eq!(report["ok"], json!(true), "ledger problems: {report}");
        assert_eq!(report["problems"], json!([]), "ledger problems: {report}");
        report
    }
}

/// Asserts an error answer: status, `error.code`, and a non-empty `error.message`.
#[track_caller]
pub(crate) fn assert_error(answer: &Answer, status: u16, code: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "expected {status} {code}, got {body}");
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(!message.is_empty(), "{body}");
}

/// Asserts 422 `invalid_request` whose message names `field`.
#[track_caller]
pub(crate) fn assert_invalid(answer: &Answer, field: &str) {
    assert_error(answer, 422, "invalid_request");
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(field),
        "the message should name {field}: {message:?}"
    );
}

/// The string field `field` of `v`.
#[track_caller]
pub(crate) fn string<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} should be a string in {v}"))
}

/// Asserts `v[field]` is an RFC 3339 time in UTC.
#[track_caller]
pub(crate) fn assert_time(v: &Value, field: &str) {
    let s = string(v, field);
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .unwrap_or_else(|e| panic!("{field} = {s:?} is not RFC 3339: {e}"));
    assert!(t.offset().is_utc(), "{field} = {s:?} is not UTC");
}

/// Asserts `v` is `{"amount": amount, "currency": currency}`.
#[track_caller]
pub(crate) fn assert_money(v: &Value, amount: i64, currency: &str) {
    assert!(v["amount"].is_i64(), "amount should be an integer: {v}");
    assert!(
        v["currency"].is_string(),
        "currency should be a string: {v}"
    );
    assert_eq!(v, &json!({"amount": amount, "currency": currency}));
}

/// Asserts `v` is a list page: `data` an array and `next_cursor` a string or null.
#[track_caller]
pub(crate) fn assert_page(v: &Value) -> &Vec<Value> {
    assert!(
        v["next_cursor"].is_null() || v["next_cursor"].is_string(),
        "next_cursor: {v}"
    );
    v["data"].as_array().expect("data is an array")
}

/// The balances of `currency` in an earnings body, if any.
pub(crate) fn balance<'a>(earnings: &'a Value, currency: &str) -> Option<&'a Value> {
    earnings["balances"]
        .as_array()
        .expect("balances is an array")
        .iter()
        .find(|b| b["currency"] == json!(currency))
}

/// `pending`, `available` and `paid_out` of `currency` in an earnings body (zeros if none).
pub(crate) fn amounts(earnings: &Value, currency: &str) -> (i64, i64, i64) {
    balance(earnings, currency).map_or((0, 0, 0), |b| {
        let a = |k: &str| b[k]["amount"].as_i64().expect("an amount");
        (a("pending"), a("available"), a("paid_out"))
    })
}

/// A Stripe-shaped event.
pub(crate) fn event(id: &str, kind: &str, object: Value) -> Value {
    let mut event = json!({
        "id": id, "object": "event", "type": kind,
        "created": OffsetDateTime::now_utc().unix_timestamp(),
    });
    event["data"] = Value::Object([("object".to_owned(), object)].into_iter().collect());
    event
}

/// Waits up to 10 s for `check` to hold, polling every 50 ms.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 10 s");
}

/// The `badges` totals of an earnings body, per currency.
pub(crate) fn badge_totals(earnings: &Value) -> Vec<(String, i64)> {
    earnings["by_source"]
        .as_array()
        .expect("by_source is an array")
        .iter()
        .filter(|s| s["source"] == json!("badges"))
        .map(|s| {
            (
                string(&s["total"], "currency").to_owned(),
                s["total"]["amount"].as_i64().expect("an amount"),
            )
        })
        .collect()
}
