//! Stop the real server with SIGTERM: it stops accepting, closes WebSockets with 1001,
//! answers every request it had accepted, commits the ledger writer's batch and queue, and
//! exits 0. On SQLite and on PostgreSQL.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use testkit::{TestDb, conformance};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use common::{ADMIN, EXIT_WAIT, Node, account, live, verified_transfers};

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_viewers_with_1001_and_the_server_exits_0() {
    let db = TestDb::fresh().await;
    let client = reqwest::Client::new();
    let mut node = Node::start(db.url(), &[]).await;
    let (_, _, live) = live(&client, &node.base, "shutdown_creator").await;
    let (_, viewer) = account(&client, &node.base, "shutdown_viewer", "viewer").await;
    let url = format!("ws://{}/v1/lives/{live}/events?token={viewer}", node.addr);
    // The 101 is sent after the viewer subscribed, so both are known to the server.
    let (mut attentive, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("the upgrade succeeds");
    // This one neither reads nor answers the close until the server is gone.
    let (mut silent, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("the upgrade succeeds");

    let signalled = Instant::now();
    node.sigterm().await;
    let frame = loop {
        match tokio::time::timeout(EXIT_WAIT, attentive.next())
            .await
            .expect("the close comes within the wait")
        {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close frame with a code"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected the close frame, got {other:?}"),
        }
    };
    assert_eq!(frame.code, CloseCode::Away);
    assert!(!frame.reason.is_empty(), "the close says why");
    // Reading on answers the close; the server then ends the connection.
    tokio::time::timeout(EXIT_WAIT, async {
        while let Some(Ok(_)) = attentive.next().await {}
    })
    .await
    .expect("the server ends the connection after the closing handshake");

    let status = node.exited().await;
    assert!(status.success(), "clean exit, got {status}");
    eprintln!("exited {:?} after SIGTERM", signalled.elapsed());
    // The silent viewer's close frame was delivered before the server went away.
    match silent.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected the close frame, got {other:?}"),
    }
}

/// A purchase answered 201: who bought it, its id, and when the answer came.
#[derive(Clone)]
struct Ack {
    token: String,
    id: String,
    at: Instant,
}

/// What happened to one purchase request.
enum Outcome {
    /// 201 with the purchase, received at that instant.
    Bought(String, Instant),
    /// No answer at all: the connection was refused or closed before any answer.
    NotAnswered,
}

async fn buy(client: &reqwest::Client, url: &str, token: &str, key: &str) -> Outcome {
    let sent = client
        .post(url)
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"tier": 1, "payment_method": "pm_card_visa"}))
        .send()
        .await;
    let Ok(response) = sent else {
        return Outcome::NotAnswered;
    };
    let status = response.status().as_u16();
    // An answer that started must arrive whole: a reset here would be a lost answer.
    let body: Value = response
        .json()
        .await
        .unwrap_or_else(|e| panic!("{key}: the {status} answer was cut off: {e}"));
    assert_eq!(status, 201, "{key}: {body}");
    let id = body["id"].as_str().expect("purchase id").to_owned();
    Outcome::Bought(id, Instant::now())
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_in_flight_at_sigterm_are_answered_and_every_201_is_in_the_ledger() {
    let db = TestDb::fresh().await;
    let client = reqwest::Client::new();
    let mut node = Node::start(db.url(), &[]).await;
    let base = node.base.clone();
    let (_, _, live) = live(&client, &base, "shutdown_creator").await;

    // Thirty-two buyers purchase without pause, so requests are always in flight.
    const BUYERS: usize = 32;
    let mut tokens = Vec::new();
    for i in 0..BUYERS {
        let (_, token) = account(&client, &base, &format!("shutdown_viewer_{i}"), "viewer").await;
        tokens.push(token);
    }
    let acked: Arc<Mutex<HashMap<String, Ack>>> = Arc::default();
    let mut buyers = Vec::new();
    for (w, token) in tokens.into_iter().enumerate() {
        let client = client.clone();
        let acked = acked.clone();
        let url = format!("{base}/v1/lives/{live}/badges");
        buyers.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("w{w}-n{n}");
                match buy(&client, &url, &token, &key).await {
                    Outcome::Bought(id, at) => {
                        acked.lock().expect("not poisoned").insert(
                            key,
                            Ack {
                                token: token.clone(),
                                id,
                                at,
                            },
                        );
                    }
                    // The listener is closed: this buyer is done.
                    Outcome::NotAnswered => return,
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while acked.lock().expect("not poisoned").len() < 200 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("200 purchases within 60 s");

    node.sigterm().await;
    let signalled = Instant::now();
    let status = node.exited().await;
    assert!(status.success(), "clean exit, got {status}");
    for b in buyers {
        b.await.expect("no answer was cut off or unexpected");
    }
    let acked = acked.lock().expect("not poisoned").clone();
    let after_signal = acked.values().filter(|a| a.at > signalled).count();
    eprintln!(
        "{} purchases answered 201, {after_signal} of them after SIGTERM was delivered",
        acked.len()
    );
    assert!(
        after_signal > 0,
        "requests in flight at the signal are answered"
    );

    // Restart on the same database: every purchase the server committed was answered, and
    // every answered one was committed.
    let mut node = Node::start(db.url(), &[]).await;
    let base = node.base.clone();
    assert_eq!(verified_transfers(&client, &base).await, acked.len() as u64);
    for (key, ack) in &acked {
        match buy(
            &client,
            &format!("{base}/v1/lives/{live}/badges"),
            &ack.token,
            key,
        )
        .await
        {
            Outcome::Bought(replayed, _) => assert_eq!(replayed, ack.id, "{key} replays"),
            Outcome::NotAnswered => panic!("{key}: the restarted server answers"),
        }
    }
    assert_eq!(verified_transfers(&client, &base).await, acked.len() as u64);

    // The second node stops cleanly too, and the CLI verifies the database it leaves.
    node.sigterm().await;
    let status = node.exited().await;
    assert!(status.success(), "clean exit, got {status}");
    let verify = Command::new(env!("CARGO_BIN_EXE_ovation"))
        .args(["ledger", "verify"])
        .env("OVATION_DATABASE_URL", db.url())
        .env("OVATION_ADMIN_TOKEN", ADMIN)
        .env("OVATION_LOG", "warn")
        .output()
        .await
        .expect("ovation ledger verify runs");
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("transfers: {},", acked.len())),
        "{stdout}"
    );
}

/// Reads until the end of an HTTP head (`\r\n\r\n`), one byte at a time so that nothing
/// after it is consumed.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.expect("the head arrives");
        head.push(byte);
    }
    String::from_utf8(head).expect("the head is text")
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_connections_are_refused_while_an_accepted_request_finishes() {
    let db = TestDb::fresh().await;
    let client = reqwest::Client::new();
    let mut node = Node::start(db.url(), &[]).await;
    let (_, _, live) = live(&client, &node.base, "shutdown_creator").await;
    let (_, viewer) = account(&client, &node.base, "shutdown_viewer", "viewer").await;

    // A purchase whose body is held back: once the server answers `100 Continue`, its
    // handler is running and waiting for the body.
    let body = json!({"tier": 1, "payment_method": "pm_card_visa"}).to_string();
    let mut request = TcpStream::connect(&node.addr).await.expect("connects");
    let head = format!(
        "POST /v1/lives/{live}/badges HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {viewer}\r\n\
         Idempotency-Key: held\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        node.addr,
        body.len()
    );
    request
        .write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    let interim = read_head(&mut request).await;
    assert!(interim.starts_with("HTTP/1.1 100 "), "{interim}");

    node.sigterm().await;
    // The listener closes once the server has seen the signal.
    tokio::time::timeout(EXIT_WAIT, async {
        while TcpStream::connect(&node.addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("new connections are refused within the wait");
    // Refused by a server that is still running: it waits for the held request.
    assert!(
        node.child.try_wait().expect("the status reads").is_none(),
        "the server waits for the request it accepted"
    );
    assert!(TcpStream::connect(&node.addr).await.is_err());

    request
        .write_all(body.as_bytes())
        .await
        .expect("the body is sent");
    let mut answer = String::new();
    request
        .read_to_string(&mut answer)
        .await
        .expect("the whole answer arrives, then the server closes");
    let (head, json) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 201 "), "{answer}");
    let purchase: Value = serde_json::from_str(json).expect("the body is JSON");
    let id = purchase["id"].as_str().expect("purchase id").to_owned();
    let status = node.exited().await;
    assert!(status.success(), "clean exit, got {status}");

    // The purchase answered during the shutdown is committed.
    let node = Node::start(db.url(), &[]).await;
    assert_eq!(verified_transfers(&client, &node.base).await, 1);
    match buy(
        &client,
        &format!("{}/v1/lives/{live}/badges", node.base),
        &viewer,
        "held",
    )
    .await
    {
        Outcome::Bought(replayed, _) => assert_eq!(replayed, id),
        Outcome::NotAnswered => panic!("the restarted server answers"),
    }
}
