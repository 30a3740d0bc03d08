//! Badge purchases and refunds.

use testkit::conformance;

use serde_json::json;

use crate::common::{
    ADMIN, assert_error, assert_invalid, assert_money, assert_time, badge_totals, balance,
    born_years_ago, spawn_app, spawn_app_with, string,
};

#[conformance]
async fn buying_a_badge_is_201_with_the_contract_fields_at_the_buyers_price() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let kenji = app.viewer("kenji", "JP").await;
    let live = app.start_live(&ana.token, "hello").await;
    let (status, p) = app
        .buy(&kenji.token, &live, 2, "pm_card_visa", Some("k1"))
        .await;
    assert_eq!(status, 201, "{p}");
    assert!(!string(&p, "id").is_empty());
    assert_eq!(p["live_id"], json!(live));
    assert_eq!(p["viewer_id"], json!(kenji.id));
    assert_eq!(p["creator_id"], json!(ana.id));
    assert_eq!(p["tier"], json!(2));
    assert_eq!(p["hearts"], json!(2));
    // A buyer in Japan pays the Japanese price, whatever the creator's country.
    assert_money(&p["price"], 250, "JPY");
    assert_eq!(p["status"], json!("succeeded"));
    assert_time(&p, "created_at");
    app.verify().await;
}

#[conformance]
async fn a_creator_may_buy_in_another_creators_live() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let eve = app.creator("eve").await;
    let live = app.start_live(&ana.token, "hello").await;
    let p = app.bought(&eve.token, &live, 1).await;
    assert_money(&p["price"], 99, "USD");
    // Spending is not earning.
    assert_eq!(app.earnings_of(&eve.id).await["balances"], json!([]));
    assert_money(
        &balance(&app.earnings_of(&ana.id).await, "USD").expect("USD")["pending"],
        99,
        "USD",
    );
    app.verify().await;
}

#[conformance]
async fn a_declined_card_is_402_card_declined_and_moves_no_money() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.bought(&bob.token, &live, 1).await;
    let before = app.earnings_of(&ana.id).await;
    let transfers_before = app.verify().await["transfers"].clone();
    let answer = app
        .buy(&bob.token, &live, 3, "pm_card_chargeDeclined", None)
        .await;
    assert_error(&answer, 402, "card_declined");
    assert_eq!(app.earnings_of(&ana.id).await, before);
    assert_eq!(app.verify().await["transfers"], transfers_before);
    let supporters = app.supporters(&live, "").await;
    assert_eq!(supporters["data"][0]["purchases"], json!(1));
    assert_eq!(supporters["data"][0]["top_tier"], json!(1));
}

#[conformance]
async fn buying_in_an_ended_live_is_409_live_not_active() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.end_live(&ana.token, &live).await;
    let answer = app.buy(&bob.token, &live, 1, "pm_card_visa", None).await;
    assert_error(&answer, 409, "live_not_active");
    assert_eq!(app.earnings_of(&ana.id).await["balances"], json!([]));
    app.verify().await;
}

#[conformance]
async fn buying_in_an_unknown_live_is_404() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    let answer = app.buy(&bob.token, "nope", 1, "pm_card_visa", None).await;
    assert_error(&answer, 404, "not_found");
}

#[conformance]
async fn a_buyer_in_a_country_without_badges_is_403_country_not_supported() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let kiwi = app.viewer("kiwi", "NZ").await;
    let live = app.start_live(&ana.token, "hello").await;
    let answer = app.buy(&kiwi.token, &live, 1, "pm_card_visa", None).await;
    assert_error(&answer, 403, "country_not_supported");
    app.verify().await;
}

#[conformance]
async fn a_creator_buying_in_their_own_live_is_403_self_purchase() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let answer = app.buy(&ana.token, &live, 1, "pm_card_visa", None).await;
    assert_error(&answer, 403, "self_purchase");
    assert_eq!(app.earnings_of(&ana.id).await["balances"], json!([]));
    app.verify().await;
}

#[conformance]
async fn an_unknown_tier_is_422_naming_tier() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    for tier in [0, 4, -1] {
        let answer = app.buy(&bob.token, &live, tier, "pm_card_visa", None).await;
        assert_invalid(&answer, "tier");
    }
    let path = format!("/v1/lives/{live}/badges");
    for body in [
        json!({"tier": "2", "payment_method": "pm_card_visa"}),
        json!({"payment_method": "pm_card_visa"}),
    ] {
        assert_invalid(&app.post(&path, Some(&bob.token), &body).await, "tier");
    }
    app.verify().await;
}

#[conformance]
async fn a_missing_or_unknown_payment_method_is_422_naming_payment_method() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let path = format!("/v1/lives/{live}/badges");
    for body in [
        json!({"tier": 1}),
        json!({"tier": 1, "payment_method": ""}),
        json!({"tier": 1, "payment_method": "pm_card_unheard_of"}),
    ] {
        let answer = app.post(&path, Some(&bob.token), &body).await;
        assert_invalid(&answer, "payment_method");
    }
    assert_error(
        &app.post_raw(&path, Some(&bob.token), "{").await,
        422,
        "invalid_request",
    );
    assert_eq!(app.earnings_of(&ana.id).await["balances"], json!([]));
    app.verify().await;
}

#[conformance]
async fn a_retry_of_an_unknown_payment_method_under_its_key_is_422_again_not_503() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    for _ in 0..3 {
        let answer = app
            .buy(
                &bob.token,
                &live,
                1,
                "pm_card_unheard_of",
                Some("unknown-pm"),
            )
            .await;
        assert_invalid(&answer, "payment_method");
    }
    // The key is spent on that request: another body under it is 409.
    let answer = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some("unknown-pm"))
        .await;
    assert_error(&answer, 409, "idempotency_key_reused");
    // A top-up's key likewise.
    let topup = json!({"amount": {"amount": 500, "currency": "USD"}, "payment_method": "0"});
    for _ in 0..2 {
        let answer = app
            .request(
                reqwest::Method::POST,
                "/v1/wallet/topups",
                Some(&bob.token),
                Some("unknown-topup"),
                Some(topup.to_string()),
            )
            .await;
        assert_invalid(&answer, "payment_method");
    }
    assert_eq!(app.earnings_of(&ana.id).await["balances"], json!([]));
    app.verify().await;
}

#[conformance]
async fn a_minor_cannot_buy_by_default_403_spending_limit() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let kid = app
        .user("kid", "viewer", "US", Some(&born_years_ago(12)), None)
        .await;
    let live = app.start_live(&ana.token, "hello").await;
    let answer = app.buy(&kid.token, &live, 1, "pm_card_visa", None).await;
    assert_error(&answer, 403, "spending_limit");
    assert_eq!(app.earnings_of(&ana.id).await["balances"], json!([]));
    // Someone who has just turned 18 is an adult.
    let adult = app
        .user("adult", "viewer", "US", Some(&born_years_ago(18)), None)
        .await;
    app.bought(&adult.token, &live, 1).await;
    app.verify().await;
}

#[conformance]
async fn a_minor_over_the_configured_daily_limit_is_403_spending_limit() {
    let app = spawn_app_with(|c| {
        c.minors_daily_limit.insert(money::Currency::USD, 300);
    })
    .await;
    let ana = app.creator("ana").await;
    let kid = app
        .user("kid", "viewer", "US", Some(&born_years_ago(15)), None)
        .await;
    let live = app.start_live(&ana.token, "hello").await;
    app.bought(&kid.token, &live, 2).await; // 1.99
    let answer = app.buy(&kid.token, &live, 2, "pm_card_visa", None).await; // 3.98 > 3.00
    assert_error(&answer, 403, "spending_limit");
    app.bought(&kid.token, &live, 1).await; // 2.98
    let answer = app.buy(&kid.token, &live, 1, "pm_card_visa", None).await; // 3.97
    assert_error(&answer, 403, "spending_limit");
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        298,
        "USD",
    );
    // Limits are per currency: with none set for pounds, a minor paying in GBP cannot buy.
    let kid_gb = app
        .user("kid_gb", "viewer", "GB", Some(&born_years_ago(15)), None)
        .await;
    let answer = app.buy(&kid_gb.token, &live, 1, "pm_card_visa", None).await;
    assert_error(&answer, 403, "spending_limit");
    app.verify().await;
}

#[conformance]
async fn refunding_a_purchase_is_200_refunded_and_takes_back_the_earnings() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let kept = app.bought(&bob.token, &live, 1).await;
    let p = app.bought(&bob.token, &live, 3).await;
    let id = string(&p, "id");
    let (status, body) = app.refund(ADMIN, id, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(id));
    assert_eq!(body["status"], json!("refunded"));
    assert_eq!(body["live_id"], json!(live));
    assert_eq!(body["viewer_id"], json!(bob.id));
    assert_money(&body["price"], 499, "USD");
    assert_time(&body, "created_at");
    assert_time(&body, "refunded_at");
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        99,
        "USD",
    );
    assert_eq!(badge_totals(&earnings), [("USD".to_owned(), 99)]);
    assert_ne!(string(&kept, "id"), id);
    app.verify().await;
}

#[conformance]
async fn refund_of_a_refunded_purchase_is_409_already_refunded() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let p = app.bought(&bob.token, &live, 2).await;
    let id = string(&p, "id");
    assert_eq!(app.refund(ADMIN, id, None).await.0, 200);
    let after_first = app.earnings_of(&ana.id).await;
    assert_error(&app.refund(ADMIN, id, None).await, 409, "already_refunded");
    assert_eq!(app.earnings_of(&ana.id).await, after_first);
    assert_money(
        &balance(&after_first, "USD").expect("USD")["pending"],
        0,
        "USD",
    );
    app.verify().await;
}

#[conformance]
async fn refund_of_an_unknown_purchase_is_404() {
    let app = spawn_app().await;
    assert_error(&app.refund(ADMIN, "nope", None).await, 404, "not_found");
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_purchases_of_a_minor_stop_exactly_at_the_daily_limit() {
    let app = std::sync::Arc::new(
        spawn_app_with(|c| {
            c.minors_daily_limit.insert(money::Currency::USD, 300);
        })
        .await,
    );
    let ana = app.creator("ana").await;
    let kid = app
        .user("kid", "viewer", "US", Some(&born_years_ago(15)), None)
        .await;
    let live = app.start_live(&ana.token, "hello").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (app, token, live) = (app.clone(), kid.token.clone(), live.clone());
        tasks.push(tokio::spawn(async move {
            app.buy(&token, &live, 1, "pm_card_visa", Some(&format!("k{i}")))
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let answer = task.await.expect("the request task");
        if answer.0 == 201 {
            created += 1;
        } else {
            assert_error(&answer, 403, "spending_limit");
        }
    }
    // Three badges of 0.99 fit under 3.00; a fourth does not.
    assert_eq!(created, 3);
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        297,
        "USD",
    );
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refunds_of_one_purchase_refund_it_once() {
    let app = std::sync::Arc::new(spawn_app().await);
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.bought(&bob.token, &live, 1).await;
    let p = app.bought(&bob.token, &live, 3).await;
    let id = string(&p, "id").to_owned();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (app, id) = (app.clone(), id.clone());
        tasks.push(tokio::spawn(
            async move { app.refund(ADMIN, &id, None).await },
        ));
    }
    let mut refunded = 0;
    for task in tasks {
        let answer = task.await.expect("the request task");
        if answer.0 == 200 {
            refunded += 1;
        } else {
            assert_error(&answer, 409, "already_refunded");
        }
    }
    assert_eq!(refunded, 1);
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        99,
        "USD",
    );
    assert_eq!(badge_totals(&earnings), [("USD".to_owned(), 99)]);
    let supporters = app.supporters(&live, "").await;
    assert_eq!(supporters["data"][0]["top_tier"], json!(1));
    assert_eq!(supporters["data"][0]["purchases"], json!(1));
    app.verify().await;
}

#[conformance]
async fn ending_an_ended_live_again_is_200_ended() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let (_, first) = app.end_live(&ana.token, &live).await;
    let (status, second) = app.end_live(&ana.token, &live).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], json!("ended"));
    assert_eq!(second["ended_at"], first["ended_at"]);
}

#[conformance]
async fn a_live_ended_behind_this_nodes_back_refuses_the_purchase_inside_the_ledger_batch() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    // The node has the live cached as on; another node ends it in the shared database.
    let (status, p) = app.buy(&bob.token, &live, 1, "pm_card_visa", None).await;
    assert_eq!(status, 201, "{p}");
    app.state
        .store
        .end_live(&store::LiveId::from_string(live.clone()))
        .await
        .expect("the store ends the live");
    let refused = app
        .buy(&bob.token, &live, 2, "pm_card_visa", Some("after-end"))
        .await;
    crate::common::assert_error(&refused, 409, "live_not_active");
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(&earnings["balances"][0]["pending"], 99, "USD");
    app.verify().await;
}
