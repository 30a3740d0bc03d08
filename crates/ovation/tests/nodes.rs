//! Several `ovation serve` processes on one PostgreSQL database and one NATS, as a platform
//! runs them behind a load balancer: a viewer on one node sees, in order, what is done
//! through another; the database arbitrates idempotency keys across nodes; and when NATS
//! stops, each node goes on delivering its own events and shares them again once it is back.

mod common;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use testkit::{Backend, OwnNats, TestDb, free_port};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use common::{ADMIN, Node, account, get, live, post, post_ok, verified_transfers};

/// Bounds how long a test waits for something that must happen; not a pass condition.
const WAIT: Duration = Duration::from_secs(20);

type Viewer = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A viewer of `live` on `node`.
async fn watch(node: &Node, live: &str, token: &str) -> Viewer {
    let url = format!("ws://{}/v1/lives/{live}/events?token={token}", node.addr);
    let (socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("the upgrade succeeds");
    socket
}

/// The viewer's next event, or `None` if none comes within `wait`.
async fn next_within(viewer: &mut Viewer, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, viewer.next())
            .await
            .ok()?;
        match message {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(&text).expect("events are JSON"));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// The viewer's next event; fails the test if none comes within [`WAIT`].
async fn next(viewer: &mut Viewer) -> Value {
    next_within(viewer, WAIT).await.expect("an event in time")
}

async fn comment(client: &reqwest::Client, node: &Node, live: &str, token: &str, text: &str) {
    post_ok(
        client,
        &node.url(&format!("/v1/lives/{live}/comments")),
        token,
        &json!({"text": text}),
    )
    .await;
}

async fn readyz(client: &reqwest::Client, node: &Node) -> u16 {
    client
        .get(node.url("/readyz"))
        .send()
        .await
        .expect("readyz answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_on_node_a_gets_in_order_what_is_done_through_node_b_and_one_key_buys_once() {
    let Some(nats) = testkit::nats_url() else {
        return;
    };
    testkit::run_on(
        Backend::Postgres,
        Box::pin(async move {
            let db = TestDb::fresh().await;
            let env = [("OVATION_NATS_URL", nats.as_str())];
            let a = Node::start(db.url(), &env).await;
            let b = Node::start(db.url(), &env).await;
            let client = reqwest::Client::new();
            let (creator_id, creator, live) = live(&client, &a.base, "nodes_creator").await;
            let (_, watcher) = account(&client, &a.base, "nodes_watcher", "viewer").await;
            let (fan_id, fan) = account(&client, &b.base, "nodes_fan", "viewer").await;
            let mut viewer = watch(&a, &live, &watcher).await;

            // Through node B: a comment, a 2-heart badge, a comment that now carries it.
            comment(&client, &b, &live, &fan, "hello from b").await;
            let badges = b.url(&format!("/v1/lives/{live}/badges"));
            let card = json!({"tier": 2, "payment_method": "pm_card_visa"});
            let (status, bought) = post(&client, &badges, &fan, &card, Some("first")).await;
            assert_eq!(status, 201, "{bought}");
            comment(&client, &b, &live, &fan, "now with hearts").await;

            let first = next(&mut viewer).await;
            assert_eq!(first["type"], "comment", "{first}");
            assert_eq!(first["comment"]["text"], "hello from b");
            assert_eq!(first["comment"]["badge"], Value::Null);
            let badge = next(&mut viewer).await;
            assert_eq!(badge["type"], "badge", "{badge}");
            assert_eq!(badge["purchase"]["id"], bought["id"]);
            assert_eq!(badge["viewer_handle"], "nodes_fan");
            let second = next(&mut viewer).await;
            assert_eq!(second["type"], "comment", "{second}");
            assert_eq!(second["comment"]["text"], "now with hearts");
            assert_eq!(second["comment"]["badge"], json!({"tier": 2, "hearts": 2}));

            // The same key sent to both nodes at once, twenty times over: each key makes one
            // purchase, and both nodes answer it with the same 201.
            let one = json!({"tier": 1, "payment_method": "pm_card_visa"});
            let badges_a = a.url(&format!("/v1/lives/{live}/badges"));
            for n in 0..20 {
                let key = format!("both-{n}");
                let (on_a, on_b) = tokio::join!(
                    post(&client, &badges_a, &fan, &one, Some(&key)),
                    post(&client, &badges, &fan, &one, Some(&key)),
                );
                assert_eq!(on_a.0, 201, "{key} on A: {}", on_a.1);
                assert_eq!(on_b.0, 201, "{key} on B: {}", on_b.1);
                assert_eq!(on_a.1, on_b.1, "{key}: both nodes give the same answer");
            }
            // The watcher on A saw each of those purchases once, whichever node made it.
            let mut announced = std::collections::HashSet::new();
            for _ in 0..20 {
                let event = next(&mut viewer).await;
                assert_eq!(event["type"], "badge", "{event}");
                assert!(announced.insert(event["purchase"]["id"].clone()), "{event}");
            }
            assert_eq!(
                next_within(&mut viewer, Duration::from_millis(300)).await,
                None
            );

            let supporters = get(
                &client,
                &a.url(&format!("/v1/lives/{live}/supporters")),
                &creator,
            )
            .await;
            let row = &supporters["data"][0];
            assert_eq!(
                row["viewer_id"].as_str(),
                Some(fan_id.as_str()),
                "{supporters}"
            );
            assert_eq!(row["purchases"], 21, "{supporters}");
            let earnings = get(
                &client,
                &b.url(&format!("/v1/creators/{creator_id}/earnings")),
                ADMIN,
            )
            .await;
            assert_eq!(
                earnings["balances"][0]["pending"]["amount"],
                199 + 20 * 99,
                "{earnings}"
            );
            // No fee by default: one transfer per purchase, on both nodes' view of the ledger.
            assert_eq!(verified_transfers(&client, &a.base).await, 21);
            assert_eq!(verified_transfers(&client, &b.base).await, 21);

            // The live ends through node B; the viewer on A is told, then closed.
            post_ok(
                &client,
                &b.url(&format!("/v1/lives/{live}/end")),
                &creator,
                &json!({}),
            )
            .await;
            let ended = next(&mut viewer).await;
            assert_eq!(ended, json!({"type": "live_ended", "live_id": live}));
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_nats_stops_each_node_still_serves_its_own_viewers_and_sharing_resumes_after() {
    if !OwnNats::available() {
        return;
    }
    testkit::run_on(
        Backend::Postgres,
        Box::pin(async {
            let port = free_port();
            let nats = OwnNats::start(port);
            let url = nats.url();
            let db = TestDb::fresh().await;
            let env = [("OVATION_NATS_URL", url.as_str())];
            let a = Node::start(db.url(), &env).await;
            let b = Node::start(db.url(), &env).await;
            let client = reqwest::Client::new();
            let (_, _, live) = live(&client, &a.base, "outage_creator").await;
            let (_, fan) = account(&client, &a.base, "outage_fan", "viewer").await;
            let mut on_a = watch(&a, &live, &fan).await;
            comment(&client, &b, &live, &fan, "shared").await;
            assert_eq!(next(&mut on_a).await["comment"]["text"], "shared");

            drop(nats);
            let deadline = Instant::now() + WAIT;
            while readyz(&client, &a).await != 503 {
                assert!(
                    Instant::now() < deadline,
                    "node A's /readyz turns 503 without NATS"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Requests go on, and node A's own viewers get node A's events.
            comment(&client, &a, &live, &fan, "local while nats is down").await;
            let local = next(&mut on_a).await;
            assert_eq!(
                local["comment"]["text"], "local while nats is down",
                "{local}"
            );

            let nats = OwnNats::start(port);
            let deadline = Instant::now() + WAIT;
            while readyz(&client, &a).await != 200 || readyz(&client, &b).await != 200 {
                assert!(
                    Instant::now() < deadline,
                    "both nodes reconnect to NATS by themselves"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Sharing resumes: a comment through B reaches the viewer on A. The resubscription
            // may land just after the reconnect, so probe until one arrives.
            let deadline = Instant::now() + WAIT;
            let mut n = 0;
            loop {
                assert!(Instant::now() < deadline, "events through B reach A again");
                comment(&client, &b, &live, &fan, &format!("probe {n}")).await;
                if let Some(event) = next_within(&mut on_a, Duration::from_millis(250)).await {
                    assert!(
                        event["comment"]["text"]
                            .as_str()
                            .is_some_and(|t| t.starts_with("probe")),
                        "{event}"
                    );
                    break;
                }
                n += 1;
            }
            drop(nats);
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_spent_from_two_nodes_at_once_never_goes_below_zero() {
    testkit::run_on(
        Backend::Postgres,
        Box::pin(async move {
            let db = TestDb::fresh().await;
            let a = Node::start(db.url(), &[]).await;
            let b = Node::start(db.url(), &[]).await;
            let client = reqwest::Client::new();
            let (creator_id, _, live) = live(&client, &a.base, "wallet_creator").await;
            let (_, fan) = account(&client, &a.base, "wallet_fan", "viewer").await;
            // 1,000 cents: ten 99-cent badges fit, whichever node sells them.
            post_ok(
                &client,
                &a.url("/v1/wallet/topups"),
                &fan,
                &json!({"amount": {"amount": 1000, "currency": "USD"}, "payment_method": "pm_card_visa"}),
            )
            .await;
            let wallet = json!({"tier": 1, "payment_method": "wallet"});
            let buys = (0..40).map(|i| {
                let node = if i % 2 == 0 { &a } else { &b };
                let url = node.url(&format!("/v1/lives/{live}/badges"));
                let (client, fan, wallet) = (client.clone(), fan.clone(), wallet.clone());
                async move { post(&client, &url, &fan, &wallet, None).await }
            });
            let answers = futures_util::future::join_all(buys).await;
            let sold = answers.iter().filter(|(s, _)| *s == 201).count();
            let refused = answers
                .iter()
                .filter(|(s, b)| *s == 402 && b["error"]["code"] == "insufficient_funds")
                .count();
            assert_eq!((sold, refused), (10, 30), "{answers:?}");
            let balance = get(&client, &b.url("/v1/wallet"), &fan).await;
            assert_eq!(balance["balances"][0]["amount"], 10, "{balance}");
            let earnings = get(
                &client,
                &a.url(&format!("/v1/creators/{creator_id}/earnings")),
                ADMIN,
            )
            .await;
            assert_eq!(earnings["balances"][0]["pending"]["amount"], 990, "{earnings}");
            verified_transfers(&client, &a.base).await;
        }),
    )
    .await;
}
