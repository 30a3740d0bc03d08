//! `ovation simulate`: the synthetic creator economy of [`market::sim`] under each ranking,
//! printed side by side as Markdown (one seed), or as a summary over several seeds; and the
//! Lorenz curves of deal income as an SVG.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "ratios and percentages of simulation results for the report, not money"
)]

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use market::sim::{self, Config, Goals, Outcome, Ranking};
use market::tier::Tier;

/// Options of `ovation simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Seed of the economy.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run seeds `A..B` (inclusive, e.g. `1..10`) and print a summary instead of one table.
    #[arg(long)]
    seeds: Option<String>,
    /// Creators in the economy.
    #[arg(long, default_value_t = 50_000)]
    creators: usize,
    /// Rounds of campaigns.
    #[arg(long, default_value_t = 12)]
    rounds: u32,
    /// Brands (campaigns) per round.
    #[arg(long, default_value_t = 40)]
    brands: usize,
    /// Write the Lorenz curves of deal income (one seed) to this SVG file.
    #[arg(long)]
    lorenz: Option<PathBuf>,
}

pub(crate) fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let config = |seed| Config {
        seed,
        creators: args.creators,
        rounds: args.rounds,
        brands: args.brands,
        ..Config::new(seed)
    };
    match &args.seeds {
        None => {
            let outcomes = compare(&config(args.seed));
            print!("{}", table(&config(args.seed), &outcomes));
            if let Some(path) = &args.lorenz {
                std::fs::write(path, lorenz_svg(&outcomes))?;
                println!("\nLorenz curves written to {}", path.display());
            }
        }
        Some(range) => {
            let (from, to) = range
                .split_once("..")
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .filter(|(a, b)| a <= b)
                .ok_or_else(|| anyhow::anyhow!("--seeds must be A..B with A ≤ B, got {range:?}"))?;
            let mut goals = Vec::new();
            println!(
                "| seed | value kept | mid found: Ovation / followers / oracle | Gini: followers / Ovation |"
            );
            println!("| --- | --- | --- | --- |");
            for seed in from..=to {
                let outcomes = compare(&config(seed));
                let g =
                    Goals::of(&outcomes).ok_or_else(|| anyhow::anyhow!("a ranking is missing"))?;
                let [ov, fo, or] = g.mid_found_bps;
                println!(
                    "| {seed} | {} | {} / {} / {} | {} / {} |",
                    pct(g.value_kept_bps),
                    pct(ov),
                    pct(fo),
                    pct(or),
                    gini(g.gini_bps[0]),
                    gini(g.gini_bps[1])
                );
                goals.push(g);
            }
            print!("{}", summary(&goals));
        }
    }
    Ok(())
}

/// Every ranking on the same economy, one thread each (they share nothing).
fn compare(config: &Config) -> Vec<Outcome> {
    std::thread::scope(|s| {
        let handles: Vec<_> = Ranking::ALL
            .iter()
            .map(|&r| s.spawn(move || sim::run(config, r)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn pct(bps: u32) -> String {
    format!("{:.1} %", f64::from(bps) / 100.0)
}

fn gini(bps: u32) -> String {
    format!("{:.3}", f64::from(bps) / 10_000.0)
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// The one-seed table, in Markdown, with the goals under it.
fn table(config: &Config, outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let creators = outcomes.first().map(|o| o.creators).unwrap_or_default();
    let tiers: Vec<String> = Tier::ALL
        .iter()
        .map(|t| format!("{t} {}", creators[t.index()]))
        .collect();
    let _ = writeln!(
        out,
        "ovation simulate --seed {}: {} creators ({}), {} rounds of {} campaigns, engagement observed under {:.0} % noise\n",
        config.seed,
        config.creators,
        tiers.join(", "),
        config.rounds,
        config.brands,
        config.engagement_noise * 100.0
    );
    let header: Vec<&str> = outcomes.iter().map(|o| o.ranking.as_str()).collect();
    let _ = writeln!(out, "| | {} |", header.join(" | "));
    let _ = writeln!(out, "| --- |{}", " --- |".repeat(outcomes.len()));
    let oracle = outcomes
        .iter()
        .find(|o| o.ranking == Ranking::Oracle)
        .map_or(0.0, Outcome::value_per_spent);
    let mut row = |name: &str, cell: &dyn Fn(&Outcome) -> String| {
        let cells: Vec<String> = outcomes.iter().map(cell).collect();
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    };
    row("value per unit spent", &|o| {
        let v = o.value_per_spent();
        if oracle > 0.0 {
            format!("{v:.3} ({:.1} % of oracle)", v / oracle * 100.0)
        } else {
            format!("{v:.3}")
        }
    });
    row("deals", &|o| o.deals.to_string());
    for t in Tier::ALL {
        row(&format!("excellent {t} creators found"), &|o| {
            o.excellent_found_bps[t.index()].map_or_else(|| "–".to_owned(), pct)
        });
    }
    for t in Tier::ALL {
        row(&format!("{t} share of deal income"), &|o| {
            pct(o.income_share_bps[t.index()])
        });
    }
    row("Gini of deal income", &|o| gini(o.gini_bps));
    row(
        "top 1 % share of deal income",
        &|o| pct(o.top_1_percent_bps),
    );
    if let Some(g) = Goals::of(outcomes) {
        let [ov, fo, or] = g.mid_found_bps;
        let _ = writeln!(out, "\nGoals for Ovation's ranking:");
        let _ = writeln!(
            out,
            "- keeps ≥ 95 % of the oracle's value per unit spent: {} — {}",
            pct(g.value_kept_bps),
            met(g.value_met())
        );
        let _ = writeln!(
            out,
            "- finds excellent mid creators at ≥ 5 × follower count's rate: {} against {} ({}) — {}",
            pct(ov),
            pct(fo),
            times(ov, fo),
            met(g.mid_vs_followers_met())
        );
        let _ = writeln!(
            out,
            "- within 10 points of the oracle's rate: {} against {} — {}",
            pct(ov),
            pct(or),
            met(g.mid_vs_oracle_met())
        );
        let _ = writeln!(
            out,
            "- lower Gini than follower count: {} against {} — {}",
            gini(g.gini_bps[1]),
            gini(g.gini_bps[0]),
            met(g.gini_met())
        );
    }
    out
}

fn times(a: u32, b: u32) -> String {
    if b == 0 {
        "follower count found none".to_owned()
    } else {
        format!("{:.2} ×", f64::from(a) / f64::from(b))
    }
}

/// The median and the worst of each goal's figure over the seeds.
fn summary(goals: &[Goals]) -> String {
    let mut out = String::new();
    let n = goals.len();
    // The median of an even count is the mean of the middle two.
    let stat = |mut v: Vec<u32>| {
        v.sort_unstable();
        let mid = |i: usize| u64::from(v.get(i).copied().unwrap_or(0));
        let median = (mid(v.len().saturating_sub(1) / 2) + mid(v.len() / 2)) / 2;
        (
            u32::try_from(median).unwrap_or(0),
            v.first().copied().unwrap_or(0),
            v.last().copied().unwrap_or(0),
        )
    };
    let (med, min, _) = stat(goals.iter().map(|g| g.value_kept_bps).collect());
    let count = |f: fn(&Goals) -> bool| goals.iter().filter(|g| f(g)).count();
    let _ = writeln!(out, "\nOver {n} seeds (median, worst):");
    let _ = writeln!(
        out,
        "- value per unit spent kept (goal ≥ 95 %): median {}, min {}; met in {} of {n}",
        pct(med),
        pct(min),
        count(Goals::value_met)
    );
    let ratios: Vec<u32> = goals
        .iter()
        .map(|g| {
            let [ov, fo, _] = g.mid_found_bps;
            u32::try_from(u64::from(ov) * 100 / u64::from(fo.max(1))).unwrap_or(u32::MAX)
        })
        .collect();
    let (med, min, _) = stat(ratios);
    let _ = writeln!(
        out,
        "- excellent mid found, Ovation ÷ follower count (goal ≥ 5 ×): median {:.2} ×, min {:.2} ×; met in {} of {n}",
        f64::from(med) / 100.0,
        f64::from(min) / 100.0,
        count(Goals::mid_vs_followers_met)
    );
    let gaps: Vec<i64> = goals
        .iter()
        .map(|g| i64::from(g.mid_found_bps[0]) - i64::from(g.mid_found_bps[2]))
        .collect();
    let mut sorted = gaps.clone();
    sorted.sort_unstable();
    let at = |i: usize| sorted.get(i).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "- excellent mid found, Ovation − oracle (goal ≥ −10 points): median {:+.1} points, min {:+.1} points; met in {} of {n}",
        (at(n.saturating_sub(1) / 2) + at(n / 2)) as f64 / 200.0,
        sorted.first().copied().unwrap_or(0) as f64 / 100.0,
        count(Goals::mid_vs_oracle_met)
    );
    let (fmed, _, _) = stat(goals.iter().map(|g| g.gini_bps[0]).collect());
    let (omed, _, omax) = stat(goals.iter().map(|g| g.gini_bps[1]).collect());
    let _ = writeln!(
        out,
        "- Gini (goal: Ovation below follower count): follower count median {}, Ovation median {} (max {}); met in {} of {n}",
        gini(fmed),
        gini(omed),
        gini(omax),
        count(Goals::gini_met)
    );
    out
}

/// The Lorenz curves of deal income, one line per ranking, with the line of equality.
fn lorenz_svg(outcomes: &[Outcome]) -> String {
    const SIZE: f64 = 400.0;
    const PAD: f64 = 40.0;
    let colors = ["#d62728", "#1f77b4", "#9467bd", "#2ca02c"];
    let xy = |x: u32, y: u32| {
        (
            PAD + f64::from(x) / 10_000.0 * SIZE,
            PAD + SIZE - f64::from(y) / 10_000.0 * SIZE,
        )
    };
    let mut svg = String::new();
    let side = SIZE + 2.0 * PAD;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#,
        w = side + 180.0,
        h = side
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let (x0, y0) = xy(0, 0);
    let (x1, y1) = xy(10_000, 10_000);
    let _ = writeln!(
        svg,
        r##"<rect x="{x0}" y="{y1}" width="{SIZE}" height="{SIZE}" fill="none" stroke="#999"/>"##
    );
    let _ = writeln!(
        svg,
        r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#bbb" stroke-dasharray="4 4"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">share of creators, poorest first</text>"#,
        PAD + SIZE / 2.0,
        side - 10.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="12" y="{}" transform="rotate(-90 12 {})" text-anchor="middle">share of deal income</text>"#,
        PAD + SIZE / 2.0,
        PAD + SIZE / 2.0
    );
    for (k, (o, color)) in outcomes.iter().zip(colors.iter().cycle()).enumerate() {
        let points: Vec<String> = o
            .lorenz
            .iter()
            .map(|&(x, y)| {
                let (px, py) = xy(x, y);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let ly = PAD + 20.0 + 20.0 * k as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{a}" y1="{ly}" x2="{b}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{c}" y="{ty}">{} (Gini {})</text>"#,
            o.ranking,
            gini(o.gini_bps),
            a = side + 5.0,
            b = side + 25.0,
            c = side + 30.0,
            ty = ly + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
