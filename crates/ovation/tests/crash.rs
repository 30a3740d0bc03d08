//! Kill the server with SIGKILL while purchases are under way, restart it on the same
//! database, and check that every purchase answered 201 is in the ledger exactly once and
//! that the ledger verifies. On SQLite and on PostgreSQL.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use testkit::{TestDb, conformance};

use common::{Node, account, get, live, post, verified_transfers};

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_answered_201_survive_sigkill_exactly_once() {
    let db = TestDb::fresh().await;
    let client = reqwest::Client::new();
    let node = Node::start(db.url(), &[]).await;
    let base = node.base.clone();

    // A creator with a live and twenty viewers.
    let (creator_id, creator_token, live_id) = live(&client, &base, "crash_creator").await;
    let mut viewers = Vec::new();
    for i in 0..20 {
        let (_, token) = account(&client, &base, &format!("crash_viewer_{i}"), "viewer").await;
        viewers.push(token);
    }

    // Sixteen buyers hammer the live; every 201 is remembered with its key.
    let acked: Arc<Mutex<HashMap<String, (String, String)>>> = Arc::default();
    let mut buyers = Vec::new();
    for w in 0..16 {
        let client = client.clone();
        let acked = acked.clone();
        let token = viewers[w % viewers.len()].clone();
        let url = format!("{base}/v1/lives/{live_id}/badges");
        buyers.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("w{w}-n{n}");
                let (status, body) = post(
                    &client,
                    &url,
                    &token,
                    &json!({"tier": 1, "payment_method": "pm_card_visa"}),
                    Some(&key),
                )
                .await;
                match status {
                    201 => {
                        let id = body["id"].as_str().expect("purchase id").to_owned();
                        acked
                            .lock()
                            .expect("not poisoned")
                            .insert(key, (token.clone(), id));
                    }
                    0 => return, // the server is gone
                    other => panic!("unexpected status {other}: {body}"),
                }
            }
        }));
    }
    // Let purchases flow, then kill the server mid-stream.
    tokio::time::timeout(Duration::from_secs(60), async {
        while acked.lock().expect("not poisoned").len() < 300 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("300 purchases within 60 s");
    let mut child = node.child;
    child.start_kill().expect("SIGKILL is sent");
    child.wait().await.expect("the killed server is reaped");
    for b in buyers {
        b.await.expect("buyers end when the server is gone");
    }
    let acked = acked.lock().expect("not poisoned").clone();
    assert!(acked.len() >= 300);

    // Restart on the same database, and reconcile with the real binary: a card charged when
    // the server died, before its purchase committed, is booked now (the live is still on).
    let grace = [("OVATION_RECONCILE_GRACE_SECS", "0")];
    let node = Node::start(db.url(), &grace).await;
    let base = node.base.clone();
    let reconciled = common::cli(db.url(), &grace, &["payments", "reconcile"]).await;
    assert!(reconciled.contains("booked"), "{reconciled}");
    verified_transfers(&client, &base).await;

    // Every acknowledged purchase is there: its key replays the same purchase.
    for (key, (token, id)) in &acked {
        let (status, body) = post(
            &client,
            &format!("{base}/v1/lives/{live_id}/badges"),
            token,
            &json!({"tier": 1, "payment_method": "pm_card_visa"}),
            Some(key),
        )
        .await;
        assert_eq!(status, 201, "{key}: {body}");
        assert_eq!(
            body["id"].as_str(),
            Some(id.as_str()),
            "{key} replays its purchase"
        );
    }

    // Exactly once: one transfer per purchase (no fee), and the creator's pending earnings
    // are 99 cents times the purchases that committed, which include every acknowledged one.
    let supporters = get(
        &client,
        &format!("{base}/v1/lives/{live_id}/supporters?limit=500"),
        &creator_token,
    )
    .await;
    let committed: u64 = supporters["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["purchases"].as_u64().expect("count"))
        .sum();
    assert!(
        committed >= acked.len() as u64,
        "committed {committed} < acknowledged {}",
        acked.len()
    );
    assert_eq!(verified_transfers(&client, &base).await, committed);
    let earnings = get(
        &client,
        &format!("{base}/v1/creators/{creator_id}/earnings"),
        &creator_token,
    )
    .await;
    let pending = earnings["balances"][0]["pending"]["amount"]
        .as_i64()
        .expect("pending");
    assert_eq!(
        pending,
        99 * i64::try_from(committed).expect("fits"),
        "{earnings}"
    );
    drop(node);
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn comments_answered_201_survive_sigkill_once_each() {
    let db = TestDb::fresh().await;
    let client = reqwest::Client::new();
    // Comments are committed in the ledger writer's batches: unlimited here, so many wait.
    let unlimited = [("OVATION_RATE_COMMENTS_PER_SECOND", "0")];
    let node = Node::start(db.url(), &unlimited).await;
    let base = node.base.clone();
    let (_, creator_token, live_id) = live(&client, &base, "chat_creator").await;

    // Eight viewers chat; every 201 is remembered with its text, each text sent once.
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut chatters = Vec::new();
    for w in 0..8 {
        let (_, token) = account(&client, &base, &format!("chat_viewer_{w}"), "viewer").await;
        let client = client.clone();
        let acked = acked.clone();
        let url = format!("{base}/v1/lives/{live_id}/comments");
        chatters.push(tokio::spawn(async move {
            for n in 0.. {
                let text = format!("w{w} n{n}");
                let (status, body) =
                    post(&client, &url, &token, &json!({"text": text}), None).await;
                match status {
                    201 => {
                        let id = body["id"].as_str().expect("comment id").to_owned();
                        acked.lock().expect("not poisoned").insert(id, text);
                    }
                    0 => return, // the server is gone
                    other => panic!("unexpected status {other}: {body}"),
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while acked.lock().expect("not poisoned").len() < 300 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("300 comments within 60 s");
    let mut child = node.child;
    child.start_kill().expect("SIGKILL is sent");
    child.wait().await.expect("the killed server is reaped");
    for c in chatters {
        c.await.expect("chatters end when the server is gone");
    }
    let acked = acked.lock().expect("not poisoned").clone();

    // Restarted on the same database: every acknowledged comment is listed, with its text,
    // and no text twice.
    let node = Node::start(db.url(), &unlimited).await;
    let base = node.base.clone();
    let mut listed: HashMap<String, String> = HashMap::new();
    let mut texts = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/lives/{live_id}/comments?limit=500");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get(&client, &url, &creator_token).await;
        for c in page["data"].as_array().expect("list") {
            let text = c["text"].as_str().expect("text").to_owned();
            assert!(texts.insert(text.clone()), "{text} is listed twice");
            listed.insert(c["id"].as_str().expect("id").to_owned(), text);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for (id, text) in &acked {
        assert_eq!(listed.get(id), Some(text), "acknowledged comment {id}");
    }
    verified_transfers(&client, &base).await;
    drop(node);
}
