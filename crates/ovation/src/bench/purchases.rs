//! `ovation bench purchases`: badge purchases over HTTP, end to end, durable.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates and averages of a benchmark report"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use clap::Args;
use hyper::{Method, StatusCode};
use serde_json::Value;

use super::http::{Conn, Seeded, authority, seed};
use super::load::{self, Run};
use super::report::{Block, cpu_seconds, machine, mean, ms, per_sec, thousands};
use super::{BenchDb, Common, InProcess, temp_dir};

/// Options of `ovation bench purchases`.
#[derive(Debug, Args)]
pub(crate) struct PurchasesArgs {
    /// Purchases in the timed run.
    #[arg(long, default_value_t = 200_000)]
    purchases: u64,
    /// Concurrent clients, one keep-alive connection each.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Viewers (buyers) to seed.
    #[arg(long, default_value_t = 1_000)]
    viewers: usize,
    /// Untimed purchases first (fills the token cache, warms the database).
    #[arg(long, default_value_t = 5_000)]
    warmup: u64,
    /// A running server to drive instead of an in-process one on a fresh database.
    #[arg(long)]
    url: Option<String>,
    /// Run the in-process server on a fresh PostgreSQL database created on this server
    /// (any database URL of it, e.g. postgres://postgres@127.0.0.1:5432/test) and dropped
    /// afterwards, instead of a fresh SQLite file.
    #[arg(long, conflicts_with = "url")]
    postgres: Option<String>,
    /// Pay from the viewers' wallets (`"payment_method": "wallet"`, topped up by card first)
    /// instead of by card.
    #[arg(long)]
    wallet: bool,
    /// Fail unless purchases/s ÷ `GET /healthz`/s (both measured in this run) is at least
    /// this: CI's check that the purchase path has not collapsed (`scripts/bench-check`).
    #[arg(long)]
    floor: Option<f64>,
    /// The admin token of the server at --url.
    #[arg(long, env = "OVATION_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Buys `count` badges (purchase numbers `from`…) over `concurrency` connections, each by
/// one of the seeded viewers in turn, with an `Idempotency-Key` of its own.
pub(super) async fn drive(
    addr: &str,
    seeded: &Seeded,
    from: u64,
    count: u64,
    concurrency: usize,
    run: &str,
    method: &str,
) -> anyhow::Result<Run> {
    let viewers: Arc<Vec<(String, String)>> = Arc::new(seeded.viewers.clone());
    let path: Arc<str> = format!("/v1/lives/{}/badges", seeded.live_id).into();
    let run: Arc<str> = run.into();
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (1..=3)
            .map(|t| Bytes::from(format!(r#"{{"tier":{t},"payment_method":"{method}"}}"#)))
            .collect(),
    );
    let buy = move |mut conn: Conn, n: u64| {
        let (viewers, path, run, bodies) =
            (viewers.clone(), path.clone(), run.clone(), bodies.clone());
        async move {
            let (_, token) = &viewers[usize::try_from(n).unwrap_or(0) % viewers.len()];
            let key = format!("bench-{run}-{n}");
            let body = bodies[usize::try_from(n % 3).unwrap_or(0)].clone();
            let answer = conn
                .send(Method::POST, &path, token, Some(&key), Some(body))
                .await;
            (conn, answer)
        }
    };
    load::drive(addr, from, count, concurrency, StatusCode::CREATED, buy).await
}

/// `count` requests to `GET /healthz` over `concurrency` connections: the floor of a request
/// on this server and machine, for the ratio that travels between machines.
pub(super) async fn healthz(addr: &str, count: u64, concurrency: usize) -> anyhow::Result<Run> {
    let health = |mut conn: Conn, _n: u64| async move {
        let answer = conn
            .get_with("/healthz", &[])
            .await
            .map(|(s, _)| (s, Bytes::new()));
        (conn, answer)
    };
    load::drive(addr, 0, count, concurrency, StatusCode::OK, health).await
}

/// Tops up every seeded viewer's wallet with `amount` US cents, 16 connections at a time.
async fn top_up(addr: &str, seeded: &Seeded, amount: i64) -> anyhow::Result<()> {
    let viewers = Arc::new(seeded.viewers.clone());
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (viewers, next, addr) = (viewers.clone(), next.clone(), addr.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            loop {
                let n = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
                let Some((_, token)) = viewers.get(n) else {
                    return anyhow::Ok(());
                };
                let body = serde_json::json!({"amount": {"amount": amount, "currency": "USD"}, "payment_method": "pm_card_visa"});
                conn.expect(Method::POST, "/v1/wallet/topups", token, Some(body))
                    .await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// `(sum, count)` of the writer's batch-size histogram from `/metrics` (read with the
/// admin token).
async fn batch_metric(addr: &str, admin: &str) -> Option<(f64, u64)> {
    let mut conn = Conn::connect(addr).await.ok()?;
    let (_, bytes) = conn
        .send(Method::GET, "/metrics", admin, None, None)
        .await
        .ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let sum = value("ovation_ledger_batch_jobs_sum")?;
    let count = value("ovation_ledger_batch_jobs_count")?;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a count read back from a float"
    )]
    Some((sum, count as u64))
}

pub(crate) async fn run(args: PurchasesArgs, mut config: server::Config) -> anyhow::Result<()> {
    // Created here and dropped whatever the run's outcome.
    let db = match (&args.url, &args.postgres) {
        (None, Some(server)) => Some(BenchDb::create(server, "ovation_bench").await?),
        _ => None,
    };
    if let Some(db) = &db {
        config.database_url.clone_from(&db.url);
    }
    let result = measure(&args, config, db.is_some()).await;
    if let Some(db) = db {
        db.drop_now().await;
    }
    result
}

/// The run, on the server at `--url`, or in process on `config`'s database (a fresh
/// PostgreSQL one when `postgres`, else a fresh SQLite file).
async fn measure(
    args: &PurchasesArgs,
    mut config: server::Config,
    postgres: bool,
) -> anyhow::Result<()> {
    let mut _dir = None;
    let (addr, admin, server, where_) = match &args.url {
        Some(url) => {
            let admin = args.admin_token.clone().ok_or_else(|| {
                anyhow::anyhow!("--url needs --admin-token (or OVATION_ADMIN_TOKEN)")
            })?;
            (authority(url)?, admin, None, format!("server at {url}"))
        }
        None => {
            let store_desc = if postgres {
                "fresh PostgreSQL database (synchronous_commit as the server sets it)"
            } else {
                let dir = temp_dir(&args.common)?;
                config.database_url =
                    format!("sqlite://{}", dir.path().join("purchases.db").display());
                _dir = Some(dir);
                "fresh SQLite file (WAL, synchronous=FULL)"
            };
            let batch_max = config.writer.batch_max;
            let server = InProcess::start(config).await?;
            (
                server.addr.to_string(),
                server.admin.clone(),
                Some(server),
                format!("in-process server, {store_desc}, writer batch_max {batch_max}"),
            )
        }
    };

    let seed_started = Instant::now();
    let seeded = seed(&addr, &admin, args.viewers.max(1), 16).await?;
    let seed_time = seed_started.elapsed();
    let run = format!("{:x}", std::process::id());
    let method = if args.wallet {
        "wallet"
    } else {
        "pm_card_visa"
    };
    if args.wallet {
        // Enough for every purchase of the run at the dearest tier, with a margin.
        let each = (args.warmup + args.purchases) / seeded.viewers.len() as u64 + 2;
        top_up(
            &addr,
            &seeded,
            i64::try_from(each * 499).unwrap_or(i64::MAX),
        )
        .await?;
    }
    if args.warmup > 0 {
        let w = drive(
            &addr,
            &seeded,
            0,
            args.warmup,
            args.concurrency,
            &run,
            method,
        )
        .await?;
        if let Some(e) = &w.first_error {
            anyhow::bail!("warm-up purchase failed: {e}");
        }
    }

    let before = batch_metric(&addr, &admin).await;
    let cpu_before = cpu_seconds("self");
    let totals = drive(
        &addr,
        &seeded,
        args.warmup,
        args.purchases,
        args.concurrency,
        &run,
        method,
    )
    .await?;
    let cpu = cpu_seconds("self").zip(cpu_before).map(|(a, b)| a - b);
    let after = batch_metric(&addr, &admin).await;
    let elapsed = totals.elapsed;
    // The floor of a request on this server and machine, in the same minute: a purchase's
    // cost is the ratio of the two rates.
    // At least 20,000 of them: a shorter run is mostly noise.
    let health_count = args.purchases.max(20_000);
    let health = healthz(&addr, health_count, args.concurrency).await?;
    anyhow::ensure!(
        health.errors == 0,
        "GET /healthz failed: {:?}",
        health.first_error
    );
    let rate = per_sec(args.purchases, elapsed);
    let health_rate = per_sec(health_count, health.elapsed);
    let share = rate / health_rate;

    let mut conn = Conn::connect(&addr).await?;
    let verify_started = Instant::now();
    let verify: Value = conn
        .expect(Method::GET, "/v1/ledger/verify", &admin, None)
        .await?;
    let verify_time = verify_started.elapsed();
    let verified = verify.get("ok").and_then(Value::as_bool) == Some(true);

    if let Some(server) = server {
        server.stop().await?;
    }

    let lat = &totals.lat;
    let mut block = Block::new(
        "ovation bench purchases — POST /v1/lives/{id}/badges over HTTP/1.1 keep-alive, durable",
    );
    block
        .line("purchases/s", thousands(rate))
        .line(
            "latency",
            format!(
                "p50 {}  p90 {}  p99 {}  max {}",
                ms(lat.pct(50)),
                ms(lat.pct(90)),
                ms(lat.pct(99)),
                ms(lat.max())
            ),
        )
        .line(
            "errors",
            format!(
                "{} non-201{}",
                totals.errors,
                totals
                    .first_error
                    .as_deref()
                    .map(|e| format!(" (first: {e})"))
                    .unwrap_or_default()
            ),
        );
    block.line(
        "GET /healthz",
        format!(
            "{}; a purchase costs {:.1} times a trivial request (purchases/s ÷ healthz/s {:.3})",
            load::describe(&health, health_count),
            1.0 / share,
            share
        ),
    );
    if let (Some(b), Some(a)) = (before, after) {
        let batches = a.1.saturating_sub(b.1);
        block.line(
            "ledger batches",
            format!(
                "{batches} commits, mean {:.1} purchases/commit",
                mean(a.0 - b.0, batches)
            ),
        );
    }
    if let Some(cpu) = cpu {
        block.line(
            "CPU (this process)",
            format!(
                "{:.2} cores busy on average (client and server share the process when in-process)",
                cpu / elapsed.as_secs_f64()
            ),
        );
    }
    block
        .line(
            "parameters",
            format!(
                "purchases {}, concurrency {} (one connection each), {} US viewers, tier 1–3 round robin, {}, Idempotency-Key on each, warm-up {}",
                args.purchases, args.concurrency, seeded.viewers.len(),
                if args.wallet { "paid from wallets topped up first" } else { "pm_card_visa" },
                args.warmup
            ),
        )
        .line("server", where_)
        .line(
            "elapsed",
            format!(
                "{:.2} s (seeding {:.1} s)",
                elapsed.as_secs_f64(),
                seed_time.as_secs_f64()
            ),
        )
        .line(
            "ledger verify",
            format!(
                "{} ({} transfers) in {:.1} s",
                if verified { "ok" } else { "FAILED" },
                verify.get("transfers").map(Value::to_string).unwrap_or_default(),
                verify_time.as_secs_f64()
            ),
        )
        .line("machine", machine());
    block.print();
    anyhow::ensure!(verified, "GET /v1/ledger/verify is not ok: {verify}");
    anyhow::ensure!(totals.errors == 0, "{} purchases failed", totals.errors);
    if let Some(floor) = args.floor {
        anyhow::ensure!(
            share >= floor,
            "purchases/s ÷ healthz/s is {share:.4}, below the floor of {floor:.4}: the purchase path collapsed"
        );
        println!("purchases/s ÷ healthz/s {share:.4} is at or above the floor {floor:.4}");
    }
    Ok(())
}
