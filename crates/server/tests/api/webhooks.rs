//! `POST /v1/webhooks/payments`: signatures, redelivery, and what each event books.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{
    ADMIN, TestApp, amounts, assert_error, event, eventually, spawn_app, spawn_app_with, string,
};

fn dispute(id: &str, payment: &str) -> Value {
    event(
        id,
        "charge.dispute.created",
        json!({"id": format!("dp_{id}"), "object": "dispute", "payment_intent": payment,
               "charge": "ch_x", "amount": 499, "currency": "usd", "reason": "fraudulent"}),
    )
}

fn refunded(id: &str, payment: &str) -> Value {
    event(
        id,
        "charge.refunded",
        json!({"id": "ch_x", "object": "charge", "payment_intent": payment,
               "amount": 499, "amount_refunded": 499, "refunded": true, "currency": "usd"}),
    )
}

/// A creator, a US viewer, a live and one 3-heart purchase: (app, creator id, purchase).
async fn one_purchase(app: &TestApp) -> (String, Value) {
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "webhooks").await;
    let purchase = app.bought(&bob.token, &live, 3).await;
    (ana.id, purchase)
}

#[conformance]
async fn forged_stale_and_malformed_signatures_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let (ana, purchase) = one_purchase(&app).await;
    let payment = app.payment_of(string(&purchase, "id")).await;
    let body = dispute("evt_forged", &payment).to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let forged = server::payments::signature::sign(b"not the secret", now, body.as_bytes());
    let stale = app.sign_at(now - 301, &body);
    let early = app.sign_at(now + 301, &body);
    let other_body = app.sign_at(now, &dispute("evt_other", &payment).to_string());
    for signature in [
        None,
        Some(forged.as_str()),
        Some(stale.as_str()),
        Some(early.as_str()),
        Some(other_body.as_str()),
        Some("t=abc,v1=00"),
        Some("v1=00"),
        Some("garbage"),
    ] {
        let (status, answer, _) = app.webhook_raw(&body, signature).await;
        assert_eq!(status, 400, "{signature:?}: {answer}");
        assert_eq!(
            answer["error"]["code"],
            json!("invalid_signature"),
            "{answer}"
        );
    }
    // Nothing was booked: the purchase still stands, and the same event, signed, applies.
    assert_eq!(amounts(&app.earnings_of(&ana).await, "USD"), (499, 0, 0));
    let (status, answer, _) = app
        .webhook(&serde_json::from_str(&body).expect("json"))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], json!("charged_back"));
    app.verify().await;
}

#[conformance]
async fn a_signed_body_that_is_not_an_event_is_422() {
    let app = spawn_app().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for body in [
        "not json",
        r#"{"type": "charge.refunded"}"#,
        r#"{"id": "evt_1", "type": "charge.refunded", "created": 1, "data": {"object": {}}}"#,
    ] {
        let signature = app.sign_at(now, body);
        let (status, answer, _) = app.webhook_raw(body, Some(&signature)).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], json!("invalid_request"));
    }
}

#[conformance]
async fn a_chargeback_reverses_the_purchase_once_however_often_it_is_delivered() {
    let app = spawn_app().await;
    let (ana, purchase) = one_purchase(&app).await;
    let id = string(&purchase, "id");
    let payment = app.payment_of(id).await;
    let event = dispute("evt_dispute_1", &payment);
    let (status, first, replayed) = app.webhook(&event).await;
    assert_eq!(status, 200, "{first}");
    assert!(!replayed);
    assert_eq!(
        first,
        json!({"id": "evt_dispute_1", "type": "charge.dispute.created", "result": "charged_back"})
    );
    assert_eq!(amounts(&app.earnings_of(&ana).await, "USD"), (0, 0, 0));
    assert_eq!(
        app.stored_purchase(id).await.status,
        store::PurchaseStatus::Disputed
    );
    // Redelivered, several times and at once: the same answer, nothing more booked.
    let again = futures_util::future::join_all((0..5).map(|_| app.webhook(&event))).await;
    for (status, body, _) in &again {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body, &first);
    }
    assert!(again.iter().all(|(_, _, replayed)| *replayed));
    assert_eq!(amounts(&app.earnings_of(&ana).await, "USD"), (0, 0, 0));
    // Another event about the same dispute changes nothing either.
    let (status, body, _) = app.webhook(&dispute("evt_dispute_2", &payment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("already_applied"));
    // A charged-back purchase is not refunded as well.
    assert_error(&app.refund(ADMIN, id, None).await, 409, "purchase_disputed");
    let earnings = app.earnings_of(&ana).await;
    assert_eq!(earnings["by_source"][0]["total"]["amount"], json!(0));
    let verify = app.verify().await;
    assert_eq!(verify["ok"], json!(true));
}

#[conformance]
async fn a_refund_made_at_the_provider_is_booked_and_the_platform_s_refund_is_then_409() {
    let app = spawn_app().await;
    let (ana, purchase) = one_purchase(&app).await;
    let id = string(&purchase, "id");
    let payment = app.payment_of(id).await;
    let (status, body, _) = app.webhook(&refunded("evt_refund", &payment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("refunded"));
    assert_eq!(amounts(&app.earnings_of(&ana).await, "USD"), (0, 0, 0));
    assert_error(&app.refund(ADMIN, id, None).await, 409, "already_refunded");
    // A dispute of the refunded payment books nothing more.
    let (status, body, _) = app.webhook(&dispute("evt_late_dispute", &payment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("already_refunded"));
    assert_eq!(amounts(&app.earnings_of(&ana).await, "USD"), (0, 0, 0));
    app.verify().await;
}

#[conformance]
async fn the_platform_s_refund_then_the_provider_s_refunded_event_books_one_refund() {
    let app = spawn_app().await;
    let (ana, purchase) = one_purchase(&app).await;
    let id = string(&purchase, "id");
    let (status, body) = app.refund(ADMIN, id, None).await;
    assert_eq!(status, 200, "{body}");
    let payment = app.payment_of(id).await;
    let (status, body, _) = app.webhook(&refunded("evt_refund_echo", &payment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("already_applied"));
    assert_eq!(amounts(&app.earnings_of(&ana).await, "USD"), (0, 0, 0));
    app.verify().await;
}

#[conformance]
async fn a_confirmation_of_a_booked_payment_is_recognised_and_unknown_types_are_ignored() {
    let app = spawn_app().await;
    let (ana, purchase) = one_purchase(&app).await;
    let payment = app.payment_of(string(&purchase, "id")).await;
    let confirmation = event(
        "evt_ok",
        "payment_intent.succeeded",
        json!({"id": payment, "object": "payment_intent", "amount": 499, "currency": "usd"}),
    );
    for _ in 0..2 {
        let (status, body, _) = app.webhook(&confirmation).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!("already_applied"));
    }
    let (status, body, _) = app
        .webhook(&event(
            "evt_cus",
            "customer.created",
            json!({"id": "cus_1"}),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("ignored"));
    assert_eq!(amounts(&app.earnings_of(&ana).await, "USD"), (499, 0, 0));
    // A confirmation of a payment of Ovation's not booked (yet) is acknowledged and books
    // nothing; one without Ovation's reference is not Ovation's.
    let unknown = event(
        "evt_unknown",
        "payment_intent.succeeded",
        json!({"id": "pi_unknown", "object": "payment_intent", "amount": 499, "currency": "usd",
               "metadata": {"ovation_reference": "pur_unknown"}}),
    );
    let (status, body, _) = app.webhook(&unknown).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("unknown_payment"));
    let foreign = event(
        "evt_foreign",
        "payment_intent.succeeded",
        json!({"id": "pi_foreign", "object": "payment_intent", "amount": 499, "currency": "usd"}),
    );
    let (status, body, _) = app.webhook(&foreign).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("not_ovation"));
    app.verify().await;
}

#[conformance]
async fn an_orphan_payment_confirmed_long_ago_is_refunded_once() {
    let app = spawn_app().await;
    // A charge of Ovation's that was never booked (its request died after the charge).
    let charge = app
        .state
        .payments
        .charge(server::payments::ChargeRequest {
            idempotency_key: "orphan-key".into(),
            amount: money::Money::new(199, money::Currency::USD),
            payment_method: "pm_card_visa".into(),
            description: "a badge".into(),
            reference: "pur_orphan".into(),
        })
        .await
        .expect("charged");
    let mut orphan = event(
        "evt_orphan",
        "payment_intent.succeeded",
        json!({"id": charge.id, "object": "payment_intent", "amount": 199, "currency": "usd",
               "metadata": {"ovation_reference": "pur_orphan"}}),
    );
    orphan["created"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 3_600);
    for replayed in [false, true] {
        let (status, body, was_replayed) = app.webhook(&orphan).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!("orphan_refunded"));
        assert_eq!(was_replayed, replayed);
    }
    let refunded = app
        .state
        .store
        .sandbox_charge(&charge.id)
        .await
        .expect("reads")
        .expect("kept");
    assert_eq!(refunded.status, "refunded");
    // Not Ovation's (no reference in its metadata): never refunded, however old.
    let mut foreign = event(
        "evt_foreign_old",
        "payment_intent.succeeded",
        json!({"id": "pi_foreign", "object": "payment_intent", "amount": 199, "currency": "usd"}),
    );
    foreign["created"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() - 3_600);
    let (status, body, _) = app.webhook(&foreign).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], json!("not_ovation"));
}

#[conformance]
async fn the_sandbox_s_dispute_card_is_charged_back_through_the_webhook() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "disputed").await;
    let (status, purchase) = app
        .buy(&bob.token, &live, 2, "pm_card_createDispute", None)
        .await;
    assert_eq!(status, 201, "{purchase}");
    assert_eq!(purchase["status"], json!("succeeded"));
    let id = string(&purchase, "id").to_owned();
    eventually("the sandbox's dispute", || async {
        app.stored_purchase(&id).await.status == store::PurchaseStatus::Disputed
    })
    .await;
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 0, 0));
    // The supporter no longer counts.
    let supporters = app.supporters(&live, "").await;
    assert_eq!(supporters["data"], json!([]));
    app.verify().await;
}

#[conformance]
async fn a_chargeback_after_the_release_takes_the_share_back_from_available() {
    let app = spawn_app_with(|c| {
        c.hold_period = Duration::ZERO;
        c.release_interval = None;
    })
    .await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "after release").await;
    let first = app.bought(&bob.token, &live, 3).await;
    app.bought(&bob.token, &live, 2).await;
    app.release().await;
    let held = app.bought(&bob.token, &live, 1).await;
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (99, 698, 0)
    );
    let payment = app.payment_of(string(&first, "id")).await;
    let (status, body, _) = app.webhook(&dispute("evt_after_release", &payment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        amounts(&app.earnings_of(&ana.id).await, "USD"),
        (99, 199, 0)
    );
    // A held one comes out of pending, and its hold is not released later.
    let payment = app.payment_of(string(&held, "id")).await;
    let (status, body, _) = app.webhook(&dispute("evt_while_held", &payment)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(amounts(&app.earnings_of(&ana.id).await, "USD"), (0, 199, 0));
    assert_eq!(app.release().await["holds"], json!(0));
    app.verify().await;
}

#[conformance]
async fn webhooks_need_no_bearer_token_and_ignore_one() {
    let app = spawn_app().await;
    let ignored = event(
        "evt_token",
        "balance.available",
        json!({"object": "balance"}),
    );
    let body = ignored.to_string();
    let signature = app.sign_at(time::OffsetDateTime::now_utc().unix_timestamp(), &body);
    let response = app
        .client
        .post(app.url("/v1/webhooks/payments"))
        .bearer_auth("not-a-token")
        .header("Ovation-Signature", signature)
        .body(body)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
}
