//! `ovation bench matching`: ranking many synthetic creators for a brief with the product's
//! own [`market::Index`], in this process.
//!
//! The index is filled one upsert at a time (as the server fills it), the first ranking after
//! that builds the index's ranking cache (timed apart), then each kind of brief is ranked
//! `--queries` times: briefs with niches (one or two of eight, and countries), which score a
//! niche's creators, and briefs without niches, which score every creator.

use std::time::{Duration, Instant};

use clap::Args;
use market::synthetic::{COUNTRIES, NICHES, Synthetic, brief};
use market::{Brief, Index};

use super::report::{Block, Latencies, machine, mib, ms, rss_kib, thousands};

/// Options of `ovation bench matching`.
#[derive(Debug, Args)]
pub(crate) struct MatchingArgs {
    /// Synthetic creators in the index.
    #[arg(long, default_value_t = 1_000_000)]
    creators: usize,
    /// Rankings timed for each kind of brief.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Matches per ranking.
    #[arg(long, default_value_t = 100)]
    top: usize,
    /// Seed of the synthetic creators and briefs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub(crate) fn run(args: &MatchingArgs) -> anyhow::Result<()> {
    let rss_before = rss_kib("self").map_or(0, |(rss, _)| rss);
    let mut synthetic = Synthetic::new(args.seed);
    let mut index = Index::new();
    let started = Instant::now();
    for i in 0..args.creators {
        index.upsert(&synthetic.creator(i))?;
    }
    let filled = started.elapsed();
    let started = Instant::now();
    let first = index.top(&brief(&["cooking"], &["US"]), args.top);
    let cache = started.elapsed();
    anyhow::ensure!(
        first.len() == args.top.min(index.len()),
        "the first ranking returned {} matches",
        first.len()
    );
    let rss_after = rss_kib("self").map_or(0, |(rss, _)| rss);

    let mut briefs = Briefs(Synthetic::new(args.seed ^ 0x5EED));
    let with_niches = time(&index, args, || briefs.with_niches())?;
    let without = time(&index, args, || briefs.without_niches())?;

    let mut block = Block::new(format!(
        "ovation bench matching: top {} of {} creators",
        args.top,
        thousands(args.creators as f64)
    ));
    block
        .line(
            "briefs with niches",
            format!(
                "p50 {}, p99 {}, max {}",
                ms(with_niches.pct(50)),
                ms(with_niches.pct(99)),
                ms(with_niches.max())
            ),
        )
        .line(
            "briefs without niches",
            format!(
                "p50 {}, p99 {}, max {}",
                ms(without.pct(50)),
                ms(without.pct(99)),
                ms(without.max())
            ),
        )
        .line("target", "p50 ≤ 15 ms for each kind")
        .line(
            "index filled",
            format!(
                "{:.2} s ({} upserts)",
                secs(filled),
                thousands(args.creators as f64)
            ),
        )
        .line("ranking cache built", ms(micros(cache)))
        .line(
            "memory (RSS growth)",
            mib(rss_after.saturating_sub(rss_before)),
        )
        .line(
            "parameters",
            format!(
                "--creators {} --queries {} --top {} --seed {}",
                args.creators, args.queries, args.top, args.seed
            ),
        )
        .line("machine", machine());
    block.print();
    Ok(())
}

/// Times `args.queries` rankings of the briefs `next` gives, after five untimed ones.
fn time(
    index: &Index,
    args: &MatchingArgs,
    mut next: impl FnMut() -> Brief,
) -> anyhow::Result<Latencies> {
    for _ in 0..5 {
        index.top(&next(), args.top);
    }
    let mut latencies = Latencies::with_capacity(args.queries);
    for _ in 0..args.queries {
        let brief = next();
        let started = Instant::now();
        let matches = index.top(&brief, args.top);
        latencies.record(started.elapsed());
        anyhow::ensure!(
            !matches.is_empty() || index.is_empty(),
            "no match for {brief:?}"
        );
    }
    latencies.sort();
    Ok(latencies)
}

/// Random briefs of both kinds.
struct Briefs(Synthetic);

impl Briefs {
    /// One or two niches, one or two countries.
    fn with_niches(&mut self) -> Brief {
        let niches: Vec<&str> = (0..1 + self.0.below(2))
            .map(|_| self.0.pick(&NICHES))
            .collect();
        let countries = self.countries();
        brief(&niches, &countries)
    }

    /// Any niche, one or two countries.
    fn without_niches(&mut self) -> Brief {
        let countries = self.countries();
        brief(&[], &countries)
    }

    fn countries(&mut self) -> Vec<&'static str> {
        (0..1 + self.0.below(2))
            .map(|_| self.0.pick(&COUNTRIES))
            .collect()
    }
}

#[allow(clippy::float_arithmetic, reason = "a duration for the report")]
fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
