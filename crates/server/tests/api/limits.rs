//! Rate limits (API.md "Limits and abuse"): 429 `rate_limited` with `Retry-After` beyond a
//! configured rate, keyed by account or client address; a cap on lives open at once.

use std::time::{Duration, Instant};

use testkit::conformance;

use serde_json::json;

use crate::common::{ADMIN, assert_error, assert_page, spawn_app, spawn_app_with};

/// `Retry-After` of a request's answer, with its status.
async fn status_and_retry_after(response: reqwest::Response) -> (u16, Option<u64>) {
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry)
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_flood_from_one_account_is_429d_while_another_accounts_purchases_succeed() {
    let app = std::sync::Arc::new(spawn_app().await);
    let ana = app.creator("ana").await;
    let flooder = app.viewer("flooder", "US").await;
    let buyer = app.viewer("buyer", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let flood = {
        let (app, live, token) = (app.clone(), live.clone(), flooder.token.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let (mut created, mut limited) = (0_u64, 0_u64);
            for n in 0..200 {
                let response = app
                    .client
                    .post(app.url(&format!("/v1/lives/{live}/comments")))
                    .bearer_auth(&token)
                    .json(&json!({"text": format!("spam {n}")}))
                    .send()
                    .await
                    .expect("an answer");
                match status_and_retry_after(response).await {
                    (201, _) => created += 1,
                    (429, Some(secs)) if secs >= 1 => limited += 1,
                    other => panic!("a comment answered {other:?}"),
                }
            }
            (created, limited, started.elapsed())
        })
    };
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        app.bought(&buyer.token, &live, 1).await;
        slowest = slowest.max(started.elapsed());
    }
    let (created, limited, took) = flood.await.expect("the flood ran");
    assert!(limited > 0, "the flood was limited: {created} created");
    // No more than the burst of 10 and 5 a second for as long as the flood lasted (with two
    // seconds' worth of slack), however slow the machine.
    let allowed = 10 + 5 * (took.as_secs() + 2);
    assert!(
        created <= allowed,
        "{created} comments got through in {took:?}"
    );
    // Every purchase succeeded meanwhile (`bought` asserts each 201), none near a timeout.
    assert!(
        slowest < Duration::from_secs(10),
        "a purchase took {slowest:?}"
    );
    // The buyer comments normally: the limit is the flooder's own.
    assert_eq!(app.comment(&buyer.token, &live, "hi").await.0, 201);
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_flood_from_many_accounts_goes_in_batches_while_another_accounts_purchases_succeed()
 {
    // Many accounts, each within its rate (here: no rate), flood one live.
    let app = std::sync::Arc::new(spawn_app_with(|c| c.rates.comments = None).await);
    let ana = app.creator("ana").await;
    let buyer = app.viewer("buyer", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let mut flooders = Vec::new();
    for n in 0..32 {
        flooders.push(app.viewer(&format!("flooder{n}"), "US").await);
    }
    let before = app.state.store.writer().stats();
    let floods: Vec<_> = flooders
        .into_iter()
        .map(|flooder| {
            let (app, live) = (app.clone(), live.clone());
            tokio::spawn(async move {
                for n in 0..25 {
                    let (status, body) = app
                        .comment(&flooder.token, &live, &format!("spam {n}"))
                        .await;
                    assert_eq!(status, 201, "a comment answered {body}");
                }
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        app.bought(&buyer.token, &live, 1).await;
        slowest = slowest.max(started.elapsed());
    }
    for flood in floods {
        flood.await.expect("the flood ran");
    }
    // Every purchase succeeded meanwhile (`bought` asserts each 201), none near a timeout.
    assert!(
        slowest < Duration::from_secs(10),
        "a purchase took {slowest:?}"
    );
    // Every comment is stored, in fewer transactions than comments.
    let after = app.state.store.writer().stats();
    assert_eq!(after.comments - before.comments, 800);
    assert!(
        after.comment_batches - before.comment_batches < 800,
        "{before:?} → {after:?}"
    );
    let (_, list) = app
        .get(
            &format!("/v1/lives/{live}/comments?limit=500"),
            Some(&ana.token),
        )
        .await;
    assert_eq!(assert_page(&list).len(), 500);
}

#[conformance]
async fn declined_cards_beyond_the_rate_hold_the_account_back_before_the_provider() {
    let app = spawn_app_with(|c| {
        c.rates.card_declines = server::limits::Rate::per(3, Duration::from_secs(3_600));
    })
    .await;
    let ana = app.creator("ana").await;
    let tester = app.viewer("tester", "US").await;
    let other = app.viewer("other", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    // Three declines fit the rate; the fourth overflows it, and is still a decline.
    for _ in 0..4 {
        let answer = app
            .buy(&tester.token, &live, 1, "pm_card_chargeDeclined", None)
            .await;
        assert_error(&answer, 402, "card_declined");
    }
    let response = app
        .client
        .post(app.url(&format!("/v1/lives/{live}/badges")))
        .bearer_auth(&tester.token)
        .json(&json!({"tier": 1, "payment_method": "pm_card_visa"}))
        .send()
        .await
        .expect("an answer");
    let (status, retry) = status_and_retry_after(response).await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| s > 60), "{retry:?}");
    let answer = app
        .post(
            "/v1/wallet/topups",
            Some(&tester.token),
            &json!({"amount": {"amount": 1000, "currency": "USD"}, "payment_method": "pm_card_visa"}),
        )
        .await;
    assert_error(&answer, 429, "rate_limited");
    // Another account is not held back.
    app.bought(&other.token, &live, 1).await;
    let (status, charges) = app.get("/v1/sandbox/charges", Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        charges["data"].as_array().map(Vec::len),
        Some(1),
        "the held-back attempts reached no provider: {charges}"
    );
}

#[conformance]
async fn unknown_bearer_tokens_beyond_the_rate_are_429_from_that_address_only() {
    let app = spawn_app_with(|c| {
        c.rates.signin_failures = server::limits::Rate::per(3, Duration::from_secs(60));
    })
    .await;
    for _ in 0..3 {
        assert_error(
            &app.get("/v1/me", Some("ovt_guess")).await,
            401,
            "unauthenticated",
        );
    }
    assert_error(
        &app.get("/v1/me", Some("ovt_guess")).await,
        429,
        "rate_limited",
    );
    assert_error(
        &app.get("/v1/me", Some("ovt_guess")).await,
        429,
        "rate_limited",
    );
    // The admin token needs no look-up: it still works from the held-back address.
    assert_eq!(app.get("/v1/accounts/nobody", Some(ADMIN)).await.0, 404);
}

#[conformance]
async fn a_creator_has_one_live_open_at_once_by_default() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let eve = app.creator("eve").await;
    let first = app.start_live(&ana.token, "one").await;
    let answer = app.try_start_live(&ana.token, "two").await;
    assert_error(&answer, 409, "too_many_lives");
    app.start_live(&eve.token, "another creator's").await;
    assert_eq!(app.end_live(&ana.token, &first).await.0, 200);
    app.start_live(&ana.token, "after the first ended").await;
}
