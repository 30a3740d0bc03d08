//! The synthetic economy: creators' true values, what the platform observes of them, the
//! campaigns, and what a deal is worth to a brand.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "true quality, engagement, noise and a deal's value to a brand are simulation \
              quantities, not money; a fee becomes integer minor units once, when drawn"
)]

use std::collections::BTreeMap;

use money::{Currency, Money};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::profile::{Brief, Creator, Deliveries, Ratings};
use crate::synthetic::{AGE_RANGE, COUNTRIES, NICHES, Synthetic};
use crate::tier::Tier;

/// The smallest creator's followers; followers are Pareto distributed above it.
pub const MIN_FOLLOWERS: f64 = 1_000.0;
/// The Pareto tail index of followers: a creator has more than `x` followers with
/// probability `(1,000 / x)^α`.
pub const FOLLOWERS_ALPHA: f64 = 1.0;
/// The largest creator's followers.
pub const MAX_FOLLOWERS: f64 = 50_000_000.0;
/// Standard deviation of ln(true quality); quality is independent of size, median 1.
pub const QUALITY_SIGMA: f64 = 0.5;
/// Engagement of a median-quality creator with [`MIN_FOLLOWERS`] followers.
pub const BASE_ENGAGEMENT: f64 = 0.08;
/// How engagement falls with size: it scales as followers^−this.
pub const ENGAGEMENT_DECAY: f64 = 0.3;
/// Median views per post per follower, and the spread of its logarithm.
pub const VIEWS_PER_FOLLOWER: f64 = 0.1;
/// Standard deviation of ln(views per follower).
pub const VIEWS_SIGMA: f64 = 0.4;
/// A median creator's fee with [`MIN_FOLLOWERS`] followers, in cents.
pub const BASE_FEE_CENTS: f64 = 2_000.0;
/// How fees rise with size: they scale as followers^this.
pub const FEE_GROWTH: f64 = 0.7;
/// Standard deviation of ln(fee) around the rate for the creator's size.
pub const FEE_SIGMA: f64 = 0.3;
/// What one engagement with a campaign's post is worth to its brand, in cents.
pub const VALUE_PER_ENGAGEMENT_CENTS: f64 = 300.0;

/// What the simulation knows of a creator and never shows a ranking.
#[derive(Debug, Clone)]
pub struct Truth {
    /// True quality: multiplies engagement; median 1, independent of size.
    pub quality: f64,
    /// True engagement rate per view.
    pub engagement: f64,
    /// The creator's fee per deal, in cents.
    pub fee_cents: u64,
    /// Probability of delivering on time.
    pub punctuality: f64,
}

/// A creator of the economy: the truth, and what the platform observes (a [`Creator`] whose
/// ratings and deliveries grow as deals are delivered).
#[derive(Debug, Clone)]
pub struct Member {
    /// What the platform sees.
    pub observed: Creator,
    /// What it does not.
    pub truth: Truth,
}

impl Member {
    /// The creator's tier.
    pub fn tier(&self) -> Tier {
        self.observed.tier()
    }

    /// What a deal with this creator is worth to a brand with `campaign`, in cents: the
    /// engagements its post gets from the campaign's audience, each worth
    /// [`VALUE_PER_ENGAGEMENT_CENTS`].
    pub fn value_cents(&self, campaign: &Campaign) -> f64 {
        let audience: u32 = campaign
            .countries
            .iter()
            .filter_map(|c| self.observed.audience_countries.get(*c))
            .sum();
        let in_niche = campaign
            .niches
            .iter()
            .any(|n| self.observed.niches.iter().any(|m| m == n));
        let niche = if in_niche { 1.0 } else { 0.2 };
        self.observed.avg_views as f64 * self.truth.engagement * f64::from(audience) / 10_000.0
            * niche
            * VALUE_PER_ENGAGEMENT_CENTS
    }

    /// What the platform can estimate of [`Member::value_per_fee`]: observed engagement in
    /// place of the true one.
    pub fn observed_value_per_fee(&self, campaign: &Campaign) -> f64 {
        let observed = f64::from(self.observed.engagement_bps) / 10_000.0;
        self.value_per_fee(campaign) * observed / self.truth.engagement.max(1e-9)
    }

    /// The creator's true value per unit of its fee for `campaign`: what the oracle ranks by.
    pub fn value_per_fee(&self, campaign: &Campaign) -> f64 {
        self.value_cents(campaign) / self.truth.fee_cents.max(1) as f64
    }
}

/// A brand's campaign in one round.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// Its niche(s).
    pub niches: Vec<&'static str>,
    /// Its audience countries.
    pub countries: Vec<&'static str>,
    /// Its budget, in cents.
    pub budget_cents: u64,
    /// How many creators it hires at most.
    pub slots: usize,
}

impl Campaign {
    /// The brief a ranking sees: niches, countries, and the budget per slot as the fee.
    pub fn brief(&self) -> Brief {
        let per_slot = self.budget_cents / self.slots.max(1) as u64;
        Brief {
            niches: self.niches.iter().map(|&n| n.to_owned()).collect(),
            countries: self.countries.iter().map(|&c| c.to_owned()).collect(),
            ages: None,
            fee: Money::new(i64::try_from(per_slot).unwrap_or(i64::MAX), Currency::USD),
        }
    }
}

/// A seeded source of normal and uniform draws.
#[derive(Debug, Clone)]
pub struct Draws(Xoshiro256PlusPlus);

impl Draws {
    /// Draws seeded with `seed`.
    pub fn new(seed: u64) -> Draws {
        Draws(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        1.0 - self.0.random::<f64>()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Whether an event of probability `p` happens.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() <= p
    }

    /// An index below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n.max(1))
    }
}

/// Draws `n` creators: followers Pareto distributed, quality independent of size, engagement
/// falling with size and observed under `noise` (relative standard deviation), views per
/// follower independent of both, fees rising with followers.
pub fn creators(seed: u64, n: usize, noise: f64) -> Vec<Member> {
    let mut draws = Draws::new(seed);
    let mut profiles = Synthetic::new(seed ^ 0xC0FF_EE00);
    (0..n)
        .map(|i| {
            let followers =
                (MIN_FOLLOWERS * draws.unit().powf(-1.0 / FOLLOWERS_ALPHA)).min(MAX_FOLLOWERS);
            let size = followers / MIN_FOLLOWERS;
            let quality = (QUALITY_SIGMA * draws.normal()).exp();
            let engagement = (BASE_ENGAGEMENT * size.powf(-ENGAGEMENT_DECAY) * quality).min(0.9);
            let observed_engagement = (engagement * (1.0 + noise * draws.normal())).clamp(0.0, 1.0);
            let views = followers * VIEWS_PER_FOLLOWER * (VIEWS_SIGMA * draws.normal()).exp();
            let fee = BASE_FEE_CENTS * size.powf(FEE_GROWTH) * (FEE_SIGMA * draws.normal()).exp();
            let punctuality = 0.6 + 0.4 * draws.unit();
            let fee_cents = (fee.round() as u64).max(1);
            Member {
                observed: Creator {
                    id: format!("creator-{i}"),
                    followers: followers as u64,
                    avg_views: views as u64,
                    engagement_bps: (observed_engagement * 10_000.0).round() as u32,
                    audience_countries: profiles.audience_countries(),
                    audience_ages: BTreeMap::from([(
                        AGE_RANGE.to_owned(),
                        u32::try_from(profiles.below(10_001)).unwrap_or(0),
                    )]),
                    niches: profiles.niches(),
                    ratings: Ratings::default(),
                    deliveries: Deliveries::default(),
                    // Brands pay each creator's fee: the platform knows it.
                    fee: Some(Money::new(
                        i64::try_from(fee_cents).unwrap_or(i64::MAX),
                        Currency::USD,
                    )),
                },
                truth: Truth {
                    quality,
                    engagement,
                    fee_cents,
                    punctuality,
                },
            }
        })
        .collect()
}

/// One round's campaigns: `brands` of them, each with one niche and one or two countries,
/// sharing `budget_cents` and `slots` in proportion to a lognormal size (σ = 1: brands differ).
pub fn campaigns(
    draws: &mut Draws,
    brands: usize,
    budget_cents: u64,
    slots: usize,
) -> Vec<Campaign> {
    let brands = brands.max(1);
    let drawn: Vec<(f64, Vec<&'static str>, Vec<&'static str>)> = (0..brands)
        .map(|_| {
            let size = draws.normal().exp();
            let niches = vec![NICHES[draws.below(NICHES.len())]];
            let mut countries = vec![COUNTRIES[draws.below(COUNTRIES.len())]];
            if draws.chance(0.5) {
                let other = COUNTRIES[draws.below(COUNTRIES.len())];
                if !countries.contains(&other) {
                    countries.push(other);
                }
            }
            (size, niches, countries)
        })
        .collect();
    let total: f64 = drawn.iter().map(|d| d.0).sum();
    drawn
        .into_iter()
        .map(|(size, niches, countries)| {
            let part = size / total.max(f64::MIN_POSITIVE);
            Campaign {
                niches,
                countries,
                budget_cents: (budget_cents as f64 * part) as u64,
                slots: ((slots as f64 * part).round() as usize).max(1),
            }
        })
        .collect()
}

/// The stars a brand gives a delivered deal: better for better creators, with noise.
pub fn stars(draws: &mut Draws, truth: &Truth) -> u32 {
    let s = 3.0 + 2.0 * truth.quality.ln() / QUALITY_SIGMA / 1.5 + 0.7 * draws.normal();
    s.round().clamp(1.0, 5.0) as u32
}
