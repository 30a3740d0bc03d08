//! The real `ovation` binary as a test sees it: start `serve` as a child process on a free
//! port, signal it, and speak to it over HTTP.

#![allow(dead_code)]

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The admin token every node started here accepts.
pub(crate) const ADMIN: &str = "node-admin-token-for-the-binary-tests";

/// How long a stopping server may take: far more than it needs, far less than its 25 s grace.
pub(crate) const EXIT_WAIT: Duration = Duration::from_secs(10);

/// A running `ovation serve`; killed when dropped.
pub(crate) struct Node {
    pub(crate) child: Child,
    /// `127.0.0.1:port`.
    pub(crate) addr: String,
    /// `http://127.0.0.1:port`.
    pub(crate) base: String,
}

impl Node {
    /// Starts `ovation serve` on `db` and a free port, with `env` added to its environment,
    /// and waits for its "listening" line.
    pub(crate) async fn start(db: &str, env: &[(&str, &str)]) -> Node {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ovation"));
        command
            .arg("serve")
            .env("OVATION_DATABASE_URL", db)
            .env("OVATION_BIND", "127.0.0.1:0")
            .env("OVATION_ADMIN_TOKEN", ADMIN)
            .env("OVATION_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the ovation binary starts");
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
        let addr = base
            .strip_prefix("http://")
            .expect("an http address")
            .to_owned();
        Node { child, addr, base }
    }

    /// `http://127.0.0.1:port` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM; the signal is queued for the process when this returns.
    pub(crate) async fn sigterm(&self) {
        let pid = self.child.id().expect("the server is still running");
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}: {status}");
    }

    /// The server's exit status; panics if it is still running after [`EXIT_WAIT`].
    pub(crate) async fn exited(&mut self) -> ExitStatus {
        tokio::time::timeout(EXIT_WAIT, self.child.wait())
            .await
            .expect("the server exits within the wait")
            .expect("the server is reaped")
    }
}

/// A POST with `token` and, if given, an `Idempotency-Key`: status and JSON body, or
/// `(0, Null)` when no answer came (the server is gone).
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = client.post(url).bearer_auth(token).json(body);
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

/// A POST that must succeed: its JSON body.
pub(crate) async fn post_ok(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> Value {
    let (status, answer) = post(client, url, token, body, None).await;
    assert!((200..300).contains(&status), "{url}: {status} {answer}");
    answer
}

/// A GET's JSON body.
pub(crate) async fn get(client: &reqwest::Client, url: &str, token: &str) -> Value {
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

/// A new US account of `kind` (creators are adults): its id and a token for it.
pub(crate) async fn account(
    client: &reqwest::Client,
    base: &str,
    handle: &str,
    kind: &str,
) -> (String, String) {
    let mut body = json!({"handle": handle, "kind": kind, "country": "US"});
    if kind == "creator" {
        body["birth_date"] = json!("1990-01-01");
    }
    let created = post_ok(client, &format!("{base}/v1/accounts"), ADMIN, &body).await;
    let id = created["id"].as_str().expect("account id").to_owned();
    let token = post_ok(
        client,
        &format!("{base}/v1/accounts/{id}/tokens"),
        ADMIN,
        &json!({}),
    )
    .await;
    (id, token["token"].as_str().expect("token").to_owned())
}

/// A running live of a new creator: the creator's id and token, and the live's id.
pub(crate) async fn live(
    client: &reqwest::Client,
    base: &str,
    handle: &str,
) -> (String, String, String) {
    let (creator, token) = account(client, base, handle, "creator").await;
    let live = post_ok(
        client,
        &format!("{base}/v1/lives"),
        &token,
        &json!({"title": "a test live"}),
    )
    .await;
    let id = live["id"].as_str().expect("live id").to_owned();
    (creator, token, id)
}

/// The ledger's audit, after checking it found nothing wrong: the number of transfers.
pub(crate) async fn verified_transfers(client: &reqwest::Client, base: &str) -> u64 {
    let report = get(client, &format!("{base}/v1/ledger/verify"), ADMIN).await;
    assert_eq!(report["ok"], true, "{report}");
    report["transfers"].as_u64().expect("a count of transfers")
}

/// Runs an `ovation` command on `db` with `env` added; asserts it succeeds and gives its
/// standard output.
pub(crate) async fn cli(db: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ovation"));
    command
        .args(args)
        .env("OVATION_DATABASE_URL", db)
        .env("OVATION_ADMIN_TOKEN", ADMIN)
        .env("OVATION_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().await.expect("ovation runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "ovation {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
