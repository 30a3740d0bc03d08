//! Badge prices (public).

use testkit::conformance;

use serde_json::json;

use crate::common::{assert_error, assert_invalid, assert_money, spawn_app};

#[conformance]
async fn prices_in_japan_are_three_tiers_in_yen() {
    let app = spawn_app().await;
    let (status, body) = app.get("/v1/badges/prices?country=JP", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["country"], json!("JP"));
    assert_eq!(body["currency"], json!("JPY"));
    let tiers = body["tiers"].as_array().expect("tiers");
    assert_eq!(tiers.len(), 3);
    for (i, (tier, amount)) in [(1, 120), (2, 250), (3, 610)].into_iter().enumerate() {
        assert_eq!(tiers[i]["tier"], json!(tier));
        assert_eq!(tiers[i]["hearts"], json!(tier));
        assert_money(&tiers[i]["price"], amount, "JPY");
    }
}

#[conformance]
async fn prices_in_the_us_are_99_199_and_499_cents() {
    let app = spawn_app().await;
    let (status, body) = app.get("/v1/badges/prices?country=US", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["currency"], json!("USD"));
    let amounts: Vec<_> = body["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .map(|t| t["price"]["amount"].as_i64().expect("an amount"))
        .collect();
    assert_eq!(amounts, [99, 199, 499]);
}

#[conformance]
async fn every_launch_country_is_priced_in_its_own_currency() {
    let app = spawn_app().await;
    for (country, currency) in [
        ("FR", "EUR"),
        ("DE", "EUR"),
        ("IT", "EUR"),
        ("ES", "EUR"),
        ("GB", "GBP"),
        ("TR", "TRY"),
        ("BR", "BRL"),
        ("MX", "MXN"),
        ("AU", "AUD"),
    ] {
        let (status, body) = app
            .get(&format!("/v1/badges/prices?country={country}"), None)
            .await;
        assert_eq!(status, 200, "{country}: {body}");
        assert_eq!(body["currency"], json!(currency), "{country}");
        for tier in body["tiers"].as_array().expect("tiers") {
            assert_eq!(tier["price"]["currency"], json!(currency), "{country}");
        }
    }
}

#[conformance]
async fn prices_for_a_country_without_badges_are_422_country_not_supported() {
    let app = spawn_app().await;
    let answer = app.get("/v1/badges/prices?country=NZ", None).await;
    assert_error(&answer, 422, "country_not_supported");
}

#[conformance]
async fn prices_without_a_valid_country_are_422_naming_country() {
    let app = spawn_app().await;
    for query in ["", "?country=", "?country=USA", "?country=1"] {
        let answer = app.get(&format!("/v1/badges/prices{query}"), None).await;
        assert_invalid(&answer, "country");
    }
}
