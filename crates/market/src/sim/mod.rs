//! A synthetic creator economy, seeded and reproducible, run under several rankings to see
//! what each does for brands and for the income gap between creators.
//!
//! The economy ([`economy`]): followers power-law distributed, quality independent of size,
//! engagement falling with size and observed with noise, fees rising with followers. Each
//! round, brands post campaigns (a niche, one or two countries, a budget and slots); each
//! brand goes down its ranked list and hires every creator it can still afford who is not
//! already booked this round, until its slots or budget run out. A delivered deal is rated by
//! the brand (better creators get more stars) and delivered on time or late; the platform sees
//! those ratings from the next round on. The round's budgets total a tenth of what hiring every
//! creator once would cost, and its slots a tenth of the creators.
//!
//! The same economy — the same creators, campaigns and chance — runs under each [`Ranking`]:
//! - **followers**: the campaign's niche, largest first (brand search on the big platforms);
//! - **Ovation**: the product's [`Index::top`], fed only what the platform observes
//!   (followers, views, engagement with noise, audience, niches, ratings and deliveries so far,
//!   and each creator's fee, which brands pay through the platform);
//! - **observed value per fee**: views × observed engagement × audience in the campaign's
//!   countries ÷ fee, a plain baseline that sorts by nothing else;
//! - **oracle**: true value per fee for the campaign, which no platform can know.
//!
//! [`Outcome`] holds what each ranking did: brands' value per unit spent, each tier's share of
//! its excellent creators (top decile by true quality) hired at least once, each tier's share of
//! deal income, the Gini coefficient and top-1 % share of deal income, and the Lorenz curve.
//! No IO: the CLI prints and draws.

pub mod economy;
pub mod measure;

use std::fmt;

use crate::index::{Index, MAX_MATCHES};
use crate::tier::Tier;
use economy::{Campaign, Draws, Member};

/// How the economy is drawn and run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Seed of everything drawn.
    pub seed: u64,
    /// Creators in the economy.
    pub creators: usize,
    /// Rounds of campaigns.
    pub rounds: u32,
    /// Brands (campaigns) per round.
    pub brands: usize,
    /// Relative noise on observed engagement (0.3: a standard deviation of 30 %).
    pub engagement_noise: f64,
}

impl Config {
    /// The defaults for `seed`: 50,000 creators, 12 rounds of 40 campaigns, 30 % noise.
    pub fn new(seed: u64) -> Config {
        Config {
            seed,
            creators: 50_000,
            rounds: 12,
            brands: 40,
            engagement_noise: 0.3,
        }
    }
}

/// Who orders the candidates a brand picks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ranking {
    /// The campaign's niche, most followers first.
    Followers,
    /// The product's ranking, [`Index::top`], on observed data only.
    Ovation,
    /// Observed value per fee: views × observed engagement × audience in the campaign's
    /// countries ÷ the creator's fee — a plain baseline that knows each creator's fee.
    Observed,
    /// True value per fee: the best any ranking could do.
    Oracle,
}

impl Ranking {
    /// Every ranking, in the order they are shown.
    pub const ALL: [Ranking; 4] = [
        Ranking::Followers,
        Ranking::Ovation,
        Ranking::Observed,
        Ranking::Oracle,
    ];

    /// Its name in the tables.
    pub const fn as_str(self) -> &'static str {
        match self {
            Ranking::Followers => "follower count",
            Ranking::Ovation => "Ovation",
            Ranking::Observed => "observed value/fee",
            Ranking::Oracle => "oracle",
        }
    }
}

impl fmt::Display for Ranking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one ranking did to the economy.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The ranking.
    pub ranking: Ranking,
    /// Deals made.
    pub deals: u64,
    /// What brands spent, in cents.
    pub spent_cents: u64,
    /// What the deals were worth to the brands (true value), in cents.
    pub value_cents: u64,
    /// Creators per tier.
    pub creators: [u32; 5],
    /// Per tier, the share (bps) of its excellent creators (top decile by true quality) that
    /// won at least one deal; `None` for a tier with no creators.
    pub excellent_found_bps: [Option<u32>; 5],
    /// Each tier's share of deal income, in bps.
    pub income_share_bps: [u32; 5],
    /// Gini coefficient of deal income over every creator, in bps.
    pub gini_bps: u32,
    /// The top 1 % of creators' share of deal income, in bps.
    pub top_1_percent_bps: u32,
    /// The Lorenz curve of deal income: (share of creators, share of income) in bps.
    pub lorenz: Vec<(u32, u32)>,
}

impl Outcome {
    /// Value per unit of money spent.
    #[allow(
        clippy::float_arithmetic,
        clippy::cast_precision_loss,
        reason = "a ratio of two sums for the report, not money"
    )]
    pub fn value_per_spent(&self) -> f64 {
        if self.spent_cents == 0 {
            0.0
        } else {
            self.value_cents as f64 / self.spent_cents as f64
        }
    }

    /// The share of excellent mid-tier creators found, in bps (0 without mid creators).
    pub fn mid_found_bps(&self) -> u32 {
        self.excellent_found_bps[Tier::Mid.index()].unwrap_or(0)
    }
}

/// Runs the economy of `config` under `ranking`.
#[allow(
    clippy::float_arithmetic,
    reason = "the deals' true value is a simulation quantity, not money"
)]
pub fn run(config: &Config, ranking: Ranking) -> Outcome {
    let mut members = economy::creators(config.seed, config.creators, config.engagement_noise);
    let total_fees: u64 = members.iter().map(|m| m.truth.fee_cents).sum();
    let budget = total_fees / 10;
    let slots = (members.len() / 10).max(1);
    let mut index = Index::new();
    if ranking == Ranking::Ovation {
        for m in &members {
            // Every drawn creator is valid: shares, engagement and counts are in range.
            let _ = index.upsert(&m.observed);
        }
    }
    let by_followers = by_followers(&members);
    let mut income = vec![0u64; members.len()];
    let mut outcome_draws = Draws::new(config.seed ^ 0x0DD5_EED5);
    let mut campaign_draws = Draws::new(config.seed ^ 0xCA4B_A165);
    let (mut deals, mut spent, mut value) = (0u64, 0u64, 0f64);
    for _ in 0..config.rounds {
        let campaigns = economy::campaigns(&mut campaign_draws, config.brands, budget, slots);
        let mut booked = vec![false; members.len()];
        let mut hired: Vec<usize> = Vec::new();
        for campaign in &campaigns {
            let mut left = campaign.budget_cents;
            let mut taken = 0usize;
            let mut hire = |i: usize, left: &mut u64| -> bool {
                let Some(m) = members.get(i) else {
                    return false;
                };
                if booked[i] || m.truth.fee_cents > *left {
                    return false;
                }
                booked[i] = true;
                *left -= m.truth.fee_cents;
                income[i] += m.truth.fee_cents;
                spent += m.truth.fee_cents;
                value += m.value_cents(campaign);
                deals += 1;
                hired.push(i);
                true
            };
            let mut offer = |i: usize| {
                if taken < campaign.slots && hire(i, &mut left) {
                    taken += 1;
                }
                taken < campaign.slots && left > 0
            };
            match ranking {
                Ranking::Followers => {
                    for &i in in_niches(&by_followers, &members, campaign) {
                        if !offer(i) {
                            break;
                        }
                    }
                }
                Ranking::Observed => {
                    for i in by_observed_value_per_fee(&members, campaign) {
                        if !offer(i) {
                            break;
                        }
                    }
                }
                Ranking::Oracle => {
                    for i in by_value_per_fee(&members, campaign) {
                        if !offer(i) {
                            break;
                        }
                    }
                }
                Ranking::Ovation => ovation_list(&index, campaign, &mut offer),
            }
        }
        // Deliveries and ratings, seen by the platform from the next round on.
        hired.sort_unstable();
        for i in hired {
            let Some(m) = members.get_mut(i) else {
                continue;
            };
            let stars = economy::stars(&mut outcome_draws, &m.truth);
            let on_time = outcome_draws.chance(m.truth.punctuality);
            let o = &mut m.observed;
            o.ratings.count += 1;
            o.ratings.stars_sum += stars;
            o.deliveries.total += 1;
            o.deliveries.on_time += u32::from(on_time);
            if ranking == Ranking::Ovation {
                let _ = index.upsert(o);
            }
        }
    }
    measure::outcome(ranking, &members, &income, deals, spent, value)
}

/// Goes down Ovation's ranking for `campaign`, a page at a time, while `offer` wants more.
fn ovation_list(index: &Index, campaign: &Campaign, offer: &mut impl FnMut(usize) -> bool) {
    let brief = campaign.brief();
    let mut n = (campaign.slots * 2).clamp(50, MAX_MATCHES);
    let mut seen = 0usize;
    loop {
        let matches = index.top(&brief, n);
        for m in matches.iter().skip(seen) {
            let Some(i) = m
                .creator_id
                .strip_prefix("creator-")
                .and_then(|i| i.parse::<usize>().ok())
            else {
                continue;
            };
            if !offer(i) {
                return;
            }
        }
        if matches.len() < n || n == MAX_MATCHES {
            return;
        }
        seen = matches.len();
        n = (n * 2).min(MAX_MATCHES);
    }
}

/// Every creator, most followers first (the lower index first among equals).
fn by_followers(members: &[Member]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(members[i].observed.followers));
    order
}

/// `order` restricted to the campaign's niches.
fn in_niches<'a>(
    order: &'a [usize],
    members: &'a [Member],
    campaign: &'a Campaign,
) -> impl Iterator<Item = &'a usize> + 'a {
    order.iter().filter(move |&&i| {
        members[i]
            .observed
            .niches
            .iter()
            .any(|n| campaign.niches.contains(&n.as_str()))
    })
}

/// The campaign's niche, by true value per fee, the best first.
fn by_value_per_fee(members: &[Member], campaign: &Campaign) -> Vec<usize> {
    let all: Vec<usize> = (0..members.len()).collect();
    let mut order: Vec<(f64, usize)> = in_niches(&all, members, campaign)
        .map(|&i| (members[i].value_per_fee(campaign), i))
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    order.into_iter().map(|(_, i)| i).collect()
}

/// The campaign's niche, by observed value per fee, the best first.
fn by_observed_value_per_fee(members: &[Member], campaign: &Campaign) -> Vec<usize> {
    let all: Vec<usize> = (0..members.len()).collect();
    let mut order: Vec<(f64, usize)> = in_niches(&all, members, campaign)
        .map(|&i| (members[i].observed_value_per_fee(campaign), i))
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    order.into_iter().map(|(_, i)| i).collect()
}

/// Every ranking's outcome on the same economy, in [`Ranking::ALL`]'s order.
pub fn compare(config: &Config) -> [Outcome; 4] {
    Ranking::ALL.map(|r| run(config, r))
}

/// Issue 15's goals for Ovation's ranking, judged on one economy's outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Goals {
    /// Ovation's value per unit spent as a share of the oracle's, in bps (goal ≥ 9,500).
    pub value_kept_bps: u32,
    /// Excellent mid-tier creators found by Ovation, by follower count and by the oracle, bps.
    pub mid_found_bps: [u32; 3],
    /// Gini of deal income under follower count and under Ovation, in bps.
    pub gini_bps: [u32; 2],
}

impl Goals {
    /// From outcomes that include follower count, Ovation and the oracle (`None` otherwise).
    #[allow(
        clippy::float_arithmetic,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a ratio of two value-per-spent statistics, turned into bps"
    )]
    pub fn of(outcomes: &[Outcome]) -> Option<Goals> {
        let get = |r: Ranking| outcomes.iter().find(|o| o.ranking == r);
        let (followers, ovation, oracle) = (
            get(Ranking::Followers)?,
            get(Ranking::Ovation)?,
            get(Ranking::Oracle)?,
        );
        let oracle_value = oracle.value_per_spent();
        let kept = if oracle_value > 0.0 {
            (ovation.value_per_spent() / oracle_value * 10_000.0).round() as u32
        } else {
            0
        };
        Some(Goals {
            value_kept_bps: kept,
            mid_found_bps: [
                ovation.mid_found_bps(),
                followers.mid_found_bps(),
                oracle.mid_found_bps(),
            ],
            gini_bps: [followers.gini_bps, ovation.gini_bps],
        })
    }

    /// Ovation keeps at least 95 % of the oracle's value per unit spent.
    pub fn value_met(&self) -> bool {
        self.value_kept_bps >= 9_500
    }

    /// Ovation finds excellent mid-tier creators at least 5 times as often as follower count.
    pub fn mid_vs_followers_met(&self) -> bool {
        let [ovation, followers, _] = self.mid_found_bps;
        u64::from(ovation) >= 5 * u64::from(followers) && ovation > 0
    }

    /// Ovation's rate of finding excellent mid-tier creators is within 10 points of the
    /// oracle's (or above it).
    pub fn mid_vs_oracle_met(&self) -> bool {
        let [ovation, _, oracle] = self.mid_found_bps;
        ovation + 1_000 >= oracle
    }

    /// Ovation gives a lower Gini than follower count.
    pub fn gini_met(&self) -> bool {
        self.gini_bps[1] < self.gini_bps[0]
    }
}

#[cfg(test)]
#[allow(
    clippy::float_arithmetic,
    reason = "comparing value-per-spent statistics"
)]
mod tests {
    use super::*;

    fn small(seed: u64) -> Config {
        Config {
            seed,
            creators: 3_000,
            rounds: 4,
            brands: 10,
            engagement_noise: 0.3,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_economy_and_another_seed_another() {
        let a = run(&small(7), Ranking::Ovation);
        assert_eq!(a, run(&small(7), Ranking::Ovation));
        assert_ne!(a, run(&small(8), Ranking::Ovation));
        assert!(a.deals > 0);
    }

    #[test]
    fn the_oracle_buys_more_value_per_unit_than_follower_count() {
        let outcomes = compare(&small(1));
        let [followers, ovation, observed, oracle] = &outcomes;
        assert!(oracle.value_per_spent() > followers.value_per_spent());
        // The oracle ranks by the very quantity measured: nothing beats it by much.
        for o in [followers, ovation, observed] {
            assert!(
                o.value_per_spent() <= oracle.value_per_spent() + 0.05,
                "{o:?}"
            );
        }
        let goals = Goals::of(&outcomes).expect("all rankings ran");
        assert!(goals.gini_bps.iter().all(|&g| g <= 10_000));
    }

    #[test]
    fn budgets_hire_at_most_a_tenth_of_the_creators_a_round() {
        let config = small(3);
        for r in Ranking::ALL {
            let o = run(&config, r);
            let per_round = o.deals / u64::from(config.rounds);
            // Slots are a tenth of the creators, rounded per brand.
            assert!(per_round <= 300 + 10, "{r}: {per_round} deals a round");
            let shares: u32 = o.income_share_bps.iter().sum();
            assert!((9_995..=10_000).contains(&shares), "{r}: {shares}");
        }
    }
}
