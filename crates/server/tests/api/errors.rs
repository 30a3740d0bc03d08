//! Every error answer, whatever produced it, is `{"error": {"code", "message"}}`.

use testkit::conformance;

use reqwest::Method;
use serde_json::json;

use crate::common::{ADMIN, assert_error, spawn_app};

#[conformance]
async fn a_wrong_method_is_405_in_the_error_format() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    for (method, path) in [
        (Method::DELETE, format!("/v1/lives/{live}")),
        (Method::GET, "/v1/accounts".to_owned()),
        (Method::PUT, format!("/v1/lives/{live}/badges")),
        (Method::POST, "/v1/ledger/verify".to_owned()),
    ] {
        let answer = app
            .request(method.clone(), &path, Some(ADMIN), None, None)
            .await;
        assert_error(&answer, 405, "method_not_allowed");
    }
}

#[conformance]
async fn an_oversized_body_is_413_payload_too_large_on_every_post() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let purchase = app.bought(&bob.token, &live, 1).await;
    let big = json!({"tier": 1, "payment_method": "pm_card_visa", "text": "x".repeat(70_000),
        "handle": "big", "kind": "viewer", "country": "US", "title": "t"})
    .to_string();
    for (path, token) in [
        ("/v1/accounts".to_owned(), ADMIN),
        ("/v1/lives".to_owned(), ana.token.as_str()),
        (format!("/v1/lives/{live}/comments"), bob.token.as_str()),
        (format!("/v1/lives/{live}/badges"), bob.token.as_str()),
        (
            format!(
                "/v1/purchases/{}/refund",
                purchase["id"].as_str().unwrap_or_default()
            ),
            ADMIN,
        ),
    ] {
        let answer = app.post_raw(&path, Some(token), &big).await;
        assert_error(&answer, 413, "payload_too_large");
    }
    let earnings = app.earnings_of(&ana.id).await;
    assert_eq!(earnings["balances"][0]["pending"]["amount"], json!(99));
    app.verify().await;
}

#[conformance]
async fn answers_and_errors_are_application_json() {
    let app = spawn_app().await;
    let body = json!({"handle": "ana", "kind": "viewer", "country": "US"});
    for expected in [201, 409] {
        let response = app
            .client
            .post(app.url("/v1/accounts"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), expected);
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
    }
}

#[conformance]
async fn a_plain_get_of_the_events_socket_is_426_upgrade_required() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let answer = app
        .get(&format!("/v1/lives/{live}/events"), Some(&ana.token))
        .await;
    assert_error(&answer, 426, "upgrade_required");
    let answer = app.get("/v1/lives/nope/events", Some(&ana.token)).await;
    assert_error(&answer, 404, "not_found");
}
