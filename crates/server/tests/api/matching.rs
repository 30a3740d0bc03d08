//! Platform earnings-match programs: the match decided in the purchase's ledger batch, cut
//! exactly at the creator's cap and at the budget's last cent, reversed with its purchase.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{
    ADMIN, TestApp, amounts, assert_error, assert_invalid, event, spawn_app, spawn_app_with, string,
};

fn in_days(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

async fn program(app: &TestApp, body: Value) -> Value {
    let (status, program) = app.post("/v1/match-programs", Some(ADMIN), &body).await;
    assert_eq!(status, 201, "{program}");
    program
}

/// A 50 % match, capped per creator, with a budget, in USD.
async fn half_match(app: &TestApp, cap: i64, budget: i64) -> Value {
    program(
        app,
        json!({"name": "Launch match", "rate_bps": 5000,
               "caps": [{"amount": cap, "currency": "USD"}],
               "ends_at": in_days(30), "budget": [{"amount": budget, "currency": "USD"}]}),
    )
    .await
}

fn match_total(earnings: &Value) -> i64 {
    earnings["by_source"]
        .as_array()
        .expect("by_source")
        .iter()
        .find(|s| s["source"] == json!("match"))
        .map_or(0, |s| s["total"]["amount"].as_i64().expect("an amount"))
}

async fn remaining(app: &TestApp) -> i64 {
    let (status, list) = app.get("/v1/match-programs", Some(ADMIN)).await;
    assert_eq!(status, 200, "{list}");
    list["data"][0]["budgets"][0]["remaining"]["amount"]
        .as_i64()
        .expect("an amount")
}

#[conformance]
async fn a_purchase_is_matched_until_the_creator_s_cap_at_the_exact_cent() {
    let app = spawn_app().await;
    let created = half_match(&app, 150, 10_000).await;
    assert!(string(&created, "id").starts_with("mp_"));
    assert_eq!(
        created["budgets"][0]["remaining"],
        json!({"amount": 10000, "currency": "USD"})
    );
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "matched").await;
    // 50 % of 199 is 99.5: 99; then the 51 left of the cap; then nothing.
    let mut matched = Vec::new();
    for _ in 0..3 {
        let p = app.bought(&bob.token, &live, 2).await;
        matched.push(
            app.stored_purchase(string(&p, "id"))
                .await
                .match_amount
                .amount(),
        );
    }
    assert_eq!(matched, [99, 51, 0]);
    let earnings = app.earnings_of(&ana.id).await;
    assert_eq!(match_total(&earnings), 150);
    assert_eq!(amounts(&earnings, "USD"), (597 + 150, 0, 0));
    assert_eq!(remaining(&app).await, 10_000 - 150);
    // Another creator has a cap of their own.
    let eve = app.creator("eve").await;
    let live_e = app.start_live(&eve.token, "also matched").await;
    app.bought(&bob.token, &live_e, 3).await;
    assert_eq!(match_total(&app.earnings_of(&eve.id).await), 150);
    app.verify().await;
}

#[conformance]
async fn matching_stops_at_the_budget_s_last_cent() {
    let app = spawn_app().await;
    half_match(&app, 100_000, 120).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "budget").await;
    let mut matched = Vec::new();
    for _ in 0..3 {
        let p = app.bought(&bob.token, &live, 2).await;
        matched.push(
            app.stored_purchase(string(&p, "id"))
                .await
                .match_amount
                .amount(),
        );
    }
    assert_eq!(matched, [99, 21, 0]);
    assert_eq!(remaining(&app).await, 0);
    // More money, more matching.
    let id = string(
        &app.get("/v1/match-programs", Some(ADMIN)).await.1["data"][0],
        "id",
    )
    .to_owned();
    let (status, funded) = app
        .post(
            &format!("/v1/match-programs/{id}/budget"),
            Some(ADMIN),
            &json!({"amount": {"amount": 50, "currency": "USD"}}),
        )
        .await;
    assert_eq!(status, 200, "{funded}");
    assert_eq!(funded["budgets"][0]["remaining"]["amount"], json!(50));
    let p = app.bought(&bob.token, &live, 2).await;
    assert_eq!(
        app.stored_purchase(string(&p, "id"))
            .await
            .match_amount
            .amount(),
        50
    );
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_purchases_spend_the_budget_exactly_and_never_below_zero() {
    let app = spawn_app().await;
    half_match(&app, 100_000, 1_000).await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "rush").await;
    let mut viewers = Vec::new();
    for i in 0..6 {
        viewers.push(app.viewer(&format!("v{i}"), "US").await);
    }
    let buys = (0..30).map(|i| app.buy(&viewers[i % 6].token, &live, 2, "pm_card_visa", None));
    let answers = futures_util::future::join_all(buys).await;
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    // 30 × 99 wanted, 1,000 to give: exactly 1,000 given.
    assert_eq!(match_total(&app.earnings_of(&ana.id).await), 1_000);
    assert_eq!(remaining(&app).await, 0);
    app.verify().await;
}

#[conformance]
async fn a_refund_and_a_chargeback_give_the_match_back_to_the_budget_and_the_cap() {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::ZERO;
        c.release_interval = None;
    })
    .await;
    half_match(&app, 150, 10_000).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "reversed").await;
    let first = app.bought(&bob.token, &live, 2).await;
    let second = app.bought(&bob.token, &live, 2).await;
    assert_eq!(match_total(&app.earnings_of(&ana.id).await), 150);
    // The hold holds share and match; the release moves both.
    app.release().await;
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (0, 398 + 150, 0)
    );
    let (status, body) = app.refund(ADMIN, string(&first, "id"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(match_total(&app.earnings_of(&ana.id).await), 51);
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (0, 199 + 51, 0)
    );
    assert_eq!(remaining(&app).await, 10_000 - 51);
    let payment = app.payment_of(string(&second, "id")).await;
    let dispute = event(
        "evt_match_dispute",
        "charge.dispute.created",
        json!({"id": "dp_m", "object": "dispute", "payment_intent": payment, "amount": 199, "currency": "usd"}),
    );
    let (status, body, _) = app.webhook(&dispute).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(match_total(&app.earnings_of(&ana.id).await), 0);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    assert_eq!(remaining(&app).await, 10_000);
    // The cap is free again.
    let p = app.bought(&bob.token, &live, 2).await;
    assert_eq!(
        app.stored_purchase(string(&p, "id"))
            .await
            .match_amount
            .amount(),
        99
    );
    app.verify().await;
}

#[conformance]
async fn only_eligible_purchases_are_matched() {
    let app = spawn_app().await;
    // French creators only; and a program that has ended; and one in EUR only.
    program(
        &app,
        json!({"name": "FR", "rate_bps": 10000, "caps": [{"amount": 1000, "currency": "USD"}],
               "countries": ["FR"], "ends_at": in_days(1), "budget": [{"amount": 1000, "currency": "USD"}]}),
    )
    .await;
    program(
        &app,
        json!({"name": "over", "rate_bps": 10000, "caps": [{"amount": 1000, "currency": "USD"}],
               "starts_at": in_days(-3), "ends_at": in_days(-1), "budget": [{"amount": 1000, "currency": "USD"}]}),
    )
    .await;
    program(
        &app,
        json!({"name": "EUR", "rate_bps": 10000, "caps": [{"amount": 1000, "currency": "EUR"}],
               "ends_at": in_days(1), "budget": [{"amount": 1000, "currency": "EUR"}]}),
    )
    .await;
    let ana = app.creator("ana").await; // in the US
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "not matched").await;
    let p = app.bought(&bob.token, &live, 3).await;
    assert_eq!(
        app.stored_purchase(string(&p, "id"))
            .await
            .match_amount
            .amount(),
        0
    );
    assert_eq!(match_total(&app.earnings_of(&ana.id).await), 0);
    // A French creator's purchases in EUR are matched by the EUR program.
    let (status, marie) = app
        .try_create_account(&json!({"handle": "marie", "kind": "creator", "country": "FR"}))
        .await;
    assert_eq!(status, 201, "{marie}");
    let marie_token = app.token_for(string(&marie, "id")).await;
    let live_fr = app.start_live(&marie_token, "bonjour").await;
    let pierre = app.viewer("pierre", "FR").await;
    let p = app.bought(&pierre.token, &live_fr, 1).await;
    let stored = app.stored_purchase(string(&p, "id")).await;
    assert_eq!(stored.match_amount, stored.creator_share);
    app.verify().await;
}

#[conformance]
async fn match_programs_refuse_bad_input_and_are_the_platform_s_alone() {
    let app = spawn_app().await;
    let good = json!({"name": "x", "rate_bps": 5000, "caps": [{"amount": 100, "currency": "USD"}], "ends_at": in_days(1)});
    for (field, change) in [
        ("rate_bps", json!({"rate_bps": 0})),
        ("rate_bps", json!({"rate_bps": 10001})),
        ("caps", json!({"caps": []})),
        (
            "caps[0]",
            json!({"caps": [{"amount": 0, "currency": "USD"}]}),
        ),
        ("ends_at", json!({"ends_at": "tomorrow"})),
        ("ends_at", json!({"ends_at": in_days(-1)})),
        (
            "budget[0]",
            json!({"budget": [{"amount": 10, "currency": "EUR"}]}),
        ),
        ("countries[0]", json!({"countries": ["ZZZ"]})),
        ("name", json!({"name": " "})),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().expect("an object") {
            body[k] = v.clone();
        }
        assert_invalid(
            &app.post("/v1/match-programs", Some(ADMIN), &body).await,
            field,
        );
    }
    let bob = app.viewer("bob", "US").await;
    assert_error(
        &app.post("/v1/match-programs", Some(&bob.token), &good)
            .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.get("/v1/match-programs", Some(&bob.token)).await,
        403,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/v1/match-programs/mp_x/budget",
            Some(ADMIN),
            &json!({"amount": {"amount": 1, "currency": "USD"}}),
        )
        .await,
        404,
        "not_found",
    );
    let (_, list) = app.get("/v1/match-programs", Some(ADMIN)).await;
    assert_eq!(list["data"], json!([]));
}

#[conformance]
async fn a_program_outside_the_years_1_to_9999_in_utc_is_refused_and_the_list_still_answers() {
    let app = spawn_app().await;
    let body = |starts_at: &str, ends_at: &str| {
        json!({"name": "x", "rate_bps": 5000, "caps": [{"amount": 100, "currency": "USD"}],
               "starts_at": starts_at, "ends_at": ends_at})
    };
    // Year 0 at +01:00 is year -1 in UTC, which RFC 3339 cannot write; 23:00 on the last
    // day of 9999 at -02:00 is year 10000.
    for (field, starts_at, ends_at) in [
        ("starts_at", "0000-01-01T00:00:00+01:00", in_days(30)),
        ("starts_at", "0001-01-01T00:30:00+01:00", in_days(30)),
        (
            "ends_at",
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:00:00-02:00".into(),
        ),
    ] {
        let answer = app
            .post(
                "/v1/match-programs",
                Some(ADMIN),
                &body(starts_at, &ends_at),
            )
            .await;
        assert_invalid(&answer, field);
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("9999"), "{message}");
    }
    let (status, list) = app.get("/v1/match-programs", Some(ADMIN)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"], json!([]));
    // The first instant of year 1 in UTC is in, and written back as it was given.
    let created = program(&app, body("0001-01-01T01:00:00+01:00", &in_days(30))).await;
    assert_eq!(created["starts_at"], json!("0001-01-01T00:00:00Z"));
    let (status, list) = app.get("/v1/match-programs", Some(ADMIN)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"][0]["starts_at"], json!("0001-01-01T00:00:00Z"));
}
