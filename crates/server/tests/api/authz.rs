//! Who may call what: 401 without a (valid) token, 403 for the wrong role or another
//! account's resource, for every endpoint.

use testkit::conformance;

use reqwest::Method;
use serde_json::json;

use crate::common::{ADMIN, Answer, TestApp, User, assert_error, spawn_app_with, string};

/// A live by `ana` in which `bob` bought a badge, `eve` another creator, `acme` a brand.
struct World {
    app: TestApp,
    ana: User,
    eve: User,
    bob: User,
    acme: User,
    live: String,
    purchase: String,
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// The world on a server whose configuration `configure` changed.
async fn world_with(configure: impl FnOnce(&mut server::Config)) -> World {
    let app = spawn_app_with(configure).await;
    let ana = app.creator("ana").await;
    let eve = app.creator("eve").await;
    let bob = app.viewer("bob", "US").await;
    let acme = app.user("acme", "brand", "US", None, None).await;
    let live = app.start_live(&ana.token, "hello").await;
    let purchase = string(&app.bought(&bob.token, &live, 2).await, "id").to_owned();
    World {
        app,
        ana,
        eve,
        bob,
        acme,
        live,
        purchase,
    }
}

impl World {
    /// Every endpoint but the public ones, each with a body it would accept.
    fn endpoints(&self) -> Vec<(Method, String, Option<String>)> {
        let (live, purchase, ana) = (&self.live, &self.purchase, &self.ana.id);
        let account = json!({"handle": "newbie", "kind": "viewer", "country": "US"}).to_string();
        vec![
            (Method::POST, "/v1/accounts".into(), Some(account)),
            (Method::GET, format!("/v1/accounts/{ana}"), None),
            (Method::POST, format!("/v1/accounts/{ana}/tokens"), None),
            (Method::GET, "/v1/me".into(), None),
            (
                Method::POST,
                "/v1/lives".into(),
                Some(r#"{"title": "t"}"#.into()),
            ),
            (Method::GET, format!("/v1/lives/{live}"), None),
            (Method::POST, format!("/v1/lives/{live}/end"), None),
            (
                Method::PUT,
                format!("/v1/lives/{live}/goal"),
                Some(r#"{"goal_hearts": 5}"#.into()),
            ),
            (
                Method::POST,
                format!("/v1/lives/{live}/comments"),
                Some(r#"{"text": "hi"}"#.into()),
            ),
            (Method::GET, format!("/v1/lives/{live}/comments"), None),
            (Method::GET, format!("/v1/lives/{live}/events"), None),
            (
                Method::POST,
                format!("/v1/lives/{live}/badges"),
                Some(r#"{"tier": 1, "payment_method": "pm_card_visa"}"#.into()),
            ),
            (Method::GET, format!("/v1/lives/{live}/supporters"), None),
            (
                Method::POST,
                format!("/v1/purchases/{purchase}/refund"),
                None,
            ),
            (Method::GET, format!("/v1/creators/{ana}/earnings"), None),
            (Method::GET, "/v1/ledger/verify".into(), None),
        ]
    }

    async fn call(&self, method: Method, path: &str, token: &str, body: Option<&str>) -> Answer {
        self.app
            .request(method, path, Some(token), None, body.map(str::to_owned))
            .await
    }

    /// Asserts that the ledger and the live are as `world()` left them.
    async fn nothing_changed(&self) {
        let earnings = self.app.earnings_of(&self.ana.id).await;
        assert_eq!(earnings["balances"][0]["pending"]["amount"], json!(199));
        let (_, live) = self
            .app
            .get(&format!("/v1/lives/{}", self.live), Some(ADMIN))
            .await;
        assert_eq!(live["status"], json!("live"));
        self.app.verify().await;
    }
}

#[conformance]
async fn every_endpoint_is_401_without_a_token() {
    let w = world().await;
    for (method, path, body) in w.endpoints() {
        let answer = w.app.request(method.clone(), &path, None, None, body).await;
        assert_eq!(answer.0, 401, "{method} {path}: {}", answer.1);
        assert_error(&answer, 401, "unauthenticated");
    }
    w.nothing_changed().await;
}

#[conformance]
async fn every_endpoint_is_401_with_a_bad_token() {
    // Every endpoint twice: far more unknown tokens than one address may try a minute
    // (that limit has its own tests in `limits`).
    let w = world_with(|c| c.rates.signin_failures = None).await;
    let bogus = format!("{}x", w.bob.token);
    for (method, path, body) in w.endpoints() {
        for token in ["nope", bogus.as_str()] {
            let answer = w.call(method.clone(), &path, token, body.as_deref()).await;
            assert_eq!(answer.0, 401, "{method} {path}: {}", answer.1);
            assert_error(&answer, 401, "unauthenticated");
        }
        // Not a bearer token at all.
        let response = w
            .app
            .client
            .request(method.clone(), w.app.url(&path))
            .header("authorization", format!("Basic {}", w.bob.token))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status().as_u16(), 401, "{method} {path}");
    }
    w.nothing_changed().await;
}

#[conformance]
async fn prices_are_public() {
    let w = world().await;
    let (status, body) = w.app.get("/v1/badges/prices?country=US", None).await;
    assert_eq!(status, 200, "{body}");
}

#[conformance]
async fn creating_an_account_needs_the_admin_token() {
    let w = world().await;
    let body = json!({"handle": "newbie", "kind": "viewer", "country": "US"});
    for user in [&w.ana, &w.bob, &w.acme] {
        let answer = w.app.post("/v1/accounts", Some(&user.token), &body).await;
        assert_error(&answer, 403, "forbidden");
    }
    // Nothing was created: the handle is still free.
    w.app
        .create_account("newbie", "viewer", "US", None, None)
        .await;
}

#[conformance]
async fn issuing_a_token_needs_the_admin_token_even_for_ones_own_account() {
    let w = world().await;
    for (user, target) in [(&w.bob, &w.bob), (&w.bob, &w.ana), (&w.ana, &w.ana)] {
        let answer = w
            .app
            .post_empty(
                &format!("/v1/accounts/{}/tokens", target.id),
                Some(&user.token),
            )
            .await;
        assert_error(&answer, 403, "forbidden");
    }
}

#[conformance]
async fn reading_another_users_account_is_403() {
    let w = world().await;
    let answer = w
        .app
        .get(&format!("/v1/accounts/{}", w.ana.id), Some(&w.bob.token))
        .await;
    assert_error(&answer, 403, "forbidden");
}

#[conformance]
async fn me_with_the_admin_token_is_403() {
    let w = world().await;
    assert_error(&w.app.get("/v1/me", Some(ADMIN)).await, 403, "forbidden");
    let (status, me) = w.app.get("/v1/me", Some(&w.acme.token)).await;
    assert_eq!((status, &me["id"]), (200, &json!(w.acme.id)));
}

#[conformance]
async fn only_a_creator_starts_a_live() {
    let w = world().await;
    for token in [w.bob.token.as_str(), w.acme.token.as_str(), ADMIN] {
        let answer = w.app.try_start_live(token, "mine").await;
        assert_error(&answer, 403, "forbidden");
    }
}

#[conformance]
async fn ending_someone_elses_live_is_403() {
    let w = world().await;
    for user in [&w.bob, &w.eve, &w.acme] {
        assert_error(
            &w.app.end_live(&user.token, &w.live).await,
            403,
            "forbidden",
        );
    }
    w.nothing_changed().await;
}

#[conformance]
async fn any_token_reads_a_live_and_its_comments() {
    let w = world().await;
    for token in [
        w.bob.token.as_str(),
        w.acme.token.as_str(),
        w.eve.token.as_str(),
        ADMIN,
    ] {
        let (status, _) = w
            .app
            .get(&format!("/v1/lives/{}", w.live), Some(token))
            .await;
        assert_eq!(status, 200);
        let (status, _) = w
            .app
            .get(&format!("/v1/lives/{}/comments", w.live), Some(token))
            .await;
        assert_eq!(status, 200);
    }
}

#[conformance]
async fn commenting_needs_a_user_token() {
    let w = world().await;
    assert_error(&w.app.comment(ADMIN, &w.live, "hi").await, 403, "forbidden");
    for user in [&w.bob, &w.acme, &w.eve, &w.ana] {
        assert_eq!(w.app.comment(&user.token, &w.live, "hi").await.0, 201);
    }
}

#[conformance]
async fn buying_with_the_admin_token_or_a_brand_token_is_403() {
    let w = world().await;
    for token in [ADMIN, w.acme.token.as_str()] {
        let answer = w.app.buy(token, &w.live, 1, "pm_card_visa", None).await;
        assert_error(&answer, 403, "forbidden");
    }
    w.nothing_changed().await;
}

#[conformance]
async fn supporters_are_for_the_lives_creator_and_the_admin() {
    let w = world().await;
    let path = format!("/v1/lives/{}/supporters", w.live);
    for user in [&w.bob, &w.eve, &w.acme] {
        assert_error(&w.app.get(&path, Some(&user.token)).await, 403, "forbidden");
    }
    for token in [w.ana.token.as_str(), ADMIN] {
        let (status, body) = w.app.get(&path, Some(token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"][0]["viewer_id"], json!(w.bob.id));
    }
}

#[conformance]
async fn refunding_needs_the_admin_token() {
    let w = world().await;
    for user in [&w.bob, &w.ana, &w.eve] {
        let answer = w.app.refund(&user.token, &w.purchase, None).await;
        assert_error(&answer, 403, "forbidden");
    }
    w.nothing_changed().await;
}

#[conformance]
async fn earnings_are_for_that_creator_and_the_admin() {
    let w = world().await;
    for user in [&w.eve, &w.bob, &w.acme] {
        let answer = w.app.earnings(&user.token, &w.ana.id).await;
        assert_error(&answer, 403, "forbidden");
    }
    for token in [w.ana.token.as_str(), ADMIN] {
        assert_eq!(w.app.earnings(token, &w.ana.id).await.0, 200);
    }
}

#[conformance]
async fn verifying_the_ledger_needs_the_admin_token() {
    let w = world().await;
    for user in [&w.ana, &w.bob, &w.acme] {
        let answer = w.app.get("/v1/ledger/verify", Some(&user.token)).await;
        assert_error(&answer, 403, "forbidden");
    }
}
