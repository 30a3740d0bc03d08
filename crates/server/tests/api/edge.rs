//! The edge (API.md "Limits and abuse"): slow and idle clients are disconnected, requests
//! beyond the concurrency limit are shed with 503 `unavailable`, slow bodies are refused,
//! and none of it stops `/healthz` from answering.

use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::conformance;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{assert_error, spawn_app, spawn_app_with};

/// Reads until the server closes the connection; what it sent, and whether it closed
/// within `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut buf = [0_u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (received, closed)
}

/// `GET /healthz` on a connection of its own: 200 within a second, or a panic.
async fn healthz_answers(app: &crate::common::TestApp) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let response = tokio::time::timeout(
        Duration::from_secs(1),
        client.get(app.url("/healthz")).send(),
    )
    .await
    .expect("/healthz answers within a second")
    .expect("/healthz answers");
    assert_eq!(response.status().as_u16(), 200);
}

#[conformance]
async fn a_connection_that_sends_half_a_header_is_closed_within_the_timeout_while_healthz_answers()
{
    let app = spawn_app_with(|c| c.edge.header_read_timeout = Duration::from_secs(1)).await;
    let mut slow = TcpStream::connect(app.addr).await.expect("connects");
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: ovation\r\nX-Slow: ")
        .await
        .expect("writes");
    healthz_answers(&app).await;
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed, "the half-sent request is still open after 5 s");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    // A connection that sends nothing at all is closed the same way.
    let mut silent = TcpStream::connect(app.addr).await.expect("connects");
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed, "a silent connection is still open after 5 s");
}

/// Connections the test opens at once.
const IDLE_CONNECTIONS: usize = 2_000;

#[conformance]
async fn two_thousand_idle_connections_do_not_stop_healthz() {
    // Each connection costs this process two descriptors (the server's and the client's):
    // raise the soft limit to the hard one (CI's default soft limit is often 1,024).
    let limit = rlimit::increase_nofile_limit(u64::MAX).expect("the descriptor limit");
    let wanted = u64::try_from(IDLE_CONNECTIONS * 2 + 512).expect("small");
    assert!(
        limit >= wanted,
        "this test needs {wanted} file descriptors; the hard limit is {limit} (raise it with ulimit -Hn)"
    );
    let app = spawn_app().await;
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(TcpStream::connect(app.addr).await.expect("connects"));
    }
    healthz_answers(&app).await;
    // And with half of them stuck in the middle of a request.
    for stream in idle.iter_mut().step_by(2) {
        stream
            .write_all(b"POST /v1/accounts HTTP/1.1\r\nHost: ovation\r\n")
            .await
            .expect("writes");
    }
    healthz_answers(&app).await;
}

#[conformance]
async fn requests_beyond_the_concurrency_limit_are_shed_with_503_unavailable() {
    let app = spawn_app_with(|c| c.edge.requests_in_flight_max = 1).await;
    // This request holds the one place: its body never finishes.
    let mut slow = TcpStream::connect(app.addr).await.expect("connects");
    slow.write_all(half_a_body().as_bytes())
        .await
        .expect("writes");
    // Shed at once, not queued, in the API's error format.
    let mut shed = None;
    for _ in 0..100 {
        let response = app
            .client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("answers");
        if response.status().as_u16() == 503 {
            shed = Some(response);
            break;
        }
        // The slow request may not have reached the server yet.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = shed.expect("a request beyond the limit is answered 503");
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.expect("a JSON body");
    assert_error(&(503, body), 503, "unavailable");
    // Once the slow request is gone, its place is free again.
    drop(slow);
    crate::common::eventually("the place is freed", || async {
        app.get("/healthz", None).await.0 == 200
    })
    .await;
}

#[conformance]
async fn a_body_that_does_not_arrive_in_time_is_422() {
    let app = spawn_app_with(|c| c.edge.request_body_timeout = Duration::from_secs(1)).await;
    let mut slow = TcpStream::connect(app.addr).await.expect("connects");
    slow.write_all(half_a_body().as_bytes())
        .await
        .expect("writes");
    let (received, _) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 422"), "{text}");
    assert!(text.contains("\"invalid_request\""), "{text}");
}

/// An admin's account creation whose body stops after its first 9 of 100 bytes.
fn half_a_body() -> String {
    format!(
        "POST /v1/accounts HTTP/1.1\r\nHost: ovation\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"handle\"",
        crate::common::ADMIN
    )
}

#[conformance]
async fn a_request_that_outlasts_the_request_timeout_is_answered_503_while_healthz_answers() {
    // A payment provider that accepts connections and never answers: the card charge, and
    // so the purchase, waits until the request timeout ends it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let api_base = format!("http://{}", silent.local_addr().expect("an address"));
    let provider = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let app = spawn_app_with(|c| {
        c.edge.request_timeout = Duration::from_secs(1);
        c.payments = server::settings::PaymentsConfig::Stripe {
            secret_key: "sk_test_a_provider_that_never_answers".to_owned().into(),
            api_base,
        };
    })
    .await;
    let creator = app.creator("timekeeper").await;
    let viewer = app.viewer("patient", "US").await;
    let live = app.start_live(&creator.token, "Waiting").await;

    let started = Instant::now();
    let answer = app
        .buy(&viewer.token, &live, 1, "pm_card_visa", Some("timed-out-1"))
        .await;
    let took = started.elapsed();
    assert_error(&answer, 503, "unavailable");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(10),
        "answered after {took:?}, not at the 1 s request timeout"
    );
    // The server goes on answering, and nothing was sold.
    healthz_answers(&app).await;
    let (status, supporters) = app
        .get(
            &format!("/v1/lives/{live}/supporters"),
            Some(&creator.token),
        )
        .await;
    assert_eq!(status, 200, "{supporters}");
    assert!(crate::common::assert_page(&supporters).is_empty());
    provider.abort();
}
