//! The creator shop (API.md, "Creator shop"): products, shops, links and the redirect that
//! counts clicks, coupons, attributed orders with commissions from the brand's wallet,
//! proportional returns, locking, release and payout. Each money test ends with the audit.

use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{ADMIN, TestApp, User, assert_error, assert_invalid, spawn_app, string};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                       Chrome/124.0 Safari/537.36";

async fn brand(app: &TestApp, handle: &str) -> User {
    app.user(handle, "brand", "US", None, None).await
}

/// Lists a product; asserts 201.
async fn product(app: &TestApp, brand: &User, price: Value, bps: i64, window: i64) -> Value {
    let (status, body) = app
        .post(
            "/v1/products",
            Some(&brand.token),
            &json!({"title": "Glow serum", "url": "https://brand.example/p/serum?ref=ovation",
                    "price": price, "category": "beauty", "commission_bps": bps,
                    "return_window_days": window}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn usd_product(app: &TestApp, brand: &User) -> String {
    let p = product(
        app,
        brand,
        json!({"amount": 3_000, "currency": "USD"}),
        1_000,
        30,
    )
    .await;
    string(&p, "id").to_owned()
}

/// Tops up a brand's wallet by card; asserts 201.
async fn fund(app: &TestApp, brand: &User, amount: i64, currency: &str) {
    let (status, body) = app
        .post(
            "/v1/wallet/topups",
            Some(&brand.token),
            &json!({"amount": {"amount": amount, "currency": currency}, "payment_method": "pm_card_visa"}),
        )
        .await;
    assert_eq!(status, 201, "top-up: {body}");
}

async fn link(app: &TestApp, creator: &User, product: &str) -> (u16, Value) {
    app.post(
        "/v1/links",
        Some(&creator.token),
        &json!({"product_id": product}),
    )
    .await
}

/// `POST /v1/coupons` by `creator` for `brand_id`.
async fn coupon(app: &TestApp, creator: &User, brand_id: &str, code: &str) -> (u16, Value) {
    app.post(
        "/v1/coupons",
        Some(&creator.token),
        &json!({"brand_id": brand_id, "code": code}),
    )
    .await
}

/// A client that does not follow redirects.
fn no_follow() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// `GET /r/{code}` as `agent` from `forwarded` (the test app trusts `x-forwarded-for`):
/// the status and the `ovc` of the redirect.
async fn click(app: &TestApp, code: &str, agent: &str, forwarded: &str) -> (u16, Option<String>) {
    let response = no_follow()
        .get(app.url(&format!("/r/{code}")))
        .header("user-agent", agent)
        .header("x-forwarded-for", forwarded)
        .send()
        .await
        .expect("answered");
    let status = response.status().as_u16();
    let ovc = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.split("ovc=").nth(1))
        .map(|v| v.split(['&', '#']).next().unwrap_or_default().to_owned());
    (status, ovc)
}

async fn order(app: &TestApp, brand: &User, body: &Value) -> (u16, Value) {
    app.post("/v1/shop/orders", Some(&brand.token), body).await
}

async fn shop_app() -> TestApp {
    crate::common::spawn_app_with(|c| {
        c.client_ip_header = Some("x-forwarded-for".into());
    })
    .await
}

async fn wallet_of(app: &TestApp, brand: &User, currency: &str) -> i64 {
    let (status, body) = app.get("/v1/wallet", Some(&brand.token)).await;
    assert_eq!(status, 200, "{body}");
    body["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|b| b["currency"] == json!(currency))
        .map_or(0, |b| b["amount"].as_i64().expect("an amount"))
}

#[conformance]
async fn a_brand_lists_products_within_the_catalog_s_rules() {
    let app = spawn_app().await;
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    let p = product(
        &app,
        &acme,
        json!({"amount": 1_999, "currency": "USD"}),
        1_250,
        14,
    )
    .await;
    for field in ["id", "brand_id", "title", "url", "category", "created_at"] {
        assert!(p[field].is_string(), "{field}: {p}");
    }
    assert_eq!(p["brand_id"], json!(acme.id));
    assert_eq!(p["price"], json!({"amount": 1_999, "currency": "USD"}));
    assert_eq!(
        (
            p["commission_bps"].clone(),
            p["return_window_days"].clone(),
            p["active"].clone()
        ),
        (json!(1_250), json!(14), json!(true))
    );
    // The return window defaults to 30 days.
    let (status, default) = app
        .post(
            "/v1/products",
            Some(&acme.token),
            &json!({"title": "Lip oil", "url": "http://brand.example/lip", "price": {"amount": 900, "currency": "USD"},
                    "category": "beauty", "commission_bps": 9_000}),
        )
        .await;
    assert_eq!(
        (status, default["return_window_days"].clone()),
        (201, json!(30)),
        "{default}"
    );
    let good = json!({"title": "T", "url": "https://b.example/x", "price": {"amount": 100, "currency": "USD"},
                      "category": "c", "commission_bps": 100, "return_window_days": 0});
    for (field, value) in [
        ("url", json!("ftp://b.example/x")),
        ("url", json!("javascript:alert(1)")),
        ("commission_bps", json!(0)),
        ("commission_bps", json!(9_001)),
        ("return_window_days", json!(366)),
        ("return_window_days", json!(-1)),
        ("title", json!("")),
        ("category", json!(" ")),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let answer = app.post("/v1/products", Some(&acme.token), &body).await;
        assert_invalid(&answer, field);
    }
    let answer = app
        .post(
            "/v1/products",
            Some(&acme.token),
            &json!({"title": "T", "url": "https://b.example/x", "price": {"amount": 0, "currency": "USD"},
                    "category": "c", "commission_bps": 100}),
        )
        .await;
    assert_eq!(answer.0, 422, "{}", answer.1);
    // Only brands list products.
    let answer = app.post("/v1/products", Some(&ana.token), &good).await;
    assert_error(&answer, 403, "forbidden");
    let answer = app.post("/v1/products", None, &good).await;
    assert_error(&answer, 401, "unauthenticated");
    // Listing: by brand and category.
    let other = brand(&app, "other").await;
    product(
        &app,
        &other,
        json!({"amount": 500, "currency": "EUR"}),
        500,
        30,
    )
    .await;
    let (status, list) = app
        .get(
            &format!("/v1/products?brand_id={}", acme.id),
            Some(&ana.token),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"].as_array().expect("a list").len(), 2);
    let (_, beauty) = app
        .get("/v1/products?category=beauty&limit=1", Some(&ana.token))
        .await;
    assert_eq!(beauty["data"].as_array().expect("a list").len(), 1);
    let cursor = string(&beauty, "next_cursor").to_owned();
    let (_, rest) = app
        .get(
            &format!("/v1/products?category=beauty&cursor={cursor}"),
            Some(&ana.token),
        )
        .await;
    // Three beauty products in all (the other brand's too).
    assert_eq!(rest["data"].as_array().expect("a list").len(), 2);
    assert_eq!(rest["next_cursor"], Value::Null);
    let (_, none) = app
        .get("/v1/products?category=garden", Some(&ana.token))
        .await;
    assert_eq!(none["data"], json!([]));
}

#[conformance]
async fn a_product_is_changed_only_by_its_brand() {
    let app = spawn_app().await;
    let acme = brand(&app, "acme").await;
    let other = brand(&app, "other").await;
    let id = usd_product(&app, &acme).await;
    let patch = |token: String, body: Value, id: String| {
        let app = &app;
        async move {
            app.request(
                reqwest::Method::PATCH,
                &format!("/v1/products/{id}"),
                Some(&token),
                None,
                Some(body.to_string()),
            )
            .await
        }
    };
    let (status, changed) = patch(
        acme.token.clone(),
        json!({"commission_bps": 2_000, "price": {"amount": 2_500, "currency": "USD"}, "active": false}),
        id.clone(),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            changed["commission_bps"].clone(),
            changed["price"]["amount"].clone(),
            changed["active"].clone()
        ),
        (json!(2_000), json!(2_500), json!(false))
    );
    let answer = patch(other.token.clone(), json!({"active": true}), id.clone()).await;
    assert_error(&answer, 403, "forbidden");
    let answer = patch(
        acme.token.clone(),
        json!({"active": true}),
        "prod_nope".into(),
    )
    .await;
    assert_error(&answer, 404, "not_found");
    let answer = patch(acme.token.clone(), json!({"commission_bps": 9_001}), id).await;
    assert_invalid(&answer, "commission_bps");
}

#[conformance]
async fn a_creator_sets_a_shop_that_anyone_can_see_with_a_link_per_product() {
    let app = spawn_app().await;
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    let cy = app.creator("cy").await;
    let (a, b) = (
        usd_product(&app, &acme).await,
        usd_product(&app, &acme).await,
    );
    let shop_path = format!("/v1/creators/{}/shop", ana.id);
    let (status, shop) = app
        .put(&shop_path, &ana.token, &json!({"products": [b, a]}))
        .await;
    assert_eq!(status, 200, "{shop}");
    let listed: Vec<&str> = shop["products"]
        .as_array()
        .expect("products")
        .iter()
        .map(|p| p["id"].as_str().expect("an id"))
        .collect();
    assert_eq!(listed, [b.as_str(), a.as_str()], "display order");
    let first = &shop["products"][0];
    let code = string(&first["link"], "code").to_owned();
    assert!(
        string(&first["link"], "url").ends_with(&format!("/r/{code}")),
        "{first}"
    );
    // Public.
    let (status, public) = app
        .get(&format!("/v1/creators/{}/shop", ana.id), None)
        .await;
    assert_eq!(
        (status, public["handle"].clone()),
        (200, json!("ana")),
        "{public}"
    );
    assert_eq!(public["products"], shop["products"]);
    // Asking for the link again gives the same one.
    let (status, again) = link(&app, &ana, &b).await;
    assert_eq!(
        (status, string(&again, "code")),
        (200, code.as_str()),
        "{again}"
    );
    // Another creator's shop, an unknown product, more than 200: refused.
    assert_error(
        &app.put(&shop_path, &cy.token, &json!({"products": [a]}))
            .await,
        403,
        "forbidden",
    );
    assert_invalid(
        &app.put(&shop_path, &ana.token, &json!({"products": ["prod_nope"]}))
            .await,
        "products",
    );
    let many: Vec<String> = (0..201).map(|i| format!("prod_{i}")).collect();
    assert_invalid(
        &app.put(&shop_path, &ana.token, &json!({"products": many}))
            .await,
        "products",
    );
    assert_invalid(
        &app.put(&shop_path, &ana.token, &json!({"products": [a, a]}))
            .await,
        "products",
    );
    let (status, _) = app.get("/v1/creators/acc_nobody/shop", None).await;
    assert_eq!(status, 404);
}

#[conformance]
async fn links_and_coupons_belong_to_creators() {
    let app = spawn_app().await;
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let p = usd_product(&app, &acme).await;
    let (status, made) = link(&app, &ana, &p).await;
    assert_eq!(status, 201, "{made}");
    for field in ["code", "url", "product_id", "creator_id", "created_at"] {
        assert!(made[field].is_string(), "{field}: {made}");
    }
    assert_error(&link(&app, &bob, &p).await, 403, "forbidden");
    assert_invalid(&link(&app, &ana, "prod_nope").await, "product_id");
    let (status, made) = coupon(&app, &ana, &acme.id, "ANA10").await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(
        (
            made["code"].clone(),
            made["brand_id"].clone(),
            made["creator_id"].clone()
        ),
        (json!("ANA10"), json!(acme.id), json!(ana.id))
    );
    let cy = app.creator("cy").await;
    assert_error(
        &coupon(&app, &cy, &acme.id, "ANA10").await,
        409,
        "coupon_taken",
    );
    for bad in ["AN1", "ana10", "ANA-10", "ABCDEFGHIJKLMNOPQRSTU"] {
        assert_invalid(&coupon(&app, &cy, &acme.id, bad).await, "code");
    }
    assert_invalid(&coupon(&app, &cy, &ana.id, "CY10").await, "brand_id");
    assert_error(
        &coupon(&app, &bob, &acme.id, "BOB10").await,
        403,
        "forbidden",
    );
}

#[conformance]
async fn a_click_is_redirected_with_its_id_and_bots_and_repeats_are_not_counted() {
    let app = shop_app().await;
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    let p = usd_product(&app, &acme).await;
    let code = string(&link(&app, &ana, &p).await.1, "code").to_owned();
    let response = no_follow()
        .get(app.url(&format!("/r/{code}")))
        .header("user-agent", BROWSER)
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.starts_with("https://brand.example/p/serum?ref=ovation&ovc=clk_"),
        "{location}"
    );
    let first = location.split("ovc=").nth(1).expect("an id").to_owned();
    // The same client again within 30 s: redirected with the first click's id, not counted.
    let (status, again) = click(&app, &code, BROWSER, "203.0.113.7").await;
    assert_eq!((status, again.as_deref()), (302, Some(first.as_str())));
    // A crawler, and a client without a user agent: redirected, not counted.
    let (status, _) = click(
        &app,
        &code,
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "198.51.100.1",
    )
    .await;
    assert_eq!(status, 302);
    let (status, _) = click(&app, &code, "", "198.51.100.2").await;
    assert_eq!(status, 302);
    // Another client counts.
    let (status, _) = click(&app, &code, BROWSER, "203.0.113.8").await;
    assert_eq!(status, 302);
    app.state.clicks.log.flush().await;
    let (status, stats) = app
        .get(
            &format!("/v1/creators/{}/shop/stats", ana.id),
            Some(&ana.token),
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["data"][0]["code"], json!(code));
    assert_eq!(stats["data"][0]["clicks"], json!(2), "{stats}");
    // The address is stored only as a keyed hash.
    let stored = app
        .state
        .store
        .click(&first)
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!(stored.client_hash.len(), 32);
    assert!(!stored.client_hash.contains("203.0.113.7"));
    let (status, body) = app.get("/r/nope123", None).await;
    assert_error(&(status, body), 404, "not_found");
}

/// A brand with US$100.00 in its wallet, a USD product at 10 % (US$30.00), and a creator
/// with a link to it.
async fn funded_setup(app: &TestApp) -> (User, User, String, String) {
    let acme = brand(app, "acme").await;
    let ana = app.creator("ana").await;
    fund(app, &acme, 10_000, "USD").await;
    let p = usd_product(app, &acme).await;
    let code = string(&link(app, &ana, &p).await.1, "code").to_owned();
    (acme, ana, p, code)
}

#[conformance]
async fn an_order_after_a_click_pays_the_creator_a_commission_held_until_it_locks() {
    let app = shop_app().await;
    let (acme, ana, p, code) = funded_setup(&app).await;
    let (_, ovc) = click(&app, &code, BROWSER, "203.0.113.7").await;
    let ovc = ovc.expect("a click id");
    let body = json!({"order_id": "A-1001", "click_id": ovc,
                      "items": [{"product_id": p, "quantity": 2, "amount": {"amount": 5_999, "currency": "USD"}}]});
    let (status, booked) = order(&app, &acme, &body).await;
    assert_eq!(status, 201, "{booked}");
    // 10 % of 59.99 is 599.9 cents: 599.
    assert_eq!(
        booked["commission"],
        json!({"amount": 599, "currency": "USD"})
    );
    assert_eq!(
        (
            booked["attribution"].clone(),
            booked["creator_id"].clone(),
            booked["status"].clone()
        ),
        (json!("click"), json!(ana.id), json!("pending"))
    );
    for field in ["id", "order_id", "brand_id", "locks_at", "created_at"] {
        assert!(booked[field].is_string(), "{field}: {booked}");
    }
    // Reported again: the stored order, booked once.
    let (status, again) = order(&app, &acme, &body).await;
    assert_eq!(
        (status, again["id"].clone()),
        (200, booked["id"].clone()),
        "{again}"
    );
    assert_eq!(wallet_of(&app, &acme, "USD").await, 10_000 - 599);
    let earnings = app.earnings_of(&ana.id).await;
    assert_eq!(crate::common::amounts(&earnings, "USD"), (599, 0, 0));
    let by_source = earnings["by_source"].as_array().expect("by_source");
    assert!(
        by_source.iter().any(|s| s["source"] == json!("commissions")
            && s["total"] == json!({"amount": 599, "currency": "USD"})),
        "{earnings}"
    );
    // Its creator and brand see it; others do not.
    let id = string(&booked, "id").to_owned();
    let (status, _) = app
        .get(&format!("/v1/shop/orders/{id}"), Some(&ana.token))
        .await;
    assert_eq!(status, 200);
    let stranger = app.creator("stranger").await;
    let (status, _) = app
        .get(&format!("/v1/shop/orders/{id}"), Some(&stranger.token))
        .await;
    assert_eq!(status, 403);
    // The creator's stats count the order on the link.
    let (_, stats) = app
        .get(
            &format!("/v1/creators/{}/shop/stats", ana.id),
            Some(&ana.token),
        )
        .await;
    assert_eq!(
        (
            stats["data"][0]["clicks"].clone(),
            stats["data"][0]["orders"].clone()
        ),
        (json!(1), json!(1)),
        "{stats}"
    );
    assert_eq!(
        stats["data"][0]["commission"],
        json!([{"amount": 599, "currency": "USD"}])
    );
    assert_eq!(
        stats["data"][0]["earnings_per_click"],
        json!([{"amount": 599, "currency": "USD"}])
    );
    let (status, brand_stats) = app
        .get(
            &format!("/v1/brands/{}/shop/stats", acme.id),
            Some(&acme.token),
        )
        .await;
    assert_eq!(status, 200, "{brand_stats}");
    assert_eq!(
        brand_stats["data"][0]["sales"],
        json!([{"amount": 5_999, "currency": "USD"}])
    );
    let (status, _) = app
        .get(
            &format!("/v1/brands/{}/shop/stats", acme.id),
            Some(&ana.token),
        )
        .await;
    assert_eq!(status, 403);
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_coupon_beats_a_click_and_the_last_click_wins() {
    let app = shop_app().await;
    let (acme, ana, p, code) = funded_setup(&app).await;
    let cy = app.creator("cy").await;
    let cy_code = string(&link(&app, &cy, &p).await.1, "code").to_owned();
    let (status, _) = coupon(&app, &cy, &acme.id, "CY10").await;
    assert_eq!(status, 201);
    // One buyer clicks Ana's link, then Cy's: the last click wins whichever id the brand kept.
    let (_, first) = click(&app, &code, BROWSER, "203.0.113.7").await;
    let (_, _second) = click(&app, &cy_code, BROWSER, "203.0.113.7").await;
    let item =
        json!([{"product_id": p, "quantity": 1, "amount": {"amount": 1_000, "currency": "USD"}}]);
    let (status, by_click) = order(
        &app,
        &acme,
        &json!({"order_id": "o-1", "click_id": first, "items": item}),
    )
    .await;
    assert_eq!(status, 201, "{by_click}");
    assert_eq!(
        (
            by_click["attribution"].clone(),
            by_click["creator_id"].clone()
        ),
        (json!("click"), json!(cy.id))
    );
    // A coupon outranks the click.
    let (status, by_coupon) = order(
        &app,
        &acme,
        &json!({"order_id": "o-2", "click_id": first, "coupon": "CY10", "items": item}),
    )
    .await;
    assert_eq!(status, 201, "{by_coupon}");
    assert_eq!(by_coupon["attribution"], json!("coupon"));
    assert_eq!(by_coupon["creator_id"], json!(cy.id));
    // An unknown coupon and no click: no one.
    let (status, none) = order(
        &app,
        &acme,
        &json!({"order_id": "o-3", "coupon": "NOPE1", "items": item}),
    )
    .await;
    assert_eq!(status, 201, "{none}");
    assert_eq!(
        (
            none["attribution"].clone(),
            none["creator_id"].clone(),
            none["commission"].clone()
        ),
        (json!("none"), Value::Null, Value::Null)
    );
    let _ = ana;
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_click_outside_the_window_or_on_another_brand_s_product_credits_no_one() {
    let app = shop_app().await;
    let (acme, ana, p, code) = funded_setup(&app).await;
    let other = brand(&app, "other").await;
    let theirs = usd_product(&app, &other).await;
    let their_code = string(&link(&app, &ana, &theirs).await.1, "code").to_owned();
    let (_, ovc) = click(&app, &code, BROWSER, "203.0.113.7").await;
    let item =
        json!([{"product_id": p, "quantity": 1, "amount": {"amount": 1_000, "currency": "USD"}}]);
    // Ordered two days before the click... and eight days after it (window 7 days).
    let before = (time::OffsetDateTime::now_utc() - time::Duration::days(2))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let (_, early) = order(
        &app,
        &acme,
        &json!({"order_id": "o-early", "click_id": ovc, "ordered_at": before, "items": item}),
    )
    .await;
    assert_eq!(early["attribution"], json!("none"), "{early}");
    // A window of one day set by the brand; the click stays inside it.
    let (status, settings) = app
        .put(
            &format!("/v1/brands/{}/shop-settings", acme.id),
            &acme.token,
            &json!({"attribution_window_days": 1}),
        )
        .await;
    assert_eq!(
        (status, settings["attribution_window_days"].clone()),
        (200, json!(1)),
        "{settings}"
    );
    for bad in [0, 91] {
        let answer = app
            .put(
                &format!("/v1/brands/{}/shop-settings", acme.id),
                &acme.token,
                &json!({"attribution_window_days": bad}),
            )
            .await;
        assert_invalid(&answer, "attribution_window_days");
    }
    let (_, inside) = order(
        &app,
        &acme,
        &json!({"order_id": "o-in", "click_id": ovc, "items": item}),
    )
    .await;
    assert_eq!(inside["attribution"], json!("click"), "{inside}");
    // A click on another brand's product credits no one at this brand.
    let (_, theirs_click) = click(&app, &their_code, BROWSER, "203.0.113.9").await;
    let (_, cross) = order(
        &app,
        &acme,
        &json!({"order_id": "o-x", "click_id": theirs_click, "items": item}),
    )
    .await;
    assert_eq!(cross["attribution"], json!("none"), "{cross}");
    // Items of another brand's products are refused.
    let answer = order(
        &app,
        &acme,
        &json!({"order_id": "o-y", "items": [{"product_id": theirs, "quantity": 1, "amount": {"amount": 1, "currency": "USD"}}]}),
    )
    .await;
    assert_invalid(&answer, "product_id");
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn commissions_round_toward_zero_in_yen() {
    let app = shop_app().await;
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    fund(&app, &acme, 100_000, "JPY").await;
    let p = product(
        &app,
        &acme,
        json!({"amount": 1_999, "currency": "JPY"}),
        750,
        14,
    )
    .await;
    let p = string(&p, "id").to_owned();
    let code = string(&link(&app, &ana, &p).await.1, "code").to_owned();
    let (_, ovc) = click(&app, &code, BROWSER, "203.0.113.7").await;
    let (status, booked) = order(
        &app,
        &acme,
        &json!({"order_id": "jp-1", "click_id": ovc,
                "items": [{"product_id": p, "quantity": 1, "amount": {"amount": 1_999, "currency": "JPY"}},
                          {"product_id": p, "quantity": 1, "amount": {"amount": 5, "currency": "JPY"}}]}),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    // 7.5 % of ¥1,999 is ¥149.925: ¥149; of ¥5, ¥0.375: ¥0.
    assert_eq!(
        booked["commission"],
        json!({"amount": 149, "currency": "JPY"})
    );
    assert_eq!(wallet_of(&app, &acme, "JPY").await, 100_000 - 149);
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_brand_without_the_money_is_402_and_nothing_is_recorded() {
    let app = shop_app().await;
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    fund(&app, &acme, 100, "USD").await;
    let p = usd_product(&app, &acme).await;
    let (_, made) = coupon(&app, &ana, &acme.id, "ANA10").await;
    assert_eq!(made["code"], json!("ANA10"));
    let body = json!({"order_id": "big", "coupon": "ANA10",
                      "items": [{"product_id": p, "quantity": 1, "amount": {"amount": 2_000, "currency": "USD"}}]});
    assert_error(&order(&app, &acme, &body).await, 402, "insufficient_funds");
    assert_eq!(wallet_of(&app, &acme, "USD").await, 100);
    // Nothing recorded: with the money, the same order id books.
    fund(&app, &acme, 1_000, "USD").await;
    let (status, booked) = order(&app, &acme, &body).await;
    assert_eq!(status, 201, "{booked}");
    app.settled().await;
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_orders_never_overdraw_a_brand_s_wallet() {
    let app = std::sync::Arc::new(shop_app().await);
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    fund(&app, &acme, 1_000, "USD").await;
    let p = usd_product(&app, &acme).await;
    coupon(&app, &ana, &acme.id, "ANA10").await;
    // 20 orders of 300 (commission 30 each... 3,000 at 10 %: 300): the wallet pays three.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (app, token, p) = (app.clone(), acme.token.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            app.post(
                "/v1/shop/orders",
                Some(&token),
                &json!({"order_id": format!("c-{i}"), "coupon": "ANA10",
                        "items": [{"product_id": p, "quantity": 1, "amount": {"amount": 3_000, "currency": "USD"}}]}),
            )
            .await
        }));
    }
    let mut booked = 0;
    for task in tasks {
        let (status, body) = task.await.expect("the task");
        match status {
            201 => booked += 1,
            402 => assert_eq!(body["error"]["code"], json!("insufficient_funds")),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(booked, 3);
    assert_eq!(wallet_of(&app, &acme, "USD").await, 100);
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_partial_then_a_full_return_gives_the_commission_back_in_proportion() {
    let app = shop_app().await;
    let (acme, ana, p, _) = funded_setup(&app).await;
    coupon(&app, &ana, &acme.id, "ANA10").await;
    let (_, booked) = order(
        &app,
        &acme,
        &json!({"order_id": "r-1", "coupon": "ANA10",
                "items": [{"product_id": p, "quantity": 3, "amount": {"amount": 3_000, "currency": "USD"}}]}),
    )
    .await;
    let id = string(&booked, "id").to_owned();
    assert_eq!(booked["commission"]["amount"], json!(300));
    let give_back = |token: &str, quantity: i64| {
        let (app, token, id) = (&app, token.to_owned(), id.clone());
        let p = p.clone();
        async move {
            app.post(
                &format!("/v1/shop/orders/{id}/returns"),
                Some(&token),
                &json!({"items": [{"product_id": p, "quantity": quantity}]}),
            )
            .await
        }
    };
    let (status, partial) = give_back(&acme.token, 1).await;
    assert_eq!(status, 200, "{partial}");
    assert_eq!(partial["commission"]["amount"], json!(200));
    assert_eq!(partial["status"], json!("pending"));
    assert_eq!(wallet_of(&app, &acme, "USD").await, 10_000 - 200);
    assert_eq!(
        crate::common::amounts(&app.earnings_of(&ana.id).await, "USD"),
        (200, 0, 0)
    );
    // More than is left: refused, nothing changes.
    assert_invalid(&give_back(&acme.token, 3).await, "items");
    // Another brand cannot return it.
    let other = brand(&app, "other").await;
    assert_error(&give_back(&other.token, 1).await, 403, "forbidden");
    let (status, full) = give_back(&acme.token, 2).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(
        (full["commission"]["amount"].clone(), full["status"].clone()),
        (json!(0), json!("reversed"))
    );
    assert_eq!(wallet_of(&app, &acme, "USD").await, 10_000);
    let earnings = app.earnings_of(&ana.id).await;
    assert_eq!(crate::common::amounts(&earnings, "USD"), (0, 0, 0));
    let (status, _) = app
        .post(
            "/v1/shop/orders/ord_nope/returns",
            Some(&acme.token),
            &json!({"items": [{"product_id": p, "quantity": 1}]}),
        )
        .await;
    assert_eq!(status, 404);
    app.settled().await;
    app.verify().await;
}

#[conformance]
async fn a_locked_order_refuses_returns_and_its_commission_is_released_and_paid_out() {
    let app = shop_app().await;
    let acme = brand(&app, "acme").await;
    let ana = app.creator("ana").await;
    fund(&app, &acme, 2_000_000, "USD").await;
    // A 2-day return window and an order placed three days ago: locked already.
    let p = product(
        &app,
        &acme,
        json!({"amount": 1_000_000, "currency": "USD"}),
        2_000,
        2,
    )
    .await;
    let p = string(&p, "id").to_owned();
    coupon(&app, &ana, &acme.id, "ANA10").await;
    let three_days_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(3))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let (status, booked) = order(
        &app,
        &acme,
        &json!({"order_id": "l-1", "coupon": "ANA10", "ordered_at": three_days_ago,
                "items": [{"product_id": p, "quantity": 1, "amount": {"amount": 1_000_000, "currency": "USD"}}]}),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(booked["status"], json!("locked"));
    let id = string(&booked, "id").to_owned();
    let answer = app
        .post(
            &format!("/v1/shop/orders/{id}/returns"),
            Some(&acme.token),
            &json!({"items": [{"product_id": p, "quantity": 1}]}),
        )
        .await;
    assert_error(&answer, 409, "order_locked");
    // Released at locks_at: available, and the payout run pays it.
    let released = app.release().await;
    assert_eq!(released["holds"], json!(1), "{released}");
    assert_eq!(
        crate::common::amounts(&app.earnings_of(&ana.id).await, "USD"),
        (0, 200_000, 0)
    );
    let (status, run) = app.post_empty("/v1/payouts/run", Some(ADMIN)).await;
    assert_eq!((status, run["payouts"].clone()), (200, json!(1)), "{run}");
    app.settled().await;
    assert_eq!(
        crate::common::amounts(&app.earnings_of(&ana.id).await, "USD"),
        (0, 0, 200_000)
    );
    app.verify().await;
}

#[conformance]
async fn shop_orders_are_brands_and_well_formed() {
    let app = shop_app().await;
    let (acme, ana, p, _) = funded_setup(&app).await;
    let item =
        json!([{"product_id": p, "quantity": 1, "amount": {"amount": 1_000, "currency": "USD"}}]);
    assert_error(
        &order(&app, &ana, &json!({"order_id": "x", "items": item})).await,
        403,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/v1/shop/orders",
            None,
            &json!({"order_id": "x", "items": item}),
        )
        .await,
        401,
        "unauthenticated",
    );
    for (body, field) in [
        (json!({"order_id": "", "items": item}), "order_id"),
        (json!({"order_id": "a b", "items": item}), "order_id"),
        (json!({"order_id": "x", "items": []}), "items"),
        (
            json!({"order_id": "x", "ordered_at": "yesterday", "items": item}),
            "ordered_at",
        ),
        (
            json!({"order_id": "x", "ordered_at": "2099-01-01T00:00:00Z", "items": item}),
            "ordered_at",
        ),
        (
            json!({"order_id": "x", "items": [{"product_id": p, "quantity": 0, "amount": {"amount": 1, "currency": "USD"}}]}),
            "quantity",
        ),
        (
            json!({"order_id": "x", "items": [{"product_id": p, "quantity": 1, "amount": {"amount": 1, "currency": "USD"}},
                                           {"product_id": p, "quantity": 1, "amount": {"amount": 1, "currency": "EUR"}}]}),
            "items",
        ),
    ] {
        assert_invalid(&order(&app, &acme, &body).await, field);
    }
    // An Idempotency-Key replays the first answer, a different body under it is refused.
    let body = json!({"order_id": "k-1", "items": item});
    let first = app
        .request(
            reqwest::Method::POST,
            "/v1/shop/orders",
            Some(&acme.token),
            Some("key-1"),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(first.0, 201, "{}", first.1);
    let again = app
        .request(
            reqwest::Method::POST,
            "/v1/shop/orders",
            Some(&acme.token),
            Some("key-1"),
            Some(body.to_string()),
        )
        .await;
    assert_eq!(again, first);
    let other = json!({"order_id": "k-2", "items": item});
    let answer = app
        .request(
            reqwest::Method::POST,
            "/v1/shop/orders",
            Some(&acme.token),
            Some("key-1"),
            Some(other.to_string()),
        )
        .await;
    assert_error(&answer, 409, "idempotency_key_reused");
    app.settled().await;
    app.verify().await;
}
