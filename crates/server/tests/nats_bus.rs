//! `NatsBus` against a real NATS server: two buses in one process stand for two nodes.
//!
//! NATS comes from `OVATION_TEST_NATS_URL` (default `nats://127.0.0.1:4222`). When it is not
//! reachable the tests print why and pass, unless `OVATION_TEST_REQUIRE_SERVICES=1`, where
//! they fail. The outage test starts its own `nats-server` on a free port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use server::bus::{EventBus, LiveEvent, NatsBus};
use testkit::{OwnNats, free_port};
use tokio::sync::broadcast;

/// Bounds how long a test waits for something that should happen; not a pass condition.
const WAIT: Duration = Duration::from_secs(10);

async fn node(url: &str, capacity: usize) -> NatsBus {
    NatsBus::connect(url, capacity)
        .await
        .unwrap_or_else(|err| panic!("connect to {url}: {err:?}"))
}

fn new_live() -> String {
    format!("live_{}", uuid::Uuid::new_v4())
}

fn event(text: &str) -> LiveEvent {
    LiveEvent {
        payload: Utf8Bytes::from(text),
        last: false,
    }
}

/// The next event, failing the test if none comes in time or the viewer lagged.
async fn next(viewer: &mut broadcast::Receiver<LiveEvent>) -> LiveEvent {
    tokio::time::timeout(WAIT, viewer.recv())
        .await
        .expect("an event in time")
        .expect("an open channel that did not lag")
}

#[tokio::test]
async fn a_viewer_on_one_node_receives_another_nodes_events_in_order() {
    let Some(url) = testkit::nats_url() else {
        return;
    };
    let a = node(&url, 2048).await;
    let b = node(&url, 2048).await;
    let live = new_live();
    let mut viewer = a.subscribe(&live);

    for i in 0..1000 {
        b.publish(&live, event(&i.to_string()));
    }

    for i in 0..1000 {
        assert_eq!(next(&mut viewer).await.payload.as_str(), i.to_string());
    }
    assert!(a.connected() && b.connected());
}

#[tokio::test]
async fn a_viewer_receives_its_own_nodes_events_exactly_once() {
    let Some(url) = testkit::nats_url() else {
        return;
    };
    let a = node(&url, 64).await;
    let b = node(&url, 64).await;
    let live = new_live();
    let mut viewer = a.subscribe(&live);

    for i in 0..10 {
        a.publish(&live, event(&format!("own-{i}")));
    }
    // Local delivery is immediate.
    for i in 0..10 {
        let own = viewer.try_recv().expect("delivered locally at once");
        assert_eq!(own.payload.as_str(), format!("own-{i}"));
    }
    // Once the server has routed A's events, B's marker comes after any copy of them that
    // NATS would send back to A: the next thing A's viewer gets must be the marker.
    a.flush().await.expect("flush a");
    b.publish(&live, event("marker"));
    assert_eq!(next(&mut viewer).await.payload.as_str(), "marker");
}

#[tokio::test]
async fn the_last_flag_survives_the_trip() {
    let Some(url) = testkit::nats_url() else {
        return;
    };
    let a = node(&url, 64).await;
    let b = node(&url, 64).await;
    let live = new_live();
    let mut viewer = a.subscribe(&live);

    b.publish(&live, event("badge"));
    b.publish(
        &live,
        LiveEvent {
            payload: Utf8Bytes::from("ended"),
            last: true,
        },
    );

    let badge = next(&mut viewer).await;
    assert_eq!((badge.payload.as_str(), badge.last), ("badge", false));
    let ended = next(&mut viewer).await;
    assert_eq!((ended.payload.as_str(), ended.last), ("ended", true));
}

#[tokio::test]
async fn a_node_without_viewers_of_a_live_keeps_nothing_for_it() {
    let Some(url) = testkit::nats_url() else {
        return;
    };
    let a = node(&url, 64).await;
    let b = node(&url, 64).await;
    let unwatched = new_live();
    let watched = new_live();
    let mut viewer = a.subscribe(&watched);

    b.publish(&unwatched, event("unseen"));
    b.publish(&watched, event("seen"));
    // A's one subscription gets B's messages in B's order: once "seen" is here, A has
    // handled "unseen" too, and made no channel for it.
    assert_eq!(next(&mut viewer).await.payload.as_str(), "seen");
    assert_eq!(a.channels(), 1);

    // A viewer who comes later gets what is published from then on, not the old event.
    let mut late = a.subscribe(&unwatched);
    b.publish(&unwatched, event("later"));
    assert_eq!(next(&mut late).await.payload.as_str(), "later");
}

#[tokio::test]
async fn a_tls_address_fails_with_an_error_not_a_crypto_provider_panic() {
    let Some(url) = testkit::nats_url() else {
        return;
    };
    // The plain server does not speak TLS, so this fails; but first rustls builds its
    // client configuration, which panics when two crypto providers are compiled in.
    let tls_url = format!("tls://{}", testkit::host_port(&url));
    let result = NatsBus::connect(&tls_url, 8).await;
    assert!(
        result.is_err(),
        "a plain server cannot complete a TLS handshake"
    );
}

#[tokio::test]
async fn connecting_to_a_dead_address_fails_at_once() {
    // Not a timing test: connect must return an error rather than retry in the background.
    let port = free_port();
    let result = NatsBus::connect(&format!("nats://127.0.0.1:{port}"), 8).await;
    assert!(result.is_err());
}

/// Polls `done` until it holds, failing the test after `WAIT`.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes on `from` until a viewer on `to` gets one of these events.
async fn until_shared(from: &NatsBus, to: &NatsBus, live: &str) {
    let mut viewer = to.subscribe(live);
    let deadline = Instant::now() + Duration::from_secs(20);
    for attempt in 0.. {
        assert!(
            Instant::now() < deadline,
            "cross-node delivery did not resume"
        );
        from.publish(live, event(&format!("probe-{attempt}")));
        let wait = tokio::time::timeout(Duration::from_millis(250), viewer.recv()).await;
        if let Ok(Ok(got)) = wait {
            assert!(got.payload.as_str().starts_with("probe-"));
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_delivery_goes_on_while_nats_is_down_and_sharing_resumes_after() {
    if !OwnNats::available() {
        return;
    }
    let port = free_port();
    let nats = OwnNats::start(port);
    let a = Arc::new(node(&nats.url(), 64).await);
    let b = node(&nats.url(), 64).await;
    let live = new_live();
    until_shared(&b, &a, &live).await;

    drop(nats);
    eventually("both nodes see NATS go", || {
        !a.connected() && !b.connected()
    })
    .await;

    // Local delivery is unaffected.
    let mut viewer = a.subscribe(&live);
    a.publish(&live, event("while-down"));
    assert_eq!(
        viewer
            .try_recv()
            .expect("delivered locally")
            .payload
            .as_str(),
        "while-down"
    );
    // Publishing never blocks, even past every queue's bound: run it on a thread of its own
    // so that a blocked `publish` fails the test instead of hanging it.
    let flooder = Arc::clone(&a);
    let flood_live = live.clone();
    let flood = tokio::task::spawn_blocking(move || {
        for i in 0..20_000 {
            flooder.publish(&flood_live, event(&format!("flood-{i}")));
        }
    });
    tokio::time::timeout(WAIT, flood)
        .await
        .expect("publish does not block while NATS is down")
        .expect("the flood did not panic");
    let mut viewer = a.subscribe(&live);
    a.publish(&live, event("still-local"));
    assert_eq!(
        viewer
            .try_recv()
            .expect("delivered locally")
            .payload
            .as_str(),
        "still-local"
    );

    let nats = OwnNats::start(port);
    eventually("both nodes reconnect", || a.connected() && b.connected()).await;
    until_shared(&b, &a, &new_live()).await;
    until_shared(&a, &b, &new_live()).await;
    drop(nats);
}
