//! `ovation bench payouts`: a payout run over many creators, through the sandbox provider.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates of a benchmark report"
)]

use std::time::{Duration, Instant};

use clap::Args;
use ledger::{Account, AccountId, Code, Purpose, Transfer, TransferId, TransferKind};
use money::Currency;
use store::WriteJob;

use super::report::{Block, machine, per_sec, thousands};
use super::{BenchDb, Common, temp_dir};

/// Options of `ovation bench payouts`.
#[derive(Debug, Args)]
pub(crate) struct PayoutsArgs {
    /// Creators with an available balance to pay.
    #[arg(long, default_value_t = 100_000)]
    creators: u64,
    /// Run on a fresh PostgreSQL database created on this server (and dropped afterwards)
    /// instead of a fresh SQLite file.
    #[arg(long)]
    postgres: Option<String>,
    #[command(flatten)]
    common: Common,
}

pub(crate) async fn run(args: PayoutsArgs, mut config: server::Config) -> anyhow::Result<()> {
    let db = match &args.postgres {
        Some(server) => Some(BenchDb::create(server, "ovation_bench").await?),
        None => None,
    };
    let _dir;
    match &db {
        Some(db) => config.database_url.clone_from(&db.url),
        None => {
            let dir = temp_dir(&args.common)?;
            config.database_url = format!("sqlite://{}", dir.path().join("payouts.db").display());
            _dir = dir;
        }
    }
    let result = measure(&args, config).await;
    if let Some(db) = db {
        db.drop_now().await;
    }
    result
}

async fn measure(args: &PayoutsArgs, mut config: server::Config) -> anyhow::Result<()> {
    config.release_interval = None;
    let where_ = if args.postgres.is_some() {
        "fresh PostgreSQL database"
    } else {
        "fresh SQLite file (WAL, synchronous=FULL)"
    };
    let app = server::App::build(config).await?;
    let store = app.state.store.clone();
    // Seed: every creator has US$100.00–US$199.99 available (booked like released income).
    let seed_started = Instant::now();
    let usd = Currency::USD;
    let clearing = Account::of("platform", Purpose::ProcessorClearing, usd);
    let jobs = (0..args.creators).map(|n| {
        let creator = format!("acc_bench_{n:08}");
        let available = Account::of(&creator, Purpose::CreatorAvailable, usd);
        let job = WriteJob {
            transfers: vec![Transfer {
                id: TransferId::new(format!("seed_{n}")),
                debit: clearing.id.clone(),
                credit: AccountId::of(&creator, Purpose::CreatorAvailable, usd),
                amount: 10_000 + i64::try_from(n % 10_000).unwrap_or(0),
                currency: usd,
                kind: TransferKind::Posted,
                code: Code::HOLD_RELEASE,
                reference: format!("seed_{n}"),
            }],
            accounts: vec![clearing.clone(), available],
            ..WriteJob::default()
        };
        let writer = store.writer().clone();
        async move { writer.submit(job).await }
    });
    use futures_util::StreamExt;
    let mut seeded = futures_util::stream::iter(jobs).buffer_unordered(4_096);
    while let Some(outcome) = seeded.next().await {
        outcome?;
    }
    let seed_time = seed_started.elapsed();

    let started = Instant::now();
    let report = app.state.payouts().run(&|_, _| {}).await?;
    let run_time = started.elapsed();
    let settled = app.sandbox_settled(Duration::from_secs(1_800)).await;
    let confirmed_time = started.elapsed();
    let verify_started = Instant::now();
    let verify = store.verify_ledger().await?;
    let verify_time = verify_started.elapsed();
    // The app's background tasks (the sandbox's settle loop) stop before the store closes.
    app.state.shutdown.send_replace(true);
    store.close().await;

    let mut block =
        Block::new("ovation bench payouts — one payout run over every creator, sandbox provider");
    block
        .line(
            "payout run",
            format!(
                "{:.1} s for {} payouts ({} payouts/s): pending on the ledger and sent to the provider",
                run_time.as_secs_f64(),
                thousands(report.payouts as f64),
                thousands(per_sec(report.payouts, run_time))
            ),
        )
        .line(
            "confirmed",
            format!(
                "{:.1} s until every payout.paid webhook was booked{}",
                confirmed_time.as_secs_f64(),
                if settled { "" } else { " (NOT all delivered)" }
            ),
        )
        .line("creators", format!("{} seeded in {:.1} s", args.creators, seed_time.as_secs_f64()))
        .line("server", where_)
        .line(
            "ledger verify",
            format!(
                "{} ({} transfers, {} accounts) in {:.1} s",
                if verify.ok { "ok" } else { "FAILED" },
                verify.transfers,
                verify.accounts,
                verify_time.as_secs_f64()
            ),
        )
        .line("machine", machine());
    block.print();
    anyhow::ensure!(
        verify.ok,
        "the ledger does not verify: {:?}",
        verify.problems
    );
    anyhow::ensure!(
        report.payouts == args.creators,
        "{} payouts for {} creators",
        report.payouts,
        args.creators
    );
    Ok(())
}
