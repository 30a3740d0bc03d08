//! The brand marketplace (API.md, "Brand marketplace"): metrics and profiles, campaigns,
//! matches and recommendations, offers whose fee is held in escrow from the brand's wallet
//! (paid on approval, given back on decline, expiry and cancel), each step from a wrong state,
//! time's steps on one node or racing a person on another, and ratings once per side. Each
//! money test ends with the audit.

use serde_json::{Value, json};
use testkit::conformance;
use time::format_description::well_known::Rfc3339;

use crate::common::{
    ADMIN, TestApp, User, assert_error, assert_invalid, assert_page, spawn_app_with, string,
};

/// The platform's fee on brand deals in these tests: 10 %.
async fn market_app() -> TestApp {
    spawn_app_with(|c| {
        c.platform_fee_by_source
            .insert("brand_deals".into(), money::Bps::new(1_000).expect("bps"));
    })
    .await
}

async fn brand(app: &TestApp, handle: &str) -> User {
    app.user(handle, "brand", "US", None, None).await
}

async fn fund(app: &TestApp, brand: &User, amount: i64) {
    let (status, body) = app
        .post(
            "/v1/wallet/topups",
            Some(&brand.token),
            &json!({"amount": {"amount": amount, "currency": "USD"}, "payment_method": "pm_card_visa"}),
        )
        .await;
    assert_eq!(status, 201, "top-up: {body}");
}

/// The brand's USD wallet: (spendable, held).
async fn wallet(app: &TestApp, brand: &User) -> (i64, i64) {
    let (status, body) = app.get("/v1/wallet", Some(&brand.token)).await;
    assert_eq!(status, 200, "{body}");
    body["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|b| b["currency"] == json!("USD"))
        .map_or((0, 0), |b| {
            assert_eq!(b["held"]["currency"], json!("USD"));
            (
                b["amount"].as_i64().expect("amount"),
                b["held"]["amount"].as_i64().expect("held"),
            )
        })
}

fn metrics(followers: u64, engagement_bps: u32, us: u32) -> Value {
    json!({"followers": followers, "avg_views": followers / 5, "engagement_bps": engagement_bps,
           "audience_countries": {"US": us, "CA": 1_000}, "audience_ages": {"18-24": 4_000}})
}

/// A creator with metrics and a profile in `niches`.
async fn listed(app: &TestApp, handle: &str, m: Value, niches: &[&str]) -> User {
    let c = app.creator(handle).await;
    let (status, body) = app
        .put(&format!("/v1/creators/{}/metrics", c.id), ADMIN, &m)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .put(
            &format!("/v1/creators/{}/profile", c.id),
            &c.token,
            &json!({"niches": niches, "bio": "I cook", "open_to_deals": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    c
}

fn in_days(days: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::days(days))
        .format(&Rfc3339)
        .expect("a time")
}

fn campaign_body(slots: u32) -> Value {
    json!({"title": "Spring menu", "brief": "Cook our new sauce live", "niches": ["cooking"],
           "countries": ["US"], "fee": {"amount": 4_000, "currency": "USD"}, "slots": slots,
           "deadline": in_days(30)})
}

async fn campaign(app: &TestApp, brand: &User, slots: u32) -> String {
    let (status, body) = app
        .post("/v1/campaigns", Some(&brand.token), &campaign_body(slots))
        .await;
    assert_eq!(status, 201, "{body}");
    string(&body, "id").to_owned()
}

async fn offer(
    app: &TestApp,
    brand: &User,
    campaign: &str,
    creator: &User,
    fee: i64,
) -> (u16, Value) {
    app.post(
        &format!("/v1/campaigns/{campaign}/offers"),
        Some(&brand.token),
        &json!({"creator_id": creator.id, "fee": {"amount": fee, "currency": "USD"}}),
    )
    .await
}

async fn made(app: &TestApp, brand: &User, campaign: &str, creator: &User, fee: i64) -> String {
    let (status, body) = offer(app, brand, campaign, creator, fee).await;
    assert_eq!(status, 201, "{body}");
    string(&body, "id").to_owned()
}

/// `POST /v1/offers/{id}/{step}` with `body`.
async fn step(app: &TestApp, token: &str, offer: &str, step: &str, body: &Value) -> (u16, Value) {
    app.post(&format!("/v1/offers/{offer}/{step}"), Some(token), body)
        .await
}

async fn stepped(app: &TestApp, token: &str, offer: &str, name: &str, body: &Value) -> Value {
    let (status, answer) = step(app, token, offer, name, body).await;
    assert_eq!(status, 200, "{name}: {answer}");
    answer
}

fn deliverable() -> Value {
    json!({"url": "https://video.example/v/1"})
}

/// The creator's income from brand deals, in USD.
async fn deal_income(app: &TestApp, creator: &User) -> i64 {
    let e = app.earnings_of(&creator.id).await;
    e["by_source"]
        .as_array()
        .expect("by_source")
        .iter()
        .filter(|s| s["source"] == json!("brand_deals") && s["total"]["currency"] == json!("USD"))
        .map(|s| s["total"]["amount"].as_i64().expect("amount"))
        .sum()
}

async fn audit(app: &TestApp) {
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn the_platform_sets_metrics_and_the_creator_their_profile() {
    let app = market_app().await;
    let ana = app.creator("ana").await;
    let acme = brand(&app, "acme").await;
    let path = format!("/v1/creators/{}/metrics", ana.id);
    let (status, body) = app.put(&path, ADMIN, &metrics(250_000, 420, 6_000)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], json!("mid"));
    assert_eq!(body["audience_countries"]["US"], json!(6_000));
    let (status, got) = app.get(&path, Some(&ana.token)).await;
    assert_eq!((status, &got["followers"]), (200, &json!(250_000)));
    for (followers, tier) in [
        (9_999, "nano"),
        (10_000, "micro"),
        (100_000, "mid"),
        (500_000, "macro"),
        (1_000_000, "mega"),
    ] {
        let (_, b) = app.put(&path, ADMIN, &metrics(followers, 100, 0)).await;
        assert_eq!(b["tier"], json!(tier), "{followers}");
    }
    // Only the platform reports metrics.
    assert_error(
        &app.put(&path, &ana.token, &metrics(1, 1, 0)).await,
        403,
        "forbidden",
    );
    let (status, _) = app
        .request(
            reqwest::Method::PUT,
            &path,
            None,
            None,
            Some(metrics(1, 1, 0).to_string()),
        )
        .await;
    assert_eq!(status, 401);
    assert_error(
        &app.put("/v1/creators/acc_nobody/metrics", ADMIN, &metrics(1, 1, 0))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.put(
            &format!("/v1/creators/{}/metrics", acme.id),
            ADMIN,
            &metrics(1, 1, 0),
        )
        .await,
        404,
        "not_found",
    );
    let mut bad = metrics(1_000, 10_001, 0);
    assert_invalid(&app.put(&path, ADMIN, &bad).await, "engagement_bps");
    bad = metrics(1_000, 100, 9_500);
    assert_invalid(&app.put(&path, ADMIN, &bad).await, "audience_countries");
    bad = metrics(1_000, 100, 0);
    bad["audience_countries"] = json!({"USA": 10});
    assert_invalid(&app.put(&path, ADMIN, &bad).await, "audience_countries");
    bad["audience_countries"] = json!({});
    bad["audience_ages"] = json!({"young": 10});
    assert_invalid(&app.put(&path, ADMIN, &bad).await, "audience_ages");
    bad = metrics(1_000, 100, 0);
    bad["followers"] = json!(-1);
    assert_invalid(&app.put(&path, ADMIN, &bad).await, "followers");
    bad = metrics(1_000, 100, 0);
    bad["extra"] = json!(1);
    assert_error(&app.put(&path, ADMIN, &bad).await, 422, "invalid_request");

    let profile = format!("/v1/creators/{}/profile", ana.id);
    let (status, body) = app
        .put(
            &profile,
            &ana.token,
            &json!({"niches": ["Cooking", "travel", "cooking"], "bio": "Pasta"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["niches"], json!(["cooking", "travel"]));
    assert_eq!(body["open_to_deals"], json!(true));
    let (status, got) = app.get(&profile, Some(&acme.token)).await;
    assert_eq!((status, &got["handle"]), (200, &json!("ana")));
    let cy = app.creator("cy").await;
    assert_error(
        &app.put(&profile, &cy.token, &json!({"niches": []})).await,
        403,
        "forbidden",
    );
    assert_error(
        &app.put(&profile, &acme.token, &json!({"niches": []})).await,
        403,
        "forbidden",
    );
    assert_invalid(
        &app.put(&profile, &ana.token, &json!({"niches": ["no spaces"]}))
            .await,
        "niches[0]",
    );
    assert_invalid(
        &app.put(
            &profile,
            &ana.token,
            &json!({"niches": [], "bio": "x".repeat(1_001)}),
        )
        .await,
        "bio",
    );
}

#[conformance]
async fn brands_post_campaigns_and_creators_see_the_open_ones() {
    let app = market_app().await;
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    let (status, c) = app
        .post("/v1/campaigns", Some(&acme.token), &campaign_body(3))
        .await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["status"], json!("open"));
    assert_eq!(c["fee"], json!({"amount": 4_000, "currency": "USD"}));
    assert_eq!(c["brand_id"], json!(acme.id));
    let id = string(&c, "id");
    let (status, got) = app
        .get(&format!("/v1/campaigns/{id}"), Some(&ana.token))
        .await;
    assert_eq!((status, &got["title"]), (200, &json!("Spring menu")));
    let (status, list) = app.get("/v1/campaigns?status=open", Some(&ana.token)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(assert_page(&list).len(), 1);
    let (_, mine) = app
        .get(
            &format!("/v1/campaigns?brand_id={}", ana.id),
            Some(&ana.token),
        )
        .await;
    assert!(assert_page(&mine).is_empty());
    assert_error(
        &app.get("/v1/campaigns?status=maybe", Some(&ana.token))
            .await,
        422,
        "invalid_request",
    );
    assert_error(
        &app.get("/v1/campaigns/cmp_nope", Some(&ana.token)).await,
        404,
        "not_found",
    );
    assert_eq!(app.get("/v1/campaigns", None).await.0, 401);
    // Only brands post.
    assert_error(
        &app.post("/v1/campaigns", Some(&ana.token), &campaign_body(1))
            .await,
        403,
        "forbidden",
    );
    for (field, value) in [
        ("deadline", json!("2001-01-01T00:00:00Z")),
        ("deadline", json!("soon")),
        ("slots", json!(0)),
        ("fee", json!({"amount": -5, "currency": "USD"})),
        ("fee", json!({"amount": 5, "currency": "ZZZ"})),
        ("title", json!("  ")),
        ("niches", json!(["a b"])),
        ("countries", json!(["Narnia"])),
    ] {
        let mut body = campaign_body(1);
        body[field] = value;
        assert_invalid(
            &app.post("/v1/campaigns", Some(&acme.token), &body).await,
            field,
        );
    }
}

#[conformance]
async fn matches_rank_fit_and_quality_within_a_tier_and_say_why() {
    let app = market_app().await;
    let acme = brand(&app, "acme").await;
    // An excellent mid-sized cook, an ordinary mega one, a small one, a traveller (no
    // cooking: not matched) and a cook who takes no deals.
    let mid = listed(&app, "mid_cook", metrics(200_000, 900, 7_000), &["cooking"]).await;
    let mega = listed(
        &app,
        "mega_cook",
        metrics(2_000_000, 60, 5_000),
        &["cooking"],
    )
    .await;
    // Judged within the mega tier, the ordinary one's engagement is the lower.
    listed(
        &app,
        "mega_star",
        metrics(3_000_000, 300, 5_000),
        &["cooking"],
    )
    .await;
    listed(&app, "nano_cook", metrics(5_000, 600, 8_000), &["cooking"]).await;
    let traveller = listed(&app, "traveller", metrics(300_000, 900, 9_000), &["travel"]).await;
    let shy = listed(&app, "shy_cook", metrics(150_000, 800, 9_000), &["cooking"]).await;
    app.put(
        &format!("/v1/creators/{}/profile", shy.id),
        &shy.token,
        &json!({"niches": ["cooking"], "open_to_deals": false}),
    )
    .await;
    let c = campaign(&app, &acme, 2).await;
    let path = format!("/v1/campaigns/{c}/matches");
    let (status, body) = app.get(&path, Some(&acme.token)).await;
    assert_eq!(status, 200, "{body}");
    let data = assert_page(&body);
    let handles: Vec<&str> = data.iter().map(|m| string(m, "handle")).collect();
    assert_eq!(handles.len(), 4, "{body}");
    assert!(!handles.contains(&"traveller") && !handles.contains(&"shy_cook"));
    for m in data {
        let score = m["score"].as_u64().expect("score");
        assert!(score <= 10_000);
        for part in ["fit", "quality", "reliability"] {
            assert!(m["parts"][part].as_u64().expect(part) <= 10_000);
        }
        assert!(!string(m, "why").is_empty());
        assert!(["nano", "micro", "mid", "macro", "mega"].contains(&string(m, "tier")));
    }
    let at = |id: &str| {
        data.iter()
            .position(|m| string(m, "creator_id") == id)
            .expect("matched")
    };
    assert!(at(&mid.id) < at(&mega.id), "{body}");
    let part = |id: &str, p: &str| data[at(id)]["parts"][p].as_u64().expect("a part");
    assert!(
        part(&mid.id, "quality") > part(&mega.id, "quality"),
        "{body}"
    );
    assert_eq!(data[at(&mid.id)]["tier"], json!("mid"));
    // Paged with the cursor it gives.
    let (_, one) = app.get(&format!("{path}?limit=1"), Some(&acme.token)).await;
    assert_eq!(assert_page(&one).len(), 1);
    let cursor = string(&one, "next_cursor").to_owned();
    let (_, two) = app
        .get(
            &format!("{path}?limit=1&cursor={cursor}"),
            Some(&acme.token),
        )
        .await;
    assert_eq!(assert_page(&two)[0]["creator_id"], data[1]["creator_id"]);
    // A creator who opens up again is matched again.
    app.put(
        &format!("/v1/creators/{}/profile", traveller.id),
        &traveller.token,
        &json!({"niches": ["travel", "cooking"]}),
    )
    .await;
    let (_, again) = app.get(&path, Some(ADMIN)).await;
    assert_eq!(assert_page(&again).len(), 5);
    // Only the campaign's brand (and the operator) see them.
    let other = brand(&app, "other").await;
    assert_error(&app.get(&path, Some(&other.token)).await, 403, "forbidden");
    assert_error(&app.get(&path, Some(&mid.token)).await, 403, "forbidden");
    assert_error(
        &app.get(&format!("{path}?limit=0"), Some(&acme.token)).await,
        422,
        "invalid_request",
    );
    assert_error(
        &app.get(&format!("{path}?cursor=zz"), Some(&acme.token))
            .await,
        422,
        "invalid_request",
    );
    assert_error(
        &app.get("/v1/campaigns/cmp_nope/matches", Some(&acme.token))
            .await,
        404,
        "not_found",
    );

    // Recommendations: open campaigns, best fit first.
    let (status, _) = app
        .post(
            "/v1/campaigns",
            Some(&acme.token),
            &json!({"title": "Trips", "brief": "Go places", "niches": ["travel"], "countries": [],
                    "fee": {"amount": 1_000, "currency": "USD"}, "slots": 1, "deadline": in_days(10)}),
        )
        .await;
    assert_eq!(status, 201);
    let rec = format!("/v1/creators/{}/campaigns/recommended", mid.id);
    let (status, body) = app.get(&rec, Some(&mid.token)).await;
    assert_eq!(status, 200, "{body}");
    let data = assert_page(&body);
    assert_eq!(data.len(), 2);
    assert_eq!(string(&data[0], "id"), c);
    assert!(data[0]["fit"].as_u64() > data[1]["fit"].as_u64(), "{body}");
    assert_error(
        &app.get(&rec, Some(&traveller.token)).await,
        403,
        "forbidden",
    );
    assert_error(&app.get(&rec, Some(&acme.token)).await, 403, "forbidden");
}

#[conformance]
async fn an_offer_is_held_from_the_wallet_and_approval_pays_the_creator_once() {
    let app = market_app().await;
    let acme = brand(&app, "acme").await;
    let ana = listed(&app, "ana", metrics(80_000, 500, 6_000), &["cooking"]).await;
    fund(&app, &acme, 10_000).await;
    let c = campaign(&app, &acme, 2).await;
    let (status, o) = offer(&app, &acme, &c, &ana, 4_000).await;
    assert_eq!(status, 201, "{o}");
    assert_eq!(o["status"], json!("offered"));
    assert_eq!(o["fee"], json!({"amount": 4_000, "currency": "USD"}));
    assert_eq!(
        (string(&o, "campaign_id"), string(&o, "creator_id")),
        (c.as_str(), ana.id.as_str())
    );
    let expires = time::OffsetDateTime::parse(string(&o, "expires_at"), &Rfc3339).expect("a time");
    let in_a_week = time::OffsetDateTime::now_utc() + time::Duration::days(7);
    assert!((expires - in_a_week).abs() < time::Duration::minutes(1));
    let id = string(&o, "id").to_owned();
    assert_eq!(wallet(&app, &acme).await, (6_000, 4_000));
    assert_eq!(deal_income(&app, &ana).await, 0);

    stepped(&app, &ana.token, &id, "accept", &json!({})).await;
    let d = stepped(&app, &ana.token, &id, "deliver", &deliverable()).await;
    assert_eq!(
        (string(&d, "status"), string(&d, "delivery_url")),
        ("delivered", "https://video.example/v/1")
    );
    let ch = stepped(
        &app,
        &acme.token,
        &id,
        "request-changes",
        &json!({"note": "Louder, please"}),
    )
    .await;
    assert_eq!(
        (string(&ch, "status"), string(&ch, "note")),
        ("changes_requested", "Louder, please")
    );
    stepped(
        &app,
        &ana.token,
        &id,
        "deliver",
        &json!({"url": "https://video.example/v/2"}),
    )
    .await;
    let approved = app
        .request(
            reqwest::Method::POST,
            &format!("/v1/offers/{id}/approve"),
            Some(&acme.token),
            Some("approve-1"),
            None,
        )
        .await;
    assert_eq!(approved.0, 200, "{}", approved.1);
    assert_eq!(
        (&approved.1["status"], &approved.1["auto_approved"]),
        (&json!("approved"), &json!(false))
    );
    // Paid: the wallet's hold is gone, the creator has the fee less 10 %, pending.
    assert_eq!(wallet(&app, &acme).await, (6_000, 0));
    assert_eq!(deal_income(&app, &ana).await, 3_600);
    let e = app.earnings_of(&ana.id).await;
    assert_eq!(crate::common::amounts(&e, "USD").0, 3_600, "{e}");
    // The same key replays the approval; another approval is refused; nothing moves again.
    let replayed = app
        .request(
            reqwest::Method::POST,
            &format!("/v1/offers/{id}/approve"),
            Some(&acme.token),
            Some("approve-1"),
            None,
        )
        .await;
    assert_eq!(replayed, approved);
    assert_error(
        &step(&app, &acme.token, &id, "approve", &json!({})).await,
        409,
        "invalid_state",
    );
    assert_eq!(deal_income(&app, &ana).await, 3_600);

    // Ratings: once per side, only by the two sides.
    let rating = format!("/v1/offers/{id}/rating");
    let (status, r) = app
        .post(&rating, Some(&acme.token), &json!({"stars": 5}))
        .await;
    assert_eq!((status, &r["side"]), (201, &json!("brand")), "{r}");
    assert_error(
        &app.post(&rating, Some(&acme.token), &json!({"stars": 4}))
            .await,
        409,
        "invalid_state",
    );
    let (status, r) = app
        .post(&rating, Some(&ana.token), &json!({"stars": 4}))
        .await;
    assert_eq!((status, &r["side"]), (201, &json!("creator")), "{r}");
    assert_error(
        &app.post(&rating, Some(&ana.token), &json!({"stars": 4}))
            .await,
        409,
        "invalid_state",
    );
    let eve = app.creator("eve").await;
    assert_error(
        &app.post(&rating, Some(&eve.token), &json!({"stars": 1}))
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.post(&rating, Some(ADMIN), &json!({"stars": 1})).await,
        403,
        "forbidden",
    );
    let (status, _) = app.post(&rating, None, &json!({"stars": 1})).await;
    assert_eq!(status, 401);
    // Listed for both sides.
    let (_, mine) = app
        .get(&format!("/v1/creators/{}/offers", ana.id), Some(&ana.token))
        .await;
    assert_eq!(assert_page(&mine).len(), 1);
    let (_, theirs) = app
        .get(&format!("/v1/campaigns/{c}/offers"), Some(&acme.token))
        .await;
    assert_eq!(assert_page(&theirs)[0]["status"], json!("approved"));
    assert_error(
        &app.get(&format!("/v1/campaigns/{c}/offers"), Some(&ana.token))
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.get(&format!("/v1/offers/{id}"), Some(&eve.token)).await,
        403,
        "forbidden",
    );
    audit(&app).await;
}

#[conformance]
async fn every_step_from_a_wrong_state_or_the_wrong_side_is_refused() {
    let app = market_app().await;
    let acme = brand(&app, "acme").await;
    let ana = listed(&app, "ana", metrics(80_000, 500, 6_000), &["cooking"]).await;
    fund(&app, &acme, 10_000).await;
    let c = campaign(&app, &acme, 5).await;
    let id = made(&app, &acme, &c, &ana, 1_000).await;
    // From offered: no delivery, approval or changes.
    for (name, who, body) in [
        ("deliver", &ana.token, deliverable()),
        ("approve", &acme.token, json!({})),
        ("request-changes", &acme.token, json!({"note": "x"})),
    ] {
        let answer = step(&app, who, &id, name, &body).await;
        assert_error(&answer, 409, "invalid_state");
    }
    // The wrong side.
    assert_error(
        &step(&app, &acme.token, &id, "accept", &json!({})).await,
        403,
        "forbidden",
    );
    assert_error(
        &step(&app, &ana.token, &id, "cancel", &json!({})).await,
        403,
        "forbidden",
    );
    assert_error(
        &step(&app, ADMIN, &id, "accept", &json!({})).await,
        403,
        "forbidden",
    );
    assert_error(
        &step(&app, &acme.token, "off_nope", "cancel", &json!({})).await,
        404,
        "not_found",
    );
    // Bodies.
    assert_error(
        &step(&app, &ana.token, &id, "accept", &json!({"x": 1})).await,
        422,
        "invalid_request",
    );
    stepped(&app, &ana.token, &id, "accept", &json!({})).await;
    assert_error(
        &step(&app, &ana.token, &id, "accept", &json!({})).await,
        409,
        "invalid_state",
    );
    assert_error(
        &step(&app, &ana.token, &id, "decline", &json!({})).await,
        409,
        "invalid_state",
    );
    assert_invalid(
        &step(&app, &ana.token, &id, "deliver", &json!({"url": "ftp://x"})).await,
        "url",
    );
    stepped(&app, &ana.token, &id, "deliver", &deliverable()).await;
    assert_error(
        &step(&app, &acme.token, &id, "cancel", &json!({})).await,
        409,
        "invalid_state",
    );
    assert_invalid(
        &step(
            &app,
            &acme.token,
            &id,
            "request-changes",
            &json!({"note": ""}),
        )
        .await,
        "note",
    );
    assert_error(
        &step(&app, &ana.token, &id, "deliver", &deliverable()).await,
        409,
        "invalid_state",
    );
    // A rating before approval.
    assert_error(
        &app.post(
            &format!("/v1/offers/{id}/rating"),
            Some(&acme.token),
            &json!({"stars": 5}),
        )
        .await,
        409,
        "invalid_state",
    );
    assert_eq!(wallet(&app, &acme).await, (9_000, 1_000));
    audit(&app).await;
}

#[conformance]
async fn decline_cancel_and_expiry_give_the_hold_back_and_silence_approves() {
    let app = market_app().await;
    let acme = brand(&app, "acme").await;
    let creators = [
        listed(&app, "a", metrics(20_000, 500, 6_000), &["cooking"]).await,
        listed(&app, "b", metrics(20_000, 500, 6_000), &["cooking"]).await,
        listed(&app, "c", metrics(20_000, 500, 6_000), &["cooking"]).await,
        listed(&app, "d", metrics(20_000, 500, 6_000), &["cooking"]).await,
        listed(&app, "e", metrics(20_000, 500, 6_000), &["cooking"]).await,
    ];
    fund(&app, &acme, 10_000).await;
    let c = campaign(&app, &acme, 5).await;
    let mut ids = Vec::new();
    for creator in &creators {
        ids.push(made(&app, &acme, &c, creator, 2_000).await);
    }
    assert_eq!(wallet(&app, &acme).await, (0, 10_000));
    stepped(&app, &creators[0].token, &ids[0], "decline", &json!({})).await;
    stepped(&app, &acme.token, &ids[1], "cancel", &json!({})).await;
    stepped(&app, &creators[2].token, &ids[2], "accept", &json!({})).await;
    stepped(&app, &acme.token, &ids[2], "cancel", &json!({})).await;
    // ids[3] is never answered; ids[4] is delivered and never answered.
    stepped(&app, &creators[4].token, &ids[4], "accept", &json!({})).await;
    stepped(&app, &creators[4].token, &ids[4], "deliver", &deliverable()).await;
    assert_eq!(wallet(&app, &acme).await, (6_000, 4_000));
    // Nothing is due yet.
    let (status, report) = app.post_empty("/v1/offers/run-due", Some(ADMIN)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (&report["expired"], &report["approved"]),
        (&json!(0), &json!(0))
    );
    assert_error(
        &app.post_empty("/v1/offers/run-due", Some(&acme.token))
            .await,
        403,
        "forbidden",
    );
    // Eight days on: the offer expires and the delivery is approved, once however often.
    let later = store::now() + time::Duration::days(8);
    let hold = app.state.config.hold_period;
    let run = server::flows::deals::run_due(&app.state.store, later, hold)
        .await
        .expect("a run");
    assert_eq!((run.expired, run.approved), (1, 1));
    let again = server::flows::deals::run_due(&app.state.store, later, hold)
        .await
        .expect("a run");
    assert_eq!((again.expired, again.approved), (0, 0));
    let (_, expired) = app
        .get(&format!("/v1/offers/{}", ids[3]), Some(&acme.token))
        .await;
    assert_eq!(expired["status"], json!("expired"));
    let (_, auto) = app
        .get(&format!("/v1/offers/{}", ids[4]), Some(&acme.token))
        .await;
    assert_eq!(
        (&auto["status"], &auto["auto_approved"]),
        (&json!("approved"), &json!(true))
    );
    assert_eq!(wallet(&app, &acme).await, (8_000, 0));
    assert_eq!(deal_income(&app, &creators[4]).await, 1_800);
    for creator in &creators[..4] {
        assert_eq!(deal_income(&app, creator).await, 0);
    }
    assert_error(
        &step(&app, &creators[3].token, &ids[3], "accept", &json!({})).await,
        409,
        "invalid_state",
    );
    audit(&app).await;
}

#[conformance]
async fn an_offer_is_refused_when_it_cannot_be_held_or_the_campaign_cannot_take_it() {
    let app = market_app().await;
    let acme = brand(&app, "acme").await;
    let other = brand(&app, "other").await;
    let ana = listed(&app, "ana", metrics(80_000, 500, 6_000), &["cooking"]).await;
    let bo = listed(&app, "bo", metrics(80_000, 500, 6_000), &["cooking"]).await;
    let cy = listed(&app, "cy", metrics(80_000, 500, 6_000), &["cooking"]).await;
    let c = campaign(&app, &acme, 2).await;
    // Nothing in the wallet: 402, nothing recorded.
    assert_error(
        &offer(&app, &acme, &c, &ana, 1_000).await,
        402,
        "insufficient_funds",
    );
    fund(&app, &acme, 5_000).await;
    assert_error(
        &offer(&app, &acme, &c, &ana, 5_001).await,
        402,
        "insufficient_funds",
    );
    assert_invalid(
        &app.post(
            &format!("/v1/campaigns/{c}/offers"),
            Some(&acme.token),
            &json!({"creator_id": ana.id, "fee": {"amount": 100, "currency": "EUR"}}),
        )
        .await,
        "fee.currency",
    );
    assert_invalid(
        &app.post(
            &format!("/v1/campaigns/{c}/offers"),
            Some(&acme.token),
            &json!({"creator_id": acme.id, "fee": {"amount": 100, "currency": "USD"}}),
        )
        .await,
        "creator_id",
    );
    assert_error(&offer(&app, &other, &c, &ana, 100).await, 403, "forbidden");
    assert_error(
        &offer(&app, &acme, "cmp_nope", &ana, 100).await,
        404,
        "not_found",
    );
    let (status, _) = app
        .post(
            &format!("/v1/campaigns/{c}/offers"),
            Some(&ana.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, 403);
    // With a key, a retry is the same offer and one hold.
    let offers = format!("/v1/campaigns/{c}/offers");
    let with_key = |fee: i64| {
        app.request(
            reqwest::Method::POST,
            &offers,
            Some(&acme.token),
            Some("offer-ana"),
            Some(
                json!({"creator_id": ana.id, "fee": {"amount": fee, "currency": "USD"}})
                    .to_string(),
            ),
        )
    };
    let first = with_key(1_000).await;
    assert_eq!(first.0, 201, "{}", first.1);
    assert_eq!(with_key(1_000).await, first);
    assert_error(&with_key(2_000).await, 409, "idempotency_key_reused");
    assert_eq!(wallet(&app, &acme).await, (4_000, 1_000));
    // One open offer per creator and campaign; no more offers than slots.
    assert_error(
        &offer(&app, &acme, &c, &ana, 1_000).await,
        409,
        "invalid_state",
    );
    made(&app, &acme, &c, &bo, 1_000).await;
    assert_error(
        &offer(&app, &acme, &c, &cy, 1_000).await,
        409,
        "invalid_state",
    );
    // A creator who takes no offers.
    let c2 = campaign(&app, &acme, 5).await;
    app.put(
        &format!("/v1/creators/{}/profile", cy.id),
        &cy.token,
        &json!({"niches": ["cooking"], "open_to_deals": false}),
    )
    .await;
    assert_error(
        &offer(&app, &acme, &c2, &cy, 1_000).await,
        409,
        "invalid_state",
    );
    assert_eq!(wallet(&app, &acme).await, (3_000, 2_000));
    audit(&app).await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_offers_never_hold_more_than_the_wallet_has() {
    let app = std::sync::Arc::new(market_app().await);
    let acme = brand(&app, "acme").await;
    fund(&app, &acme, 10_000).await;
    let c = campaign(&app, &acme, 20).await;
    let mut creators = Vec::new();
    for i in 0..20 {
        creators.push(app.creator(&format!("c{i}")).await);
    }
    let mut tasks = Vec::new();
    for creator in creators {
        let (app, acme, c) = (app.clone(), acme.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            offer(&app, &acme, &c, &creator, 3_000).await
        }));
    }
    let mut held = 0;
    for task in tasks {
        let (status, body) = task.await.expect("the task");
        match status {
            201 => held += 1,
            402 => assert_eq!(body["error"]["code"], json!("insufficient_funds")),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(held, 3);
    assert_eq!(wallet(&app, &acme).await, (1_000, 9_000));
    audit(&app).await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_racing_the_automatic_one_on_another_node_pays_once() {
    let app = market_app().await;
    let node2 = app.another_node().await;
    let acme = brand(&app, "acme").await;
    fund(&app, &acme, 10_000).await;
    let c = campaign(&app, &acme, 10).await;
    let mut paid = Vec::new();
    for i in 0..5 {
        let ana = app.creator(&format!("ana{i}")).await;
        let id = made(&app, &acme, &c, &ana, 1_000).await;
        stepped(&app, &ana.token, &id, "accept", &json!({})).await;
        stepped(&app, &ana.token, &id, "deliver", &deliverable()).await;
        let later = store::now() + time::Duration::days(8);
        let hold = app.state.config.hold_period;
        let empty = json!({});
        let (manual, automatic) = tokio::join!(
            step(&app, &acme.token, &id, "approve", &empty),
            server::flows::deals::run_due(&node2.state.store, later, hold),
        );
        let automatic = automatic.expect("the run");
        match manual.0 {
            200 => assert_eq!(automatic.approved, 0, "both approved"),
            409 => assert_eq!(automatic.approved, 1, "{manual:?}"),
            other => panic!("{other}: {}", manual.1),
        }
        paid.push(ana);
    }
    for ana in &paid {
        assert_eq!(deal_income(&app, ana).await, 900, "{}", ana.handle);
    }
    assert_eq!(wallet(&app, &acme).await, (5_000, 0));
    node2.state.store.close().await;
    audit(&app).await;
}

#[conformance]
async fn a_creator_s_stated_rate_makes_value_for_money_count_in_the_ranking() {
    let app = market_app().await;
    let acme = brand(&app, "acme").await;
    let mut ids = Vec::new();
    // Three creators alike in every way the platform measures; two state a rate.
    for (handle, rate) in [
        ("cheap", Some(100_000)),
        ("dear", Some(400_000)),
        ("quiet", None),
    ] {
        let c = listed(&app, handle, metrics(100_000, 500, 6_000), &["cooking"]).await;
        let rate = rate.map(|amount| json!({"amount": amount, "currency": "USD"}));
        let (status, body) = app
            .put(
                &format!("/v1/creators/{}/profile", c.id),
                &c.token,
                &json!({"niches": ["cooking"], "rate": rate}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["rate"], rate.unwrap_or(Value::Null));
        ids.push(c);
    }
    assert_invalid(
        &app.put(
            &format!("/v1/creators/{}/profile", ids[0].id),
            &ids[0].token,
            &json!({"niches": [], "rate": {"amount": 0, "currency": "USD"}}),
        )
        .await,
        "rate",
    );
    let c = campaign(&app, &acme, 3).await;
    let (status, body) = app
        .get(&format!("/v1/campaigns/{c}/matches"), Some(&acme.token))
        .await;
    assert_eq!(status, 200, "{body}");
    let data = assert_page(&body);
    let value = |who: &User| {
        data.iter()
            .find(|m| string(m, "creator_id") == who.id)
            .map(|m| m["parts"]["value"].as_u64().expect("a value part"))
            .expect("matched")
    };
    let (cheap, dear, quiet) = (value(&ids[0]), value(&ids[1]), value(&ids[2]));
    assert!(
        cheap > dear,
        "four times the rate for the same reach: {body}"
    );
    assert_eq!(quiet, 5_000, "no rate: neutral");
    let order: Vec<&str> = data.iter().map(|m| string(m, "handle")).collect();
    let at = |h: &str| order.iter().position(|x| *x == h).expect("listed");
    assert!(at("cheap") < at("dear"), "{order:?}");
}
