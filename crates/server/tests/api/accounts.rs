//! Accounts and tokens (admin), and `/v1/me`.

use testkit::conformance;

use serde_json::json;

use crate::common::{
    ADMIN, assert_error, assert_invalid, assert_time, born_years_ago, spawn_app, string,
};

#[conformance]
async fn creating_an_account_is_201_with_the_contract_fields() {
    let app = spawn_app().await;
    let (status, body) = app
        .try_create_account(&json!({
            "handle": "ana.b_1", "kind": "creator", "country": "US",
            "birth_date": "1990-04-01", "followers": 12000
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(!string(&body, "id").is_empty());
    assert_eq!(body["handle"], json!("ana.b_1"));
    assert_eq!(body["kind"], json!("creator"));
    assert_eq!(body["country"], json!("US"));
    assert_time(&body, "created_at");
}

#[conformance]
async fn birth_date_and_followers_are_optional() {
    let app = spawn_app().await;
    for kind in ["creator", "viewer", "brand"] {
        let account = app
            .create_account(&format!("x_{kind}"), kind, "JP", None, None)
            .await;
        assert_eq!(account["kind"], json!(kind));
    }
}

#[conformance]
async fn a_taken_handle_is_409_handle_taken() {
    let app = spawn_app().await;
    app.create_account("ana", "creator", "US", None, None).await;
    let answer = app
        .try_create_account(&json!({"handle": "ana", "kind": "viewer", "country": "FR"}))
        .await;
    assert_error(&answer, 409, "handle_taken");
}

#[conformance]
async fn a_malformed_json_body_is_422_invalid_request() {
    let app = spawn_app().await;
    for body in ["{", "not json", r#"{"handle": "ana",}"#, "[]", ""] {
        let answer = app.post_raw("/v1/accounts", Some(ADMIN), body).await;
        assert_error(&answer, 422, "invalid_request");
    }
}

#[conformance]
async fn a_bad_handle_is_422_naming_handle() {
    let app = spawn_app().await;
    let too_long = "a".repeat(31);
    for handle in ["", "Ana", "ana b", "ana-b", "ané", too_long.as_str()] {
        let answer = app
            .try_create_account(&json!({"handle": handle, "kind": "viewer", "country": "US"}))
            .await;
        assert_invalid(&answer, "handle");
    }
    // 30 characters is the longest handle.
    app.create_account(&"a".repeat(30), "viewer", "US", None, None)
        .await;
}

#[conformance]
async fn a_bad_country_is_422_naming_country() {
    let app = spawn_app().await;
    for country in ["us", "USA", "XX", "", "U1"] {
        let answer = app
            .try_create_account(&json!({"handle": "ana", "kind": "viewer", "country": country}))
            .await;
        assert_invalid(&answer, "country");
    }
}

#[conformance]
async fn a_bad_kind_is_422_naming_kind() {
    let app = spawn_app().await;
    let answer = app
        .try_create_account(&json!({"handle": "ana", "kind": "admin", "country": "US"}))
        .await;
    assert_invalid(&answer, "kind");
}

#[conformance]
async fn a_bad_birth_date_is_422_naming_birth_date() {
    let app = spawn_app().await;
    let future = born_years_ago(-1);
    for date in [
        json!("1990-13-01"),
        json!("01/04/1990"),
        json!("1990-02-30"),
        json!(future),
        json!(19900401),
    ] {
        let answer = app
            .try_create_account(
                &json!({"handle": "ana", "kind": "viewer", "country": "US", "birth_date": date}),
            )
            .await;
        assert_invalid(&answer, "birth_date");
    }
}

#[conformance]
async fn negative_followers_are_422_naming_followers() {
    let app = spawn_app().await;
    for followers in [json!(-1), json!("many"), json!(1.5)] {
        let answer = app
            .try_create_account(
                &json!({"handle": "ana", "kind": "creator", "country": "US", "followers": followers}),
            )
            .await;
        assert_invalid(&answer, "followers");
    }
}

#[conformance]
async fn a_missing_field_is_422_naming_it() {
    let app = spawn_app().await;
    let full = json!({"handle": "ana", "kind": "viewer", "country": "US"});
    for field in ["handle", "kind", "country"] {
        let mut body = full.clone();
        body.as_object_mut().expect("an object").remove(field);
        let answer = app.try_create_account(&body).await;
        assert_invalid(&answer, field);
    }
}

#[conformance]
async fn an_account_is_200_for_the_admin_and_for_itself() {
    let app = spawn_app().await;
    let ana = app.viewer("ana", "FR").await;
    for token in [ADMIN, ana.token.as_str()] {
        let (status, body) = app
            .get(&format!("/v1/accounts/{}", ana.id), Some(token))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], json!(ana.id));
        assert_eq!(body["handle"], json!("ana"));
        assert_eq!(body["kind"], json!("viewer"));
        assert_eq!(body["country"], json!("FR"));
        assert_time(&body, "created_at");
    }
}

#[conformance]
async fn an_unknown_account_is_404_not_found() {
    let app = spawn_app().await;
    let answer = app.get("/v1/accounts/nobody", Some(ADMIN)).await;
    assert_error(&answer, 404, "not_found");
    let answer = app
        .post_empty("/v1/accounts/nobody/tokens", Some(ADMIN))
        .await;
    assert_error(&answer, 404, "not_found");
}

#[conformance]
async fn a_token_is_201_and_acts_as_its_account() {
    let app = spawn_app().await;
    let account = app.create_account("ana", "viewer", "DE", None, None).await;
    let id = string(&account, "id");
    let (status, body) = app
        .post_empty(&format!("/v1/accounts/{id}/tokens"), Some(ADMIN))
        .await;
    assert_eq!(status, 201, "{body}");
    let token = string(&body, "token");
    assert!(!token.is_empty());
    let (status, me) = app.get("/v1/me", Some(token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], json!(id));
    assert_eq!(me["handle"], json!("ana"));
    assert_eq!(me["kind"], json!("viewer"));
    assert_eq!(me["country"], json!("DE"));
    assert_time(&me, "created_at");
    // A second token acts as the same account; the first still works.
    let second = app.token_for(id).await;
    assert_ne!(second, token);
    for t in [token, second.as_str()] {
        let (status, me) = app.get("/v1/me", Some(t)).await;
        assert_eq!((status, &me["id"]), (200, &json!(id)));
    }
}
