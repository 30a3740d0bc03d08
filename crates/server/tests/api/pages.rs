//! The pages over plain HTTP: sign-in and its cookie, CSRF on every form and change, the
//! API behind the session, who may open which page, what the pages show (on both stores:
//! the dashboard's and the shop pages' reads are SQL of their own), and the badge goal of
//! the API.

use testkit::conformance;

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{ADMIN, TestApp, assert_error, spawn_app, spawn_app_with, string};

/// A client that shows redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client")
}

/// The `Set-Cookie` header that sets `name`, whole.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// `name=value` of a `Set-Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .expect("a pair")
        .trim()
        .to_owned()
}

/// A signed-in browser: its session cookie and the session's CSRF token.
pub(crate) struct Browser {
    pub(crate) cookie: String,
    csrf: String,
}

/// The sign-in form's CSRF cookie (`name=value`) and value.
async fn signin_form(app: &TestApp) -> (String, String) {
    let response = client()
        .get(app.url("/signin"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let cookie = set_cookie(&response, "__Host-ovation_signin").expect("the form's CSRF cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let pair = pair(&cookie);
    let value = pair.trim_start_matches("__Host-ovation_signin=").to_owned();
    let html = response.text().await.expect("a page");
    assert!(
        html.contains(&format!("name=\"csrf\" value=\"{value}\"")),
        "{html}"
    );
    (pair, value)
}

async fn post_signin(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(app.url("/signin"))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .expect("an answer")
}

/// Signs in with `token` through the form; returns the session.
pub(crate) async fn sign_in(app: &TestApp, token: &str) -> Browser {
    let (cookie, csrf) = signin_form(app).await;
    let response = post_signin(app, &cookie, &[("token", token), ("csrf", &csrf)]).await;
    assert_eq!(response.status().as_u16(), 303);
    let session = set_cookie(&response, "__Host-ovation_session").expect("a session cookie");
    let cookie = pair(&session);
    let html = page(app, &cookie, "/").await.1;
    let marker = "<meta name=\"csrf-token\" content=\"";
    let start = html
        .find(marker)
        .expect("the session's CSRF token on the page")
        + marker.len();
    let csrf = html[start..].split('"').next().expect("a value").to_owned();
    Browser { cookie, csrf }
}

/// A page: status, body and `Location`.
pub(crate) async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String, Option<String>) {
    let response = client()
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, response.text().await.expect("a body"), location)
}

/// A request to the API through the session (`/app/v1/…`).
async fn app_api(
    app: &TestApp,
    browser: &Browser,
    method: reqwest::Method,
    path: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, app.url(&format!("/app{path}")))
        .header(COOKIE, &browser.cookie);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The next message of a live's WebSocket, as JSON.
async fn next_event<S>(socket: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an event")
        .expect("open")
        .expect("a message");
    let Message::Text(text) = message else {
        panic!("a text event, got {message:?}")
    };
    serde_json::from_str(text.as_str()).expect("JSON")
}

#[conformance]
async fn signing_in_sets_an_http_only_lax_session_cookie_and_signing_out_ends_it() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    let (cookie, csrf) = signin_form(&app).await;
    let response = post_signin(
        &app,
        &cookie,
        &[("token", &bob.token), ("csrf", &csrf), ("next", "/lives/x")],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/lives/x");
    let session = set_cookie(&response, "__Host-ovation_session").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(session.contains(attribute), "{attribute}: {session}");
    }
    // `__Host-`: always Secure (browsers keep it from http://127.0.0.1 and localhost).
    assert!(session.contains("Secure"), "{session}");
    assert!(!session.contains("Domain"), "{session}");
    let browser = Browser {
        cookie: pair(&session),
        csrf: String::new(),
    };
    let (status, me) = app_api(&app, &browser, reqwest::Method::GET, "/v1/me", None, None).await;
    assert_eq!((status, &me["id"]), (200, &json!(bob.id)));

    let browser = sign_in(&app, &bob.token).await;
    // Signing out needs the session's CSRF token.
    let response = client()
        .post(app.url("/signout"))
        .header(COOKIE, &browser.cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 403);
    let (status, _) = app_api(&app, &browser, reqwest::Method::GET, "/v1/me", None, None).await;
    assert_eq!(status, 200, "a forged sign-out ends nothing");
    let response = client()
        .post(app.url("/signout"))
        .header(COOKIE, &browser.cookie)
        .form(&[("csrf", browser.csrf.as_str())])
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 303);
    let cleared = set_cookie(&response, "__Host-ovation_session").expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie is worthless, wherever a copy of it is.
    let answer = app_api(&app, &browser, reqwest::Method::GET, "/v1/me", None, None).await;
    assert_error(&answer, 401, "unauthenticated");
}

#[conformance]
async fn behind_https_the_session_cookie_is_secure() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    let (cookie, csrf) = signin_form(&app).await;
    let response = client()
        .post(app.url("/signin"))
        .header(COOKIE, &cookie)
        .header("x-forwarded-proto", "https")
        .form(&[("token", bob.token.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 303);
    let session = set_cookie(&response, "__Host-ovation_session").expect("a session cookie");
    assert!(session.contains("Secure"), "{session}");
}

#[conformance]
async fn a_sign_in_without_the_forms_csrf_value_or_with_a_wrong_token_starts_no_session() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    let (cookie, csrf) = signin_form(&app).await;
    // Another site's form: no cookie, or a value that is not the cookie's.
    for (cookie, value) in [("", csrf.as_str()), (cookie.as_str(), "csf_forged")] {
        let response = post_signin(&app, cookie, &[("token", &bob.token), ("csrf", value)]).await;
        assert_eq!(response.status().as_u16(), 403);
        assert!(set_cookie(&response, "__Host-ovation_session").is_none());
    }
    let response = post_signin(&app, &cookie, &[("token", "ovt_nope"), ("csrf", &csrf)]).await;
    assert_eq!(response.status().as_u16(), 401);
    assert!(set_cookie(&response, "__Host-ovation_session").is_none());
    let html = response.text().await.expect("a page");
    assert!(
        html.contains("That token is not one Ovation knows"),
        "{html}"
    );
    // `next` never leads to another site.
    let response = post_signin(
        &app,
        &cookie,
        &[
            ("token", &bob.token),
            ("csrf", &csrf),
            ("next", "//evil.example/"),
        ],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/");
}

#[conformance]
async fn signing_in_again_replaces_the_browsers_session() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    let first = sign_in(&app, &bob.token).await;
    let (cookie, csrf) = signin_form(&app).await;
    let response = post_signin(
        &app,
        &format!("{cookie}; {}", first.cookie),
        &[("token", &bob.token), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    let second = pair(&set_cookie(&response, "__Host-ovation_session").expect("a new session"));
    assert_ne!(second, first.cookie);
    let answer = app_api(&app, &first, reqwest::Method::GET, "/v1/me", None, None).await;
    assert_error(&answer, 401, "unauthenticated");
    let (status, _, _) = page(&app, &second, "/").await;
    assert_eq!(status, 200);
}

#[conformance]
async fn failed_sign_ins_beyond_the_rate_are_429_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.rates.signin_failures = server::limits::Rate::per(2, std::time::Duration::from_secs(60));
    })
    .await;
    let bob = app.viewer("bob", "US").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (cookie, csrf) = signin_form(&app).await;
        let response = post_signin(&app, &cookie, &[("token", "ovt_guess"), ("csrf", &csrf)]).await;
        let retry = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .is_some();
        statuses.push((response.status().as_u16(), retry));
    }
    assert_eq!(
        statuses,
        [(401, false), (401, false), (429, true), (429, true)]
    );
    // The right token from the held-back address waits too: it needs a look-up.
    let (cookie, csrf) = signin_form(&app).await;
    let response = post_signin(&app, &cookie, &[("token", &bob.token), ("csrf", &csrf)]).await;
    assert_eq!(response.status().as_u16(), 429);
    assert!(set_cookie(&response, "__Host-ovation_session").is_none());
}

#[conformance]
async fn next_never_leads_off_site_whatever_browsers_would_forgive() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    // What browsers strip or rewrite (tab, line breaks, backslash) and encodings of it.
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "/%09/evil.example",
        "/%5Cevil.example",
        "/%5C%5Cevil.example",
        "/%2F/evil.example",
        "/%2fevil.example",
        "/%252F/evil.example",
        "https://evil.example/",
        "/\u{0}x",
        "/caf\u{e9}",
        " //evil.example",
    ] {
        let (cookie, csrf) = signin_form(&app).await;
        let response = post_signin(
            &app,
            &cookie,
            &[("token", &bob.token), ("csrf", &csrf), ("next", next)],
        )
        .await;
        assert_eq!(response.status().as_u16(), 303, "{next:?}");
        assert_eq!(response.headers()[LOCATION], "/", "{next:?}");
        assert!(
            set_cookie(&response, "__Host-ovation_session").is_some(),
            "{next:?}"
        );
    }
    // A path of this site is kept, query and all.
    let (cookie, csrf) = signin_form(&app).await;
    let response = post_signin(
        &app,
        &cookie,
        &[
            ("token", &bob.token),
            ("csrf", &csrf),
            ("next", "/lives/x?a=%20b"),
        ],
    )
    .await;
    assert_eq!(response.headers()[LOCATION], "/lives/x?a=%20b");
    // The form itself drops such a `next` instead of carrying it on.
    let response = client()
        .get(app.url("/signin?next=/%09/evil.example"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.expect("a page");
    assert!(!html.contains("evil.example"), "{html}");
}

#[conformance]
async fn the_api_behind_the_session_needs_the_csrf_token_for_changes_and_keeps_the_tokens_rights() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let browser = sign_in(&app, &bob.token).await;
    let comments = format!("/v1/lives/{live}/comments");
    let text = json!({"text": "hi"});
    let post = reqwest::Method::POST;
    for csrf in [None, Some("forged")] {
        let answer = app_api(
            &app,
            &browser,
            post.clone(),
            &comments,
            csrf,
            Some(text.clone()),
        )
        .await;
        assert_error(&answer, 403, "forbidden");
    }
    let (status, comment) = app_api(
        &app,
        &browser,
        post.clone(),
        &comments,
        Some(&browser.csrf),
        Some(text.clone()),
    )
    .await;
    assert_eq!(status, 201, "{comment}");
    assert_eq!(comment["author_id"], json!(bob.id));
    // Reads need no CSRF token; the viewer's rights are the viewer token's.
    let (status, list) = app_api(&app, &browser, reqwest::Method::GET, &comments, None, None).await;
    assert_eq!(
        (status, list["data"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let answer = app_api(
        &app,
        &browser,
        post.clone(),
        &format!("/v1/lives/{live}/end"),
        Some(&browser.csrf),
        None,
    )
    .await;
    assert_error(&answer, 403, "forbidden");
    let answer = app_api(
        &app,
        &browser,
        reqwest::Method::GET,
        "/v1/ledger/verify",
        None,
        None,
    )
    .await;
    assert_error(&answer, 403, "forbidden");
    // Without a session: 401.
    let nobody = Browser {
        cookie: "__Host-ovation_session=ovs_nope".into(),
        csrf: String::new(),
    };
    let answer = app_api(&app, &nobody, reqwest::Method::GET, "/v1/me", None, None).await;
    assert_error(&answer, 401, "unauthenticated");
}

#[conformance]
async fn a_websocket_through_the_session_must_come_from_this_sites_pages() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let browser = sign_in(&app, &bob.token).await;
    let request = |origin: &str| {
        let mut request = app
            .ws_url(&format!("/app/v1/lives/{live}/events"))
            .into_client_request()
            .expect("a request");
        let headers = request.headers_mut();
        headers.insert("cookie", browser.cookie.parse().expect("a header"));
        headers.insert("origin", origin.parse().expect("a header"));
        request
    };
    let refused = connect_async(request("http://evil.example")).await;
    assert!(refused.is_err(), "another site's page is refused");
    let (mut socket, response) = connect_async(request(&format!("http://{}", app.addr)))
        .await
        .expect("this site's page connects");
    assert_eq!(response.status().as_u16(), 101);
    let (status, _) = app.comment(&ana.token, &live, "welcome").await;
    assert_eq!(status, 201);
    let event = next_event(&mut socket).await;
    assert_eq!(event["type"], json!("comment"));
    assert_eq!(event["comment"]["text"], json!("welcome"));
}

#[conformance]
async fn each_page_is_for_the_right_people() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    // Not signed in: off to the sign-in form, and back afterwards.
    for (path, next) in [
        ("/creator", "%2Fcreator"),
        ("/admin", "%2Fadmin"),
        (
            &format!("/lives/{live}") as &str,
            &format!("%2Flives%2F{live}") as &str,
        ),
    ] {
        let (status, _, location) = page(&app, "", path).await;
        assert_eq!(status, 303, "{path}");
        assert_eq!(location, Some(format!("/signin?next={next}")), "{path}");
    }
    let viewer = sign_in(&app, &bob.token).await;
    let creator = sign_in(&app, &ana.token).await;
    let operator = sign_in(&app, ADMIN).await;
    for (who, path) in [
        (&viewer, "/creator"),
        (&viewer, "/admin"),
        (&creator, "/admin"),
        (&operator, "/creator"),
    ] {
        let (status, html, _) = page(&app, &who.cookie, path).await;
        assert_eq!(status, 403, "{path}: {html}");
        assert!(html.contains("Not for you"), "{html}");
        assert!(
            !html.contains("Balances") && !html.contains("Totals by currency"),
            "{html}"
        );
    }
    let (status, html, _) = page(&app, &creator.cookie, "/creator").await;
    assert_eq!(status, 200, "{html}");
    let (status, html, _) = page(&app, &operator.cookie, "/admin").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Totals by currency"), "{html}");
    let (status, _, _) = page(&app, &viewer.cookie, "/lives/live_nope").await;
    assert_eq!(status, 404);
}

#[conformance]
async fn pages_carry_security_headers_and_the_assets_are_served() {
    let app = spawn_app().await;
    let response = client().get(app.url("/")).send().await.expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    for (path, kind) in [
        ("/assets/ovation.css", "text/css"),
        ("/assets/ovation.js", "text/javascript"),
    ] {
        let response = client().get(app.url(path)).send().await.expect("an answer");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap_or("")
                .starts_with(kind),
            "{path}"
        );
    }
}

#[conformance]
async fn the_dashboard_shows_balances_supporters_lives_and_the_chart_without_refunded_badges() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let kim = app.viewer("kim", "JP").await;
    let zed = app.viewer("zed", "US").await;
    let (status, live) = app
        .post(
            "/v1/lives",
            Some(&ana.token),
            &json!({"title": "Watercolours", "goal_hearts": 10}),
        )
        .await;
    assert_eq!(status, 201, "{live}");
    assert_eq!(live["goal_hearts"], json!(10));
    let live = string(&live, "id").to_owned();
    app.bought(&bob.token, &live, 2).await;
    app.bought(&bob.token, &live, 1).await;
    app.bought(&kim.token, &live, 3).await;
    let refunded = app.bought(&zed.token, &live, 3).await;
    let (status, _) = app.refund(ADMIN, string(&refunded, "id"), None).await;
    assert_eq!(status, 200);
    let creator = sign_in(&app, &ana.token).await;
    let (status, html, _) = page(&app, &creator.cookie, "/creator").await;
    assert_eq!(status, 200, "{html}");
    // 1.99 + 0.99 USD and 610 JPY pending; the refunded badge is not there.
    for expected in [
        "<td class=\"num pending\">2.98 USD</td>",
        "<td class=\"num pending\">610 JPY</td>",
        "@bob",
        "@kim",
        "Watercolours",
        // Hearts of the standing badges against the goal: 2 + 1 + 3.
        "6 / 10",
        "<svg",
        "Income per day in USD: 2.98 USD",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    assert!(
        !html.contains("@zed"),
        "a refunded buyer is no supporter: {html}"
    );
    // The live page counts the same hearts toward the goal.
    let viewer = sign_in(&app, &kim.token).await;
    let (status, html, _) = page(&app, &viewer.cookie, &format!("/lives/{live}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("6 of 10 hearts"), "{html}");
    // Prices in the viewer's currency: yen have no minor unit.
    assert!(
        html.contains("120 JPY") && html.contains("610 JPY"),
        "{html}"
    );
}

#[conformance]
async fn the_operators_view_verifies_the_ledger_and_shows_totals_and_match_budgets() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.bought(&bob.token, &live, 3).await;
    let (status, program) = app
        .post(
            "/v1/match-programs",
            Some(ADMIN),
            &json!({"name": "Launch match", "rate_bps": 5000, "caps": [{"amount": 10000, "currency": "USD"}],
                    "ends_at": "2099-01-01T00:00:00Z", "budget": [{"amount": 50000, "currency": "USD"}]}),
        )
        .await;
    assert_eq!(status, 201, "{program}");
    let operator = sign_in(&app, ADMIN).await;
    let (status, html, _) = page(&app, &operator.cookie, "/admin?verify=1").await;
    assert_eq!(status, 200, "{html}");
    for expected in [
        "The ledger verifies",
        "Creators: pending",
        "4.99 USD",
        "Launch match",
        "500.00 USD",
        "Run payouts",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
}

#[conformance]
async fn a_creator_sets_and_clears_a_live_goal_and_its_viewers_are_told() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let eve = app.creator("eve").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let path = format!("/v1/lives/{live}/goal");
    let mut socket = {
        let url = app.ws_url(&format!("/v1/lives/{live}/events?token={}", bob.token));
        connect_async(url).await.expect("connects").0
    };
    let (status, body) = app
        .put(&path, &ana.token, &json!({"goal_hearts": 50}))
        .await;
    assert_eq!((status, &body["goal_hearts"]), (200, &json!(50)), "{body}");
    let event = next_event(&mut socket).await;
    assert_eq!(
        event,
        json!({"type": "goal", "live_id": live, "goal_hearts": 50})
    );
    let (_, read) = app
        .get(&format!("/v1/lives/{live}"), Some(&bob.token))
        .await;
    assert_eq!(read["goal_hearts"], json!(50));
    // The platform may set it too; null clears it.
    let (status, body) = app.put(&path, ADMIN, &json!({"goal_hearts": null})).await;
    assert_eq!(
        (status, &body["goal_hearts"]),
        (200, &Value::Null),
        "{body}"
    );
    for bad in [
        json!({"goal_hearts": 0}),
        json!({"goal_hearts": 1_000_001}),
        json!({"goal_hearts": "ten"}),
        json!({}),
    ] {
        assert_error(
            &app.put(&path, &ana.token, &bad).await,
            422,
            "invalid_request",
        );
    }
    let answer = app
        .post(
            "/v1/lives",
            Some(&ana.token),
            &json!({"title": "t", "goal_hearts": -1}),
        )
        .await;
    assert_error(&answer, 422, "invalid_request");
    for token in [&eve.token, &bob.token] {
        assert_error(
            &app.put(&path, token, &json!({"goal_hearts": 5})).await,
            403,
            "forbidden",
        );
    }
    assert_error(
        &app.put(&path, "nope", &json!({"goal_hearts": 5})).await,
        401,
        "unauthenticated",
    );
    let (status, _) = app.end_live(&ana.token, &live).await;
    assert_eq!(status, 200);
    assert_error(
        &app.put(&path, &ana.token, &json!({"goal_hearts": 5})).await,
        409,
        "live_not_active",
    );
}

#[conformance]
async fn the_demo_offers_its_accounts_on_the_home_page() {
    let app = spawn_app().await;
    let demo = server::demo::seed(&app.state, ADMIN)
        .await
        .expect("the demo seeds");
    let response = client().get(app.url("/")).send().await.expect("an answer");
    let cookie =
        pair(&set_cookie(&response, "__Host-ovation_signin").expect("the form's CSRF cookie"));
    let html = response.text().await.expect("a page");
    assert!(html.contains("Sunday sketching, live"), "{html}");
    assert!(html.contains("goal 50"), "{html}");
    assert!(
        html.contains(&format!("by @{}", demo.creator_handle)),
        "{html}"
    );
    let (handle, _, token) = &demo.viewers[0];
    assert!(
        html.contains(&format!("Sign in as Viewer @{handle}")),
        "{html}"
    );
    // One click signs in and opens the demo's live.
    let csrf = cookie
        .trim_start_matches("__Host-ovation_signin=")
        .to_owned();
    let next = format!("/lives/{}", demo.live_id);
    let response = post_signin(
        &app,
        &cookie,
        &[("token", token), ("csrf", &csrf), ("next", &next)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], next.as_str());
    // The demo's shop: its brand's four products, with clicks and three orders (two by
    // click, one by coupon) that the brand's page counts.
    let shop = format!("/shop/{}", demo.creator_handle);
    assert!(html.contains(&format!("href=\"{shop}\"")), "{html}");
    assert!(
        html.contains(&format!("Sign in as Brand @{}", demo.brand_handle)),
        "{html}"
    );
    let (status, html, _) = page(&app, "", &shop).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(html.matches("<li class=\"product\"").count(), 4, "{html}");
    let brand = sign_in(&app, &demo.brand.1).await;
    let (status, html, _) = page(&app, &brand.cookie, "/brand").await;
    assert_eq!(status, 200, "{html}");
    let row = row_of(&html, &format!("data-creator=\"{}\"", demo.creator_handle));
    for expected in [
        "<td class=\"num clicks\">4</td>",
        "<td class=\"num orders\">3</td>",
        // 24.00 + 2 × 18.50 + 42.00, at 12 %, 15 % and 10 %.
        "<td class=\"num sales\">103.00 USD</td>",
        "<td class=\"num commission\">12.63 USD</td>",
    ] {
        assert!(row.contains(expected), "{expected}: {row}");
    }
    // The marketplace: the brand's campaign ranks art creators of every tier, and its offer
    // to the demo's creator waits on the creator's dashboard.
    let (status, html, _) = page(
        &app,
        &brand.cookie,
        &format!("/brand/campaigns/{}", demo.campaign_id),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    for tier in ["nano", "micro", "mid", "macro", "mega"] {
        assert!(
            html.contains(&format!("<td class=\"tier\">{tier}</td>")),
            "{tier}: {html}"
        );
    }
    assert!(html.contains("data-status=\"offered\""), "{html}");
    let creator = sign_in(&app, &demo.creator.1).await;
    let (status, html, _) = page(&app, &creator.cookie, "/creator").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Back-to-school sketchbooks"), "{html}");
    assert!(html.contains("data-step=\"accept\""), "{html}");
}

/// The table row of `html` holding `marker`, from its `<tr` to its `</tr>`.
fn row_of<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} is on the page: {html}"));
    let start = html[..at].rfind("<tr").expect("a row");
    let end = at + html[at..].find("</tr>").expect("the row's end");
    &html[start..end]
}

/// A brand with US$500.00 and ¥10,000 in its wallets; asserts each step.
async fn funded_brand(app: &TestApp, handle: &str) -> crate::common::User {
    let brand = app.user(handle, "brand", "US", None, None).await;
    for amount in [
        json!({"amount": 50_000, "currency": "USD"}),
        json!({"amount": 10_000, "currency": "JPY"}),
    ] {
        let (status, body) = app
            .post(
                "/v1/wallet/topups",
                Some(&brand.token),
                &json!({"amount": amount, "payment_method": "pm_card_visa"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    brand
}

/// Lists a product; asserts 201 and returns its id.
async fn listed(app: &TestApp, brand: &crate::common::User, body: Value) -> String {
    let (status, product) = app.post("/v1/products", Some(&brand.token), &body).await;
    assert_eq!(status, 201, "{product}");
    string(&product, "id").to_owned()
}

/// Reports an order; asserts 201 and returns it.
async fn ordered(app: &TestApp, brand: &crate::common::User, body: Value) -> Value {
    let (status, order) = app.post("/v1/shop/orders", Some(&brand.token), &body).await;
    assert_eq!(status, 201, "{order}");
    order
}

#[conformance]
async fn the_shop_pages_show_a_creators_products_links_and_commission_and_a_brands_sales() {
    let app = crate::common::spawn_app_with(|c| {
        c.client_ip_header = Some("x-forwarded-for".into());
    })
    .await;
    let lumen = funded_brand(&app, "lumen").await;
    let ana = app.creator("ana").await;
    let sketchbook = listed(
        &app,
        &lumen,
        json!({"title": "Linen sketchbook <A5>", "url": "https://lumen.example/sketchbook",
               "price": {"amount": 2_400, "currency": "USD"}, "category": "stationery",
               "commission_bps": 1_250}),
    )
    .await;
    // In yen, which has no minor unit; returns end with the order.
    let palette = listed(
        &app,
        &lumen,
        json!({"title": "Pocket palette", "url": "https://lumen.example/palette",
               "price": {"amount": 1_500, "currency": "JPY"}, "category": "art supplies",
               "commission_bps": 1_000, "return_window_days": 0}),
    )
    .await;
    let (status, shop) = app
        .put(
            &format!("/v1/creators/{}/shop", ana.id),
            &ana.token,
            &json!({"products": [palette, sketchbook]}),
        )
        .await;
    assert_eq!(status, 200, "{shop}");
    let palette_code = string(&shop["products"][0]["link"], "code").to_owned();
    let sketchbook_code = string(&shop["products"][1]["link"], "code").to_owned();

    // The public page: no sign-in, the shop's order, prices per currency, escaped titles,
    // the tracked links.
    let (status, html, _) = page(&app, "", "/shop/ana").await;
    assert_eq!(status, 200, "{html}");
    let palette_at = html.find("Pocket palette").expect("the palette");
    let sketchbook_at = html
        .find("Linen sketchbook &lt;A5&gt;")
        .expect("the sketchbook, escaped");
    assert!(palette_at < sketchbook_at, "in the shop's order: {html}");
    for expected in [
        "24.00 USD".to_owned(),
        "1500 JPY".to_owned(),
        "stationery".to_owned(),
        format!("href=\"{}\"", string(&shop["products"][0]["link"], "url")),
        format!("/r/{sketchbook_code}\""),
    ] {
        assert!(html.contains(&expected), "{expected}: {html}");
    }
    for nobody in ["/shop/nobody", "/shop/lumen", "/shop/NOT%20A%20HANDLE"] {
        let (status, html, _) = page(&app, "", nobody).await;
        assert_eq!(status, 404, "{nobody}: {html}");
        assert!(html.contains("There is no such shop."), "{html}");
    }

    // Three clients click the sketchbook's link, one of them twice (counted once); one buys
    // two. A coupon order of a palette locks at once (no return window); a second one is
    // returned whole, and counts nowhere.
    let mut first = None;
    for (n, address) in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.1"]
        .into_iter()
        .enumerate()
    {
        let response = client()
            .get(app.url(&format!("/r/{sketchbook_code}")))
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) Chrome/124.0 Safari/537.36",
            )
            .header("x-forwarded-for", address)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 302, "click {n}");
        let location = response.headers()[LOCATION]
            .to_str()
            .expect("text")
            .to_owned();
        first.get_or_insert(location.split("ovc=").nth(1).expect("an ovc").to_owned());
    }
    let by_click = ordered(
        &app,
        &lumen,
        json!({"order_id": "L-1", "click_id": first,
               "items": [{"product_id": sketchbook, "quantity": 2, "amount": {"amount": 4_800, "currency": "USD"}}]}),
    )
    .await;
    assert_eq!(by_click["attribution"], json!("click"), "{by_click}");
    let (status, _) = app
        .post(
            "/v1/coupons",
            Some(&ana.token),
            &json!({"brand_id": lumen.id, "code": "ANA10"}),
        )
        .await;
    assert_eq!(status, 201);
    let yen = json!({"product_id": palette, "quantity": 1, "amount": {"amount": 1_500, "currency": "JPY"}});
    ordered(
        &app,
        &lumen,
        json!({"order_id": "L-2", "coupon": "ANA10", "items": [yen]}),
    )
    .await;
    let returned = ordered(
        &app,
        &lumen,
        json!({"order_id": "L-3", "coupon": "ANA10",
               "items": [{"product_id": sketchbook, "quantity": 1, "amount": {"amount": 2_400, "currency": "USD"}}]}),
    )
    .await;
    let (status, body) = app
        .post(
            &format!("/v1/shop/orders/{}/returns", string(&returned, "id")),
            Some(&lumen.token),
            &json!({"items": [{"product_id": sketchbook, "quantity": 1}]}),
        )
        .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("reversed")),
        "{body}"
    );

    // The creator's dashboard: each link's figures; commission pending and locked.
    let creator = sign_in(&app, &ana.token).await;
    let (status, html, _) = page(&app, &creator.cookie, "/creator").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("href=\"/shop/ana\""), "{html}");
    let row = row_of(&html, &format!("data-code=\"{sketchbook_code}\""));
    for expected in [
        "Linen sketchbook &lt;A5&gt;",
        "<td class=\"num clicks\">3</td>",
        "<td class=\"num orders\">1</td>",
        "<td class=\"num conversion\">33.3 %</td>",
        // 12.5 % of 48.00; per click 600 / 3.
        "<td class=\"num commission\">6.00 USD</td>",
        "<td class=\"num per-click\">2.00 USD</td>",
    ] {
        assert!(row.contains(expected), "{expected}: {row}");
    }
    let row = row_of(&html, &format!("data-code=\"{palette_code}\""));
    for expected in [
        "<td class=\"num clicks\">0</td>",
        "<td class=\"num conversion\">—</td>",
        "<td class=\"num per-click\">—</td>",
    ] {
        assert!(row.contains(expected), "{expected}: {row}");
    }
    let commission = table_of(&html, "shop-commission");
    let row = row_of(commission, "data-currency=\"USD\"");
    assert!(
        row.contains("6.00 USD (1 order)"),
        "the reversed order is not pending: {row}"
    );
    assert!(row.contains("0.00 USD (0 orders)"), "{row}");
    let row = row_of(commission, "data-currency=\"JPY\"");
    assert!(row.contains("0 JPY (0 orders)"), "{row}");
    assert!(row.contains("150 JPY (1 order)"), "locked: {row}");

    // The brand's page: wallet, products, sales by creator, commission paid.
    let brand = sign_in(&app, &lumen.token).await;
    let (status, html, _) = page(&app, &brand.cookie, "/brand").await;
    assert_eq!(status, 200, "{html}");
    for expected in [
        // 500.00 less 6.00 (the returned order's commission came back), and ¥10,000 less ¥150.
        "<td class=\"num balance\">494.00 USD</td>",
        "<td class=\"num balance\">9850 JPY</td>",
        "<td class=\"num rate\">12.5 %</td>",
        "<td class=\"num rate\">10 %</td>",
        "Linen sketchbook &lt;A5&gt;",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    let row = row_of(&html, "data-creator=\"ana\"");
    for expected in [
        "href=\"/shop/ana\"",
        "<td class=\"num clicks\">3</td>",
        "<td class=\"num orders\">3</td>",
        "6.00 USD",
        "150 JPY",
    ] {
        assert!(row.contains(expected), "{expected}: {row}");
    }
    let paid = paragraph_of(&html, "commission-paid");
    assert!(
        paid.contains("6.00 USD") && paid.contains("150 JPY"),
        "{paid}"
    );
}

/// The element of `html` with the id `id`, from its id to the first `</end>` after it.
pub(crate) fn element_of<'a>(html: &'a str, id: &str, end: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("#{id} is on the page: {html}"));
    let close = format!("</{end}>");
    &html[at..at + html[at..].find(&close).expect("the element's end")]
}

/// The table `#id` of `html`.
pub(crate) fn table_of<'a>(html: &'a str, id: &str) -> &'a str {
    element_of(html, id, "table")
}

/// The paragraph `#id` of `html`.
fn paragraph_of<'a>(html: &'a str, id: &str) -> &'a str {
    element_of(html, id, "p")
}

#[conformance]
async fn the_brand_page_is_a_brands_and_a_brand_lands_on_it() {
    let app = spawn_app().await;
    let lumen = app.user("lumen", "brand", "US", None, None).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let (status, _, location) = page(&app, "", "/brand").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/signin?next=%2Fbrand"))
    );
    for token in [ana.token.as_str(), bob.token.as_str(), ADMIN] {
        let who = sign_in(&app, token).await;
        let (status, html, _) = page(&app, &who.cookie, "/brand").await;
        assert_eq!(status, 403, "{html}");
        assert!(!html.contains("Sales by creator"), "{html}");
    }
    let (cookie, csrf) = signin_form(&app).await;
    let response = post_signin(&app, &cookie, &[("token", &lumen.token), ("csrf", &csrf)]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()[LOCATION], "/brand");
    let brand = sign_in(&app, &lumen.token).await;
    let (status, html, _) = page(&app, &brand.cookie, "/brand").await;
    assert_eq!(status, 200, "{html}");
    for expected in [
        "@lumen",
        "Nothing in the wallet yet",
        "No products yet",
        "href=\"/brand\"",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
}

#[conformance]
async fn an_operators_session_ends_when_the_admin_token_changes() {
    let app = spawn_app().await;
    let operator = sign_in(&app, ADMIN).await;
    assert_eq!(page(&app, &operator.cookie, "/admin").await.0, 200);
    // A session begun with the admin token of before a rotation.
    let hash = server::extract::token_hash;
    app.state
        .store
        .create_session(
            &hash("ovs_before_the_rotation"),
            &store::Session {
                user_id: None,
                admin_token_hash: Some(hash("the old admin token")),
                csrf: "csrf_old".into(),
                expires_at: store::now() + time::Duration::hours(1),
            },
        )
        .await
        .expect("a session");
    let (status, _, location) = page(
        &app,
        "__Host-ovation_session=ovs_before_the_rotation",
        "/admin",
    )
    .await;
    assert_eq!(status, 303, "signed out by the rotation");
    assert_eq!(location.as_deref(), Some("/signin?next=%2Fadmin"));
}
