//! Times `Index::top` over many synthetic creators:
//! `cargo run --release -p market --example rank_many -- 1000000`.

use std::collections::BTreeMap;
use std::time::Instant;

use market::{Brief, Creator, Deliveries, Index, Ratings};
use money::{Currency, Money};

const NICHES: [&str; 8] = [
    "cooking",
    "travel",
    "fitness",
    "gaming",
    "beauty",
    "tech",
    "music",
    "parenting",
];
const COUNTRIES: [&str; 5] = ["US", "CA", "GB", "DE", "BR"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let creators: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut below = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut index = Index::new();
    let started = Instant::now();
    for i in 0..creators {
        let followers = (1_000u64 << below(12)) + below(1_000);
        let mut countries = BTreeMap::new();
        let mut left = 10_000u64;
        for c in COUNTRIES {
            let share = below(left + 1);
            left -= share;
            countries.insert(c.to_owned(), u32::try_from(share)?);
        }
        let count = u32::try_from(below(20))?;
        let stars_sum = count + u32::try_from(below(u64::from(4 * count) + 1))?;
        let total = u32::try_from(below(20))?;
        index.upsert(&Creator {
            id: format!("creator-{i}"),
            followers,
            avg_views: followers * below(40) / 100,
            engagement_bps: u32::try_from(2_000 / (1 + followers / 20_000) + below(300))?,
            audience_countries: countries,
            audience_ages: BTreeMap::from([("18-24".into(), u32::try_from(below(10_001))?)]),
            niches: (0..1 + below(2))
                .map(|_| NICHES[usize::try_from(below(8)).unwrap_or(0)].to_owned())
                .collect(),
            ratings: Ratings { count, stars_sum },
            deliveries: Deliveries {
                on_time: total - u32::try_from(below(u64::from(total) + 1))?,
                total,
            },
        })?;
    }
    println!("indexed {creators} creators in {:?}", started.elapsed());
    let brief = Brief {
        niches: vec!["cooking".into(), "travel".into()],
        countries: vec!["US".into(), "CA".into()],
        ages: None,
        fee: Money::new(50_000, Currency::parse("USD")?),
    };
    for b in [
        brief.clone(),
        Brief {
            niches: vec![],
            ..brief
        },
    ] {
        let mut times = Vec::new();
        for _ in 0..21 {
            let started = Instant::now();
            let top = index.top(&b, 100);
            times.push(started.elapsed());
            assert_eq!(top.len(), 100);
        }
        times.sort();
        println!(
            "top 100 for niches {:?}: p50 {:?}, min {:?}",
            b.niches, times[10], times[0]
        );
    }
    Ok(())
}
