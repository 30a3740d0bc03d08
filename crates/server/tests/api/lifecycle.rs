//! The money lifecycle after a purchase: fees as their own ledger lines, income held for the
//! hold period and then released, refunds before and after the release.

use std::time::Duration;

use ledger::Purpose;
use serde_json::json;
use testkit::conformance;

use crate::common::{ADMIN, amounts, assert_error, eventually, spawn_app, spawn_app_with};

fn bps(v: u32) -> money::Bps {
    money::Bps::new(v).expect("in range")
}

#[conformance]
async fn the_processor_fee_and_the_platform_fee_are_lines_of_their_own_split_exactly() {
    // Stripe's 2.9 % + 30¢, then a 30 % platform fee on what is left.
    let app = spawn_app_with(|c| {
        c.processor_fee_bps = bps(290);
        c.processor_fee_fixed.insert(money::Currency::USD, 30);
        c.platform_fee = bps(3_000);
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "fees").await;
    let p = app.bought(&bob.token, &live, 3).await;
    assert_eq!(p["price"], json!({"amount": 499, "currency": "USD"}));
    // 499 × 2.9 % = 14.471 → 14, + 30 = 44; 30 % of 455 = 136.5 → 136; the creator 319.
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (319, 0, 0));
    assert_eq!(
        app.platform_balance(Purpose::ProcessorFees, "USD").await,
        44
    );
    assert_eq!(
        app.platform_balance(Purpose::PlatformFees, "USD").await,
        136
    );
    assert_eq!(
        app.platform_balance(Purpose::ProcessorClearing, "USD")
            .await,
        -499
    );
    let stored = app.stored_purchase(string(&p, "id")).await;
    assert_eq!(stored.processor_fee.amount(), 44);
    assert_eq!(stored.platform_fee.amount(), 136);
    assert_eq!(stored.creator_share.amount(), 319);

    // A refund takes the creator's share and the platform's fee back; the processor keeps
    // its fee (the default), which the platform bears: the buyer gets all 499 back.
    let (status, body) = app.refund(ADMIN, string(&p, "id"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    assert_eq!(
        app.platform_balance(Purpose::ProcessorFees, "USD").await,
        44
    );
    assert_eq!(
        app.platform_balance(Purpose::PlatformFees, "USD").await,
        -44
    );
    assert_eq!(
        app.platform_balance(Purpose::ProcessorClearing, "USD")
            .await,
        0
    );
    app.verify().await;
}

#[conformance]
async fn a_processor_that_returns_its_fee_on_refunds_gets_every_line_back() {
    let app = spawn_app_with(|c| {
        c.processor_fee_bps = bps(290);
        c.processor_fee_fixed.insert(money::Currency::USD, 30);
        c.platform_fee = bps(3_000);
        c.fee_on_reversal = postings::rules::ProcessorFeeOnReversal::Returned;
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "fees").await;
    let p = app.bought(&bob.token, &live, 3).await;
    let (status, body) = app.refund(ADMIN, string(&p, "id"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    for purpose in [
        Purpose::ProcessorFees,
        Purpose::PlatformFees,
        Purpose::ProcessorClearing,
    ] {
        assert_eq!(app.platform_balance(purpose, "USD").await, 0, "{purpose:?}");
    }
    app.verify().await;
}

fn string<'a>(v: &'a serde_json::Value, field: &str) -> &'a str {
    crate::common::string(v, field)
}

#[conformance]
async fn a_source_s_own_platform_fee_replaces_the_default() {
    let app = spawn_app_with(|c| {
        c.platform_fee = bps(5_000);
        c.platform_fee_by_source.insert("badges".into(), bps(2_000));
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "fees").await;
    app.bought(&bob.token, &live, 2).await;
    // 20 % of 199 = 39.8 → 39.
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (160, 0, 0));
    assert_eq!(app.platform_balance(Purpose::PlatformFees, "USD").await, 39);
}

#[conformance]
async fn income_is_pending_until_the_hold_ends_then_available() {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::from_secs(3);
        c.release_interval = None;
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "held").await;
    app.bought(&bob.token, &live, 1).await;
    app.bought(&bob.token, &live, 2).await;
    // Not due yet: nothing moves.
    let report = app.release().await;
    assert_eq!(report["holds"], json!(0), "{report}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (298, 0, 0));
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let report = app.release().await;
    assert_eq!(
        report,
        json!({"holds": 2, "releases": 1, "released": [{"amount": 298, "currency": "USD"}], "skipped": 0})
    );
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 298, 0));
    // Released once: a second run finds nothing.
    assert_eq!(app.release().await["holds"], json!(0));
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 298, 0));
    // The earnings by source do not change with the release.
    let earnings = app.earnings_of(&ana.id).await;
    assert_eq!(
        earnings["by_source"],
        json!([{"source": "badges", "total": {"amount": 298, "currency": "USD"}}])
    );
    app.verify().await;
}

#[conformance]
async fn serve_releases_due_income_on_its_schedule() {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::ZERO;
        c.release_interval = Some(Duration::from_millis(100));
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "scheduled").await;
    app.bought(&bob.token, &live, 3).await;
    eventually("the scheduled release", || async {
        amounts(&app.earnings_of(&ana.id).await, "USD") == (0, 499, 0)
    })
    .await;
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_releases_release_each_hold_once() {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::ZERO;
        c.release_interval = None;
    })
    .await;
    let ana = app.creator("ana").await;
    let eve = app.creator("eve").await;
    let bob = app.viewer("bob", "US").await;
    let kenji = app.viewer("kenji", "JP").await;
    let a = app.start_live(&ana.token, "a").await;
    let e = app.start_live(&eve.token, "e").await;
    for _ in 0..10 {
        app.bought(&bob.token, &a, 1).await;
        app.bought(&kenji.token, &a, 2).await;
        app.bought(&bob.token, &e, 3).await;
    }
    let runs = futures_util::future::join_all((0..4).map(|_| app.release())).await;
    let released: u64 = runs
        .iter()
        .map(|r| r["holds"].as_u64().expect("a count"))
        .sum();
    assert_eq!(released, 30, "{runs:?}");
    let ana_earnings = app.earnings_of(&ana.id).await;
    assert_eq!(amounts(&ana_earnings, "USD"), (0, 990, 0));
    assert_eq!(amounts(&ana_earnings, "JPY"), (0, 2_500, 0));
    assert_eq!(
        amounts(&app.earnings_of(&eve.id).await, "USD"),
        (0, 4_990, 0)
    );
    app.verify().await;
}

#[conformance]
async fn a_refund_takes_back_held_income_from_pending_and_released_income_from_available() {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::ZERO;
        c.release_interval = None;
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "refunds").await;
    let first = app.bought(&bob.token, &live, 3).await;
    app.release().await;
    let second = app.bought(&bob.token, &live, 1).await;
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (99, 499, 0)
    );

    // Released, then refunded: out of the available balance.
    let (status, body) = app.refund(ADMIN, string(&first, "id"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (99, 0, 0));
    // Held, then refunded: out of pending, and never released afterwards.
    let (status, body) = app.refund(ADMIN, string(&second, "id"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    assert_eq!(app.release().await["holds"], json!(0));
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    let hold = app
        .state
        .store
        .hold(string(&second, "id"))
        .await
        .expect("the store answers")
        .expect("the hold exists");
    assert_eq!(hold.status, store::HoldStatus::Reversed);
    app.verify().await;
}

#[conformance]
async fn only_the_platform_releases_holds() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    for token in [ana.token.as_str(), bob.token.as_str()] {
        assert_error(
            &app.post_empty("/v1/holds/release", Some(token)).await,
            403,
            "forbidden",
        );
    }
    assert_error(
        &app.post_empty("/v1/holds/release", None).await,
        401,
        "unauthenticated",
    );
}
