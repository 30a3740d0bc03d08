//! Synthetic creators and briefs, seeded and reproducible: what the index's tests, `ovation
//! bench matching` and the simulation ([`crate::sim`]) build their markets from.
//!
//! [`Synthetic::creator`] draws the uniform market the index is tested and timed on: followers
//! from about 1,000 to 4 million with each power of two about as common, engagement falling as
//! followers grow, random audience shares, one or two niches, up to 19 ratings and deliveries,
//! and for three creators in four a fee of 0.50 to 1.50 USD per hundred followers.
//! The simulation draws its own, power-law economy, but with the same niches and countries.

use std::collections::BTreeMap;

use money::{Currency, Money};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::profile::{Brief, Creator, Deliveries, Ratings};

/// The niches synthetic creators and briefs choose from.
pub const NICHES: [&str; 8] = [
    "cooking",
    "travel",
    "fitness",
    "gaming",
    "beauty",
    "tech",
    "music",
    "parenting",
];

/// The audience countries synthetic creators and briefs choose from.
pub const COUNTRIES: [&str; 5] = ["US", "CA", "GB", "DE", "BR"];

/// The age range synthetic creators report a share of their audience in.
pub const AGE_RANGE: &str = "18-24";

/// A seeded generator of synthetic creators and briefs: the same seed draws the same market.
#[derive(Debug, Clone)]
pub struct Synthetic {
    rng: Xoshiro256PlusPlus,
}

impl Synthetic {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Synthetic {
        Synthetic {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        items.get(i).copied().unwrap_or("")
    }

    /// Audience shares over [`COUNTRIES`] that sum to at most 10,000 bps: each country takes a
    /// uniform part of what is left.
    pub fn audience_countries(&mut self) -> BTreeMap<String, u32> {
        let mut left = 10_000u64;
        COUNTRIES
            .iter()
            .map(|&c| {
                let share = self.below(left + 1);
                left -= share;
                (c.to_owned(), u32::try_from(share).unwrap_or(0))
            })
            .collect()
    }

    /// One or two of [`NICHES`] (the same one twice counts once).
    pub fn niches(&mut self) -> Vec<String> {
        (0..1 + self.below(2))
            .map(|_| self.pick(&NICHES).to_owned())
            .collect()
    }

    /// A creator of the uniform market, with id `creator-{i}`.
    pub fn creator(&mut self, i: usize) -> Creator {
        let followers = (1_000u64 << self.below(12)) + self.below(1_000);
        let engagement_bps =
            u32::try_from(2_000 / (1 + followers / 20_000) + self.below(300)).unwrap_or(0);
        let audience_countries = self.audience_countries();
        let count = u32::try_from(self.below(20)).unwrap_or(0);
        let stars_sum = count + u32::try_from(self.below(u64::from(4 * count) + 1)).unwrap_or(0);
        let total = u32::try_from(self.below(20)).unwrap_or(0);
        let late = u32::try_from(self.below(u64::from(total) + 1)).unwrap_or(0);
        let fee = (self.below(4) > 0).then(|| {
            let cents = followers * (50 + self.below(101)) / 100;
            Money::new(
                i64::try_from(cents.max(1)).unwrap_or(i64::MAX),
                Currency::USD,
            )
        });
        Creator {
            id: format!("creator-{i}"),
            followers,
            avg_views: followers * self.below(40) / 100,
            engagement_bps,
            audience_countries,
            audience_ages: BTreeMap::from([(
                AGE_RANGE.to_owned(),
                u32::try_from(self.below(10_001)).unwrap_or(0),
            )]),
            niches: self.niches(),
            ratings: Ratings { count, stars_sum },
            deliveries: Deliveries {
                on_time: total - late,
                total,
            },
            fee,
        }
    }
}

/// A brief for `niches` and `countries` (any age) offering 500.00 USD per creator.
pub fn brief(niches: &[&str], countries: &[&str]) -> Brief {
    Brief {
        niches: niches.iter().map(|&n| n.to_owned()).collect(),
        countries: countries.iter().map(|&c| c.to_owned()).collect(),
        ages: None,
        fee: Money::new(50_000, Currency::USD),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_valid_creators() {
        let (mut a, mut b) = (Synthetic::new(3), Synthetic::new(3));
        for i in 0..200 {
            let c = a.creator(i);
            assert_eq!(c.validate(), Ok(()));
            assert_eq!(c, b.creator(i));
        }
        assert_ne!(Synthetic::new(4).creator(0), Synthetic::new(3).creator(0));
    }
}
