//! Earnings, supporters and the ledger audit.

use testkit::conformance;

use serde_json::{Value, json};

use crate::common::{
    ADMIN, TestApp, User, assert_error, assert_money, assert_page, badge_totals, balance,
    spawn_app, spawn_app_with, string,
};

/// What a creator keeps of `price` with a 15% fee rounded toward zero.
fn share_after_15_percent(price: i64) -> i64 {
    price - price * 1_500 / 10_000
}

#[conformance]
async fn earnings_are_200_with_the_contract_fields() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.bought(&bob.token, &live, 2).await;
    let (status, body) = app.earnings(&ana.token, &ana.id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["creator_id"], json!(ana.id));
    let balances = body["balances"].as_array().expect("balances");
    assert_eq!(balances.len(), 1, "{body}");
    assert_eq!(balances[0]["currency"], json!("USD"));
    assert_money(&balances[0]["pending"], 199, "USD");
    assert_money(&balances[0]["available"], 0, "USD");
    assert_money(&balances[0]["paid_out"], 0, "USD");
    let sources = body["by_source"].as_array().expect("by_source");
    assert_eq!(sources.len(), 1, "{body}");
    assert_eq!(sources[0]["source"], json!("badges"));
    assert_money(&sources[0]["total"], 199, "USD");
    // The admin sees the same.
    assert_eq!(app.earnings_of(&ana.id).await, body);
    app.verify().await;
}

#[conformance]
async fn a_creator_without_income_has_no_balances() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let (status, body) = app.earnings(&ana.token, &ana.id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"creator_id": ana.id, "balances": [], "by_source": []})
    );
}

#[conformance]
async fn earnings_of_an_unknown_account_or_of_a_viewer_are_404() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    assert_error(&app.earnings(ADMIN, "nobody").await, 404, "not_found");
    assert_error(&app.earnings(ADMIN, &bob.id).await, 404, "not_found");
}

#[conformance]
async fn earnings_are_the_creator_shares_of_purchases_minus_refunds_per_currency() {
    let app = spawn_app_with(|c| {
        c.platform_fee = money::Bps::new(1_500).expect("15% is a valid fee");
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let kenji = app.viewer("kenji", "JP").await;
    let marie = app.viewer("marie", "FR").await;
    let live = app.start_live(&ana.token, "hello").await;

    let mut usd = 0;
    let mut jpy = 0;
    let mut eur = 0;
    let mut refunds = Vec::new();
    for tier in 1..=3 {
        let p = app.bought(&bob.token, &live, tier).await;
        usd += share_after_15_percent(p["price"]["amount"].as_i64().expect("an amount"));
        if tier == 2 {
            refunds.push(p);
        }
    }
    for tier in [2, 3] {
        let p = app.bought(&kenji.token, &live, tier).await;
        jpy += share_after_15_percent(p["price"]["amount"].as_i64().expect("an amount"));
        if tier == 3 {
            refunds.push(p);
        }
    }
    let p = app.bought(&marie.token, &live, 1).await;
    eur += share_after_15_percent(p["price"]["amount"].as_i64().expect("an amount"));
    for p in &refunds {
        let (status, body) = app.refund(ADMIN, string(p, "id"), None).await;
        assert_eq!(status, 200, "{body}");
        let share = share_after_15_percent(p["price"]["amount"].as_i64().expect("an amount"));
        match string(&p["price"], "currency") {
            "USD" => usd -= share,
            "JPY" => jpy -= share,
            other => panic!("unexpected currency {other}"),
        }
    }
    // 85 + 425 cents, 213 yen, 93 euro cents: the fee is rounded toward zero.
    assert_eq!((usd, jpy, eur), (510, 213, 93));

    let earnings = app.earnings_of(&ana.id).await;
    for (currency, amount) in [("USD", usd), ("JPY", jpy), ("EUR", eur)] {
        let b = balance(&earnings, currency).unwrap_or_else(|| panic!("{currency}: {earnings}"));
        assert_money(&b["pending"], amount, currency);
        assert_money(&b["available"], 0, currency);
        assert_money(&b["paid_out"], 0, currency);
    }
    assert_eq!(earnings["balances"].as_array().map(Vec::len), Some(3));
    let mut totals = badge_totals(&earnings);
    totals.sort();
    assert_eq!(
        totals,
        [
            ("EUR".to_owned(), eur),
            ("JPY".to_owned(), jpy),
            ("USD".to_owned(), usd)
        ]
    );
    // Six purchases of a share and a fee each, two refunds mirroring both.
    assert_eq!(app.verify().await["transfers"], json!(16));
}

#[conformance]
async fn verify_is_200_with_counts_and_no_problems() {
    let app = spawn_app().await;
    let (status, report) = app.get("/v1/ledger/verify", Some(ADMIN)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], json!(true));
    assert!(report["transfers"].is_u64(), "{report}");
    assert!(report["accounts"].is_u64(), "{report}");
    assert_eq!(report["problems"], json!([]));
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.bought(&bob.token, &live, 1).await;
    let report = app.verify().await;
    assert_eq!(report["transfers"], json!(1));
    assert!(
        report["accounts"].as_u64().expect("a count") >= 2,
        "{report}"
    );
}

async fn buy_n(app: &TestApp, who: &User, live: &str, tiers: &[i64]) -> Vec<Value> {
    let mut purchases = Vec::new();
    for tier in tiers {
        purchases.push(app.bought(&who.token, live, *tier).await);
    }
    purchases
}

/// Five supporters of one live, made in an order that is not the answer's, and one whose
/// only purchase was refunded.
async fn a_live_with_supporters(app: &TestApp) -> (User, String) {
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let e = app.viewer("e_refunded_top", "US").await;
    let c = app.viewer("c_three_ones", "US").await;
    let f = app.viewer("f_one_two", "US").await;
    let b = app.viewer("b_one_three", "US").await;
    let a = app.viewer("a_two_threes", "US").await;
    let d = app.viewer("d_all_refunded", "US").await;
    let e_buys = buy_n(app, &e, &live, &[3, 1]).await;
    buy_n(app, &c, &live, &[1, 1, 1]).await;
    buy_n(app, &f, &live, &[2]).await;
    buy_n(app, &b, &live, &[3]).await;
    buy_n(app, &a, &live, &[3, 3]).await;
    let d_buys = buy_n(app, &d, &live, &[2]).await;
    for p in [&e_buys[0], &d_buys[0]] {
        assert_eq!(app.refund(ADMIN, string(p, "id"), None).await.0, 200);
    }
    (ana, live)
}

#[conformance]
async fn supporters_are_ordered_by_top_tier_then_purchases_and_refunds_do_not_count() {
    let app = spawn_app().await;
    let (ana, live) = a_live_with_supporters(&app).await;
    let (status, body) = app
        .get(&format!("/v1/lives/{live}/supporters"), Some(&ana.token))
        .await;
    assert_eq!(status, 200, "{body}");
    let data = assert_page(&body);
    assert!(body["next_cursor"].is_null());
    let rows: Vec<(String, i64, i64, i64)> = data
        .iter()
        .map(|s| {
            assert!(!string(s, "viewer_id").is_empty());
            let totals = s["totals"].as_array().expect("totals");
            assert_eq!(totals.len(), 1, "{s}");
            assert_eq!(totals[0]["currency"], json!("USD"));
            (
                string(s, "viewer_handle").to_owned(),
                s["top_tier"].as_i64().expect("top_tier"),
                s["purchases"].as_i64().expect("purchases"),
                totals[0]["amount"].as_i64().expect("amount"),
            )
        })
        .collect();
    let expected = [
        ("a_two_threes", 3, 2, 998),
        ("b_one_three", 3, 1, 499),
        ("f_one_two", 2, 1, 199),
        ("c_three_ones", 1, 3, 297),
        ("e_refunded_top", 1, 1, 99),
    ]
    .map(|(h, t, n, a)| (h.to_owned(), t, n, a));
    assert_eq!(rows, expected);
    app.verify().await;
}

#[conformance]
async fn supporters_come_in_pages_of_limit_with_a_next_cursor() {
    let app = spawn_app().await;
    let (_, live) = a_live_with_supporters(&app).await;
    let first = app.supporters(&live, "?limit=1").await;
    assert_eq!(assert_page(&first).len(), 1);
    assert_eq!(first["data"][0]["viewer_handle"], json!("a_two_threes"));
    let cursor = string(&first, "next_cursor").to_owned();
    let second = app
        .supporters(&live, &format!("?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(assert_page(&second).len(), 1);
    assert_eq!(second["data"][0]["viewer_handle"], json!("b_one_three"));

    let mut handles = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let page = app.supporters(&live, &query).await;
        let data = assert_page(&page);
        assert!(data.len() <= 1);
        handles.extend(data.iter().map(|s| string(s, "viewer_handle").to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=1&cursor={c}"),
            None => break,
        }
        assert!(handles.len() <= 10, "pagination does not end");
    }
    assert_eq!(
        handles,
        [
            "a_two_threes",
            "b_one_three",
            "f_one_two",
            "c_three_ones",
            "e_refunded_top"
        ]
    );
    app.verify().await;
}

#[conformance]
async fn supporters_of_an_unknown_live_are_404() {
    let app = spawn_app().await;
    assert_error(
        &app.get("/v1/lives/nope/supporters", Some(ADMIN)).await,
        404,
        "not_found",
    );
}
