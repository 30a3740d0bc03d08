//! `ovation bench …`: the benchmarks whose figures BENCHMARKS.md records.
//!
//! Each prints one block (figure, parameters, machine) meant to be pasted as is.

mod fanout;
mod http;
mod ledger;
mod nodes;
mod purchases;
mod report;

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
