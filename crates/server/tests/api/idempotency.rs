//! `Idempotency-Key` on the POSTs that move money.

use testkit::conformance;

use std::sync::Arc;

use serde_json::json;

use crate::common::{
    ADMIN, assert_error, assert_invalid, assert_money, badge_totals, balance, spawn_app,
    spawn_app_with, string,
};

#[conformance]
async fn a_replay_with_the_same_key_and_body_returns_the_identical_answer_and_moves_no_money() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let first = app
        .buy(&bob.token, &live, 2, "pm_card_visa", Some("key-1"))
        .await;
    assert_eq!(first.0, 201, "{}", first.1);
    let earnings = app.earnings_of(&ana.id).await;
    let transfers = app.verify().await["transfers"].clone();
    for _ in 0..3 {
        let again = app
            .buy(&bob.token, &live, 2, "pm_card_visa", Some("key-1"))
            .await;
        assert_eq!(again, first);
    }
    // The same meaning in another spelling is the same request.
    let path = format!("/v1/lives/{live}/badges");
    let respelled = app
        .request(
            reqwest::Method::POST,
            &path,
            Some(&bob.token),
            Some("key-1"),
            Some(r#"{ "payment_method" : "pm_card_visa", "tier" : 2 }"#.to_owned()),
        )
        .await;
    assert_eq!(respelled, first);
    assert_eq!(app.earnings_of(&ana.id).await, earnings);
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        199,
        "USD",
    );
    assert_eq!(app.verify().await["transfers"], transfers);
    assert_eq!(
        app.supporters(&live, "").await["data"][0]["purchases"],
        json!(1)
    );
}

#[conformance]
async fn the_same_key_with_another_body_is_409_idempotency_key_reused() {
    let app = spawn_app_with(|c| c.open_lives_max = None).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let other = app.start_live(&ana.token, "other").await;
    assert_eq!(
        app.buy(&bob.token, &live, 1, "pm_card_visa", Some("k"))
            .await
            .0,
        201
    );
    let earnings = app.earnings_of(&ana.id).await;
    let answer = app
        .buy(&bob.token, &live, 3, "pm_card_visa", Some("k"))
        .await;
    assert_error(&answer, 409, "idempotency_key_reused");
    // Another live is another request.
    let answer = app
        .buy(&bob.token, &other, 1, "pm_card_visa", Some("k"))
        .await;
    assert_error(&answer, 409, "idempotency_key_reused");
    assert_eq!(app.earnings_of(&ana.id).await, earnings);
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_requests_with_one_key_make_exactly_one_purchase() {
    let app = Arc::new(spawn_app().await);
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let transfers_before = app.verify().await["transfers"].as_u64().expect("a count");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (app, token, live) = (app.clone(), bob.token.clone(), live.clone());
        tasks.push(tokio::spawn(async move {
            app.buy(&token, &live, 3, "pm_card_visa", Some("same"))
                .await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("the request task"));
    }
    assert_eq!(answers[0].0, 201, "{}", answers[0].1);
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    let supporters = app.supporters(&live, "").await;
    assert_eq!(supporters["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(supporters["data"][0]["purchases"], json!(1));
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        499,
        "USD",
    );
    assert_eq!(badge_totals(&earnings), [("USD".to_owned(), 499)]);
    // No platform fee by default: one purchase is one transfer.
    let transfers = app.verify().await["transfers"].as_u64().expect("a count");
    assert_eq!(transfers, transfers_before + 1);
}

#[conformance]
async fn a_declined_card_replays_its_402_under_the_same_key() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let first = app
        .buy(&bob.token, &live, 1, "pm_card_chargeDeclined", Some("d"))
        .await;
    assert_error(&first, 402, "card_declined");
    let again = app
        .buy(&bob.token, &live, 1, "pm_card_chargeDeclined", Some("d"))
        .await;
    assert_eq!(again, first);
    // The key is spent on the decline: another card under it is another request.
    let answer = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some("d"))
        .await;
    assert_error(&answer, 409, "idempotency_key_reused");
    assert_eq!(app.earnings_of(&ana.id).await["balances"], json!([]));
    app.verify().await;
}

#[conformance]
async fn keys_are_scoped_to_the_calling_account() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let cho = app.viewer("cho", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let b = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some("shared"))
        .await;
    let c = app
        .buy(&cho.token, &live, 1, "pm_card_visa", Some("shared"))
        .await;
    assert_eq!((b.0, c.0), (201, 201), "{} {}", b.1, c.1);
    assert_ne!(string(&b.1, "id"), string(&c.1, "id"));
    assert_eq!(c.1["viewer_id"], json!(cho.id));
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        198,
        "USD",
    );
    app.verify().await;
}

#[conformance]
async fn without_a_key_each_request_is_processed_once() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let a = app.bought(&bob.token, &live, 1).await;
    let b = app.bought(&bob.token, &live, 1).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(
        app.supporters(&live, "").await["data"][0]["purchases"],
        json!(2)
    );
    app.verify().await;
}

#[conformance]
async fn an_empty_key_or_one_of_more_than_255_characters_is_422() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let answer = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some(""))
        .await;
    assert_invalid(&answer, "Idempotency-Key");
    let long = "k".repeat(256);
    let answer = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some(&long))
        .await;
    assert_invalid(&answer, "Idempotency-Key");
    let longest = "k".repeat(255);
    let answer = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some(&longest))
        .await;
    assert_eq!(answer.0, 201, "{}", answer.1);
    app.verify().await;
}

#[conformance]
async fn a_refund_replayed_under_its_key_returns_the_same_200() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let p = app.bought(&bob.token, &live, 2).await;
    let id = string(&p, "id");
    let first = app.refund(ADMIN, id, Some("r1")).await;
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(app.refund(ADMIN, id, Some("r1")).await, first);
    assert_error(
        &app.refund(ADMIN, id, Some("r2")).await,
        409,
        "already_refunded",
    );
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        0,
        "USD",
    );
    app.verify().await;
}

#[conformance]
async fn a_purchase_replays_its_201_after_the_live_ended_and_the_badge_was_refunded() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let first = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some("late"))
        .await;
    assert_eq!(first.0, 201, "{}", first.1);
    assert_eq!(app.refund(ADMIN, string(&first.1, "id"), None).await.0, 200);
    app.end_live(&ana.token, &live).await;
    let again = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some("late"))
        .await;
    assert_eq!(again, first);
    let earnings = app.earnings_of(&ana.id).await;
    assert_money(
        &balance(&earnings, "USD").expect("USD")["pending"],
        0,
        "USD",
    );
    app.verify().await;
}

#[conformance]
async fn idempotency_records_older_than_the_retention_are_pruned_and_newer_ones_kept() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let (status, _) = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some("old-key"))
        .await;
    assert_eq!(status, 201);
    let cut = store::now() + time::Duration::milliseconds(1);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (status, _) = app
        .buy(&bob.token, &live, 1, "pm_card_visa", Some("new-key"))
        .await;
    assert_eq!(status, 201);
    let store = &app.state.store;
    assert_eq!(store.prune_idempotency(cut, 10).await.expect("prunes"), 1);
    assert_eq!(store.prune_idempotency(cut, 10).await.expect("prunes"), 0);
    assert!(
        store
            .idempotency(&bob.id, "old-key")
            .await
            .expect("reads")
            .is_none()
    );
    assert!(
        store
            .idempotency(&bob.id, "new-key")
            .await
            .expect("reads")
            .is_some()
    );
}
