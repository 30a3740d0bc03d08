//! Kill the server with SIGKILL while purchases are under way, restart it on the same
//! database file, and check that every purchase answered 201 is in the ledger exactly once
//! and that the ledger verifies.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const ADMIN: &str = "crash-admin";

struct Node {
    child: Child,
    base: String,
}

/// Starts `ovation serve` on a free port and waits for its "listening" line.
async fn start(db: &str) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ovation"))
        .arg("serve")
        .env("OVATION_DATABASE_URL", db)
        .env("OVATION_BIND", "127.0.0.1:0")
        .env("OVATION_ADMIN_TOKEN", ADMIN)
        .env("OVATION_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the ovation binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("stdout reads") {
            if let Some(rest) = line.strip_prefix("Ovation listening on ") {
                return rest
                    .split_whitespace()
                    .next()
                    .expect("an address follows")
                    .to_owned();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server listens within 30 s");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Node { child, base }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = client.post(url).bearer_auth(token).json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request is answered")
        .json()
        .await
        .expect("answer is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_answered_201_survive_sigkill_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}", dir.path().join("ovation.db").display());
    let client = reqwest::Client::new();
    let node = start(&db).await;
    let base = node.base.clone();

    // A creator with a live and twenty viewers.
    let (s, creator) = post(&client, &format!("{base}/v1/accounts"), ADMIN,
        json!({"handle": "crash_creator", "kind": "creator", "country": "US", "birth_date": "1990-01-01"}), None).await;
    assert_eq!(s, 201, "{creator}");
    let creator_id = creator["id"].as_str().expect("id").to_owned();
    let (_, t) = post(
        &client,
        &format!("{base}/v1/accounts/{creator_id}/tokens"),
        ADMIN,
        json!({}),
        None,
    )
    .await;
    let creator_token = t["token"].as_str().expect("token").to_owned();
    let (_, live) = post(
        &client,
        &format!("{base}/v1/lives"),
        &creator_token,
        json!({"title": "crash"}),
        None,
    )
    .await;
    let live_id = live["id"].as_str().expect("live id").to_owned();
    let mut viewers = Vec::new();
    for i in 0..20 {
        let (_, v) = post(
            &client,
            &format!("{base}/v1/accounts"),
            ADMIN,
            json!({"handle": format!("crash_viewer_{i}"), "kind": "viewer", "country": "US"}),
            None,
        )
        .await;
        let id = v["id"].as_str().expect("viewer id").to_owned();
        let (_, t) = post(
            &client,
            &format!("{base}/v1/accounts/{id}/tokens"),
            ADMIN,
            json!({}),
            None,
        )
        .await;
        viewers.push(t["token"].as_str().expect("token").to_owned());
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
                    json!({"tier": 1, "payment_method": "pm_card_visa"}),
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

    // Restart on the same file.
    let node = start(&db).await;
    let base = node.base.clone();
    let report = get(&client, &format!("{base}/v1/ledger/verify"), ADMIN).await;
    assert_eq!(report["ok"], true, "{report}");

    // Every acknowledged purchase is there: its key replays the same purchase.
    for (key, (token, id)) in &acked {
        let (status, body) = post(
            &client,
            &format!("{base}/v1/lives/{live_id}/badges"),
            token,
            json!({"tier": 1, "payment_method": "pm_card_visa"}),
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
    let report = get(&client, &format!("{base}/v1/ledger/verify"), ADMIN).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["transfers"].as_u64(), Some(committed), "{report}");
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
