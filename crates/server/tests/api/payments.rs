//! The provider and the ledger agree: a card payment recorded before its charge, charged
//! under a provider key derived from the caller's key, booked once whoever books it (the
//! request, its retry, the provider's webhook, the reconciler). Every test ends with the
//! audit, which with the sandbox includes the invariant: every standing charge is exactly one
//! standing purchase or top-up, and the reverse.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{
    ADMIN, TestApp, amounts, assert_error, eventually, spawn_app, spawn_app_with, string,
};

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

/// Makes every insert of a purchase fail in the database, as a full disk or a broken
/// replica would, while everything else (the payment attempts, the sandbox's charges) works.
const BREAK_PURCHASES_SQLITE: &str = "CREATE TRIGGER test_fault BEFORE INSERT ON purchases \
     BEGIN SELECT RAISE(ABORT, 'injected fault'); END;";
const BREAK_PURCHASES_POSTGRES: &str = "CREATE FUNCTION test_fault() RETURNS trigger \
     LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$; \
     CREATE TRIGGER test_fault BEFORE INSERT ON purchases \
     FOR EACH ROW EXECUTE FUNCTION test_fault();";

/// With the sandbox charging before the booking, as a remote processor's charges are made.
#[conformance]
async fn a_store_failing_after_the_charge_is_503_and_the_charge_is_booked_once_it_recovers() {
    let app = spawn_app_with(|c| c.sandbox_charges_with_booking = false).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let cy = app.viewer("cy", "US").await;
    let live = app.start_live(&ana.token, "faulty").await;
    app.execute(BREAK_PURCHASES_SQLITE, BREAK_PURCHASES_POSTGRES)
        .await;
    // The cards are charged, the bookings fail: the buyers get 503, nothing is booked.
    let (status, body) = app
        .buy(&bob.token, &live, 2, "pm_card_visa", Some("k-bob"))
        .await;
    assert_error(&(status, body), 503, "unavailable");
    let (status, body) = app
        .buy(&cy.token, &live, 1, "pm_card_visa", Some("k-cy"))
        .await;
    assert_error(&(status, body), 503, "unavailable");
    assert_eq!(charges(&app).await.len(), 2);
    assert_eq!(badges_of(&app, &live).await, 0);
    // While the store still fails, neither a retry nor the reconciler books or refunds.
    let (status, _) = app
        .buy(&bob.token, &live, 2, "pm_card_visa", Some("k-bob"))
        .await;
    assert_eq!(status, 503);
    let _ = app
        .state
        .checkout()
        .reconcile(time::OffsetDateTime::now_utc() + Duration::from_secs(120))
        .await;
    assert_eq!(badges_of(&app, &live).await, 0);

    app.execute(
        "DROP TRIGGER test_fault;",
        "DROP TRIGGER test_fault ON purchases; DROP FUNCTION test_fault();",
    )
    .await;
    // Bob retries and gets his badge on his one charge; Cy never does, the reconciler (or the
    // provider's redelivered confirmation) books hers.
    let (status, bought) = app
        .buy(&bob.token, &live, 2, "pm_card_visa", Some("k-bob"))
        .await;
    assert_eq!(status, 201, "{bought}");
    reconcile_ahead(&app, Duration::from_secs(120)).await;
    assert_eq!(badges_of(&app, &live).await, 2);
    let charges = charges(&app).await;
    assert_eq!(charges.len(), 2, "no second charge: {charges:?}");
    assert!(
        charges.iter().all(|c| c["status"] == json!("succeeded")),
        "{charges:?}"
    );
    assert!(charges.iter().any(|c| c["reference"] == bought["id"]));
    app.settled().await;
    app.verify().await;
}

/// The sandbox's card written with its booking: a store failing there charges nothing, and
/// the retry after it recovers is charged and booked once.
#[conformance]
async fn a_store_failing_at_a_charge_written_with_its_booking_is_503_and_charges_nothing() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "faulty").await;
    app.execute(BREAK_PURCHASES_SQLITE, BREAK_PURCHASES_POSTGRES)
        .await;
    let (status, body) = app
        .buy(&bob.token, &live, 2, "pm_card_visa", Some("k-bob"))
        .await;
    assert_error(&(status, body), 503, "unavailable");
    assert_eq!(charges(&app).await.len(), 0, "nothing charged");
    assert_eq!(badges_of(&app, &live).await, 0);
    app.execute(
        "DROP TRIGGER test_fault;",
        "DROP TRIGGER test_fault ON purchases; DROP FUNCTION test_fault();",
    )
    .await;
    let (status, bought) = app
        .buy(&bob.token, &live, 2, "pm_card_visa", Some("k-bob"))
        .await;
    assert_eq!(status, 201, "{bought}");
    let (status, again) = app
        .buy(&bob.token, &live, 2, "pm_card_visa", Some("k-bob"))
        .await;
    assert_eq!((status, &again), (201, &bought));
    let charges = charges(&app).await;
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0]["reference"], bought["id"]);
    assert_eq!(badges_of(&app, &live).await, 1);
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

/// The only charge the sandbox made.
async fn the_charge(app: &TestApp) -> (String, String) {
    let listed = charges(app).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    (
        string(&listed[0], "id").to_owned(),
        string(&listed[0], "reference").to_owned(),
    )
}

#[conformance]
async fn a_refund_delivered_before_the_booking_is_kept_and_applied_once_the_purchase_exists() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "early").await;
    let (status, _) = app
        .buy(&bob.token, &live, 2, "pm_card_lostAnswer", Some("k-early"))
        .await;
    assert_eq!(status, 503);
    let (payment, reference) = the_charge(&app).await;
    // The provider refunds it before Ovation booked it: the event is kept, not dropped.
    let refund = crate::common::event(
        "evt_early_refund",
        "charge.refunded",
        json!({"id": "ch_early", "object": "charge", "payment_intent": payment,
               "amount": 199, "amount_refunded": 199, "refunded": true, "currency": "usd"}),
    );
    for _ in 0..2 {
        let (status, body, _) = app.webhook(&refund).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!("kept"));
    }
    // The buyer's retry books the purchase; the reconciler then applies the kept refund.
    let (status, body) = app
        .buy(&bob.token, &live, 2, "pm_card_lostAnswer", Some("k-early"))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], json!(reference));
    reconcile_ahead(&app, Duration::from_secs(120)).await;
    let stored = app.stored_purchase(&reference).await;
    assert_eq!(stored.status, store::PurchaseStatus::Refunded);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    // Delivered again now, it is answered as it was applied.
    let (status, body, replayed) = app.webhook(&refund).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["result"].clone(), replayed),
        (json!("refunded"), true)
    );
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_dispute_delivered_before_the_booking_applies_when_the_confirmation_books_it() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "early").await;
    // The answer is lost and the buyer never retries: the sandbox's confirmation books it.
    let (status, _) = app
        .buy(
            &bob.token,
            &live,
            3,
            "pm_card_lostAnswer",
            Some("k-disputed"),
        )
        .await;
    assert_eq!(status, 503);
    let (payment, reference) = the_charge(&app).await;
    let dispute = crate::common::event(
        "evt_early_dispute",
        "charge.dispute.created",
        json!({"id": "dp_early", "object": "dispute", "payment_intent": payment,
               "charge": "ch_x", "amount": 499, "currency": "usd", "reason": "fraudulent"}),
    );
    let (status, answer, _) = app.webhook(&dispute).await;
    assert_eq!(status, 200, "{answer}");
    // Either kept (not confirmed yet) or applied (the confirmation came first).
    assert!(
        answer["result"] == json!("kept") || answer["result"] == json!("charged_back"),
        "{answer}"
    );
    eventually("the purchase booked and charged back", || async {
        app.state
            .store
            .purchase(&store::PurchaseId::from_string(reference.clone()))
            .await
            .expect("the store answers")
            .is_some_and(|p| p.status == store::PurchaseStatus::Disputed)
    })
    .await;
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    app.settled().await;
    app.verify().await;
}

/// What `token`'s wallet can spend in USD.
async fn wallet_usd(app: &TestApp, token: &str) -> i64 {
    let (status, wallet) = app.get("/v1/wallet", Some(token)).await;
    assert_eq!(status, 200, "{wallet}");
    wallet["balances"]
        .as_array()
        .and_then(|b| b.iter().find(|m| m["currency"] == json!("USD")))
        .map_or(0, |m| m["amount"].as_i64().expect("an amount"))
}

async fn top_up(app: &TestApp, token: &str, amount: i64) -> Value {
    let (status, body) = app
        .request(
            reqwest::Method::POST,
            "/v1/wallet/topups",
            Some(token),
            None,
            Some(
                json!({"amount": {"amount": amount, "currency": "USD"}, "payment_method": "pm_card_visa"})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

#[conformance]
async fn a_top_up_refunded_after_part_was_spent_leaves_a_debt_that_the_next_top_up_pays_first() {
    let app = spawn_app_with(|c| c.open_lives_max = None).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "wallet").await;
    let first = top_up(&app, &bob.token, 1_000).await;
    let (status, body) = app.buy(&bob.token, &live, 2, "wallet", None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(wallet_usd(&app, &bob.token).await, 801);
    let payment = {
        let listed = charges(&app).await;
        let c = listed
            .iter()
            .find(|c| c["reference"] == first["id"])
            .expect("the top-up's charge");
        string(c, "id").to_owned()
    };
    let refund = crate::common::event(
        "evt_topup_refund",
        "charge.refunded",
        json!({"id": "ch_t", "object": "charge", "payment_intent": payment,
               "amount": 1000, "amount_refunded": 1000, "refunded": true, "currency": "usd"}),
    );
    for expected in ["refunded", "refunded"] {
        let (status, body, _) = app.webhook(&refund).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!(expected));
    }
    // What was left went back; the 199 spent is owed, and the creator keeps the badge.
    assert_eq!(wallet_usd(&app, &bob.token).await, 0);
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (199, 0, 0));
    let stored = app
        .state
        .store
        .topup(&store::TopupId::from_string(
            string(&first, "id").to_owned(),
        ))
        .await
        .expect("reads")
        .expect("kept");
    assert_eq!(stored.status, store::TopupStatus::Refunded);
    // The next top-up pays the debt first.
    top_up(&app, &bob.token, 500).await;
    assert_eq!(wallet_usd(&app, &bob.token).await, 301);
    top_up(&app, &bob.token, 100).await;
    assert_eq!(wallet_usd(&app, &bob.token).await, 401);
    app.settled().await;
    app.verify().await;
}

/// A step of the property test below.
#[derive(Debug, Clone)]
enum Step {
    /// A badge by card, with a key or without.
    Buy {
        viewer: usize,
        tier: i64,
        method: &'static str,
        keyed: bool,
    },
    /// The same request again (a client retrying after a 503 or a lost answer).
    Retry { pick: usize },
    /// The server died after the charge, before the booking: the attempt is recorded and
    /// the card charged, nothing more (the sandbox's confirmation died with it).
    Crash { viewer: usize, tier: i64 },
    /// The provider refunds a charge (the sandbox's records say so, then its event comes).
    ProviderRefund { pick: usize },
    /// The buyer's bank disputes a charge.
    ProviderDispute { pick: usize },
    /// The platform refunds a purchase.
    AdminRefund { pick: usize },
    /// The second live ends (purchases in it are refused from then on).
    EndLive,
    /// The sandbox's webhooks are delivered and the reconciler runs: the invariant must hold.
    Reconcile,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let method = prop_oneof![
        3 => Just("pm_card_visa"),
        3 => Just("pm_card_lostAnswer"),
        1 => Just("pm_card_processing"),
        1 => Just("pm_card_chargeDeclined"),
        1 => Just("pm_card_createDispute"),
    ];
    prop_oneof![
        5 => (0..2_usize, 1..=3_i64, method, any::<bool>())
            .prop_map(|(viewer, tier, method, keyed)| Step::Buy { viewer, tier, method, keyed }),
        3 => any::<usize>().prop_map(|pick| Step::Retry { pick }),
        2 => (0..2_usize, 1..=3_i64).prop_map(|(viewer, tier)| Step::Crash { viewer, tier }),
        1 => any::<usize>().prop_map(|pick| Step::ProviderRefund { pick }),
        1 => any::<usize>().prop_map(|pick| Step::ProviderDispute { pick }),
        1 => any::<usize>().prop_map(|pick| Step::AdminRefund { pick }),
        1 => Just(Step::EndLive),
        2 => Just(Step::Reconcile),
    ]
}

/// A request a client may send again: (viewer, live, tier, method, key).
type Sent = (usize, usize, i64, &'static str, String);

struct Market {
    app: TestApp,
    creator: crate::common::User,
    viewers: Vec<crate::common::User>,
    lives: Vec<String>,
    sent: Vec<Sent>,
    events: usize,
}

impl Market {
    async fn new() -> Market {
        let app = crate::common::spawn_app_with(|c| {
            c.sandbox_webhook_delay = Duration::from_millis(20);
            c.release_interval = None;
            // One creator with two lives on at once.
            c.open_lives_max = None;
        })
        .await;
        let creator = app.creator("ana").await;
        let lives = vec![
            app.start_live(&creator.token, "one").await,
            app.start_live(&creator.token, "two").await,
        ];
        let viewers = vec![app.viewer("bob", "US").await, app.viewer("eve", "US").await];
        Market {
            app,
            creator,
            viewers,
            lives,
            sent: Vec::new(),
            events: 0,
        }
    }

    async fn send(&self, (viewer, live, tier, method, key): &Sent) -> u16 {
        let key = (!key.is_empty()).then_some(key.as_str());
        let (status, body) = self
            .app
            .buy(
                &self.viewers[*viewer].token,
                &self.lives[*live],
                *tier,
                method,
                key,
            )
            .await;
        assert!(
            [201, 202, 402, 403, 409, 503].contains(&status),
            "{status} {body}"
        );
        status
    }

    /// A standing (or any) charge of the sandbox, picked.
    async fn charge(&self, pick: usize) -> Option<(String, i64)> {
        let listed: Vec<Value> = charges(&self.app)
            .await
            .into_iter()
            .filter(|c| c["status"] == json!("succeeded"))
            .collect();
        let c = listed.get(pick % listed.len().max(1))?;
        Some((string(c, "id").to_owned(), c["amount"]["amount"].as_i64()?))
    }

    async fn step(&mut self, step: &Step) {
        match step {
            Step::Buy {
                viewer,
                tier,
                method,
                keyed,
            } => {
                let n = self.sent.len();
                let key = if *keyed {
                    format!("p-{n}")
                } else {
                    String::new()
                };
                let live = n % 2;
                let sent = (*viewer, live, *tier, *method, key);
                self.send(&sent).await;
                if *keyed {
                    self.sent.push(sent);
                }
            }
            Step::Retry { pick } => {
                if !self.sent.is_empty() {
                    let sent = self.sent[pick % self.sent.len()].clone();
                    self.send(&sent).await;
                }
            }
            Step::Crash { viewer, tier } => self.crash(*viewer, *tier).await,
            Step::ProviderRefund { pick } | Step::ProviderDispute { pick } => {
                let Some((payment, amount)) = self.charge(*pick).await else {
                    return;
                };
                self.events += 1;
                let id = format!("evt_p{}", self.events);
                let event = if matches!(step, Step::ProviderRefund { .. }) {
                    crate::common::event(
                        &id,
                        "charge.refunded",
                        json!({"id": "ch_p", "object": "charge", "payment_intent": payment,
                               "amount": amount, "amount_refunded": amount, "refunded": true,
                               "currency": "usd"}),
                    )
                } else {
                    crate::common::event(
                        &id,
                        "charge.dispute.created",
                        json!({"id": format!("dp_{id}"), "object": "dispute", "payment_intent": payment,
                               "charge": "ch_p", "amount": amount, "currency": "usd",
                               "reason": "fraudulent"}),
                    )
                };
                let (status, body, _) = self.app.webhook(&event).await;
                assert_eq!(status, 200, "{body}");
            }
            Step::AdminRefund { pick } => {
                let purchases: Vec<String> = {
                    let mut all = Vec::new();
                    for live in &self.lives {
                        let (_, body) = self
                            .app
                            .get(&format!("/v1/lives/{live}/supporters"), Some(ADMIN))
                            .await;
                        all.extend(
                            body["data"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|s| s["viewer_id"].as_str().map(str::to_owned)),
                        );
                    }
                    all
                };
                // Refund the picked viewer's most recent purchase, found through the store.
                let Some(viewer) = purchases.get(pick % purchases.len().max(1)) else {
                    return;
                };
                let charges = charges(&self.app).await;
                for c in charges.iter().rev() {
                    let reference = string(c, "reference");
                    let Ok(Some(p)) = self
                        .app
                        .state
                        .store
                        .purchase(&store::PurchaseId::from_string(reference.to_owned()))
                        .await
                    else {
                        continue;
                    };
                    if p.viewer_id.as_str() == viewer
                        && p.status == store::PurchaseStatus::Succeeded
                    {
                        let (status, body) = self.app.refund(ADMIN, reference, None).await;
                        assert!([200, 409].contains(&status), "{status} {body}");
                        return;
                    }
                }
            }
            Step::EndLive => {
                let (status, body) = self
                    .app
                    .post(
                        &format!("/v1/lives/{}/end", self.lives[1]),
                        Some(&self.creator.token),
                        &json!({}),
                    )
                    .await;
                assert!([200, 409].contains(&status), "{status} {body}");
            }
            Step::Reconcile => self.reconcile_and_check().await,
        }
    }

    /// A card payment recorded and charged by a server that died before it booked it.
    async fn crash(&self, viewer: usize, tier: i64) {
        let v = &self.viewers[viewer];
        let price = [99, 199, 499][usize::try_from(tier - 1).expect("a tier")];
        let reference = store::PurchaseId::generate().to_string();
        let checkout = self.app.state.checkout();
        let order = server::flows::checkout::Order::Purchase {
            live_id: self.lives[0].clone(),
            viewer_id: v.id.clone(),
            viewer_handle: v.handle.clone(),
            creator_id: self.creator.id.clone(),
            tier,
            currency: "USD".into(),
            price,
            creator_share: price,
            platform_fee: 0,
            processor_fee: 0,
            created_at: postings::to_micros(store::now()),
        };
        let amount = money::Money::new(price, money::Currency::USD);
        let attempt = checkout
            .begin(server::flows::checkout::NewAttempt {
                kind: store::AttemptKind::Purchase,
                reference: reference.clone(),
                account_id: v.id.clone(),
                idempotency_key: None,
                fingerprint: String::new(),
                order,
                amount,
            })
            .await
            .expect("the attempt is recorded");
        // The dead process's sandbox: its webhooks, in its memory, die with it.
        use server::payments::PaymentProvider;
        server::payments::Sandbox::new(self.app.state.store.clone())
            .charge(server::payments::ChargeRequest {
                idempotency_key: attempt.key.clone(),
                amount,
                payment_method: "pm_card_visa".into(),
                description: "a badge".into(),
                reference,
            })
            .await
            .expect("charged");
    }

    async fn reconcile_and_check(&self) {
        // Pending (processing) payments succeed at the provider after its delay: let them be
        // due, so that the reconciler settles every one (none turns during the check).
        tokio::time::sleep(Duration::from_millis(60)).await;
        self.app.settled().await;
        let report = reconcile_ahead(&self.app, Duration::from_secs(900)).await;
        self.app.settled().await;
        // The refunds the reconciler made are confirmed by webhooks too: settle, then check.
        reconcile_ahead(&self.app, Duration::from_secs(900)).await;
        self.app.settled().await;
        let problems = self
            .app
            .state
            .store
            .verify_payments()
            .await
            .expect("the check runs");
        assert!(problems.is_empty(), "after {report:?}: {problems:?}");
        // Reconciled: no payment is left in flight.
        let unsettled = self
            .app
            .state
            .store
            .unsettled_attempts(
                time::OffsetDateTime::now_utc() + Duration::from_secs(3600),
                None,
                10,
            )
            .await
            .expect("reads");
        assert!(unsettled.is_empty(), "after {report:?}: {unsettled:?}");
        self.app.verify().await;
    }
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_and_the_ledger_agree_after_every_reconciliation() {
    use proptest::test_runner::{Config, TestRunner};
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 6,
        max_shrink_iters: 16,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(step(), 8..30), |steps| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut market = Market::new().await;
                for step in &steps {
                    market.step(step).await;
                }
                market.reconcile_and_check().await;
            });
        });
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[conformance]
async fn a_disputed_charge_whose_booking_is_refused_is_closed_without_a_refund() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "ending").await;
    let (status, _) = app
        .buy(
            &bob.token,
            &live,
            1,
            "pm_card_lostAnswer",
            Some("k-gone-live"),
        )
        .await;
    assert_eq!(status, 503);
    let (payment, _) = the_charge(&app).await;
    let (status, body) = app
        .post(
            &format!("/v1/lives/{live}/end"),
            Some(&ana.token),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The bank takes the money back before Ovation books it; the booking is then refused
    // (the live ended), and there is nothing left to refund.
    let dispute = crate::common::event(
        "evt_gone_dispute",
        "charge.dispute.created",
        json!({"id": "dp_gone", "object": "dispute", "payment_intent": payment,
               "charge": "ch_x", "amount": 99, "currency": "usd", "reason": "fraudulent"}),
    );
    let (status, body, _) = app.webhook(&dispute).await;
    assert_eq!(status, 200, "{body}");
    app.settled().await;
    reconcile_ahead(&app, Duration::from_secs(120)).await;
    let (status, body) = app
        .buy(
            &bob.token,
            &live,
            1,
            "pm_card_lostAnswer",
            Some("k-gone-live"),
        )
        .await;
    assert_error(&(status, body), 409, "live_not_active");
    app.settled().await;
    app.verify().await;
}
