//! User tokens: an id and an optional expiry on creation, revocation by the admin, and
//! `?token=` only on the WebSocket route.

use testkit::conformance;

use serde_json::json;

use crate::common::{ADMIN, assert_error, assert_invalid, spawn_app};

#[conformance]
async fn a_token_has_an_id_and_a_revoked_token_is_401() {
    let app = spawn_app().await;
    let bob = app.create_account("bob", "viewer", "US", None, None).await;
    let id = bob["id"].as_str().expect("an id").to_owned();
    let (status, issued) = app
        .post_empty(&format!("/v1/accounts/{id}/tokens"), Some(ADMIN))
        .await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().expect("a token").to_owned();
    let token_id = issued["id"].as_str().expect("a token id").to_owned();
    assert!(token_id.starts_with("tok_"), "{issued}");
    assert_eq!(issued["expires_at"], json!(null));
    let other = app.token_for(&id).await;
    assert_eq!(app.get("/v1/me", Some(&token)).await.0, 200);
    let path = format!("/v1/accounts/{id}/tokens/{token_id}");
    let (status, _) = app
        .request(reqwest::Method::DELETE, &path, Some(&other), None, None)
        .await;
    assert_eq!(status, 403, "only the admin revokes");
    let (status, body) = app
        .request(reqwest::Method::DELETE, &path, Some(ADMIN), None, None)
        .await;
    assert_eq!(status, 204, "{body}");
    assert_error(
        &app.get("/v1/me", Some(&token)).await,
        401,
        "unauthenticated",
    );
    // Revoking again is 204; the account's other token is untouched; unknown ids are 404.
    let (status, _) = app
        .request(reqwest::Method::DELETE, &path, Some(ADMIN), None, None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(app.get("/v1/me", Some(&other)).await.0, 200);
    let (status, body) = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/accounts/{id}/tokens/tok_nope"),
            Some(ADMIN),
            None,
            None,
        )
        .await;
    assert_error(&(status, body), 404, "not_found");
}

#[conformance]
async fn a_token_with_an_expiry_is_401_once_it_has_passed() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    let path = format!("/v1/accounts/{}/tokens", bob.id);
    for bad in [
        json!({"expires_in_secs": 59}),
        json!({"expires_in_secs": -1}),
        json!({"expires_in_secs": 400 * 86_400}),
        json!({"expires": 60}),
    ] {
        assert_error(
            &app.post(&path, Some(ADMIN), &bad).await,
            422,
            "invalid_request",
        );
    }
    assert_invalid(
        &app.post(&path, Some(ADMIN), &json!({"expires_in_secs": 10}))
            .await,
        "expires_in_secs",
    );
    // `null`, as the document allows for the optional body, asks for no expiry.
    let (status, lasting) = app.post(&path, Some(ADMIN), &json!(null)).await;
    assert_eq!(status, 201, "{lasting}");
    assert!(lasting["expires_at"].is_null(), "{lasting}");
    let (status, issued) = app
        .post(&path, Some(ADMIN), &json!({"expires_in_secs": 60}))
        .await;
    assert_eq!(status, 201, "{issued}");
    assert!(issued["expires_at"].is_string(), "{issued}");
    let token = issued["token"].as_str().expect("a token");
    assert_eq!(app.get("/v1/me", Some(token)).await.0, 200);
    // Expire it now in the database: the store and the cache both honour the expiry.
    app.execute(
        "UPDATE tokens SET expires_at = 1 WHERE expires_at IS NOT NULL",
        "UPDATE tokens SET expires_at = 1 WHERE expires_at IS NOT NULL",
    )
    .await;
    let another = app.another_node().await;
    let caller = server::extract::Caller::from_token_at(&another.state, token, "127.0.0.1")
        .await
        .expect("a look-up");
    assert!(caller.is_none(), "an expired token acts as nobody");
}

#[conformance]
async fn a_token_in_the_query_string_is_accepted_only_by_the_websocket_route() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    let answer = app.get(&format!("/v1/me?token={}", bob.token), None).await;
    assert_error(&answer, 401, "unauthenticated");
    let answer = app
        .get(
            &format!("/v1/accounts/{}?token={}", bob.id, bob.token),
            None,
        )
        .await;
    assert_error(&answer, 401, "unauthenticated");
}

#[conformance]
async fn while_the_admin_token_is_rotated_the_previous_one_is_accepted_too() {
    const PREVIOUS: &str = "the-admin-token-being-rotated-out-of-service";
    let app = crate::common::spawn_app_with(|c| {
        c.admin_token_previous = Some(secrecy::SecretString::from(PREVIOUS));
    })
    .await;
    for token in [ADMIN, PREVIOUS] {
        let (status, body) = app.get("/v1/ledger/verify", Some(token)).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_error(
        &app.get(
            "/v1/ledger/verify",
            Some("the-admin-token-nobody-was-ever-given"),
        )
        .await,
        401,
        "unauthenticated",
    );
    // Once the rotation is over, the previous token is nobody.
    let app = spawn_app().await;
    assert_error(
        &app.get("/v1/ledger/verify", Some(PREVIOUS)).await,
        401,
        "unauthenticated",
    );
}
