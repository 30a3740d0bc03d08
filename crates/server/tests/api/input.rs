//! Malformed input is a 4xx on both stores, never a 5xx nor a partial write: ids in paths,
//! cursors and query values, and text in bodies are checked before the database.

use testkit::conformance;

use serde_json::json;

use crate::common::{ADMIN, assert_error, assert_invalid, spawn_app};

#[conformance]
async fn a_nul_or_control_character_in_a_path_id_is_404_on_every_route() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    for path in [
        "/v1/lives/%00/comments",
        "/v1/lives/%00",
        "/v1/lives/a%00b/supporters",
        "/v1/lives/%0A/comments",
        "/v1/accounts/%00",
        "/v1/creators/%00/earnings",
        "/v1/creators/%00/statements",
        "/v1/creators/%00/payouts",
        "/v1/payouts/%00",
        "/v1/campaigns/%00",
        "/v1/offers/%00",
        "/v1/shop/orders/%00",
        "/v1/creators/%C3%A9/shop",
    ] {
        let answer = app.get(path, Some(ADMIN)).await;
        assert_error(&answer, 404, "not_found");
    }
    let long = "x".repeat(101);
    assert_error(
        &app.get(&format!("/v1/lives/{long}"), Some(&ana.token))
            .await,
        404,
        "not_found",
    );
    for path in [
        "/v1/lives/%00/comments",
        "/v1/lives/%00/badges",
        "/v1/purchases/%00/refund",
        "/v1/lives/%00/end",
    ] {
        let answer = app
            .post(path, Some(ADMIN), &json!({"text": "hi", "tier": 1}))
            .await;
        assert_error(&answer, 404, "not_found");
    }
}

#[conformance]
async fn a_malformed_cursor_is_422_and_a_negative_offset_is_no_5xx() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    for cursor in ["%00", "a%00b", "%0A", "caf%C3%A9"] {
        for path in [
            format!("/v1/lives/{live}/comments?cursor={cursor}"),
            format!("/v1/lives/{live}/supporters?cursor={cursor}"),
            format!("/v1/creators/{}/payouts?cursor={cursor}", ana.id),
        ] {
            let answer = app.get(&path, Some(ADMIN)).await;
            assert_invalid(&answer, "cursor");
        }
    }
    let answer = app
        .get(
            &format!("/v1/lives/{live}/supporters?cursor=o-1"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(answer.0, 200, "{answer:?}");
    let answer = app
        .get(
            &format!("/v1/lives/{live}/supporters?cursor=o99999999999999999999"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(answer.0, 200, "{answer:?}");
    let answer = app
        .get(
            &format!("/v1/lives/{live}/comments?cursor={}", "c".repeat(201)),
            Some(ADMIN),
        )
        .await;
    assert_invalid(&answer, "cursor");
}

#[conformance]
async fn a_nul_in_a_query_value_or_a_body_string_is_422_and_writes_nothing() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    assert_invalid(
        &app.get("/v1/badges/prices?country=U%00", None).await,
        "NUL",
    );
    assert_invalid(
        &app.get("/v1/products?brand_id=%00", Some(ADMIN)).await,
        "NUL",
    );
    let answer = app
        .post_raw(
            &format!("/v1/lives/{live}/comments"),
            Some(&bob.token),
            r#"{"text": "a\u0000b"}"#,
        )
        .await;
    assert_invalid(&answer, "text");
    let answer = app
        .post_raw(
            "/v1/accounts",
            Some(ADMIN),
            r#"{"handle": "eve", "kind": "viewer", "country": "US", "birth_date": "\u0000"}"#,
        )
        .await;
    assert_invalid(&answer, "birth_date");
    let answer = app
        .post_raw(
            "/v1/lives",
            Some(&ana.token),
            r#"{"title": "ok", "extra": {"k\u0000": 1}}"#,
        )
        .await;
    assert_error(&answer, 422, "invalid_request");
    let (status, comments) = app
        .get(&format!("/v1/lives/{live}/comments"), Some(ADMIN))
        .await;
    assert_eq!(status, 200);
    assert_eq!(comments["data"], json!([]));
    assert_error(
        &app.get("/v1/accounts/eve", Some(ADMIN)).await,
        404,
        "not_found",
    );
}

/// Text that changes direction or hides characters: "evil\u{202E}gnp.exe" shows as
/// "evilexe.png", and a zero-width space makes two titles that look alike differ.
const SPOOFS: [&str; 4] = [
    "evil\u{202E}gnp.exe",
    "\u{2066}isolated\u{2069}",
    "zero\u{200B}width",
    "a\u{200D}na",
];

#[conformance]
async fn direction_changing_and_invisible_characters_are_refused_in_every_free_text_field() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let acme = app.user("acme", "brand", "US", None, None).await;
    let in_a_month = (time::OffsetDateTime::now_utc() + time::Duration::days(30))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a time");
    let product = json!({"title": "Glow serum", "url": "https://brand.example/serum",
        "price": {"amount": 1_999, "currency": "USD"}, "category": "beauty", "commission_bps": 1_000});
    let campaign = json!({"title": "Spring menu", "brief": "Cook our sauce", "niches": ["cooking"],
        "countries": ["US"], "fee": {"amount": 4_000, "currency": "USD"}, "slots": 1,
        "deadline": in_a_month});
    let profile = json!({"niches": ["cooking"], "bio": "I cook"});
    let program = json!({"name": "Launch", "rate_bps": 5_000,
        "caps": [{"amount": 1_000, "currency": "USD"}], "ends_at": in_a_month,
        "budget": [{"amount": 1_000, "currency": "USD"}]});
    for spoof in SPOOFS {
        for (path, token, good, field) in [
            ("/v1/products", acme.token.as_str(), &product, "title"),
            ("/v1/products", acme.token.as_str(), &product, "category"),
            ("/v1/campaigns", acme.token.as_str(), &campaign, "title"),
            ("/v1/campaigns", acme.token.as_str(), &campaign, "brief"),
            ("/v1/match-programs", ADMIN, &program, "name"),
        ] {
            let mut body = good.clone();
            body[field] = json!(spoof);
            let answer = app.post(path, Some(token), &body).await;
            assert_invalid(&answer, field);
        }
        let mut body = profile.clone();
        body["bio"] = json!(spoof);
        let answer = app
            .put(
                &format!("/v1/creators/{}/profile", ana.id),
                &ana.token,
                &body,
            )
            .await;
        assert_invalid(&answer, "bio");
    }
    // Nothing was written, and the same bodies without the characters are accepted.
    let (status, products) = app.get("/v1/products", Some(ADMIN)).await;
    assert_eq!((status, products["data"].clone()), (200, json!([])));
    assert_eq!(
        app.post("/v1/products", Some(&acme.token), &product)
            .await
            .0,
        201
    );
    // Joiners inside an emoji or a script that needs them are text, not spoofing.
    let mut body = product.clone();
    body["title"] = json!("Serum 👩\u{200D}🔬 می\u{200C}خواهم");
    let answer = app.post("/v1/products", Some(&acme.token), &body).await;
    assert_eq!(answer.0, 201, "{}", answer.1);
}
