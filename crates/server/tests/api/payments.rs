//! The provider and the ledger agree: a card payment recorded before its charge, charged
//! under a provider key derived from the caller's key, booked once whoever books it (the
//! request, its retry, the provider's webhook, the reconciler). Every test ends with the
//! audit, which with the sandbox includes the invariant: every standing charge is exactly one
//! standing purchase or top-up, and the reverse.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{ADMIN, TestApp, amounts, assert_error, eventually, spawn_app, string};

/// The sandbox's charges, as `GET /v1/sandbox/charges` lists them.
async fn charges(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.get("/v1/sandbox/charges?limit=500", Some(ADMIN)).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("a list").clone()
}

/// Reconciles as of `ahead` from now (the reconciler leaves young attempts alone).
async fn reconcile_ahead(
    app: &TestApp,
    ahead: Duration,
) -> server::flows::reconcile::ReconcileReport {
    let now = time::OffsetDateTime::now_utc() + ahead;
    app.state
        .checkout()
        .reconcile(now)
        .await
        .expect("the reconciliation runs")
}

async fn badges_of(app: &TestApp, live: &str) -> i64 {
    let supporters = app.supporters(live, "").await;
    supporters["data"].as_array().map_or(0, |d| {
        d.iter().map(|s| s["purchases"].as_i64().unwrap_or(0)).sum()
    })
}

#[conformance]
async fn a_lost_answer_is_503_and_the_retry_with_the_key_books_one_purchase_on_one_charge() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "lost").await;
    let (status, body) = app
        .buy(&bob.token, &live, 2, "pm_card_lostAnswer", Some("k-lost"))
        .await;
    assert_error(&(status, body), 503, "unavailable");
    // The card was charged; nothing is booked yet.
    assert_eq!(charges(&app).await.len(), 1);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    // The retry reaches the same charge and books it; more retries replay it.
    let (status, first) = app
        .buy(&bob.token, &live, 2, "pm_card_lostAnswer", Some("k-lost"))
        .await;
    assert_eq!(status, 201, "{first}");
    for _ in 0..3 {
        let (status, again) = app
            .buy(&bob.token, &live, 2, "pm_card_lostAnswer", Some("k-lost"))
            .await;
        assert_eq!((status, &again), (201, &first));
    }
    let charges = charges(&app).await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["status"], json!("succeeded"));
    assert_eq!(charges[0]["reference"], first["id"]);
    assert_eq!(badges_of(&app, &live).await, 1);
    app.settled().await;
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_after_a_lost_answer_book_once() {
    let app = std::sync::Arc::new(spawn_app().await);
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "lost").await;
    let (status, _) = app
        .buy(&bob.token, &live, 1, "pm_card_lostAnswer", Some("k-many"))
        .await;
    assert_eq!(status, 503);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (app, token, live) = (app.clone(), bob.token.clone(), live.clone());
        tasks.push(tokio::spawn(async move {
            app.buy(&token, &live, 1, "pm_card_lostAnswer", Some("k-many"))
                .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, body) = task.await.expect("the request task");
        assert!(status == 201 || status == 503, "{status} {body}");
        if status == 201 {
            ids.insert(string(&body, "id").to_owned());
        }
    }
    assert!(ids.len() <= 1, "{ids:?}");
    // Whatever the retries got, the reconciler settles what is left.
    reconcile_ahead(&app, Duration::from_secs(120)).await;
    assert_eq!(charges(&app).await.len(), 1);
    assert_eq!(badges_of(&app, &live).await, 1);
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_buyer_who_never_retries_is_booked_by_the_reconciler() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "lost").await;
    let (status, _) = app
        .buy(&bob.token, &live, 3, "pm_card_lostAnswer", Some("k-gone"))
        .await;
    assert_eq!(status, 503);
    // Too young: the request may still be running.
    let early = reconcile_ahead(&app, Duration::ZERO).await;
    assert_eq!(early.booked, 0);
    let report = reconcile_ahead(&app, Duration::from_secs(120)).await;
    assert_eq!((report.booked, report.refunded), (1, 0), "{report:?}");
    assert_eq!(badges_of(&app, &live).await, 1);
    // The buyer's late retry gets the booked purchase.
    let (status, body) = app
        .buy(&bob.token, &live, 3, "pm_card_lostAnswer", Some("k-gone"))
        .await;
    assert_eq!(status, 201, "{body}");
    // A second run finds nothing to do.
    let again = reconcile_ahead(&app, Duration::from_secs(120)).await;
    assert_eq!((again.booked, again.refunded), (0, 0), "{again:?}");
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_charge_whose_live_ended_before_the_reconciler_booked_it_is_refunded() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "lost").await;
    let (status, _) = app
        .buy(&bob.token, &live, 1, "pm_card_lostAnswer", Some("k-ended"))
        .await;
    assert_eq!(status, 503);
    let (status, body) = app
        .post(
            &format!("/v1/lives/{live}/end"),
            Some(&ana.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let report = reconcile_ahead(&app, Duration::from_secs(120)).await;
    assert_eq!((report.booked, report.refunded), (0, 1), "{report:?}");
    let charges = charges(&app).await;
    assert_eq!(charges[0]["status"], json!("refunded"));
    // The retry is told what became of it.
    let (status, body) = app
        .buy(&bob.token, &live, 1, "pm_card_lostAnswer", Some("k-ended"))
        .await;
    assert_error(&(status, body), 409, "live_not_active");
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_processing_payment_is_202_then_booked_when_the_provider_confirms() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "slow").await;
    let (status, body) = app
        .buy(&bob.token, &live, 2, "pm_card_processing", Some("k-slow"))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], json!("processing"));
    // The sandbox confirms a moment later; its webhook books the badge.
    eventually("the processing payment booked", || async {
        badges_of(&app, &live).await == 1
    })
    .await;
    let (status, again) = app
        .buy(&bob.token, &live, 2, "pm_card_processing", Some("k-slow"))
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], body["id"]);
    assert_eq!(again["status"], json!("succeeded"));
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_lost_top_up_answer_is_settled_by_the_retry_once() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    let body = json!({"amount": {"amount": 1000, "currency": "USD"}, "payment_method": "pm_card_lostAnswer"});
    let topup = |key: &'static str| {
        let (app, token, body) = (&app, bob.token.clone(), body.to_string());
        async move {
            app.request(
                reqwest::Method::POST,
                "/v1/wallet/topups",
                Some(&token),
                Some(key),
                Some(body),
            )
            .await
        }
    };
    let (status, _) = topup("t-lost").await;
    assert_eq!(status, 503);
    let (status, first) = topup("t-lost").await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = topup("t-lost").await;
    assert_eq!((status, &again), (201, &first));
    assert_eq!(charges(&app).await.len(), 1);
    let (_, wallet) = app.get("/v1/wallet", Some(&bob.token)).await;
    assert_eq!(wallet["balances"][0]["amount"], json!(1000), "{wallet}");
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn the_same_key_with_another_body_is_refused_before_any_charge() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "keys").await;
    let (status, _) = app
        .buy(&bob.token, &live, 1, "pm_card_lostAnswer", Some("k-same"))
        .await;
    assert_eq!(status, 503);
    let answer = app
        .buy(&bob.token, &live, 3, "pm_card_visa", Some("k-same"))
        .await;
    assert_error(&answer, 409, "idempotency_key_reused");
    assert_eq!(charges(&app).await.len(), 1);
    reconcile_ahead(&app, Duration::from_secs(120)).await;
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn the_sandbox_s_charges_are_listed_for_the_admin_only() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "list").await;
    let p = app.bought(&bob.token, &live, 1).await;
    let listed = charges(&app).await;
    assert_eq!(listed.len(), 1);
    let c = &listed[0];
    assert_eq!(c["amount"], json!({"amount": 99, "currency": "USD"}));
    assert_eq!(c["status"], json!("succeeded"));
    assert_eq!(c["reference"], p["id"]);
    assert!(string(c, "id").starts_with("pi_"));
    assert!(c["created_at"].is_string());
    let answer = app.get("/v1/sandbox/charges", Some(&bob.token)).await;
    assert_error(&answer, 403, "forbidden");
    let answer = app.get("/v1/sandbox/charges", None).await;
    assert_error(&answer, 401, "unauthenticated");
    let (status, report) = app
        .post("/v1/payments/reconcile", Some(ADMIN), &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    for field in ["checked", "booked", "refunded", "unresolved"] {
        assert!(report[field].is_u64(), "{field} in {report}");
    }
    let answer = app
        .post("/v1/payments/reconcile", Some(&bob.token), &json!({}))
        .await;
    assert_error(&answer, 403, "forbidden");
    app.settled().await;
    app.verify().await;
}
