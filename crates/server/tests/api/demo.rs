//! `serve --demo`: its home page offers the demo's accounts, and never a configured admin
//! token.

use testkit::conformance;

use crate::common::{ADMIN, spawn_app, spawn_app_with};

#[conformance]
async fn the_demo_never_shows_a_configured_admin_token() {
    let app = spawn_app().await;
    let demo = server::demo::seed(&app.state, ADMIN)
        .await
        .expect("the demo seeds");
    assert_eq!(demo.admin_token, None);
    let (status, html) = app.get_text("/").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("Sign in as Brand @{}", demo.brand_handle)),
        "the demo's accounts are offered: {html}"
    );
    assert!(
        !html.contains(ADMIN),
        "the admin token is on the page: {html}"
    );
    assert!(!html.contains("Sign in as Operator"), "{html}");
}

#[conformance]
async fn the_demo_offers_the_operator_a_token_generated_for_the_run_on_loopback_only() {
    let app = spawn_app_with(|c| c.admin_token = None).await;
    assert!(!app.admin_token.is_empty());
    let demo = server::demo::seed(&app.state, &app.admin_token)
        .await
        .expect("the demo seeds");
    assert_eq!(demo.admin_token.as_deref(), Some(app.admin_token.as_str()));
    let (_, html) = app.get_text("/").await;
    assert!(html.contains("Sign in as Operator"), "{html}");

    // On a public address (with --demo-public) not even a generated token is offered.
    let public = spawn_app_with(|c| {
        c.admin_token = None;
        c.bind = "0.0.0.0:8080".parse().expect("an address");
    })
    .await;
    let demo = server::demo::seed(&public.state, &public.admin_token)
        .await
        .expect("the demo seeds");
    assert_eq!(demo.admin_token, None);
    let (_, html) = public.get_text("/").await;
    assert!(!html.contains(&public.admin_token), "{html}");
    assert!(!html.contains("Sign in as Operator"), "{html}");
}

#[test]
fn the_demo_refuses_a_non_loopback_bind_unless_told_otherwise() {
    let public: std::net::SocketAddr = "0.0.0.0:8080".parse().expect("an address");
    let err = server::demo::check_bind(public, false).expect_err("refused");
    assert!(err.to_string().contains("--demo-public"), "{err}");
    server::demo::check_bind(public, true).expect("allowed when told");
    for loopback in ["127.0.0.1:8080", "[::1]:8080"] {
        server::demo::check_bind(loopback.parse().expect("an address"), false)
            .expect("loopback is allowed");
    }
}
