//! Health, metrics and the OpenAPI document.

use testkit::conformance;

use serde_json::{Value, json};

use crate::common::{ADMIN, spawn_app};

#[conformance]
async fn healthz_is_200_ok() {
    let app = spawn_app().await;
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok"}));
}

#[conformance]
async fn readyz_is_200_when_the_store_answers() {
    let app = spawn_app().await;
    let (status, body) = app.get("/readyz", None).await;
    assert_eq!(status, 200, "{body}");
}

#[conformance]
async fn an_unknown_route_is_404_not_found() {
    let app = spawn_app().await;
    let answer = app.get("/v1/nothing-here", Some(ADMIN)).await;
    crate::common::assert_error(&answer, 404, "not_found");
}

#[conformance]
async fn metrics_count_purchases_once_one_is_made() {
    let app = spawn_app().await;
    let creator = app.creator("ana").await;
    let viewer = app.viewer("bob", "US").await;
    let live = app.start_live(&creator.token, "hello").await;
    app.bought(&viewer.token, &live, 1).await;
    let (status, text) = scrape(&app, Some(ADMIN)).await;
    assert_eq!(status, 200);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ovation_purchases_total")),
        "no ovation_purchases_total in:\n{text}"
    );
    app.verify().await;
}

/// `GET /metrics` with `token` as a bearer token: status and text.
async fn scrape(app: &crate::common::TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[conformance]
async fn metrics_without_the_admin_or_metrics_token_are_401() {
    let app = spawn_app().await;
    let viewer = app.viewer("bob", "US").await;
    for token in [None, Some("nope"), Some(viewer.token.as_str())] {
        let (status, text) = scrape(&app, token).await;
        assert_eq!(status, 401, "{token:?}: {text}");
        let body: Value = serde_json::from_str(&text).expect("an error body");
        assert_eq!(body["error"]["code"], json!("unauthenticated"), "{body}");
        assert!(!text.contains("ovation_"), "no metric leaks: {text}");
    }
    // `?token=` is for browsers' WebSockets, not for scrapers.
    let response = app
        .client
        .get(app.url(&format!("/metrics?token={ADMIN}")))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 401);
}

#[conformance]
async fn metrics_answer_the_metrics_token_when_one_is_set() {
    let app = crate::common::spawn_app_with(|c| {
        c.metrics_token = Some(secrecy::SecretString::from("scraper-token"));
    })
    .await;
    let (status, text) = scrape(&app, Some("scraper-token")).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("\"error\""), "{text}");
    // The admin token still reads them; the metrics token is not an admin token.
    assert_eq!(scrape(&app, Some(ADMIN)).await.0, 200);
    let (status, _) = app.get("/v1/ledger/verify", Some("scraper-token")).await;
    assert_eq!(status, 401);
}

#[conformance]
async fn openapi_json_lists_every_path_of_the_contract() {
    let app = spawn_app().await;
    let (status, text) = app.get_text("/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&text).expect("the OpenAPI document is JSON");
    assert!(doc["openapi"].is_string(), "not an OpenAPI document");
    let paths = doc["paths"].as_object().expect("paths");
    let expected = [
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/v1/accounts", "post"),
        ("/v1/accounts/{id}", "get"),
        ("/v1/accounts/{id}/tokens", "post"),
        ("/v1/accounts/{id}/tokens/{token_id}", "delete"),
        ("/v1/me", "get"),
        ("/v1/badges/prices", "get"),
        ("/v1/lives", "post"),
        ("/v1/lives/{id}", "get"),
        ("/v1/lives/{id}/end", "post"),
        ("/v1/lives/{id}/comments", "post"),
        ("/v1/lives/{id}/comments", "get"),
        ("/v1/lives/{id}/events", "get"),
        ("/v1/lives/{id}/badges", "post"),
        ("/v1/lives/{id}/supporters", "get"),
        ("/v1/purchases/{id}/refund", "post"),
        ("/v1/creators/{id}/earnings", "get"),
        ("/v1/ledger/verify", "get"),
    ];
    for (path, method) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is missing from /openapi.json"
        );
    }
    // The token's new fields and the rate limit are in the document.
    let token = &doc["components"]["schemas"]["TokenBody"]["properties"];
    for field in ["token", "id", "expires_at"] {
        assert!(token.get(field).is_some(), "TokenBody.{field}: {token}");
    }
    let comment = &paths["/v1/lives/{id}/comments"]["post"]["responses"];
    assert!(comment.get("429").is_some(), "{comment}");
}

#[conformance]
async fn every_operation_in_the_document_is_served_and_every_route_is_in_it() {
    // The router registers each API route from its handler's document entry (utoipa-axum's
    // `routes!`), so a route cannot be served undocumented. This checks the other way:
    // each documented method and path reaches a handler, not the fallbacks.
    let app = spawn_app().await;
    let (_, text) = app.get_text("/openapi.json").await;
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{token_id}", "tok_nothing")
            .replace("{code}", "nothing")
            .replace("{id}", "nothing");
        for method in item.as_object().expect("a path item").keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
                .expect("an HTTP method");
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .bearer_auth(ADMIN)
                .header("Idempotency-Key", "parity")
                .json(&json!({}))
                .send()
                .await
                .expect("answers");
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            assert_ne!(status, 405, "{method} {path} is documented but not served");
            assert!(
                !body.contains("route not found"),
                "{method} {path} is documented but not served: {body}"
            );
            operations += 1;
        }
    }
    // Every route of the API: a new one must be counted here, and documented to be served.
    assert_eq!(operations, 74, "operations in /openapi.json");
}

#[conformance]
async fn the_document_states_the_money_and_the_maps_requests_may_carry() {
    let app = spawn_app().await;
    let (_, text) = app.get_text("/openapi.json").await;
    let doc: Value = serde_json::from_str(&text).expect("JSON");
    let schemas = &doc["components"]["schemas"];
    // A top-up's amount: 1 to 100,000,000 minor units of a currency the server takes.
    let amount = &schemas["TopupRequest"]["properties"]["amount"];
    assert_eq!(amount["properties"]["amount"]["minimum"], 1, "{amount}");
    assert_eq!(
        amount["properties"]["amount"]["maximum"], 100_000_000,
        "{amount}"
    );
    assert_eq!(
        amount["required"],
        json!(["amount", "currency"]),
        "{amount}"
    );
    let currencies = schemas["Currency"]["enum"].as_array().expect("an enum");
    for code in ["USD", "JPY", "BHD", "EUR"] {
        assert!(currencies.contains(&json!(code)), "{code}");
    }
    for code in ["XAU", "XXX", "usd"] {
        assert!(!currencies.contains(&json!(code)), "{code}");
    }
    // A spending limit may be zero, or null to remove it.
    let daily = schemas["SpendingLimitsRequest"]["properties"]["daily"].to_string();
    assert!(
        daily.contains(r#""minimum":0"#) && daily.contains("null"),
        "{daily}"
    );
    // Answers keep the plain money body: they may hold any amount.
    assert_eq!(
        schemas["TopupBody"]["properties"]["amount"]["$ref"],
        "#/components/schemas/MoneyBody"
    );
    // Audience shares: keys from their lists, each within its even part of 10,000.
    let ages = &schemas["MetricsRequest"]["properties"]["audience_ages"];
    assert!(
        ages["propertyNames"]["enum"]
            .as_array()
            .is_some_and(|e| e.contains(&json!("18-24"))),
        "{ages}"
    );
    assert_eq!(ages["maxProperties"], 7, "{ages}");
    assert_eq!(ages["additionalProperties"]["maximum"], 1_428, "{ages}");
    // Nested request objects carry no NUL either.
    let line = &schemas["OrderItemRequest"]["properties"]["product_id"];
    assert_eq!(line["pattern"], "^[^\\u0000]*$", "{line}");
}

/// `promtool`, or `None` (with the reason printed) where this machine has none and it is not
/// required.
fn promtool() -> Option<std::path::PathBuf> {
    let path = std::path::PathBuf::from(
        std::env::var("OVATION_PROMTOOL").unwrap_or_else(|_| "/usr/bin/promtool".into()),
    );
    if path.exists() {
        return Some(path);
    }
    assert!(
        !testkit::services_required(),
        "OVATION_TEST_REQUIRE_SERVICES=1 but promtool is missing (apt-get install prometheus)"
    );
    eprintln!("skipped promtool: not at {}", path.display());
    None
}

#[conformance]
async fn metrics_pass_promtool_with_every_family_from_the_start_http_and_process_metrics() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.0, 200);
    let (status, text) = scrape(&app, Some(ADMIN)).await;
    assert_eq!(status, 200);
    // Families are there before anything happened to them, each described.
    for family in [
        "ovation_refunds_total",
        "ovation_payments_declined_total",
        "ovation_bus_dropped_total",
        "ovation_ws_connections",
        "ovation_webhooks_total",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no help for {family}:\n{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with(family) && l.ends_with(" 0")),
            "{family} does not start at 0:\n{text}"
        );
    }
    // Distributions are histograms, which add up across nodes, not summaries.
    for histogram in [
        "ovation_ledger_commit_seconds",
        "ovation_ledger_batch_jobs",
        "ovation_http_request_duration_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {histogram} histogram")),
            "{histogram} is not a histogram:\n{text}"
        );
    }
    // Requests by route template and status; the process's own metrics.
    assert!(
        text.contains(r#"ovation_http_requests_total{route="/healthz",method="GET",status="200"}"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ovation_http_request_duration_seconds_bucket{route="/healthz",method="GET",status="200",le="#),
        "{text}"
    );
    for process in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(process)),
            "no {process}:\n{text}"
        );
    }

    let Some(promtool) = promtool() else {
        return;
    };
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    {
        use std::io::Write as _;
        let mut stdin = check.stdin.take().expect("promtool's stdin");
        stdin
            .write_all(text.as_bytes())
            .expect("the metrics are written to promtool");
    }
    let out = check.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
