//! `ovation bench …`: the benchmarks whose figures BENCHMARKS.md records.

use clap::Subcommand;

/// Which benchmark.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Placeholder until the benchmarks land.
    Ledger,
}

pub(crate) async fn run(command: BenchCommand, _config: server::Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ledger => anyhow::bail!("not built yet"),
    }
}
