//! `ovation bench pages`: how long the pages take to render for a creator with a history:
//! the dashboard (balances, supporters of 90 days, lives, income per day and its chart),
//! the live page (latest comments, hearts, prices), the operator's view and the home page.

use std::time::{Duration, Instant};

use clap::Args;
use reqwest::header::{COOKIE, SET_COOKIE};

use super::http::{authority, seed};
use super::purchases::drive;
use super::report::{Block, Latencies, machine, ms};
use super::{BenchDb, Common, InProcess, temp_dir};

/// Options of `ovation bench pages`.
#[derive(Debug, Args)]
pub(crate) struct PagesArgs {
    /// Badge purchases in the creator's history (card, tiers 1–3 in turn).
    #[arg(long, default_value_t = 50_000)]
    purchases: u64,
    /// Viewers who buy them: the creator's supporters.
    #[arg(long, default_value_t = 2_000)]
    viewers: usize,
    /// Requests timed per page, one at a time.
    #[arg(long, default_value_t = 50)]
    requests: u32,
    /// Run on a fresh PostgreSQL database created on this server (and dropped afterwards)
    /// instead of a fresh SQLite file.
    #[arg(long)]
    postgres: Option<String>,
    #[command(flatten)]
    common: Common,
}

pub(crate) async fn run(args: PagesArgs, mut config: server::Config) -> anyhow::Result<()> {
    let db = match &args.postgres {
        Some(server) => Some(BenchDb::create(server, "ovation_bench").await?),
        None => None,
    };
    let _dir;
    let where_ = match &db {
        Some(db) => {
            config.database_url.clone_from(&db.url);
            "in-process server, fresh PostgreSQL database"
        }
        None => {
            let dir = temp_dir(&args.common)?;
            config.database_url = format!("sqlite://{}", dir.path().join("pages.db").display());
            _dir = dir;
            "in-process server, fresh SQLite file (WAL, synchronous=FULL)"
        }
    };
    let result = measure(&args, config, where_).await;
    if let Some(db) = db {
        db.drop_now().await;
    }
    result
}

/// Signs in with `token` through the sign-in form; returns the session cookie.
async fn sign_in(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<String> {
    let form = client.get(format!("{base}/signin")).send().await?;
    let csrf_cookie = cookie(&form, "__Host-ovation_signin")?;
    let csrf = csrf_cookie
        .trim_start_matches("__Host-ovation_signin=")
        .to_owned();
    let signed = client
        .post(format!("{base}/signin"))
        .header(COOKIE, &csrf_cookie)
        .form(&[("token", token), ("csrf", csrf.as_str())])
        .send()
        .await?;
    anyhow::ensure!(
        signed.status().as_u16() == 303,
        "sign-in answered {}",
        signed.status()
    );
    cookie(&signed, "__Host-ovation_session")
}

/// `name=value` of the cookie `name` an answer sets.
fn cookie(response: &reqwest::Response, name: &str) -> anyhow::Result<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no {name} cookie"))
}

async fn measure(args: &PagesArgs, mut config: server::Config, where_: &str) -> anyhow::Result<()> {
    config.release_interval = None;
    let server = InProcess::start(config).await?;
    let base = format!("http://{}", server.addr);
    let addr = authority(&base)?;
    let seeded = seed(&addr, &server.admin, args.viewers.max(1), 16).await?;
    let filled = Instant::now();
    let totals = drive(
        &addr,
        &seeded,
        0,
        args.purchases,
        64,
        &format!("{:x}", std::process::id()),
        "pm_card_visa",
    )
    .await?;
    anyhow::ensure!(
        totals.errors == 0,
        "{} purchases failed (first: {:?})",
        totals.errors,
        totals.first_error
    );
    let fill_time = filled.elapsed();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    let creator = sign_in(&client, &base, &seeded.creator.1).await?;
    let viewer = sign_in(&client, &base, &seeded.viewers[0].1).await?;
    let operator = sign_in(&client, &base, &server.admin).await?;
    let live_page = format!("/lives/{}", seeded.live_id);
    let pages: [(&str, &str, &str); 4] = [
        ("/creator (the creator)", "/creator", creator.as_str()),
        (
            "/lives/{id} (a viewer)",
            live_page.as_str(),
            viewer.as_str(),
        ),
        ("/admin (the operator)", "/admin", operator.as_str()),
        ("/ (a viewer)", "/", viewer.as_str()),
    ];
    let mut block = Block::new(format!(
        "ovation bench pages — {} requests per page, one at a time, after {} badge purchases by {} viewers",
        args.requests,
        args.purchases,
        seeded.viewers.len()
    ));
    for (label, path, session) in pages {
        let mut lat = Latencies::with_capacity(args.requests as usize);
        let mut bytes = 0;
        for _ in 0..args.requests.max(1) {
            let started = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .header(COOKIE, session)
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            lat.record(started.elapsed());
            anyhow::ensure!(status.is_success(), "{path} answered {status}");
            bytes = body.len();
        }
        lat.sort();
        block.line(
            label,
            format!(
                "p50 {}  p99 {}  max {}  ({} KiB)",
                ms(lat.pct(50)),
                ms(lat.pct(99)),
                ms(lat.max()),
                bytes / 1024
            ),
        );
    }
    server.stop().await?;
    block
        .line("server", where_)
        .line(
            "filling",
            format!(
                "{} purchases in {:.1} s (concurrency 64)",
                args.purchases,
                fill_time.as_secs_f64()
            ),
        )
        .line("machine", machine());
    block.print();
    Ok(())
}
