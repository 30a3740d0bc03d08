//! Wallets: top-ups by card, badges paid from the wallet, never below zero; spending caps.

use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{
    ADMIN, TestApp, amounts, assert_error, assert_invalid, event, spawn_app, spawn_app_with, string,
};

async fn top_up(
    app: &TestApp,
    token: &str,
    amount: i64,
    currency: &str,
    key: Option<&str>,
) -> (u16, Value) {
    app.request(
        reqwest::Method::POST,
        "/v1/wallet/topups",
        Some(token),
        key,
        Some(json!({"amount": {"amount": amount, "currency": currency}, "payment_method": "pm_card_visa"}).to_string()),
    )
    .await
}

async fn wallet_balance(app: &TestApp, token: &str) -> i64 {
    let (status, body) = app.get("/v1/wallet", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["balances"][0]["amount"].as_i64().expect("an amount")
}

#[conformance]
async fn a_top_up_fills_the_wallet_and_badges_are_paid_from_it() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "wallet").await;
    assert_eq!(wallet_balance(&app, &bob.token).await, 0);
    let (status, topup) = top_up(&app, &bob.token, 1_000, "USD", Some("t1")).await;
    assert_eq!(status, 201, "{topup}");
    assert_eq!(topup["amount"], json!({"amount": 1000, "currency": "USD"}));
    assert_eq!(topup["status"], json!("succeeded"));
    assert_eq!(topup["user_id"], json!(bob.id));
    assert!(string(&topup, "id").starts_with("top_"));
    // The same key replays the top-up and charges nothing more.
    let (status, again) = top_up(&app, &bob.token, 1_000, "USD", Some("t1")).await;
    assert_eq!((status, &again), (201, &topup));
    assert_eq!(wallet_balance(&app, &bob.token).await, 1_000);

    let (status, p) = app.buy(&bob.token, &live, 3, "wallet", Some("w1")).await;
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["price"], json!({"amount": 499, "currency": "USD"}));
    assert_eq!(wallet_balance(&app, &bob.token).await, 501);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (499, 0, 0));
    // The badge shows like any other.
    let (_, comment) = app.comment(&bob.token, &live, "hi").await;
    assert_eq!(comment["badge"], json!({"tier": 3, "hearts": 3}));
    // Not enough left for another 3-heart badge: 402, nothing moves, and the key replays it.
    app.bought(&bob.token, &live, 1).await; // a card purchase does not touch the wallet
    let (status, body) = app.buy(&bob.token, &live, 3, "wallet", None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(wallet_balance(&app, &bob.token).await, 2);
    let refused = app.buy(&bob.token, &live, 1, "wallet", Some("w2")).await;
    assert_error(&refused, 402, "insufficient_funds");
    assert_eq!(
        app.buy(&bob.token, &live, 1, "wallet", Some("w2")).await,
        refused
    );
    assert_eq!(wallet_balance(&app, &bob.token).await, 2);
    app.verify().await;
}

#[conformance]
async fn a_refund_of_a_wallet_purchase_goes_back_to_the_wallet() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "wallet").await;
    top_up(&app, &bob.token, 500, "USD", None).await;
    let (_, p) = app.buy(&bob.token, &live, 2, "wallet", None).await;
    assert_eq!(wallet_balance(&app, &bob.token).await, 301);
    let (status, body) = app.refund(ADMIN, string(&p, "id"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(wallet_balance(&app, &bob.token).await, 500);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wallet_spending_never_overdraws() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "rush").await;
    // 10 × 99 = 990 of 1,000: ten 1-heart badges fit, the eleventh does not.
    top_up(&app, &bob.token, 1_000, "USD", None).await;
    let answers = futures_util::future::join_all(
        (0..40).map(|_| app.buy(&bob.token, &live, 1, "wallet", None)),
    )
    .await;
    let ok = answers.iter().filter(|(s, _)| *s == 201).count();
    let broke = answers
        .iter()
        .filter(|(s, b)| *s == 402 && b["error"]["code"] == json!("insufficient_funds"))
        .count();
    assert_eq!((ok, broke), (10, 30), "{answers:?}");
    assert_eq!(wallet_balance(&app, &bob.token).await, 10);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (990, 0, 0));
    app.verify().await;
}

#[conformance]
async fn top_ups_are_in_the_wallet_s_currency_and_refuse_bad_input() {
    let app = spawn_app().await;
    let kenji = app.viewer("kenji", "JP").await;
    let (status, body) = top_up(&app, &kenji.token, 1_000, "JPY", None).await;
    assert_eq!(status, 201, "{body}");
    assert_invalid(
        &top_up(&app, &kenji.token, 1_000, "USD", None).await,
        "amount.currency",
    );
    assert_invalid(
        &top_up(&app, &kenji.token, 0, "JPY", None).await,
        "amount.amount",
    );
    assert_invalid(
        &top_up(&app, &kenji.token, -5, "JPY", None).await,
        "amount.amount",
    );
    assert_invalid(
        &top_up(&app, &kenji.token, 5, "DOLLARS", None).await,
        "amount.currency",
    );
    let (status, body) = app
        .request(
            reqwest::Method::POST,
            "/v1/wallet/topups",
            Some(&kenji.token),
            None,
            Some(json!({"amount": {"amount": 100, "currency": "JPY"}, "payment_method": "pm_card_chargeDeclined"}).to_string()),
        )
        .await;
    assert_eq!(status, 402, "{body}");
    assert_eq!(body["error"]["code"], json!("card_declined"));
    let (_, wallet) = app.get("/v1/wallet", Some(&kenji.token)).await;
    assert_eq!(
        wallet["balances"],
        json!([{"amount": 1000, "currency": "JPY", "held": {"amount": 0, "currency": "JPY"}}])
    );
    // The admin token acts as no account.
    assert_error(&app.get("/v1/wallet", Some(ADMIN)).await, 403, "forbidden");
    // A brand pays shop commissions in its products' currencies: it tops up any of them,
    // and its wallet lists each; it has no badge spending limits.
    let brand = app.user("acme", "brand", "US", None, None).await;
    let (_, empty) = app.get("/v1/wallet", Some(&brand.token)).await;
    assert_eq!(empty["balances"], json!([]));
    assert_eq!(top_up(&app, &brand.token, 100, "USD", None).await.0, 201);
    assert_eq!(top_up(&app, &brand.token, 500, "JPY", None).await.0, 201);
    let (_, wallets) = app.get("/v1/wallet", Some(&brand.token)).await;
    assert_eq!(
        wallets["balances"],
        json!([
            {"amount": 500, "currency": "JPY", "held": {"amount": 0, "currency": "JPY"}},
            {"amount": 100, "currency": "USD", "held": {"amount": 0, "currency": "USD"}}
        ])
    );
    assert_error(
        &app.get("/v1/me/spending-limits", Some(&brand.token)).await,
        403,
        "forbidden",
    );
    assert_error(&app.get("/v1/wallet", None).await, 401, "unauthenticated");
    app.verify().await;
}

#[conformance]
async fn a_disputed_top_up_takes_back_what_is_left_and_the_platform_bears_the_rest() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "dispute").await;
    let (_, topup) = top_up(&app, &bob.token, 1_000, "USD", None).await;
    app.buy(&bob.token, &live, 3, "wallet", None).await;
    let payment = app
        .state
        .store
        .topup(&store::TopupId::from_string(
            string(&topup, "id").to_owned(),
        ))
        .await
        .expect("the store answers")
        .expect("the top-up exists")
        .payment_id;
    let dispute = event(
        "evt_topup_dispute",
        "charge.dispute.created",
        json!({"id": "dp_t", "object": "dispute", "payment_intent": payment, "amount": 1000, "currency": "usd"}),
    );
    for _ in 0..2 {
        let (status, body, _) = app.webhook(&dispute).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!("charged_back"));
    }
    // 501 came back from the wallet; 499 was spent and is the platform's loss; the creator
    // keeps the badge's income.
    assert_eq!(wallet_balance(&app, &bob.token).await, 0);
    assert_eq!(
        app.platform_balance(ledger::Purpose::PlatformLosses, "USD")
            .await,
        -499
    );
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (499, 0, 0));
    app.verify().await;
}

#[conformance]
async fn the_operator_s_daily_cap_and_the_buyer_s_own_lower_cap_are_403_spending_limit() {
    let app = spawn_app_with(|c| {
        c.daily_spending_limit.insert(money::Currency::USD, 500);
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "caps").await;
    app.bought(&bob.token, &live, 3).await; // 499 of 500
    assert_error(
        &app.buy(&bob.token, &live, 1, "pm_card_visa", None).await,
        403,
        "spending_limit",
    );
    let (status, limits) = app.get("/v1/me/spending-limits", Some(&bob.token)).await;
    assert_eq!(status, 200, "{limits}");
    assert_eq!(limits["daily"], json!({"amount": 500, "currency": "USD"}));
    assert_eq!(limits["weekly"], Value::Null);
    assert_eq!(
        limits["spent_today"],
        json!({"amount": 499, "currency": "USD"})
    );

    // Another viewer sets a weekly cap of 200 for themselves.
    let eve = app.viewer("eve", "US").await;
    let (status, body) = app
        .request(
            reqwest::Method::PUT,
            "/v1/me/spending-limits",
            Some(&eve.token),
            None,
            Some(json!({"weekly": {"amount": 200, "currency": "USD"}}).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["own_weekly"],
        json!({"amount": 200, "currency": "USD"})
    );
    assert_eq!(body["weekly"], json!({"amount": 200, "currency": "USD"}));
    app.bought(&eve.token, &live, 2).await; // 199
    assert_error(
        &app.buy(&eve.token, &live, 1, "pm_card_visa", None).await,
        403,
        "spending_limit",
    );
    // Wallet purchases count too.
    top_up(&app, &eve.token, 1_000, "USD", None).await;
    assert_error(
        &app.buy(&eve.token, &live, 1, "wallet", None).await,
        403,
        "spending_limit",
    );
    // Caps are in the buyer's currency.
    let (_, bad) = app
        .request(
            reqwest::Method::PUT,
            "/v1/me/spending-limits",
            Some(&eve.token),
            None,
            Some(json!({"daily": {"amount": 100, "currency": "EUR"}}).to_string()),
        )
        .await;
    assert_eq!(bad["error"]["code"], json!("invalid_request"), "{bad}");
    // Clearing the cap lifts it.
    let (status, _) = app
        .request(
            reqwest::Method::PUT,
            "/v1/me/spending-limits",
            Some(&eve.token),
            None,
            Some("{}".into()),
        )
        .await;
    assert_eq!(status, 200);
    app.bought(&eve.token, &live, 1).await;
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_purchases_never_pass_a_cap() {
    let app = spawn_app_with(|c| {
        c.daily_spending_limit.insert(money::Currency::USD, 1_000);
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "caps").await;
    let answers = futures_util::future::join_all(
        (0..30).map(|_| app.buy(&bob.token, &live, 1, "pm_card_visa", None)),
    )
    .await;
    let ok = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(ok, 10, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == 201 || b["error"]["code"] == json!("spending_limit"))
    );
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (990, 0, 0));
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_purchase_s_key_replays_it_even_after_the_live_ended_and_buys_once_at_once() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "keys").await;
    top_up(&app, &bob.token, 2_000, "USD", None).await;
    // The same key sent ten times at once: one purchase, ten identical answers.
    let answers = futures_util::future::join_all(
        (0..10).map(|_| app.buy(&bob.token, &live, 2, "wallet", Some("same"))),
    )
    .await;
    assert!(
        answers.iter().all(|a| a.0 == 201 && a.1 == answers[0].1),
        "{answers:?}"
    );
    assert_eq!(wallet_balance(&app, &bob.token).await, 2_000 - 199);
    // Another body with the key is 409; after the live ends the retry still replays.
    assert_error(
        &app.buy(&bob.token, &live, 3, "wallet", Some("same")).await,
        409,
        "idempotency_key_reused",
    );
    app.end_live(&ana.token, &live).await;
    assert_eq!(
        app.buy(&bob.token, &live, 2, "wallet", Some("same")).await,
        answers[0]
    );
    assert_error(
        &app.buy(&bob.token, &live, 2, "wallet", Some("new")).await,
        409,
        "live_not_active",
    );
    assert_eq!(wallet_balance(&app, &bob.token).await, 2_000 - 199);
    app.verify().await;
}
