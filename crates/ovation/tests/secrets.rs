//! What the `ovation` binary prints: never the database password (`migrate` and `serve`
//! print the URL redacted), and `serve --demo` only where it is safe.

use std::process::Stdio;
use std::time::Duration;

use testkit::{Backend, TestDb};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// The password the tests put in the database URL; PostgreSQL's trust authentication
/// ignores it, so the server works with it.
const PASSWORD: &str = "Sw0rdfish-not-for-logs";

/// `db`'s URL with [`PASSWORD`] for its user.
fn with_password(db: &TestDb) -> String {
    let url = db.url();
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, rest) = rest.split_once('@').expect("a user in the test URL");
    format!("{scheme}://{user}:{PASSWORD}@{rest}")
}

/// The admin token the tests start the server with (32 characters or more, as `serve` requires).
const ADMIN: &str = "secrets-admin-token-of-32-characters-or-more";

fn ovation() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ovation"));
    command
        .env("OVATION_ADMIN_TOKEN", ADMIN)
        // Every line the server can log, SQL included.
        .env("OVATION_LOG", "debug")
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn the_database_password_is_absent_from_every_line_migrate_and_serve_print() {
    testkit::run_on(Backend::Postgres, async {
        let db = TestDb::fresh().await;
        let url = with_password(&db);

        let migrated = ovation()
            .arg("migrate")
            .env("OVATION_DATABASE_URL", &url)
            .output()
            .await
            .expect("ovation runs");
        let stdout = String::from_utf8_lossy(&migrated.stdout);
        let stderr = String::from_utf8_lossy(&migrated.stderr);
        assert!(migrated.status.success(), "{stdout}{stderr}");
        assert!(
            stdout.contains(":***@"),
            "the URL is printed redacted: {stdout}"
        );
        for line in stdout.lines().chain(stderr.lines()) {
            assert!(
                !line.contains(PASSWORD),
                "migrate printed the password: {line}"
            );
        }

        let mut server = ovation()
            .arg("serve")
            .env("OVATION_DATABASE_URL", &url)
            .env("OVATION_BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ovation starts");
        let mut stdout = BufReader::new(server.stdout.take().expect("piped")).lines();
        let mut stderr = server.stderr.take().expect("piped");
        let logs = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut printed = Vec::new();
        let base = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = stdout.next_line().await.expect("stdout reads") {
                printed.push(line.clone());
                if let Some(rest) = line.strip_prefix("Ovation listening on ") {
                    return rest
                        .split_whitespace()
                        .next()
                        .expect("an address")
                        .to_owned();
                }
            }
            panic!("the server exited before listening: {printed:?}");
        })
        .await
        .expect("the server listens within 30 s");
        // A request or two, so that the server logs what it logs while it works.
        let client = reqwest::Client::new();
        for path in ["/healthz", "/readyz", "/v1/ledger/verify"] {
            client
                .get(format!("{base}{path}"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .expect("the server answers");
        }
        let pid = server.id().expect("running").to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill runs");
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(20), server.wait())
            .await
            .expect("the server exits")
            .expect("reaped");
        assert!(status.success(), "{status}");
        while let Ok(Some(line)) = stdout.next_line().await {
            printed.push(line);
        }
        let logs = logs.await.expect("the logs");
        assert!(
            printed.iter().any(|l| l.contains(":***@")),
            "the URL is printed redacted: {printed:?}"
        );
        assert!(logs.lines().count() > 3, "debug logs were written: {logs}");
        for line in printed.iter().map(String::as_str).chain(logs.lines()) {
            assert!(
                !line.contains(PASSWORD),
                "serve printed the password: {line}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn serve_demo_refuses_a_public_address_without_demo_public() {
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}", dir.path().join("ovation.db").display());
    let refused = ovation()
        .args(["serve", "--demo"])
        .env("OVATION_DATABASE_URL", &url)
        .env("OVATION_BIND", "0.0.0.0:0")
        .output()
        .await
        .expect("ovation runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--demo-public"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&refused.stdout).contains("listening"),
        "it must not start"
    );
    // The flag only goes with the demo.
    let alone = ovation()
        .args(["serve", "--demo-public"])
        .env("OVATION_DATABASE_URL", &url)
        .output()
        .await
        .expect("ovation runs");
    assert!(!alone.status.success());
}
