//! `NatsBus` against a real NATS server: two buses in one process stand for two nodes.
//!
//! NATS comes from `OVATION_TEST_NATS_URL` (default `nats://127.0.0.1:4222`). When it is not
//! reachable the tests print why and pass, unless `OVATION_TEST_REQUIRE_SERVICES=1`, where
//! they fail. The outage test starts its own `nats-server` on a free port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use server::bus::{Event, EventBus, LiveEvent, NatsBus};
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

/// A comment event in `live` that says `text`.
fn event(live: &str, text: &str) -> LiveEvent {
    let comment = server::dto::CommentBody {
        id: format!("cmt_{text}"),
        live_id: live.to_owned(),
        author_id: "usr_tester".into(),
        author_handle: "tester".into(),
        text: text.to_owned(),
        badge: None,
        created_at: "2026-12-03T00:00:00Z".into(),
    };
    Event::Comment { comment: &comment }.encode()
}

/// What a comment event says.
fn says(event: &LiveEvent) -> String {
    let event: serde_json::Value =
        serde_json::from_str(event.payload.as_str()).expect("an event is JSON");
    event["comment"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("not a comment: {event}"))
        .to_owned()
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
        b.publish(&live, event(&live, &i.to_string()));
    }

    for i in 0..1000 {
        assert_eq!(says(&next(&mut viewer).await), i.to_string());
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
        a.publish(&live, event(&live, &format!("own-{i}")));
    }
    // Local delivery is immediate.
    for i in 0..10 {
        let own = viewer.try_recv().expect("delivered locally at once");
        assert_eq!(says(&own), format!("own-{i}"));
    }
    // Once the server has routed A's events, B's marker comes after any copy of them that
    // NATS would send back to A: the next thing A's viewer gets must be the marker.
    a.flush().await.expect("flush a");
    b.publish(&live, event(&live, "marker"));
    assert_eq!(says(&next(&mut viewer).await), "marker");
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

    b.publish(&live, event(&live, "badge"));
    let ended = Event::LiveEnded { live_id: &live }.encode();
    b.publish(&live, ended.clone());

    let badge = next(&mut viewer).await;
    assert_eq!((says(&badge), badge.last), ("badge".to_owned(), false));
    let got = next(&mut viewer).await;
    assert_eq!(
        (got.payload.as_str(), got.last),
        (ended.payload.as_str(), true)
    );
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

    b.publish(&unwatched, event(&unwatched, "unseen"));
    b.publish(&watched, event(&watched, "seen"));
    // A's one subscription gets B's messages in B's order: once "seen" is here, A has
    // handled "unseen" too, and made no channel for it.
    assert_eq!(says(&next(&mut viewer).await), "seen");
    assert_eq!(a.channels(), 1);

    // A viewer who comes later gets what is published from then on, not the old event.
    let mut late = a.subscribe(&unwatched);
    b.publish(&unwatched, event(&unwatched, "later"));
    assert_eq!(says(&next(&mut late).await), "later");
}

#[tokio::test]
async fn a_node_starts_flushes_and_stops_beside_a_client_subscribed_to_everything() {
    let Some(url) = testkit::nats_url() else {
        return;
    };
    // A platform's tool listening to every subject, answering nothing.
    let listener = async_nats::connect(&url).await.expect("a plain client");
    let mut everything = listener.subscribe(">").await.expect("subscribes to >");
    listener.flush().await.expect("flushed");
    let seen = tokio::spawn(async move {
        use futures_util::StreamExt;
        let mut seen = 0_usize;
        while everything.next().await.is_some() {
            seen += 1;
        }
        seen
    });

    let a = NatsBus::connect(&url, 64)
        .await
        .expect("a node starts beside a subscriber on >");
    let b = node(&url, 64).await;
    let live = new_live();
    let mut viewer = b.subscribe(&live);
    a.publish(&live, event(&live, "hello"));
    assert_eq!(says(&next(&mut viewer).await), "hello");
    a.flush()
        .await
        .expect("a flush completes beside a subscriber on >");
    a.close()
        .await
        .expect("a node stops cleanly beside a subscriber on >");
    drop(listener);
    seen.abort();
}

#[tokio::test]
async fn what_is_not_a_live_event_of_the_subject_s_live_never_reaches_a_viewer() {
    let Some(url) = testkit::nats_url() else {
        return;
    };
    let a = node(&url, 64).await;
    let b = node(&url, 64).await;
    let live = new_live();
    let mut viewer = a.subscribe(&live);
    // A forger on the bus, with a node header, sends text, an event of another live and an
    // event with fields the schema does not know.
    let forger = async_nats::connect(&url).await.expect("a plain client");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Ovation-Node", "forger");
    headers.insert("Ovation-Last", "false");
    let subject = format!("ovation.live.{live}");
    let other = new_live();
    for payload in [
        "<script>alert(1)</script>".to_owned(),
        event(&other, "about another live")
            .payload
            .as_str()
            .to_owned(),
        format!("{{\"type\":\"goal\",\"live_id\":\"{live}\",\"goal_hearts\":7,\"html\":\"<b>\"}}"),
    ] {
        forger
            .publish_with_headers(subject.clone(), headers.clone(), payload.into())
            .await
            .expect("published");
    }
    forger.flush().await.expect("flushed");

    // The forger's messages arrive in its order: the text and the other live's event are
    // dropped, and the goal event is passed on without the field the schema does not name.
    let goal = next(&mut viewer).await;
    assert_eq!(
        goal.payload.as_str(),
        format!("{{\"type\":\"goal\",\"live_id\":\"{live}\",\"goal_hearts\":7}}")
    );
    b.publish(&live, event(&live, "genuine"));
    assert_eq!(says(&next(&mut viewer).await), "genuine");
    assert!(
        viewer.try_recv().is_err(),
        "nothing else reached the viewer"
    );
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
        from.publish(live, event(live, &format!("probe-{attempt}")));
        let wait = tokio::time::timeout(Duration::from_millis(250), viewer.recv()).await;
        if let Ok(Ok(got)) = wait {
            assert!(says(&got).starts_with("probe-"));
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
    a.publish(&live, event(&live, "while-down"));
    assert_eq!(
        says(&viewer.try_recv().expect("delivered locally")),
        "while-down"
    );
    // Publishing never blocks, even past every queue's bound: run it on a thread of its own
    // so that a blocked `publish` fails the test instead of hanging it.
    let flooder = Arc::clone(&a);
    let flood_live = live.clone();
    let flood = tokio::task::spawn_blocking(move || {
        for i in 0..20_000 {
            flooder.publish(&flood_live, event(&flood_live, &format!("flood-{i}")));
        }
    });
    tokio::time::timeout(WAIT, flood)
        .await
        .expect("publish does not block while NATS is down")
        .expect("the flood did not panic");
    let mut viewer = a.subscribe(&live);
    a.publish(&live, event(&live, "still-local"));
    assert_eq!(
        says(&viewer.try_recv().expect("delivered locally")),
        "still-local"
    );

    let nats = OwnNats::start(port);
    eventually("both nodes reconnect", || a.connected() && b.connected()).await;
    until_shared(&b, &a, &new_live()).await;
    until_shared(&a, &b, &new_live()).await;
    drop(nats);
}
