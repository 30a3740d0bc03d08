//! `ovation bench ledger`: the ledger core through the batching writer, durable.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates and averages of a benchmark report"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Args;
use ledger::{Account, AccountId, Code, Purpose, Transfer, TransferId, TransferKind};
use metrics::{Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};
use money::{Currency, Money};
use store::{
    Effect, IdempotencyRecord, LiveId, Outcome, PaymentMethod, Purchase, PurchaseId,
    PurchaseStatus, Store, StoreConfig, UserId, WriteJob, WriterConfig,
};

use super::report::{Block, Latencies, machine, mean, ms, per_sec, thousands};
use super::{Common, temp_dir};

/// Options of `ovation bench ledger`.
#[derive(Debug, Args)]
pub(crate) struct LedgerArgs {
    /// Badge purchases to book (2 transfers each).
    #[arg(long, default_value_t = 500_000)]
    purchases: u64,
    /// Concurrent submitting tasks.
    #[arg(long, default_value_t = 8_192)]
    concurrency: usize,
    /// Most jobs per commit (the writer's batch_max).
    #[arg(long, default_value_t = 4_096)]
    batch_max: usize,
    /// Creators the purchases are spread over.
    #[arg(long, default_value_t = 1_000)]
    creators: u32,
    /// Also write what the HTTP path writes with each purchase: the purchase row and the
    /// stored idempotent answer.
    #[arg(long)]
    with_rows: bool,
    #[command(flatten)]
    common: Common,
}

/// Sum, count and max of one histogram the writer records.
#[derive(Debug, Default)]
struct Summary(Mutex<(u64, f64, f64)>);

impl HistogramFn for Summary {
    fn record(&self, value: f64) {
        let mut s = self.0.lock().expect("summary lock is never poisoned");
        s.0 += 1;
        s.1 += value;
        s.2 = s.2.max(value);
    }
}

impl Summary {
    fn get(&self) -> (u64, f64, f64) {
        *self.0.lock().expect("summary lock is never poisoned")
    }
}

/// Keeps the writer's batch sizes and commit times; ignores every other metric.
#[derive(Debug, Default)]
struct WriterMetrics {
    batch_jobs: Arc<Summary>,
    commit_seconds: Arc<Summary>,
}

impl metrics::Recorder for WriterMetrics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match key.name() {
            "ovation_ledger_batch_jobs" => Histogram::from_arc(self.batch_jobs.clone()),
            "ovation_ledger_commit_seconds" => Histogram::from_arc(self.commit_seconds.clone()),
            _ => Histogram::noop(),
        }
    }
}

/// Badge prices in USD cents (tiers 1–3) and the platform's 20 % on each.
const PRICES: [i64; 3] = [99, 499, 999];

/// One badge purchase as the server books it: clearing → creator's pending earnings, and
/// clearing → platform fees.
fn purchase_job(run: &str, n: u64, creators: u32, with_rows: bool) -> WriteJob {
    let usd = Currency::USD;
    let creator = format!("bench_creator_{}", n % u64::from(creators.max(1)));
    let price = PRICES[usize::try_from(n % 3).unwrap_or(0)];
    let fee = price / 5;
    let share = price - fee;
    // Time-ordered, like the server's UUIDv7 purchase ids.
    let purchase_id = format!("pur_{run}_{n:012}");
    let clearing = AccountId::of("platform", Purpose::ProcessorClearing, usd);
    let transfers = vec![
        Transfer {
            id: TransferId::new(format!("{purchase_id}/share")),
            debit: clearing.clone(),
            credit: AccountId::of(&creator, Purpose::CreatorAvailable, usd),
            amount: share,
            currency: usd,
            kind: TransferKind::Posted,
            code: Code::BADGE_SHARE,
            reference: purchase_id.clone(),
        },
        Transfer {
            id: TransferId::new(format!("{purchase_id}/fee")),
            debit: clearing,
            credit: AccountId::of("platform", Purpose::PlatformFees, usd),
            amount: fee,
            currency: usd,
            kind: TransferKind::Posted,
            code: Code::BADGE_FEE,
            reference: purchase_id.clone(),
        },
    ];
    let mut job = WriteJob {
        accounts: vec![
            Account::of("platform", Purpose::ProcessorClearing, usd),
            Account::of(&creator, Purpose::CreatorAvailable, usd),
            Account::of("platform", Purpose::PlatformFees, usd),
        ],
        transfers,
        ..WriteJob::default()
    };
    if with_rows {
        let viewer = format!("bench_viewer_{}", n % 10_000);
        let purchase = Purchase {
            id: PurchaseId::from_string(purchase_id.clone()),
            live_id: LiveId::from_string(format!("live_{creator}")),
            viewer_id: UserId::from_string(viewer.clone()),
            creator_id: UserId::from_string(creator),
            tier: live::Tier::ALL[usize::try_from(n % 3).unwrap_or(0)],
            price: Money::new(price, usd),
            creator_share: Money::new(share, usd),
            platform_fee: Money::new(fee, usd),
            processor_fee: Money::zero(usd),
            match_amount: Money::zero(usd),
            match_program: None,
            payment_method: PaymentMethod::Card,
            status: PurchaseStatus::Succeeded,
            payment_id: format!("pi_{run}_{n}"),
            created_at: store::now(),
            refunded_at: None,
        };
        job.idempotency = Some(IdempotencyRecord {
            account_id: viewer,
            key: format!("key-{run}-{n}"),
            fingerprint: "0".repeat(64),
            status: 201,
            body: format!(
                r#"{{"id":"{purchase_id}","tier":1,"price":{{"amount":"{price}","currency":"USD"}},"status":"succeeded"}}"#
            ),
        });
        job.effects = vec![Effect::InsertPurchase(Box::new(purchase))];
    }
    job
}

pub(crate) async fn run(args: LedgerArgs) -> anyhow::Result<()> {
    let metrics = WriterMetrics::default();
    let batch_jobs = metrics.batch_jobs.clone();
    let commit_seconds = metrics.commit_seconds.clone();
    metrics::set_global_recorder(metrics)
        .map_err(|_| anyhow::anyhow!("a metrics recorder is already installed"))?;

    let dir = temp_dir(&args.common)?;
    let path = dir.path().join("ledger.db");
    let mut config = StoreConfig::new(format!("sqlite://{}", path.display()));
    config.writer = WriterConfig {
        batch_max: args.batch_max.max(1),
        ..WriterConfig::default()
    };
    let store = Store::open(&config).await?;
    let run = format!("{:x}", std::process::id());

    // Warm-up: open the accounts once, so the timed run books purchases only.
    let creators = args.creators.max(1);
    for n in 0..u64::from(creators) {
        let mut job = purchase_job("warmup", n, creators, false);
        job.transfers.clear();
        store.writer().submit(job).await?;
    }

    let (warm_batches, warm_jobs, _) = batch_jobs.get();
    let (warm_commits, warm_commit_sum, _) = commit_seconds.get();
    let next = Arc::new(AtomicU64::new(0));
    let total = args.purchases;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency.max(1) {
        let writer = store.writer().clone();
        let next = next.clone();
        let run = run.clone();
        let with_rows = args.with_rows;
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::with_capacity(1024);
            let mut refused = 0u64;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let job = purchase_job(&run, n, creators, with_rows);
                let t = Instant::now();
                let outcome = writer.submit(job).await?;
                lat.record(t.elapsed());
                if outcome != Outcome::Applied {
                    refused += 1;
                }
            }
            Ok::<_, anyhow::Error>((lat, refused))
        }));
    }
    let mut lat = Latencies::with_capacity(usize::try_from(total).unwrap_or(0));
    let mut not_applied = 0;
    for t in tasks {
        let (l, r) = t.await??;
        lat.merge(l);
        not_applied += r;
    }
    let elapsed = started.elapsed();
    lat.sort();
    // The warm-up's batches are not the run's.
    let (batches, jobs_sum, jobs_max) = batch_jobs.get();
    let (batches, jobs_sum) = (batches - warm_batches, jobs_sum - warm_jobs);
    let (commits, commit_sum, commit_max) = commit_seconds.get();
    let (commits, commit_sum) = (commits - warm_commits, commit_sum - warm_commit_sum);

    let verify_started = Instant::now();
    let report = store.verify_ledger().await?;
    let verify_time = verify_started.elapsed();
    store.close().await;
    let db_bytes: u64 = ["ledger.db", "ledger.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum();

    let transfers = total * 2;
    let mut block = Block::new(
        "ovation bench ledger — badge purchases through the batching writer, SQLite WAL synchronous=FULL",
    );
    block
        .line(
            "transfers/s",
            thousands(per_sec(transfers, elapsed)),
        )
        .line(
            "purchases/s",
            format!("{}  (2 posted transfers each)", thousands(per_sec(total, elapsed))),
        )
        .line(
            "submit latency",
            format!(
                "p50 {}  p99 {}  max {}",
                ms(lat.pct(50)),
                ms(lat.pct(99)),
                ms(lat.max())
            ),
        )
        .line(
            "batches",
            format!(
                "{}  mean {:.0} purchases/commit (max {jobs_max:.0}), write+commit mean {:.1} ms (max {:.1} ms)",
                batches,
                mean(jobs_sum, batches),
                mean(commit_sum, commits) * 1e3,
                commit_max * 1e3,
            ),
        )
        .line(
            "parameters",
            format!(
                "purchases {total}, concurrency {}, batch_max {}, creators {creators}, 1 platform, USD{}",
                args.concurrency,
                args.batch_max,
                if args.with_rows {
                    ", with purchase rows + idempotency answers"
                } else {
                    ""
                }
            ),
        )
        .line(
            "elapsed",
            format!("{:.2} s, not applied: {not_applied}", elapsed.as_secs_f64()),
        )
        .line(
            "verify_ledger",
            format!(
                "{} ({} transfers, {} accounts) in {:.1} s",
                if report.ok { "ok" } else { "FAILED" },
                report.transfers,
                report.accounts,
                verify_time.as_secs_f64()
            ),
        )
        .line(
            "database",
            format!("{:.0} MiB (db + wal)", db_bytes as f64 / 1_048_576.0),
        )
        .line("machine", machine());
    block.print();
    for p in &report.problems {
        eprintln!("problem: {p}");
    }
    anyhow::ensure!(report.ok, "the ledger does not verify");
    anyhow::ensure!(not_applied == 0, "{not_applied} purchases were not applied");
    anyhow::ensure!(
        lat.len() == usize::try_from(total).unwrap_or(usize::MAX),
        "lost answers"
    );
    Ok(())
}
