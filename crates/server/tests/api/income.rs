//! The platform's income insights (API.md, "Brand marketplace", the last bullet):
//! `GET /v1/insights/income` — who may ask, what is refused, the figures for a few creators
//! (net of refunds, by tier from the platform's metrics, per currency, per source, in a
//! window), and the operator's page that draws them.

use serde_json::{Value, json};
use testkit::conformance;

use crate::common::{ADMIN, TestApp, User, assert_error, assert_invalid, spawn_app};
use crate::pages::{page, sign_in};

/// `GET /v1/insights/income?{query}` as `token`.
async fn income(app: &TestApp, token: Option<&str>, query: &str) -> (u16, Value) {
    app.get(&format!("/v1/insights/income?{query}"), token)
        .await
}

/// The distribution as the admin sees it; asserts 200.
async fn income_ok(app: &TestApp, query: &str) -> Value {
    let (status, body) = income(app, Some(ADMIN), query).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// `(tier, creators, share_bps)` of each tier of a distribution.
fn tiers(body: &Value) -> Vec<(String, i64, i64)> {
    body["by_tier"]
        .as_array()
        .expect("by_tier is an array")
        .iter()
        .map(|t| {
            (
                t["tier"].as_str().expect("a tier").to_owned(),
                t["creators"].as_i64().expect("a count"),
                t["share_bps"].as_i64().expect("a share"),
            )
        })
        .collect()
}

/// Three US creators with badge income in USD, one more whose only badge was refunded, one
/// with none, and a Japanese viewer's badge in yen:
///
/// | creator | followers (metrics / sign-up) | USD income                | tier  |
/// | ------- | ----------------------------- | ------------------------- | ----- |
/// | ana     | 2,000,000 / 50,000            | 4.99 + 0.99 (+1.99 − 1.99) | mega  |
/// | ben     | — / 50,000                    | 1.99                      | micro |
/// | cy      | 5,000 / none                  | 0.99 (and ¥120)           | nano  |
/// | eve     | — / 50,000                    | 1.99 − 1.99               | —     |
/// | dee     | — / 50,000                    | none                      | —     |
struct Creators {
    ana: User,
    ben: User,
    cy: User,
}

async fn creators_with_income(app: &TestApp) -> Creators {
    let ana = app.creator("ana").await;
    let ben = app.creator("ben").await;
    let cy = app.user("cy", "creator", "US", None, None).await;
    let eve = app.creator("eve").await;
    app.creator("dee").await;
    let bob = app.viewer("bob", "US").await;
    let kei = app.viewer("kei", "JP").await;
    let lives: Vec<String> = {
        let mut lives = Vec::new();
        for c in [&ana, &ben, &cy, &eve] {
            lives.push(app.start_live(&c.token, "hello").await);
        }
        lives
    };
    app.bought(&bob.token, &lives[0], 3).await;
    app.bought(&bob.token, &lives[0], 1).await;
    let refunded = app.bought(&bob.token, &lives[0], 2).await;
    app.bought(&bob.token, &lives[1], 2).await;
    app.bought(&bob.token, &lives[2], 1).await;
    app.bought(&kei.token, &lives[2], 1).await;
    let eves = app.bought(&bob.token, &lives[3], 2).await;
    for purchase in [&refunded, &eves] {
        let id = purchase["id"].as_str().expect("an id");
        let (status, body) = app.refund(ADMIN, id, None).await;
        assert_eq!(status, 200, "refund: {body}");
    }
    // The platform's metrics, where it has reported some, come before the sign-up figure.
    app.execute(
        "INSERT INTO creator_metrics (creator_id, followers, avg_views, engagement_bps, audience_countries, audience_ages, updated_at) \
         SELECT id, 2000000, 0, 0, '{}', '{}', 0 FROM users WHERE handle = 'ana'; \
         INSERT INTO creator_metrics (creator_id, followers, avg_views, engagement_bps, audience_countries, audience_ages, updated_at) \
         SELECT id, 5000, 0, 0, '{}', '{}', 0 FROM users WHERE handle = 'cy';",
        "INSERT INTO creator_metrics (creator_id, followers, avg_views, engagement_bps, audience_countries, audience_ages, updated_at) \
         SELECT id, 2000000, 0, 0, '{}', '{}', 0 FROM users WHERE handle = 'ana'; \
         INSERT INTO creator_metrics (creator_id, followers, avg_views, engagement_bps, audience_countries, audience_ages, updated_at) \
         SELECT id, 5000, 0, 0, '{}', '{}', 0 FROM users WHERE handle = 'cy';",
    )
    .await;
    Creators { ana, ben, cy }
}

#[conformance]
async fn income_insights_are_for_the_admin_token_only() {
    let app = spawn_app().await;
    let creator = app.creator("ana").await;
    let viewer = app.viewer("bob", "US").await;
    assert_error(
        &income(&app, None, "currency=USD").await,
        401,
        "unauthenticated",
    );
    assert_error(
        &income(&app, Some("not-a-token"), "currency=USD").await,
        401,
        "unauthenticated",
    );
    for user in [&creator, &viewer] {
        assert_error(
            &income(&app, Some(&user.token), "currency=USD").await,
            403,
            "forbidden",
        );
        // Refused for who they are before anything is said about the query.
        assert_error(&income(&app, Some(&user.token), "").await, 403, "forbidden");
    }
    income_ok(&app, "currency=USD").await;
}

#[conformance]
async fn a_missing_or_wrong_currency_source_or_days_is_422_naming_it() {
    let app = spawn_app().await;
    for (query, field) in [
        ("", "currency"),
        ("currency=", "currency"),
        ("currency=usd", "currency"),
        ("currency=DOLLARS", "currency"),
        ("currency=ZZZ", "currency"),
        ("currency=USD&source=tips", "source"),
        ("currency=USD&source=", "source"),
        ("currency=USD&days=0", "days"),
        ("currency=USD&days=3651", "days"),
        ("currency=USD&days=-5", "days"),
        ("currency=USD&days=1.5", "days"),
        ("currency=USD&days=99999999999999999999", "days"),
    ] {
        assert_invalid(&income(&app, Some(ADMIN), query).await, field);
    }
    for query in [
        "currency=USD&source=all",
        "currency=USD&source=badges",
        "currency=USD&source=match",
        "currency=USD&source=commissions",
        "currency=USD&source=brand_deals",
        "currency=USD&days=1",
        "currency=USD&days=3650",
    ] {
        income_ok(&app, query).await;
    }
}

#[conformance]
async fn no_income_is_zero_creators_and_the_diagonal() {
    let app = spawn_app().await;
    app.creator("ana").await;
    let body = income_ok(&app, "currency=EUR").await;
    assert_eq!(body["creators"], json!(0));
    assert_eq!(body["total"], json!({"amount": 0, "currency": "EUR"}));
    assert_eq!(body["median"], json!({"amount": 0, "currency": "EUR"}));
    assert_eq!(body["gini_bps"], json!(0));
    assert_eq!(body["top_1_percent_share_bps"], json!(0));
    assert_eq!(body["lorenz"], json!([[0, 0], [10000, 10000]]));
    assert_eq!(
        tiers(&body),
        ["nano", "micro", "mid", "macro", "mega"]
            .map(|t| (t.to_owned(), 0, 0))
            .to_vec()
    );
    assert!(body["since"].is_string(), "{body}");
}

#[conformance]
async fn badge_income_is_spread_net_of_refunds_with_tiers_from_the_platforms_metrics() {
    let app = spawn_app().await;
    let creators = creators_with_income(&app).await;
    let body = income_ok(&app, "currency=USD").await;
    // ana 598, ben 199, cy 99: eve's refund took all she had, dee earned nothing.
    assert_eq!(body["creators"], json!(3), "{body}");
    assert_eq!(body["total"], json!({"amount": 896, "currency": "USD"}));
    assert_eq!(body["median"], json!({"amount": 199, "currency": "USD"}));
    // Sorted 99, 199, 598: (−2·99 + 0·199 + 2·598) / (3 · 896) = 998 / 2688.
    assert_eq!(body["gini_bps"], json!(3_712));
    // The top 1 % of three creators is ana alone: 598 / 896.
    assert_eq!(body["top_1_percent_share_bps"], json!(6_674));
    assert_eq!(
        body["lorenz"],
        json!([[0, 0], [3333, 1104], [6666, 3325], [10000, 10000]])
    );
    assert_eq!(
        tiers(&body),
        vec![
            ("nano".to_owned(), 1, 1_104),
            ("micro".to_owned(), 1, 2_220),
            ("mid".to_owned(), 0, 0),
            ("macro".to_owned(), 0, 0),
            ("mega".to_owned(), 1, 6_674),
        ],
        "ana is mega by her metrics, ben micro at sign-up, cy nano by his metrics"
    );
    // The same as the badges alone, and the same as the creators' own earnings.
    let badges = income_ok(&app, "currency=USD&source=badges&days=3650").await;
    for field in ["creators", "total", "gini_bps", "lorenz", "by_tier"] {
        assert_eq!(badges[field], body[field], "{field}");
    }
    let mut earned = 0;
    for c in [&creators.ana, &creators.ben, &creators.cy] {
        earned += crate::common::badge_totals(&app.earnings_of(&c.id).await)
            .iter()
            .filter(|(currency, _)| currency == "USD")
            .map(|(_, amount)| amount)
            .sum::<i64>();
    }
    assert_eq!(body["total"]["amount"], json!(earned));
    for source in ["match", "commissions", "brand_deals"] {
        let none = income_ok(&app, &format!("currency=USD&source={source}")).await;
        assert_eq!(none["creators"], json!(0), "{source}: {none}");
    }

    // Each currency on its own: cy's yen.
    let yen = income_ok(&app, "currency=JPY").await;
    assert_eq!(yen["creators"], json!(1), "{yen}");
    assert_eq!(yen["total"], json!({"amount": 120, "currency": "JPY"}));
    assert_eq!(yen["median"], json!({"amount": 120, "currency": "JPY"}));
    assert_eq!(yen["gini_bps"], json!(0));
    assert_eq!(yen["top_1_percent_share_bps"], json!(10_000));
    assert_eq!(yen["lorenz"], json!([[0, 0], [10000, 10000]]));
    assert_eq!(tiers(&yen)[0], ("nano".to_owned(), 1, 10_000));
}

#[conformance]
async fn the_window_counts_only_the_transfers_made_in_its_days() {
    let app = spawn_app().await;
    creators_with_income(&app).await;
    // Every transfer so far moved ten days back.
    app.execute(
        "UPDATE transfers SET created_at = created_at - 864000000000;",
        "UPDATE transfers SET created_at = created_at - 864000000000;",
    )
    .await;
    let recent = income_ok(&app, "currency=USD&days=9").await;
    assert_eq!(recent["creators"], json!(0), "{recent}");
    let month = income_ok(&app, "currency=USD&days=11").await;
    assert_eq!(month["creators"], json!(3), "{month}");
    assert_eq!(month["total"]["amount"], json!(896));
    assert_eq!(
        income_ok(&app, "currency=USD").await["gini_bps"],
        json!(3_712)
    );
}

#[conformance]
async fn a_refund_in_the_window_of_income_before_it_takes_from_the_window() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let ben = app.creator("ben").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let old = app.bought(&bob.token, &live, 3).await;
    app.bought(&bob.token, &live, 1).await;
    let other = app.start_live(&ben.token, "hi").await;
    app.bought(&bob.token, &other, 2).await;
    app.execute(
        "UPDATE transfers SET created_at = created_at - 864000000000;",
        "UPDATE transfers SET created_at = created_at - 864000000000;",
    )
    .await;
    let (status, body) = app
        .refund(ADMIN, old["id"].as_str().expect("an id"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    // Over 90 days: ana 99 (499 + 99 − 499), ben 199.
    let quarter = income_ok(&app, "currency=USD").await;
    assert_eq!(quarter["creators"], json!(2), "{quarter}");
    assert_eq!(quarter["total"]["amount"], json!(298));
    assert_eq!(quarter["median"]["amount"], json!(149));
    // Over the last day only the refund happened: ana is below zero, so nobody counts.
    let today = income_ok(&app, "currency=USD&days=1").await;
    assert_eq!(today["creators"], json!(0), "{today}");
    app.verify().await;
}

#[conformance]
async fn a_match_counts_as_its_own_source_and_in_all_of_them() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let ben = app.creator("ben").await;
    let bob = app.viewer("bob", "US").await;
    let (status, program) = app
        .post(
            "/v1/match-programs",
            Some(ADMIN),
            &json!({"name": "Launch match", "rate_bps": 5000, "caps": [{"amount": 10000, "currency": "USD"}],
                    "ends_at": "2099-01-01T00:00:00Z", "budget": [{"amount": 50000, "currency": "USD"}]}),
        )
        .await;
    assert_eq!(status, 201, "{program}");
    let live = app.start_live(&ana.token, "hello").await;
    app.bought(&bob.token, &live, 3).await;
    let live = app.start_live(&ben.token, "hi").await;
    app.bought(&bob.token, &live, 1).await;
    let mut matched = 0;
    for c in [&ana, &ben] {
        let earnings = app.earnings_of(&c.id).await;
        matched += earnings["by_source"]
            .as_array()
            .expect("by_source")
            .iter()
            .filter(|s| s["source"] == json!("match"))
            .map(|s| s["total"]["amount"].as_i64().expect("an amount"))
            .sum::<i64>();
    }
    assert!(matched > 0, "the purchases were matched");
    let badges = income_ok(&app, "currency=USD&source=badges").await;
    assert_eq!(badges["total"]["amount"], json!(598));
    let matches = income_ok(&app, "currency=USD&source=match").await;
    assert_eq!(matches["total"]["amount"], json!(matched));
    assert_eq!(matches["creators"], json!(2));
    let all = income_ok(&app, "currency=USD&source=all").await;
    assert_eq!(all["total"]["amount"], json!(598 + matched));
    assert_eq!(
        without_since(all),
        without_since(income_ok(&app, "currency=USD").await),
        "all is the default"
    );
}

/// A distribution without `since` (the time of the request).
fn without_since(mut body: Value) -> Value {
    body.as_object_mut().expect("an object").remove("since");
    body
}

#[conformance]
async fn the_openapi_document_lists_the_income_insights_with_their_refusals() {
    let app = spawn_app().await;
    let (status, text) = app.get_text("/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let operation = &doc["paths"]["/v1/insights/income"]["get"];
    for status in ["200", "401", "403", "422"] {
        assert!(
            operation["responses"][status].is_object(),
            "{status}: {operation}"
        );
    }
    let params: Vec<&str> = operation["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(params, ["currency", "source", "days"]);
}

#[conformance]
async fn the_operators_page_draws_each_currencys_lorenz_curve_with_gini_and_top_share() {
    let app = spawn_app().await;
    let operator = sign_in(&app, ADMIN).await;
    let (status, html, _) = page(&app, &operator.cookie, "/admin").await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("No creator has earned anything in the last 90 days"),
        "{html}"
    );
    assert!(!html.contains("class=\"lorenz\""), "{html}");

    let creators = creators_with_income(&app).await;
    let (status, html, _) = page(&app, &operator.cookie, "/admin").await;
    assert_eq!(status, 200, "{html}");
    let table = crate::pages::table_of(&html, "income");
    for expected in [
        "<th scope=\"row\">USD</th>",
        "8.96 USD",
        "1.99 USD",
        "37.12 %",
        "66.74 %",
        "<th scope=\"row\">JPY</th>",
        "120 JPY",
        "100 %",
    ] {
        assert!(table.contains(expected), "{expected}: {table}");
    }
    let tiers = crate::pages::table_of(&html, "income-tiers");
    assert!(tiers.contains("66.74 % (1)"), "mega: {tiers}");
    for currency in ["USD", "JPY"] {
        let figure = crate::pages::element_of(&html, &format!("lorenz-{currency}"), "figure");
        assert!(figure.contains("<svg"), "{figure}");
        assert!(figure.contains("class=\"lorenz\""), "{figure}");
        assert!(figure.contains("class=\"equality\""), "{figure}");
        assert!(
            figure.contains(&format!(
                "Lorenz curve of creators&#39; income in {currency}"
            )) || figure.contains(&format!("Lorenz curve of creators' income in {currency}")),
            "{figure}"
        );
    }
    // A creator is not the operator.
    let creator = sign_in(&app, &creators.ana.token).await;
    let (status, _, _) = page(&app, &creator.cookie, "/admin").await;
    assert_eq!(status, 403);
}
