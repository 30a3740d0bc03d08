//! The score and its parts, all in basis points (0–10,000) and integer arithmetic.
//!
//! - **fit**: how well the creator's niches and audience match the brief;
//! - **quality**: engagement and views per follower as percentiles *within the creator's tier*
//!   ([`CohortStats`]), because engagement falls as followers grow: a mid creator is compared
//!   with mid creators;
//! - **value** for money: expected engagements from the brief's audience (views × engagement ×
//!   the audience share in the brief's countries) per unit of the creator's fee, on a log
//!   scale around the median creator's engagements per fee in that currency ([`ValueScale`]:
//!   the median scores 5,000, each doubling 1,000 more); [`NEUTRAL_BPS`] when the fee is not
//!   known, so creators without one rank among themselves as fit, quality and reliability
//!   alone would rank them;
//! - **reliability**: ratings and on-time delivery, each a Bayesian average shrunk toward a
//!   prior until the creator has enough history.
//!
//! The score weighs them [`FIT_WEIGHT_BPS`], [`QUALITY_WEIGHT_BPS`], [`VALUE_WEIGHT_BPS`] and
//! [`RELIABILITY_WEIGHT_BPS`], 12/12/70/6. Value for money came with `ovation simulate`
//! (issue 15): brands judge a ranking by what their money buys, and without the fee a ranking
//! cannot tell two equally good creators of one size apart when one asks twice the other's
//! fee. It weighs most because it already holds engagement and the audience in the brief's
//! countries; weighed 40 % (24/24/40/12) the simulation's brands kept a median 89 % of the
//! oracle's value per unit spent over ten seeds, weighed 70 % about 93 % (BENCHMARKS.md).
//! Fit, quality and reliability keep their old 2:2:1 proportions, so creators without a known
//! fee rank among themselves as before; reliability weighs least since it is mostly prior for
//! newcomers and would otherwise favour whoever has already been hired.

use crate::profile::{Deliveries, Ratings};
use crate::tier::Tier;

/// The whole, in basis points.
pub const WHOLE_BPS: u32 = 10_000;
/// Weight of fit in the score.
pub const FIT_WEIGHT_BPS: u32 = 1_200;
/// Weight of quality in the score.
pub const QUALITY_WEIGHT_BPS: u32 = 1_200;
/// Weight of value for money in the score.
pub const VALUE_WEIGHT_BPS: u32 = 7_000;
/// Weight of reliability in the score.
pub const RELIABILITY_WEIGHT_BPS: u32 = 600;
/// The value part of a creator whose fee is not known: the middle.
pub const NEUTRAL_BPS: u32 = 5_000;
/// The prior mean rating, in hundredths of a star (4.0★).
pub const PRIOR_STARS_CENTI: u64 = 400;
/// How many ratings the prior mean counts as.
pub const PRIOR_RATINGS: u64 = 5;
/// The prior on-time delivery rate, in basis points.
pub const PRIOR_ON_TIME_BPS: u64 = 9_000;
/// How many deliveries the prior on-time rate counts as.
pub const PRIOR_DELIVERIES: u64 = 5;
/// Views per follower above this (200 %) count as this, so a viral outlier stays bounded.
pub const VIEWS_PER_FOLLOWER_CAP_BPS: u32 = 20_000;
/// Weight of engagement within quality; views per follower take the rest.
pub const ENGAGEMENT_IN_QUALITY_BPS: u32 = 7_000;

/// A match's score parts, each 0–10,000 bps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Niches and audience against the brief.
    pub fit: u32,
    /// Engagement and views judged within the creator's tier.
    pub quality: u32,
    /// Expected engagements per unit of fee, among creators with a known fee.
    pub value: u32,
    /// Ratings and on-time delivery, shrunk toward the prior.
    pub reliability: u32,
}

impl Parts {
    /// The weighted score, 0–10,000 bps.
    pub fn score(self) -> u32 {
        let sum = u64::from(self.fit) * u64::from(FIT_WEIGHT_BPS)
            + u64::from(self.quality) * u64::from(QUALITY_WEIGHT_BPS)
            + u64::from(self.value) * u64::from(VALUE_WEIGHT_BPS)
            + u64::from(self.reliability) * u64::from(RELIABILITY_WEIGHT_BPS);
        clamp_bps(sum / u64::from(WHOLE_BPS))
    }
}

/// Niche overlap: every niche when the brief names none, 0 when the creator has none of the
/// brief's niches, else half for the first match and the rest in proportion to the matches.
pub fn niche_bps(matched: usize, wanted: usize) -> u32 {
    if wanted == 0 {
        return WHOLE_BPS;
    }
    if matched == 0 {
        return 0;
    }
    let half = u64::from(WHOLE_BPS / 2);
    let (matched, wanted) = (matched.min(wanted) as u64, wanted as u64);
    clamp_bps(half + half * matched / wanted)
}

/// Fit from the niche overlap and the audience shares in the brief's countries and ages;
/// `None` when the brief does not ask, which counts as the whole audience.
pub fn fit_bps(niche_bps: u32, country_share_bps: Option<u32>, age_share_bps: Option<u32>) -> u32 {
    let whole = u64::from(WHOLE_BPS);
    let country = u64::from(country_share_bps.unwrap_or(WHOLE_BPS).min(WHOLE_BPS));
    let age = u64::from(age_share_bps.unwrap_or(WHOLE_BPS).min(WHOLE_BPS));
    // Niche and countries weigh two fifths each, ages one fifth.
    clamp_bps((2 * u64::from(niche_bps.min(WHOLE_BPS)) + 2 * country + age) * whole / (5 * whole))
}

/// Quality from the engagement and views-per-follower percentiles within the tier.
pub fn quality_bps(engagement_percentile_bps: u32, views_percentile_bps: u32) -> u32 {
    let e = u64::from(engagement_percentile_bps.min(WHOLE_BPS));
    let v = u64::from(views_percentile_bps.min(WHOLE_BPS));
    let w = u64::from(ENGAGEMENT_IN_QUALITY_BPS);
    clamp_bps((e * w + v * (u64::from(WHOLE_BPS) - w)) / u64::from(WHOLE_BPS))
}

/// The Bayesian average rating, in hundredths of a star: [`PRIOR_RATINGS`] ratings of
/// [`PRIOR_STARS_CENTI`] added to the creator's own.
pub fn rating_centi(ratings: Ratings) -> u64 {
    let count = u64::from(ratings.count);
    (PRIOR_STARS_CENTI * PRIOR_RATINGS + 100 * u64::from(ratings.stars_sum))
        / (PRIOR_RATINGS + count)
}

/// Reliability: the shrunk rating (1★ = 0, 5★ = 10,000) weighing three fifths, the shrunk
/// on-time rate two fifths. A creator with no history gets the priors (8,100 bps).
pub fn reliability_bps(ratings: Ratings, deliveries: Deliveries) -> u32 {
    let whole = u64::from(WHOLE_BPS);
    let rating = rating_centi(ratings).clamp(100, 500);
    let rating_bps = (rating - 100) * whole / 400;
    let on_time = u64::from(deliveries.on_time.min(deliveries.total));
    let on_time_bps = (PRIOR_ON_TIME_BPS * PRIOR_DELIVERIES + whole * on_time)
        / (PRIOR_DELIVERIES + u64::from(deliveries.total));
    clamp_bps((3 * rating_bps + 2 * on_time_bps) / 5)
}

/// Average views per follower in basis points, capped at [`VIEWS_PER_FOLLOWER_CAP_BPS`];
/// 0 for a creator without followers.
pub fn views_per_follower_bps(avg_views: u64, followers: u64) -> u32 {
    if followers == 0 {
        return 0;
    }
    let bps = u128::from(avg_views) * u128::from(WHOLE_BPS) / u128::from(followers);
    u32::try_from(bps.min(u128::from(VIEWS_PER_FOLLOWER_CAP_BPS)))
        .unwrap_or(VIEWS_PER_FOLLOWER_CAP_BPS)
}

/// Expected engagements per unit of fee, scaled by 10⁷ (views × engagement in bps × 1,000 ÷
/// the fee in minor units); 0 for a fee of zero or less.
pub fn engagements_per_fee(avg_views: u64, engagement_bps: u32, fee_minor: i64) -> u64 {
    let Ok(fee) = u128::try_from(fee_minor) else {
        return 0;
    };
    if fee == 0 {
        return 0;
    }
    let v = u128::from(avg_views) * u128::from(engagement_bps) * 1_000 / fee;
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// How many bps of the value part one doubling of engagements per fee is worth.
pub const VALUE_BPS_PER_DOUBLING: u64 = 1_000;

/// The median creator's engagements per fee in each currency, against which a creator's
/// value part is judged on a log scale: the median scores [`NEUTRAL_BPS`], each doubling
/// adds [`VALUE_BPS_PER_DOUBLING`] and each halving takes as much away, within 0–10,000.
#[derive(Debug, Clone, Default)]
pub struct ValueScale {
    currencies: Vec<money::Currency>,
    medians: Vec<u64>,
}

impl ValueScale {
    /// From each creator's fee currency and [`engagements_per_fee`].
    pub fn new(values: impl IntoIterator<Item = (money::Currency, u64)>) -> ValueScale {
        let mut currencies: Vec<money::Currency> = Vec::new();
        let mut all: Vec<Vec<u64>> = Vec::new();
        for (currency, v) in values {
            let i = match currencies.iter().position(|&c| c == currency) {
                Some(i) => i,
                None => {
                    currencies.push(currency);
                    all.push(Vec::new());
                    currencies.len() - 1
                }
            };
            all[i].push(v);
        }
        let medians = all
            .into_iter()
            .map(|mut v| {
                let mid = v.len() / 2;
                v.select_nth_unstable(mid).1.to_owned()
            })
            .collect();
        ValueScale {
            currencies,
            medians,
        }
    }

    /// Where `currency`'s median is, for [`ValueScale::value_bps_in`].
    pub fn currency(&self, currency: money::Currency) -> Option<usize> {
        self.currencies.iter().position(|&c| c == currency)
    }

    /// The value part of a creator with `per_fee` engagements per fee in `currency` for an
    /// audience share `audience_bps` ([`NEUTRAL_BPS`] for `None`).
    pub fn value_bps(&self, fee: Option<(money::Currency, u64)>, audience_bps: u32) -> u32 {
        match fee {
            Some((currency, v)) => self
                .currency(currency)
                .map_or(NEUTRAL_BPS, |i| self.value_bps_in(i, v, audience_bps)),
            None => NEUTRAL_BPS,
        }
    }

    /// The value part of engagements per fee `per_fee` for an audience share `audience_bps`,
    /// in the currency at `i`.
    pub fn value_bps_in(&self, i: usize, per_fee: u64, audience_bps: u32) -> u32 {
        match self.log_ratio(i, per_fee) {
            Some(log) => value_bps(log, audience_bps),
            None => NEUTRAL_BPS,
        }
    }

    /// log₂(`per_fee` ÷ the median's) in 1/1024ths ([`log2_1024`]), for the currency at `i`.
    pub fn log_ratio(&self, i: usize, per_fee: u64) -> Option<i64> {
        let median = *self.medians.get(i)?;
        Some(log2_1024(per_fee) - log2_1024(median))
    }
}

/// log₂(`x`) in 1/1024ths, interpolated linearly between powers of two: exact at each power,
/// never falling as `x` grows, integers only (0 for 0).
pub fn log2_1024(x: u64) -> i64 {
    let x = x.max(1);
    let whole = x.ilog2();
    let frac = ((u128::from(x) - (1u128 << whole)) << 10) >> whole;
    i64::from(whole) * 1_024 + i64::try_from(frac).unwrap_or(0)
}

/// The value part from log₂ of a creator's engagements per fee over the median's
/// ([`ValueScale::log_ratio`]), for an audience share `audience_bps` in the brief's
/// countries: the median creator with the whole audience in them scores [`NEUTRAL_BPS`].
pub fn value_bps(log_ratio_1024: i64, audience_bps: u32) -> u32 {
    let audience = log2_1024(u64::from(audience_bps.min(WHOLE_BPS))) - log2_1024(WHOLE_BPS.into());
    let doublings_1024 = log_ratio_1024 + audience;
    let bps = i64::from(NEUTRAL_BPS)
        + doublings_1024 * i64::try_from(VALUE_BPS_PER_DOUBLING).unwrap_or(0) / 1_024;
    u32::try_from(bps.clamp(0, i64::from(WHOLE_BPS))).unwrap_or(0)
}

fn clamp_bps(v: u64) -> u32 {
    u32::try_from(v.min(u64::from(WHOLE_BPS))).unwrap_or(WHOLE_BPS)
}

/// How engagement and views per follower are distributed in each tier, kept up to date one
/// creator at a time: a count per value (engagement 0–10,000 bps, views per follower
/// 0–[`VIEWS_PER_FOLLOWER_CAP_BPS`]), so an insert or a removal is O(1) and the percentiles
/// are exact.
#[derive(Debug, Clone)]
pub struct CohortStats {
    engagement: [Vec<u32>; 5],
    views: [Vec<u32>; 5],
    members: [u32; 5],
}

impl Default for CohortStats {
    fn default() -> CohortStats {
        CohortStats::new()
    }
}

impl CohortStats {
    /// Empty statistics.
    pub fn new() -> CohortStats {
        let eng = || vec![0; WHOLE_BPS as usize + 1];
        let views = || vec![0; VIEWS_PER_FOLLOWER_CAP_BPS as usize + 1];
        CohortStats {
            engagement: [eng(), eng(), eng(), eng(), eng()],
            views: [views(), views(), views(), views(), views()],
            members: [0; 5],
        }
    }

    /// Counts a creator of `tier` with these engagement and views-per-follower values.
    pub fn insert(&mut self, tier: Tier, engagement_bps: u32, views_bps: u32) {
        let t = tier.index();
        self.members[t] += 1;
        self.engagement[t][eng_slot(engagement_bps)] += 1;
        self.views[t][views_slot(views_bps)] += 1;
    }

    /// Uncounts a creator counted by [`CohortStats::insert`] with the same values.
    pub fn remove(&mut self, tier: Tier, engagement_bps: u32, views_bps: u32) {
        let t = tier.index();
        self.members[t] = self.members[t].saturating_sub(1);
        let e = &mut self.engagement[t][eng_slot(engagement_bps)];
        *e = e.saturating_sub(1);
        let v = &mut self.views[t][views_slot(views_bps)];
        *v = v.saturating_sub(1);
    }

    /// How many creators of `tier` are counted.
    pub fn members(&self, tier: Tier) -> u32 {
        self.members[tier.index()]
    }

    /// A snapshot for looking percentiles up in O(1).
    pub fn percentiles(&self) -> Percentiles {
        let cumulate = |counts: &Vec<u32>| {
            let mut sum = 0u32;
            counts
                .iter()
                .map(|&c| {
                    sum += c;
                    sum
                })
                .collect::<Vec<u32>>()
        };
        Percentiles {
            engagement: self.engagement.each_ref().map(cumulate),
            views: self.views.each_ref().map(cumulate),
            members: self.members,
        }
    }
}

/// Cumulative counts per tier, from [`CohortStats::percentiles`].
#[derive(Debug, Clone)]
pub struct Percentiles {
    engagement: [Vec<u32>; 5],
    views: [Vec<u32>; 5],
    members: [u32; 5],
}

impl Percentiles {
    /// The mid-rank percentile of `engagement_bps` among `tier`'s creators, in bps: the share
    /// below it plus half the share equal to it; 5,000 in an empty tier.
    pub fn engagement(&self, tier: Tier, engagement_bps: u32) -> u32 {
        let t = tier.index();
        mid_rank(
            &self.engagement[t],
            eng_slot(engagement_bps),
            self.members[t],
        )
    }

    /// The mid-rank percentile of views per follower among `tier`'s creators, in bps.
    pub fn views(&self, tier: Tier, views_bps: u32) -> u32 {
        let t = tier.index();
        mid_rank(&self.views[t], views_slot(views_bps), self.members[t])
    }
}

fn mid_rank(cumulative: &[u32], slot: usize, members: u32) -> u32 {
    if members == 0 {
        return WHOLE_BPS / 2;
    }
    let at_most = u64::from(cumulative.get(slot).copied().unwrap_or(members));
    let below = match slot.checked_sub(1) {
        Some(s) => u64::from(cumulative.get(s).copied().unwrap_or(0)),
        None => 0,
    };
    clamp_bps((below + at_most) * u64::from(WHOLE_BPS) / (2 * u64::from(members)))
}

fn eng_slot(bps: u32) -> usize {
    bps.min(WHOLE_BPS) as usize
}

fn views_slot(bps: u32) -> usize {
    bps.min(VIEWS_PER_FOLLOWER_CAP_BPS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_creator_with_no_history_gets_the_prior() {
        assert_eq!(rating_centi(Ratings::default()), 400);
        // 4.0★ is 7,500 bps, 90 % on time is 9,000: 3/5 × 7,500 + 2/5 × 9,000.
        assert_eq!(
            reliability_bps(Ratings::default(), Deliveries::default()),
            8_100
        );
    }

    #[test]
    fn ratings_pull_away_from_the_prior_as_they_accumulate() {
        let few = Ratings {
            count: 1,
            stars_sum: 5,
        };
        let many = Ratings {
            count: 50,
            stars_sum: 250,
        };
        assert_eq!(rating_centi(few), 416);
        assert_eq!(rating_centi(many), 490);
        let bad = Ratings {
            count: 50,
            stars_sum: 50,
        };
        // Fifty 1★ ratings bring the rating near 0; on-time delivery still counts.
        assert_eq!(reliability_bps(bad, Deliveries::default()), 4_005);
        let late = Deliveries {
            on_time: 0,
            total: 20,
        };
        assert!(
            reliability_bps(Ratings::default(), late)
                < reliability_bps(Ratings::default(), Deliveries::default())
        );
    }

    #[test]
    fn no_shared_niche_is_a_low_fit_and_every_niche_is_a_full_one() {
        assert_eq!(niche_bps(0, 2), 0);
        assert_eq!(niche_bps(1, 2), 7_500);
        assert_eq!(niche_bps(2, 2), 10_000);
        assert_eq!(niche_bps(0, 0), 10_000);
        assert_eq!(fit_bps(10_000, None, None), 10_000);
        assert_eq!(fit_bps(10_000, Some(5_000), None), 8_000);
        assert_eq!(fit_bps(0, Some(0), Some(0)), 0);
    }

    #[test]
    fn percentiles_are_judged_within_the_tier() {
        let mut stats = CohortStats::new();
        // Nano creators engage at 10 %, mid creators at 1–4 %.
        for e in [1_000, 1_000, 1_100] {
            stats.insert(Tier::Nano, e, 5_000);
        }
        for e in [100, 200, 300, 400] {
            stats.insert(Tier::Mid, e, 1_000);
        }
        let p = stats.percentiles();
        // 400 bps is the best of the mid creators, and the worst against nano ones.
        assert_eq!(p.engagement(Tier::Mid, 400), 8_750);
        assert_eq!(p.engagement(Tier::Nano, 400), 0);
        assert_eq!(p.engagement(Tier::Nano, 1_000), 3_333);
        assert_eq!(p.engagement(Tier::Macro, 400), 5_000);
        stats.remove(Tier::Mid, 400, 1_000);
        assert_eq!(stats.members(Tier::Mid), 3);
        assert_eq!(stats.percentiles().engagement(Tier::Mid, 300), 8_333);
    }

    #[test]
    fn value_for_money_is_judged_on_a_log_scale_around_the_median_in_the_fee_currency() {
        let usd = money::Currency::USD;
        // 1,000 views at 5 % for 100.00: 50 engagements per 10,000 minor units.
        assert_eq!(engagements_per_fee(1_000, 500, 10_000), 50_000);
        assert_eq!(engagements_per_fee(1_000, 500, 0), 0);
        let p = ValueScale::new([
            (usd, 100),
            (usd, 200),
            (usd, 400),
            (money::Currency::EUR, 5),
        ]);
        let whole = WHOLE_BPS;
        assert_eq!(p.value_bps(Some((usd, 200)), whole), 5_000);
        assert_eq!(p.value_bps(Some((usd, 800)), whole), 7_000);
        assert_eq!(p.value_bps(Some((usd, 50)), whole), 3_000);
        // 1.5 × the median: log₂ 1.5 ≈ 0.585, 0.609 with the interpolated logs.
        assert_eq!(p.value_bps(Some((usd, 300)), whole), 5_609);
        assert_eq!(p.value_bps(Some((usd, u64::MAX)), whole), 10_000);
        assert_eq!(p.value_bps(Some((usd, 0)), whole), 0);
        // A quarter of the audience in the brief's countries: about two halvings.
        assert!((2_900..=3_100).contains(&p.value_bps(Some((usd, 200)), 2_500)));
        assert_eq!(p.value_bps(Some((usd, 200)), 0), 0);
        assert_eq!(p.value_bps(Some((money::Currency::EUR, 5)), whole), 5_000);
        assert_eq!(
            p.value_bps(Some((money::Currency::JPY, 5)), whole),
            NEUTRAL_BPS
        );
        assert_eq!(p.value_bps(None, whole), NEUTRAL_BPS);
        assert_eq!(log2_1024(1), 0);
        assert_eq!(log2_1024(0), 0);
        assert_eq!(log2_1024(3), 1_024 + 512);
    }

    #[test]
    fn without_fees_the_score_keeps_the_old_proportions() {
        // 40/40/20 before value for money; 12/12/6 and a constant now.
        let a = Parts {
            fit: 10_000,
            quality: 0,
            value: NEUTRAL_BPS,
            reliability: 0,
        };
        let b = Parts {
            fit: 0,
            quality: 0,
            value: NEUTRAL_BPS,
            reliability: 10_000,
        };
        assert_eq!(a.score() - b.score(), 600);
        assert_eq!(FIT_WEIGHT_BPS * 2, RELIABILITY_WEIGHT_BPS * 4);
        assert_eq!(
            FIT_WEIGHT_BPS + QUALITY_WEIGHT_BPS + VALUE_WEIGHT_BPS + RELIABILITY_WEIGHT_BPS,
            WHOLE_BPS
        );
    }

    #[test]
    fn views_per_follower_are_capped_and_safe_without_followers() {
        assert_eq!(views_per_follower_bps(5_000, 10_000), 5_000);
        assert_eq!(
            views_per_follower_bps(u64::MAX, 1),
            VIEWS_PER_FOLLOWER_CAP_BPS
        );
        assert_eq!(views_per_follower_bps(10, 0), 0);
    }

    proptest! {
        #[test]
        fn every_part_and_the_score_stay_within_the_whole(
            count in 0u32..1_000, extra in 0u32..4_000, on_time in 0u32..1_000, late in 0u32..1_000,
            niche in 0u32..=10_000, country in proptest::option::of(0u32..=20_000),
            e in 0u32..=10_000, v in 0u32..=10_000,
        ) {
            let ratings = Ratings { count, stars_sum: count + extra.min(4 * count) };
            let r = reliability_bps(ratings, Deliveries { on_time, total: on_time + late });
            let f = fit_bps(niche, country, None);
            let q = quality_bps(e, v);
            for part in [r, f, q, Parts { fit: f, quality: q, value: e, reliability: r }.score()] {
                prop_assert!(part <= WHOLE_BPS);
            }
        }
    }
}
