//! The score and its parts, all in basis points (0–10,000) and integer arithmetic.
//!
//! - **fit**: how well the creator's niches and audience match the brief;
//! - **quality**: engagement and views per follower as percentiles *within the creator's tier*
//!   ([`CohortStats`]), because engagement falls as followers grow: a mid creator is compared
//!   with mid creators;
//! - **reliability**: ratings and on-time delivery, each a Bayesian average shrunk toward a
//!   prior until the creator has enough history.
//!
//! The score weighs them [`FIT_WEIGHT_BPS`], [`QUALITY_WEIGHT_BPS`] and
//! [`RELIABILITY_WEIGHT_BPS`]: fit and quality most, since reliability is mostly prior for
//! newcomers and would otherwise favour whoever has already been hired.

use crate::profile::{Deliveries, Ratings};
use crate::tier::Tier;

/// The whole, in basis points.
pub const WHOLE_BPS: u32 = 10_000;
/// Weight of fit in the score.
pub const FIT_WEIGHT_BPS: u32 = 4_000;
/// Weight of quality in the score.
pub const QUALITY_WEIGHT_BPS: u32 = 4_000;
/// Weight of reliability in the score.
pub const RELIABILITY_WEIGHT_BPS: u32 = 2_000;
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
    /// Ratings and on-time delivery, shrunk toward the prior.
    pub reliability: u32,
}

impl Parts {
    /// The weighted score, 0–10,000 bps.
    pub fn score(self) -> u32 {
        let sum = u64::from(self.fit) * u64::from(FIT_WEIGHT_BPS)
            + u64::from(self.quality) * u64::from(QUALITY_WEIGHT_BPS)
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
            for part in [r, f, q, Parts { fit: f, quality: q, reliability: r }.score()] {
                prop_assert!(part <= WHOLE_BPS);
            }
        }
    }
}
