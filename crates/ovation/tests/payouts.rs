//! `ovation payouts release` and `ovation payouts run` from the command line, beside a
//! running server on the same database, and twice at once: each hold is released once and
//! each balance paid once. On SQLite and on PostgreSQL.

mod common;

use std::process::Output;

use serde_json::json;
use testkit::{TestDb, conformance};

use common::{ADMIN, Node, account, get, live, post_ok, verified_transfers};

/// Income available at once, paid from US$1.00, released only by command.
const ENV: [(&str, &str); 3] = [
    ("OVATION_HOLD_PERIOD_DAYS", "0"),
    ("OVATION_PAYOUT_MINIMUM_MAJOR", "1"),
    ("OVATION_RELEASE_INTERVAL_SECS", "0"),
];

async fn ovation(db: &str, args: &[&str]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ovation"));
    command
        .args(args)
        .env("OVATION_DATABASE_URL", db)
        .env("OVATION_ADMIN_TOKEN", ADMIN)
        .env("OVATION_LOG", "warn");
    for (k, v) in ENV {
        command.env(k, v);
    }
    let output = command.output().await.expect("ovation runs");
    assert!(
        output.status.success(),
        "ovation {args:?}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn releases_and_payouts_run_from_the_command_line_once_even_twice_at_once() {
    let db = TestDb::fresh().await;
    let client = reqwest::Client::new();
    let node = Node::start(db.url(), &ENV).await;
    let base = node.base.clone();
    let mut creators = Vec::new();
    for i in 0..3 {
        let (creator, _, live_id) = live(&client, &base, &format!("cli_creator_{i}")).await;
        let (_, viewer) = account(&client, &base, &format!("cli_viewer_{i}"), "viewer").await;
        for tier in [1, 3] {
            post_ok(
                &client,
                &format!("{base}/v1/lives/{live_id}/badges"),
                &viewer,
                &json!({"tier": tier, "payment_method": "pm_card_visa"}),
            )
            .await;
        }
        creators.push(creator);
    }
    // Two releases at once, from two processes, while the server runs.
    let (a, b) = tokio::join!(
        ovation(db.url(), &["payouts", "release"]),
        ovation(db.url(), &["payouts", "release"])
    );
    let released: u64 = [&a, &b]
        .iter()
        .map(|o| {
            let text = stdout(o);
            text.split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("a count in {text:?}"))
        })
        .sum();
    assert_eq!(released, 6, "{} / {}", stdout(&a), stdout(&b));
    // Two payout runs at once: three payouts in all.
    let (a, b) = tokio::join!(
        ovation(db.url(), &["payouts", "run"]),
        ovation(db.url(), &["payouts", "run"])
    );
    let paid: u64 = [&a, &b]
        .iter()
        .map(|o| {
            let text = stdout(o);
            text.split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("a count in {text:?}"))
        })
        .sum();
    assert_eq!(paid, 3, "{} / {}", stdout(&a), stdout(&b));
    // The sandbox confirmed them through each command's own webhook endpoint before it exited.
    for creator in &creators {
        let earnings = get(
            &client,
            &format!("{base}/v1/creators/{creator}/earnings"),
            ADMIN,
        )
        .await;
        assert_eq!(
            earnings["balances"][0]["paid_out"],
            json!({"amount": 598, "currency": "USD"}),
            "{earnings}"
        );
        assert_eq!(earnings["balances"][0]["available"]["amount"], json!(0));
    }
    verified_transfers(&client, &base).await;
    let verify = ovation(db.url(), &["ledger", "verify"]).await;
    assert!(stdout(&verify).contains("ok"), "{}", stdout(&verify));
}
