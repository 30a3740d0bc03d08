//! The `ovation` binary: configuration, store, server — thin over the library crates.

mod bench;
mod simulate;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use server::{App, Settings};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "ovation",
    version,
    about = "Creator monetization engine: Live Badges, earnings and an exact ledger"
)]
struct Cli {
    /// TOML settings file (then OVATION_* variables override it).
    #[arg(long, global = true, env = "OVATION_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP server.
    Serve {
        /// Seeds a creator, viewers, a running live and purchases, and prints how to try them.
        #[arg(long)]
        demo: bool,
        /// Lets the demo run on a non-loopback address: its home page gives every visitor
        /// the demo accounts' tokens.
        #[arg(long, requires = "demo")]
        demo_public: bool,
    },
    /// Creates or updates the database schema, then exits.
    Migrate,
    /// The ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Holds and payouts.
    Payouts {
        #[command(subcommand)]
        command: PayoutsCommand,
    },
    /// Card payments at the provider.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// Brand deals: offers in escrow.
    Offers {
        #[command(subcommand)]
        command: OffersCommand,
    },
    /// Runs the synthetic creator economy under follower count, Ovation's ranking and the
    /// oracle, and prints what each did for brands and for the income gap.
    Simulate(simulate::SimulateArgs),
    /// Benchmarks (figures for BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Recomputes every balance from the transfers and checks every rule; exits 1 on a problem.
    Verify,
}

#[derive(Debug, Subcommand)]
enum OffersCommand {
    /// Expires offers not accepted in 7 days (their hold goes back to the brand) and approves
    /// deliveries not answered in 7 days (the fee is paid), as `serve` does every minute;
    /// safe to run while servers run, on any number of machines (each step happens once).
    Run,
}

#[derive(Debug, Subcommand)]
enum PaymentsCommand {
    /// Compares the provider's charges with the ledger and books or refunds each charge with
    /// no booking (as `serve` does every minute); safe to run while servers run.
    Reconcile,
}

#[derive(Debug, Subcommand)]
enum PayoutsCommand {
    /// Releases income whose hold period has ended (as `serve` does on its schedule); safe to
    /// run while servers run, on any number of machines.
    Release,
    /// Pays every creator whose available balance reaches the minimum payout, through the
    /// payment provider; safe to run twice at once (each balance is paid once).
    Run,
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_env("OVATION_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Settings::load(cli.config.as_deref())?.validate()?;
    init_tracing(config.log_json);
    match cli.command {
        Command::Serve { demo, demo_public } => {
            if demo {
                server::demo::check_bind(config.bind, demo_public)?;
            }
            serve(config, demo).await
        }
        Command::Migrate => {
            store::Store::migrate(&config.database_url).await?;
            println!("migrated {}", store::redact(&config.database_url));
            Ok(())
        }
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => {
            let store = server::open_store(&config).await?;
            let mut report = store.verify_ledger().await?;
            // The sandbox's charges are in this database: they and the ledger must agree.
            if matches!(config.payments, server::settings::PaymentsConfig::Sandbox) {
                let problems = store.verify_payments().await?;
                report.ok &= problems.is_empty();
                report.problems.extend(problems);
            }
            println!(
                "transfers: {}, accounts: {}",
                report.transfers, report.accounts
            );
            for p in &report.problems {
                println!("problem: {p}");
            }
            store.close().await;
            if report.ok {
                println!("ok");
                Ok(())
            } else {
                std::process::exit(1);
            }
        }
        Command::Payouts {
            command: PayoutsCommand::Release,
        } => {
            let store = server::open_store(&config).await?;
            let report = server::flows::release_due(&store, store::now()).await;
            store.close().await;
            let report = report?;
            let amounts: Vec<String> = report
                .released
                .iter()
                .map(|(c, a)| money::Money::new(*a, *c).to_string())
                .collect();
            println!(
                "released {} holds in {} transfers ({}); {} already released elsewhere",
                report.holds,
                report.releases,
                if amounts.is_empty() {
                    "nothing".to_owned()
                } else {
                    amounts.join(", ")
                },
                report.skipped
            );
            Ok(())
        }
        Command::Payouts {
            command: PayoutsCommand::Run,
        } => payouts_run(config).await,
        Command::Payments {
            command: PaymentsCommand::Reconcile,
        } => payments_reconcile(config).await,
        Command::Offers {
            command: OffersCommand::Run,
        } => {
            let store = server::open_store(&config).await?;
            let report =
                server::flows::deals::run_due(&store, store::now(), config.hold_period).await;
            store.close().await;
            let report = report?;
            println!(
                "{} offers expired (held fees given back), {} deliveries approved (fees paid); {} moved elsewhere first",
                report.expired, report.approved, report.skipped
            );
            Ok(())
        }
        Command::Bench { command } => bench::run(command, config).await,
        Command::Simulate(args) => simulate::run(&args),
    }
}

/// `ovation payments reconcile`, on the store and the provider alone (badges it books are
/// announced to the other nodes when NATS is configured).
async fn payments_reconcile(config: server::Config) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let server::Provider { provider, .. } = server::provider(&config, &store);
    let bus: std::sync::Arc<dyn server::bus::EventBus> = match &config.nats_url {
        Some(url) => std::sync::Arc::new(
            server::bus::NatsBus::connect(url, config.ws_buffer)
                .await
                .with_context(|| format!("cannot use nats at {}", store::redact(url)))?,
        ),
        None => std::sync::Arc::new(server::bus::LocalBus::new(16)),
    };
    let programs = server::state::ProgramCache::default();
    let checkout = server::flows::checkout::Checkout {
        store: &store,
        provider: &*provider,
        config: &config,
        bus: &*bus,
        programs: &programs,
    };
    let report = checkout.reconcile(store::now()).await;
    store.close().await;
    let report = report.map_err(|e| anyhow::anyhow!("reconcile failed: {e:?}"))?;
    println!(
        "{} checked, {} booked, {} refunded, {} unresolved",
        report.checked, report.booked, report.refunded, report.unresolved
    );
    Ok(())
}

/// `ovation payouts run`: the run with a progress bar on the terminal, on the store and the
/// provider alone ([`server::flows::Payouts`]). With the sandbox, its confirmations are
/// applied to the ledger by this process, which waits for them before it exits; with Stripe
/// they reach the servers' webhook endpoint.
async fn payouts_run(config: server::Config) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    let server::Provider {
        provider, outbox, ..
    } = server::provider(&config, &store);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let undelivered = outbox.map(|outbox| {
        let undelivered = outbox.undelivered();
        outbox.spawn(
            stopping,
            server::flows::events::apply_directly(
                store.clone(),
                provider.clone(),
                std::sync::Arc::new(config.clone()),
                std::sync::Arc::new(server::bus::LocalBus::new(16)),
            ),
        );
        undelivered
    });
    let payouts = server::flows::Payouts {
        store: &store,
        provider: &*provider,
        minimum_major: config.payout_minimum_major,
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} paying creators {bar:40} {pos}/{len} balances ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let progress = {
        let bar = bar.clone();
        move |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let started = std::time::Instant::now();
    let report = payouts.run(&progress).await;
    bar.finish_and_clear();
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    let amounts: Vec<String> = report
        .amounts
        .iter()
        .map(|(c, a)| money::Money::new(*a, *c).to_string())
        .collect();
    println!(
        "{} payouts ({}) from {} balances in {:.1} s; {} below the minimum, {} resumed, {} rejected, {} not sent (the next run sends them)",
        report.payouts,
        if amounts.is_empty() {
            "nothing".to_owned()
        } else {
            amounts.join(", ")
        },
        report.checked,
        started.elapsed().as_secs_f64(),
        report.below_minimum,
        report.resumed,
        report.rejected,
        report.unsent,
    );
    // The sandbox's confirmations are applied by this process: wait for them.
    if let Some(undelivered) = undelivered
        && !undelivered
            .settled(std::time::Duration::from_secs(600))
            .await
    {
        eprintln!(
            "some payout confirmations were not delivered; payouts stay pending until the provider confirms them"
        );
    }
    stop.send_replace(true);
    store.close().await;
    Ok(())
}

async fn serve(config: server::Config, demo: bool) -> anyhow::Result<()> {
    let bind = config.bind;
    let admin_token_configured = config.admin_token.is_some();
    // Logs and the console are read by more people than the secret store: no password.
    let database = store::redact(&config.database_url);
    let app = App::build(config).await?;
    let shutdown = shutdown_signal()?;
    let (listener, addr) = server::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    tracing::info!(%addr, %database, "ovation listening");
    println!("Ovation listening on http://{addr} (database {database})");
    if app.admin_token_generated {
        println!(
            "Admin token (generated for this run; set OVATION_ADMIN_TOKEN to keep one): {}",
            app.admin_token
        );
    }
    if demo {
        let d = server::demo::seed(&app.state, &app.admin_token).await?;
        let base = format!("http://{addr}");
        println!("\nDemo seeded.");
        println!("  creator {}  token {}", d.creator.0, d.creator.1);
        for (handle, id, token) in &d.viewers {
            println!("  viewer  {handle} ({id})  token {token}");
        }
        println!(
            "  brand   {} ({})  token {}",
            d.brand_handle, d.brand.0, d.brand.1
        );
        println!("  live    {}", d.live_id);
        println!(
            "\nOpen {base}/ in a browser: the home page signs you in as any of these in one click."
        );
        println!("  the live:         {base}/lives/{}", d.live_id);
        println!("  the dashboard:    {base}/creator (as the creator)");
        println!("  the operator:     {base}/admin (as the operator)");
        println!(
            "  the shop:         {base}/shop/{} (no sign-in)",
            d.creator_handle
        );
        println!("  the brand:        {base}/brand (as the brand)");
        println!(
            "  a campaign:       {base}/brand/campaigns/{} (as the brand: ranked matches, offers)",
            d.campaign_id
        );
        let viewer_token = &d.viewers[0].2;
        println!("\nTry:");
        println!("  curl -s {base}/v1/badges/prices?country=JP");
        println!(
            "  curl -s -X POST {base}/v1/lives/{}/badges -H 'Authorization: Bearer {viewer_token}' -H 'Idempotency-Key: try-1' -H 'Content-Type: application/json' -d '{{\"tier\": 3, \"payment_method\": \"pm_card_visa\"}}'",
            d.live_id
        );
        println!(
            "  curl -s {base}/v1/lives/{}/comments -H 'Authorization: Bearer {viewer_token}'",
            d.live_id
        );
        println!(
            "  curl -s {base}/v1/lives/{}/supporters -H 'Authorization: Bearer {}'",
            d.live_id, d.creator.1
        );
        println!(
            "  curl -s {base}/v1/creators/{}/earnings -H 'Authorization: Bearer {}'",
            d.creator.0, d.creator.1
        );
        // A configured admin token stays out of the console (and the logs that keep it).
        let admin = if admin_token_configured {
            "$OVATION_ADMIN_TOKEN"
        } else {
            app.admin_token.as_str()
        };
        println!("  curl -s {base}/v1/ledger/verify -H 'Authorization: Bearer {admin}'");
        println!("  OpenAPI: {base}/openapi.json   Swagger UI: {base}/docs");
    }
    app.serve(listener, shutdown).await
}

/// Resolves on ctrl-c or SIGTERM. The handlers are installed now, not when the future is
/// first polled, so that a signal sent as soon as the server says it listens stops it
/// gracefully instead of killing it.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "shutdown requested");
    })
}

/// Resolves on ctrl-c.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!(signal = "ctrl-c", "shutdown requested");
    })
}
