//! Faults of the services a node depends on, against the real servers: PostgreSQL made
//! unreachable behind a proxy the test cuts (the shared server stays up), and NATS stopped
//! (a `nats-server` of the test's own). The node answers fast with 503 `unavailable` while
//! a service is gone and recovers by itself when it returns: no restart, no acknowledged
//! purchase lost.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::{Backend, CutProxy};

use crate::common::{ADMIN, TestApp, assert_error, spawn_app_with};

/// Bounds how long a test waits for something that must happen; not a pass condition.
const WAIT: Duration = Duration::from_secs(30);

/// `GET /readyz`: its status and `Retry-After` header.
async fn readiness(app: &TestApp) -> (u16, Option<String>) {
    let response = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz answers");
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().expect("ascii").to_owned());
    (response.status().as_u16(), retry)
}

/// Polls readiness until it is `status`, failing after [`WAIT`].
async fn until_ready_is(app: &TestApp, status: u16) {
    let deadline = Instant::now() + WAIT;
    while readiness(app).await.0 != status {
        assert!(Instant::now() < deadline, "/readyz never became {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the buyers saw: the purchases answered 201 by key (with the buyer's token and the
/// purchase id), and how many answers were 503.
#[derive(Default)]
struct Seen {
    acked: Mutex<HashMap<String, (String, String)>>,
    unavailable: AtomicUsize,
}

impl Seen {
    fn acked(&self) -> usize {
        self.acked.lock().expect("not poisoned").len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_unreachable_requests_are_503_fast_and_the_node_recovers_by_itself() {
    testkit::run_on(Backend::Postgres, Box::pin(async {
        let server = testkit::host_port(testkit::postgres_url().expect("reachable")).to_owned();
        let proxy = CutProxy::start(&server).await;
        let through = proxy.addr().to_string();
        let app = spawn_app_with(|config| {
            config.database_url = config.database_url.replacen(&server, &through, 1);
        })
        .await;
        let creator = app.creator("faults_creator").await;
        let live = app.start_live(&creator.token, "faults").await;
        let mut buyers = Vec::new();
        for i in 0..4 {
            buyers.push(app.viewer(&format!("faults_viewer_{i}"), "US").await);
        }

        // Four buyers purchase without pause, through the outage and after it; every 201 is
        // remembered with its key.
        let app = Arc::new(app);
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (b, buyer) in buyers.iter().enumerate() {
            let (app, seen, stop) = (app.clone(), seen.clone(), stop.clone());
            let (token, live) = (buyer.token.clone(), live.clone());
            tasks.push(tokio::spawn(async move {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("b{b}-n{n}");
                    let answer = app.buy(&token, &live, 1, "pm_card_visa", Some(&key)).await;
                    match answer.0 {
                        201 => {
                            let id = answer.1["id"].as_str().expect("purchase id").to_owned();
                            seen.acked
                                .lock()
                                .expect("not poisoned")
                                .insert(key, (token.clone(), id));
                        }
                        503 => {
                            assert_error(&answer, 503, "unavailable");
                            seen.unavailable.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        other => panic!("{key}: unexpected {other}: {}", answer.1),
                    }
                }
            }));
        }
        let deadline = Instant::now() + WAIT;
        while seen.acked() < 50 {
            assert!(Instant::now() < deadline, "50 purchases before the outage");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        proxy.cut();
        let cut_at = Instant::now();
        until_ready_is(&app, 503).await;
        eprintln!("/readyz turned 503 {:?} after the cut", cut_at.elapsed());
        let (_, retry) = readiness(&app).await;
        assert_eq!(retry.as_deref(), Some("1"), "/readyz says when to retry");
        // A purchase fails fast, with the API's error and a Retry-After.
        let viewer = &buyers[0];
        let started = Instant::now();
        let response = app
            .client
            .post(app.url(&format!("/v1/lives/{live}/badges")))
            .bearer_auth(&viewer.token)
            .header("Idempotency-Key", "during-the-outage")
            .json(&json!({"tier": 1, "payment_method": "pm_card_visa"}))
            .send()
            .await
            .expect("answered");
        let took = started.elapsed();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        eprintln!("a purchase during the outage was answered 503 in {took:?}");
        // Fast: within the store's connection timeout, far from the client's.
        assert!(took < Duration::from_secs(10), "503 took {took:?}");
        // Reads fail the same way.
        let (status, body) = app
            .get(&format!("/v1/lives/{live}/supporters"), Some(ADMIN))
            .await;
        assert_error(&(status, body), 503, "unavailable");
        let unavailable_before = seen.unavailable.load(Ordering::Relaxed);
        let acked_during = seen.acked();

        proxy.restore().await;
        let restored_at = Instant::now();
        until_ready_is(&app, 200).await;
        eprintln!(
            "/readyz turned 200 {:?} after the restore",
            restored_at.elapsed()
        );
        let deadline = Instant::now() + WAIT;
        while seen.acked() < acked_during + 50 {
            assert!(
                Instant::now() < deadline,
                "purchases resume without a restart"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.expect("no buyer saw an unexpected answer");
        }
        assert!(unavailable_before > 0, "the buyers met the outage");

        // Every acknowledged purchase is there once: its key replays it, and the ledger
        // holds one transfer (tier 1, no fee) per committed purchase.
        let acked = seen.acked.lock().expect("not poisoned").clone();
        for (key, (token, id)) in &acked {
            let (status, body) = app.buy(token, &live, 1, "pm_card_visa", Some(key)).await;
            assert_eq!(status, 201, "{key}: {body}");
            assert_eq!(body["id"].as_str(), Some(id.as_str()), "{key} replays");
        }
        let supporters = app.supporters(&live, "?limit=500").await;
        let committed: u64 = supporters["data"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|s| s["purchases"].as_u64().expect("a count"))
            .sum();
        assert!(
            committed >= acked.len() as u64,
            "{committed} < {}",
            acked.len()
        );
        let report = app.verify().await;
        assert_eq!(report["transfers"].as_u64(), Some(committed), "{report}");
        eprintln!(
            "{} purchases acknowledged, {committed} committed, {} answers 503 during the outage",
            acked.len(),
            seen.unavailable.load(Ordering::Relaxed)
        );
    }))
    .await;
}
