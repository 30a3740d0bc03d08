//! `ovation bench …`: the benchmarks whose figures BENCHMARKS.md records.
//!
//! Each prints one block (figure, parameters, machine) meant to be pasted as is.

mod fanout;
mod http;
mod ledger;
mod load;
mod matching;
mod nodes;
mod pages;
mod payouts;
mod purchases;
mod report;
mod shop;

use clap::{Args, Subcommand};

/// Which benchmark.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// The ledger core: badge purchases (2 transfers each) through the batching writer into
    /// a fresh SQLite file (WAL, synchronous=FULL).
    Ledger(ledger::LedgerArgs),
    /// Badge purchases over HTTP end to end (POST /v1/lives/{id}/badges), durable.
    Purchases(purchases::PurchasesArgs),
    /// One live, many WebSocket viewers: deliveries/s, time to reach all, server RSS.
    Fanout(fanout::FanoutArgs),
    /// Two nodes sharing live events through NATS: events/s across nodes, and the latency
    /// a cross-node event adds over a same-node one.
    Nodes(nodes::NodesArgs),
    /// A payout run over many creators with available balances, through the sandbox.
    Payouts(payouts::PayoutsArgs),
    /// The pages' render times for a creator with a history of badge purchases.
    Pages(pages::PagesArgs),
    /// Tracked-link redirects (GET /r/{code}) with click recording on, beside plain
    /// redirects and GET /healthz in the same run.
    Redirects(shop::RedirectsArgs),
    /// Shop orders (POST /v1/shop/orders), each paying a commission from a brand's wallet.
    Orders(shop::OrdersArgs),
    /// The brand marketplace's ranking: top matches among many synthetic creators, for briefs
    /// with and without niches, in this process.
    Matching(matching::MatchingArgs),
}

/// Options every benchmark shares.
#[derive(Debug, Args, Clone)]
pub(crate) struct Common {
    /// Where the temporary database goes (default: the system's temp dir).
    #[arg(long)]
    pub(crate) tmp_dir: Option<std::path::PathBuf>,
}

pub(crate) async fn run(command: BenchCommand, config: server::Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ledger(args) => ledger::run(args).await,
        BenchCommand::Purchases(args) => purchases::run(args, config).await,
        BenchCommand::Fanout(args) => fanout::run(args).await,
        BenchCommand::Nodes(args) => nodes::run(args).await,
        BenchCommand::Payouts(args) => payouts::run(args, config).await,
        BenchCommand::Pages(args) => pages::run(args, config).await,
        BenchCommand::Redirects(args) => shop::redirects(args, config).await,
        BenchCommand::Orders(args) => shop::orders(args, config).await,
        BenchCommand::Matching(args) => matching::run(&args),
    }
}

/// A fresh temporary directory for a benchmark's database.
pub(crate) fn temp_dir(common: &Common) -> anyhow::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("ovation-bench-");
    Ok(match &common.tmp_dir {
        Some(dir) => builder.tempdir_in(dir)?,
        None => builder.tempdir()?,
    })
}

/// A benchmark's own PostgreSQL database, created fresh on a server and dropped by
/// [`BenchDb::drop_now`].
pub(crate) struct BenchDb {
    server: String,
    name: String,
    /// Its URL, as `OVATION_DATABASE_URL` takes it.
    pub(crate) url: String,
}

impl BenchDb {
    /// Creates `<label>_<pid>` on the server of `server` (any database URL of it).
    pub(crate) async fn create(server: &str, label: &str) -> anyhow::Result<BenchDb> {
        let name = format!("{label}_{}", std::process::id());
        let url = store::create_database(server, &name).await?;
        Ok(BenchDb {
            server: server.to_owned(),
            name,
            url,
        })
    }

    /// Drops it (with the connections still open to it), saying so if that fails.
    pub(crate) async fn drop_now(self) {
        if let Err(e) = store::drop_database(&self.server, &self.name).await {
            eprintln!("could not drop the benchmark database {}: {e}", self.name);
        }
    }
}

/// The real server in this process, on a free port of 127.0.0.1.
pub(crate) struct InProcess {
    /// Where it listens.
    pub(crate) addr: std::net::SocketAddr,
    /// The admin token it accepts.
    pub(crate) admin: String,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Builds the app from `config` (its `bind` is ignored) and serves it.
    pub(crate) async fn start(config: server::Config) -> anyhow::Result<InProcess> {
        let app = server::App::build(config).await?;
        let admin = app.admin_token.clone();
        let (listener, addr) =
            server::bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(app.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(InProcess {
            addr,
            admin,
            stop,
            served,
        })
    }

    /// Shuts it down gracefully and waits until it has.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.served.await?
    }
}
