//! Payouts: two-phase on the ledger, paid once under concurrent runs, voided on failure, the
//! debt a chargeback leaves after a payout paid from later income first, and the statements of
//! payouts settled in a later month than they were booked in.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{
    ADMIN, TestApp, amounts, assert_error, event, eventually, spawn_app_with, string,
};

/// Income available at once, payouts from US$1.00 (JPY 1).
async fn app() -> TestApp {
    spawn_app_with(|c| {
        c.hold_period = Duration::ZERO;
        c.release_interval = None;
        c.payout_minimum_major = 1;
    })
    .await
}

async fn run(app: &TestApp) -> Value {
    let (status, body) = app.post_empty("/v1/payouts/run", Some(ADMIN)).await;
    assert_eq!(status, 200, "payout run: {body}");
    body
}

async fn payouts_of(app: &TestApp, token: &str, creator: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/creators/{creator}/payouts"), Some(token))
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().expect("data").clone()
}

fn dispute(id: &str, payment: &str) -> Value {
    event(
        id,
        "charge.dispute.created",
        json!({"id": format!("dp_{id}"), "object": "dispute", "payment_intent": payment, "amount": 1, "currency": "usd"}),
    )
}

#[conformance]
async fn an_available_balance_is_paid_out_once_the_provider_confirms() {
    let app = app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "payday").await;
    app.bought(&bob.token, &live, 3).await;
    app.release().await;
    let report = run(&app).await;
    assert_eq!(report["payouts"], json!(1), "{report}");
    assert_eq!(
        report["amounts"],
        json!([{"amount": 499, "currency": "USD"}])
    );
    // Pending at once: out of the available balance, not yet paid out.
    let earnings = app.earnings_of(&ana.id).await;
    let (_, available, paid) = amounts(&earnings, "USD");
    assert_eq!(available, 0);
    assert!(paid == 0 || paid == 499);
    let listed = payouts_of(&app, &ana.token, &ana.id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["amount"],
        json!({"amount": 499, "currency": "USD"})
    );
    assert_eq!(listed[0]["creator_id"], json!(ana.id));
    let id = string(&listed[0], "id").to_owned();
    // The sandbox confirms through the webhook: paid.
    eventually("the payout confirmed", || async {
        let (_, p) = app
            .get(&format!("/v1/payouts/{id}"), Some(&ana.token))
            .await;
        p["status"] == json!("paid")
    })
    .await;
    let (_, p) = app.get(&format!("/v1/payouts/{id}"), Some(ADMIN)).await;
    assert!(string(&p, "provider_id").starts_with("po_"), "{p}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 499));
    // Nothing left: the next run pays nothing.
    assert_eq!(run(&app).await["payouts"], json!(0));
    app.verify().await;
}

#[conformance]
async fn balances_below_the_minimum_wait() {
    let app = app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "small").await;
    app.bought(&bob.token, &live, 1).await; // 99 cents < US$1.00
    app.release().await;
    let report = run(&app).await;
    assert_eq!(
        (report["payouts"].clone(), report["below_minimum"].clone()),
        (json!(0), json!(1)),
        "{report}"
    );
    app.bought(&bob.token, &live, 1).await;
    app.release().await;
    assert_eq!(
        run(&app).await["amounts"],
        json!([{"amount": 198, "currency": "USD"}])
    );
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_at_once_pay_each_balance_once() {
    let app = app().await;
    let bob = app.viewer("bob", "US").await;
    let kenji = app.viewer("kenji", "JP").await;
    let mut creators = Vec::new();
    for i in 0..5 {
        let c = app.creator(&format!("c{i}")).await;
        let live = app.start_live(&c.token, "live").await;
        app.bought(&bob.token, &live, 2).await;
        app.bought(&kenji.token, &live, 1).await;
        creators.push(c);
    }
    app.release().await;
    let (a, b) = tokio::join!(run(&app), run(&app));
    let total = a["payouts"].as_u64().expect("n") + b["payouts"].as_u64().expect("n");
    assert_eq!(total, 10, "{a} {b}"); // five creators, two currencies each
    for c in &creators {
        let listed = payouts_of(&app, ADMIN, &c.id).await;
        assert_eq!(listed.len(), 2, "{listed:?}");
        eventually("both payouts confirmed", || async {
            let e = app.earnings_of(&c.id).await;
            amounts(&e, "USD") == (0, 0, 199) && amounts(&e, "JPY") == (0, 0, 120)
        })
        .await;
    }
    app.verify().await;
}

#[conformance]
async fn a_failed_payout_gives_the_money_back_and_the_next_run_pays_it() {
    let app = app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "fail").await;
    app.bought(&bob.token, &live, 3).await;
    app.release().await;
    run(&app).await;
    let listed = payouts_of(&app, ADMIN, &ana.id).await;
    let (id, provider_id) = (string(&listed[0], "id"), string(&listed[0], "provider_id"));
    // The bank refuses it before the sandbox's own confirmation comes.
    let failed = payout_failed("evt_payout_failed", id, provider_id, "account closed");
    let (status, body, _) = app.webhook(&failed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("failed"));
    let (_, p) = app.get(&format!("/v1/payouts/{id}"), Some(ADMIN)).await;
    assert_eq!(p["status"], json!("failed"));
    assert_eq!(p["failure"], json!("account closed"));
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    // The sandbox's late "paid" for it changes nothing.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    let report = run(&app).await;
    assert_eq!(report["payouts"], json!(1), "{report}");
    eventually("the second payout confirmed", || async {
        amounts(&app.earnings_of(&ana.id).await, "USD") == (0, 0, 499)
    })
    .await;
    app.verify().await;
}

/// A `payout.failed` event about payout `id`, whose provider id is `provider_id`.
fn payout_failed(event_id: &str, id: &str, provider_id: &str, why: &str) -> Value {
    event(
        event_id,
        "payout.failed",
        json!({"id": provider_id, "object": "payout", "status": "failed",
               "failure_code": "account_closed", "failure_message": why,
               "metadata": {"ovation_payout": id}}),
    )
}

#[conformance]
async fn a_payout_the_bank_returns_after_it_was_paid_is_available_again_and_paid_by_the_next_run() {
    let app = app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "returned").await;
    app.bought(&bob.token, &live, 3).await;
    app.release().await;
    run(&app).await;
    let id = string(&payouts_of(&app, ADMIN, &ana.id).await[0], "id").to_owned();
    eventually("the payout paid", || async {
        amounts(&app.earnings_of(&ana.id).await, "USD") == (0, 0, 499)
    })
    .await;
    let (_, p) = app.get(&format!("/v1/payouts/{id}"), Some(ADMIN)).await;
    assert_eq!(p["status"], json!("paid"));
    let provider_id = string(&p, "provider_id").to_owned();
    // Days later the creator's bank sends it back: Stripe says `payout.failed`.
    let returned = payout_failed("evt_returned", &id, &provider_id, "bank account closed");
    let (status, body, replayed) = app.webhook(&returned).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("returned"), "{body}");
    assert!(!replayed);
    let (_, p) = app.get(&format!("/v1/payouts/{id}"), Some(ADMIN)).await;
    assert_eq!(
        (p["status"].clone(), p["failure"].clone()),
        (json!("failed"), json!("bank account closed")),
        "{p}"
    );
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    app.verify().await;
    // Redelivered: the recorded answer, nothing booked twice.
    let (status, again, replayed) = app.webhook(&returned).await;
    assert_eq!((status, &again, replayed), (200, &body, true));
    // The same return in another event, and a late `payout.paid`: nothing to do.
    for late in [
        payout_failed("evt_returned_2", &id, &provider_id, "bank account closed"),
        event(
            "evt_paid_late",
            "payout.paid",
            json!({"id": provider_id, "object": "payout", "status": "paid",
                   "metadata": {"ovation_payout": id}}),
        ),
    ] {
        let (status, body, _) = app.webhook(&late).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!("already_applied"), "{body}");
    }
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 499, 0));
    let statement = app.statement_reconciles(&ana.id).await;
    let kinds: Vec<&str> = statement["currencies"][0]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| string(l, "type"))
        .collect();
    assert_eq!(
        kinds,
        [
            "badge",
            "release",
            "payout",
            "payout_paid",
            "payout_returned"
        ]
    );
    // The next run pays it again, once.
    let report = run(&app).await;
    assert_eq!(
        (report["payouts"].clone(), report["amounts"].clone()),
        (json!(1), json!([{"amount": 499, "currency": "USD"}])),
        "{report}"
    );
    eventually("paid again", || async {
        amounts(&app.earnings_of(&ana.id).await, "USD") == (0, 0, 499)
    })
    .await;
    assert_eq!(run(&app).await["payouts"], json!(0));
    app.statement_reconciles(&ana.id).await;
    app.verify().await;
}

#[conformance]
async fn a_chargeback_after_a_payout_is_a_debt_paid_from_later_income_before_any_payout() {
    let app = app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "debt").await;
    let first = app.bought(&bob.token, &live, 3).await;
    app.release().await;
    run(&app).await;
    eventually("paid", || async {
        amounts(&app.earnings_of(&ana.id).await, "USD") == (0, 0, 499)
    })
    .await;
    // The buyer's bank takes the 4.99 back after it was paid out: the creator owes it.
    let payment = app.payment_of(string(&first, "id")).await;
    let (status, body, _) = app.webhook(&dispute("evt_debt", &payment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (0, -499, 499)
    );
    // New income pays the debt first: no payout while the balance is below the minimum.
    app.bought(&bob.token, &live, 3).await;
    app.bought(&bob.token, &live, 2).await;
    app.release().await;
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (0, 199, 499)
    );
    assert_eq!(run(&app).await["payouts"], json!(1));
    eventually("the rest paid", || async {
        amounts(&app.earnings_of(&ana.id).await, "USD") == (0, 0, 698)
    })
    .await;
    app.verify().await;
}

#[conformance]
async fn payouts_are_the_platform_s_to_run_and_each_creator_s_to_see() {
    let app = app().await;
    let ana = app.creator("ana").await;
    let eve = app.creator("eve").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "mine").await;
    app.bought(&bob.token, &live, 3).await;
    app.release().await;
    for token in [&ana.token, &bob.token] {
        assert_error(
            &app.post_empty("/v1/payouts/run", Some(token)).await,
            403,
            "forbidden",
        );
    }
    run(&app).await;
    let id = string(&payouts_of(&app, &ana.token, &ana.id).await[0], "id").to_owned();
    assert_error(
        &app.get(
            &format!("/v1/creators/{}/payouts", ana.id),
            Some(&eve.token),
        )
        .await,
        403,
        "forbidden",
    );
    assert_error(
        &app.get(&format!("/v1/payouts/{id}"), Some(&eve.token))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.get(&format!("/v1/payouts/{id}"), Some(&bob.token))
            .await,
        404,
        "not_found",
    );
    assert_error(
        &app.get("/v1/payouts/pay_missing", Some(ADMIN)).await,
        404,
        "not_found",
    );
    assert_error(
        &app.get(&format!("/v1/creators/{}/payouts", bob.id), Some(ADMIN))
            .await,
        404,
        "not_found",
    );
    assert_eq!(
        payouts_of(&app, &eve.token, &eve.id).await,
        Vec::<Value>::new()
    );
}

#[conformance]
async fn a_fan_s_purchase_is_matched_held_released_paid_out_charged_back_and_recovered() {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::from_secs(3);
        c.release_interval = None;
        c.payout_minimum_major = 1;
        c.platform_fee = money::Bps::new(2_000).expect("20 %");
    })
    .await;
    let ends = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let (status, program) = app
        .post(
            "/v1/match-programs",
            Some(ADMIN),
            &json!({"name": "match", "rate_bps": 5000, "caps": [{"amount": 10000, "currency": "USD"}],
                    "ends_at": ends, "budget": [{"amount": 10000, "currency": "USD"}]}),
        )
        .await;
    assert_eq!(status, 201, "{program}");
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "the whole path").await;
    // 4.99: fee 20 % = 99, share 400, match 50 % of it = 200.
    let first = app.bought(&bob.token, &live, 3).await;
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (600, 0, 0));
    app.statement_reconciles(&ana.id).await;
    // Held: nothing to release or pay yet.
    assert_eq!(app.release().await["holds"], json!(0));
    assert_eq!(run(&app).await["payouts"], json!(0));
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(app.release().await["holds"], json!(1));
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 600, 0));
    app.statement_reconciles(&ana.id).await;
    assert_eq!(run(&app).await["payouts"], json!(1));
    eventually("paid out", || async {
        amounts(&app.earnings_of(&ana.id).await, "USD") == (0, 0, 600)
    })
    .await;
    app.statement_reconciles(&ana.id).await;
    // Charged back after the payout: share and match come back from the creator.
    let payment = app.payment_of(string(&first, "id")).await;
    let (status, body, _) = app.webhook(&dispute("evt_path", &payment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (0, -600, 600)
    );
    // The next purchases pay the debt before anything is paid out.
    for _ in 0..2 {
        app.bought(&bob.token, &live, 3).await;
    }
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    app.release().await;
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (0, 600, 600)
    );
    assert_eq!(run(&app).await["payouts"], json!(1));
    eventually("paid out again", || async {
        amounts(&app.earnings_of(&ana.id).await, "USD") == (0, 0, 1_200)
    })
    .await;
    let earnings = app.earnings_of(&ana.id).await;
    let sources: Vec<(String, i64)> = earnings["by_source"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| {
            (
                string(s, "source").to_owned(),
                s["total"]["amount"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [("badges".to_owned(), 800), ("match".to_owned(), 400)]
    );
    app.verify().await;
}

#[conformance]
async fn statements_are_each_creator_s_and_need_a_month() {
    let app = app().await;
    let ana = app.creator("ana").await;
    let eve = app.creator("eve").await;
    let path = format!("/v1/creators/{}/statements?month=2026-11", ana.id);
    assert_error(&app.get(&path, Some(&eve.token)).await, 403, "forbidden");
    let (status, body) = app.get(&path, Some(&ana.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["currencies"], json!([]));
    for bad in [
        "",
        "?month=2026-13",
        "?month=nov",
        "?month=2026-11&format=pdf",
    ] {
        let (status, body) = app
            .get(
                &format!("/v1/creators/{}/statements{bad}", ana.id),
                Some(&ana.token),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (422, json!("invalid_request")),
            "{bad}"
        );
    }
    // Last month's statement of a creator who earned this month: opening and closing zero.
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "now").await;
    app.bought(&bob.token, &live, 1).await;
    let (_, body) = app
        .get(
            &format!("/v1/creators/{}/statements?month=2000-01", ana.id),
            Some(ADMIN),
        )
        .await;
    assert_eq!(body["currencies"][0]["lines"], json!([]));
    assert_eq!(
        body["currencies"][0]["closing"]["pending"]["amount"],
        json!(0)
    );
    app.statement_reconciles(&ana.id).await;
}

/// A `payout.paid` event about payout `id`, whose provider id is `provider_id`.
fn payout_paid(event_id: &str, id: &str, provider_id: &str) -> Value {
    event(
        event_id,
        "payout.paid",
        json!({"id": provider_id, "object": "payout", "status": "paid",
               "metadata": {"ovation_payout": id}}),
    )
}

/// Payouts booked last month and paid, failed or returned this month: this month's statement
/// shows each settling from the balances last month's closed with (a payout paid or failed
/// gives its pending amount back to available as it settles), and reconciles to the ledger.
#[conformance]
async fn payouts_booked_last_month_and_settled_this_month_are_on_both_months_statements() {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::ZERO;
        c.release_interval = None;
        c.payout_minimum_major = 1;
        // The test settles each payout itself; the sandbox's own confirmation comes too late.
        c.sandbox_webhook_delay = Duration::from_secs(60);
    })
    .await;
    let bob = app.viewer("bob", "US").await;
    let mut creators = Vec::new();
    for name in ["ana", "eve", "cy"] {
        let creator = app.creator(name).await;
        let live = app.start_live(&creator.token, "payday").await;
        app.bought(&bob.token, &live, 3).await;
        creators.push(creator);
    }
    app.release().await;
    assert_eq!(run(&app).await["payouts"], json!(3));
    let payout_of = |i: usize| {
        let app = &app;
        let id = creators[i].id.clone();
        async move {
            let (_, p) = app
                .get(
                    &format!(
                        "/v1/payouts/{}",
                        string(&payouts_of(app, ADMIN, &id).await[0], "id")
                    ),
                    Some(ADMIN),
                )
                .await;
            (
                string(&p, "id").to_owned(),
                string(&p, "provider_id").to_owned(),
            )
        }
    };
    // Cy's is paid before the month ends.
    let (cy_payout, cy_provider) = payout_of(2).await;
    let (status, body, _) = app
        .webhook(&payout_paid("evt_cy_paid", &cy_payout, &cy_provider))
        .await;
    assert_eq!(
        (status, body["result"].clone()),
        (200, json!("paid")),
        "{body}"
    );
    // Everything so far was booked 40 days ago: in an earlier month.
    app.execute(
        "UPDATE transfers SET created_at = created_at - 3456000000000",
        "UPDATE transfers SET created_at = created_at - 3456000000000",
    )
    .await;
    let earlier = time::OffsetDateTime::now_utc() - time::Duration::days(40);
    let earlier = format!("{:04}-{:02}", earlier.year(), u8::from(earlier.month()));
    // This month Ana's is paid, Eve's fails and Cy's bank sends his back.
    let (ana_payout, ana_provider) = payout_of(0).await;
    let (eve_payout, eve_provider) = payout_of(1).await;
    for (event, result) in [
        (
            payout_paid("evt_ana_paid", &ana_payout, &ana_provider),
            "paid",
        ),
        (
            payout_failed(
                "evt_eve_failed",
                &eve_payout,
                &eve_provider,
                "account closed",
            ),
            "failed",
        ),
        (
            payout_failed(
                "evt_cy_returned",
                &cy_payout,
                &cy_provider,
                "account closed",
            ),
            "returned",
        ),
    ] {
        let (status, body, _) = app.webhook(&event).await;
        assert_eq!(
            (status, body["result"].clone()),
            (200, json!(result)),
            "{body}"
        );
    }
    let expected = [
        // The line, its changes of (pending, available, paid out), the balances it opened with.
        ("payout_paid", (0, 0, 499), (0, 0, 0)),
        ("payout_failed", (0, 499, 0), (0, 0, 0)),
        ("payout_returned", (0, 499, -499), (0, 0, 499)),
    ];
    for (creator, (kind, change, opening)) in creators.iter().zip(expected) {
        let now = app.statement_reconciles(&creator.id).await;
        let now = &now["currencies"][0];
        let lines = now["lines"].as_array().expect("lines");
        assert_eq!(lines.len(), 1, "{now}");
        let amount = |v: &Value, k: &str| v[k]["amount"].as_i64().expect("an amount");
        let balances = |v: &Value| {
            (
                amount(v, "pending"),
                amount(v, "available"),
                amount(v, "paid_out"),
            )
        };
        assert_eq!(
            (string(&lines[0], "type"), balances(&lines[0])),
            (kind, change),
            "{now}"
        );
        assert_eq!(balances(&now["opening"]), opening, "{now}");
        // The earlier month closed where this one opens.
        let (status, before) = app
            .get(
                &format!("/v1/creators/{}/statements?month={earlier}", creator.id),
                Some(ADMIN),
            )
            .await;
        assert_eq!(status, 200, "{before}");
        let before = &before["currencies"][0];
        assert_eq!(before["closing"], now["opening"], "{before}");
        assert_eq!(balances(&before["opening"]), (0, 0, 0), "{before}");
    }
    app.verify().await;
}
