//! Exposure-fair re-ranking of the top results, after FA*IR's prefix minimums.
//!
//! Each tier's share is its share of the total quality among the candidates; every prefix of
//! length k of the ranking must hold at least ⌊k × share⌋ creators of each tier (or all of the
//! tier's candidates, when it has fewer). At each position the best remaining candidate is
//! taken unless that would leave some tier unable to meet a later floor; then the tier whose
//! next floor comes first takes the slot with its best remaining candidate. Looking ahead,
//! rather than only at the current prefix as plain FA*IR does with one protected group, keeps
//! several tiers' floors from falling due at the same position with one slot for them.

use crate::score::WHOLE_BPS;
use crate::tier::Tier;

/// What the re-ranking needs of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The candidate's tier.
    pub tier: Tier,
    /// The candidate's quality, 0–10,000 bps: its tier's share is its share of the total.
    pub quality: u32,
}

/// Each tier's share of the candidates' total quality, in bps (all 0 when the total is 0).
pub fn tier_shares_bps(quality_per_tier: [u64; 5]) -> [u32; 5] {
    let total: u128 = quality_per_tier.iter().map(|&q| u128::from(q)).sum();
    if total == 0 {
        return [0; 5];
    }
    quality_per_tier.map(|q| {
        let bps = u128::from(q) * u128::from(WHOLE_BPS) / total;
        u32::try_from(bps).unwrap_or(WHOLE_BPS)
    })
}

/// The floor of a tier with `share_bps` in a prefix of length `k`: ⌊k × share⌋.
pub fn floor_at(k: usize, share_bps: u32) -> usize {
    let floor = (k as u128) * u128::from(share_bps) / u128::from(WHOLE_BPS);
    usize::try_from(floor).unwrap_or(usize::MAX)
}

/// Re-ranks `candidates`, sorted best first, into the top `n`: returns indices into
/// `candidates`, each at most once, `min(n, candidates.len())` of them, with every prefix
/// meeting each tier's floor (as far as the tier has candidates), where the shares are of the
/// quality of all `candidates`.
pub fn fair_order(candidates: &[Candidate], n: usize) -> Vec<usize> {
    let mut quality = [0u64; 5];
    for c in candidates {
        quality[c.tier.index()] += u64::from(c.quality);
    }
    fair_order_with_shares(candidates, n, tier_shares_bps(quality))
}

/// [`fair_order`] with the tiers' shares given, for callers that pass only the best of many
/// candidates but computed the shares over all of them.
pub fn fair_order_with_shares(
    candidates: &[Candidate],
    n: usize,
    shares_bps: [u32; 5],
) -> Vec<usize> {
    let m = n.min(candidates.len());
    // Each tier's candidates, best first, and how many of them are placed.
    let mut by_tier: [Vec<usize>; 5] = Default::default();
    for (i, c) in candidates.iter().enumerate() {
        by_tier[c.tier.index()].push(i);
    }
    let mut placed = [0usize; 5];
    let mut taken = vec![false; candidates.len()];
    let mut next_overall = 0usize;
    let mut order = Vec::with_capacity(m);
    for k in 1..=m {
        while taken.get(next_overall).copied().unwrap_or(false) {
            next_overall += 1;
        }
        let Some(best) = candidates.get(next_overall) else {
            break;
        };
        let best_tier = best.tier.index();
        let tier = if feasible_after(&by_tier, &placed, shares_bps, best_tier, k, m) {
            best_tier
        } else {
            earliest_due(&by_tier, &placed, shares_bps, k, m).unwrap_or(best_tier)
        };
        let Some(&i) = by_tier[tier].get(placed[tier]) else {
            break;
        };
        placed[tier] += 1;
        taken[i] = true;
        order.push(i);
    }
    order
}

/// What tier `t` must hold in a prefix of length `k`: its floor, capped by its candidates.
fn required(by_tier: &[Vec<usize>; 5], shares_bps: [u32; 5], t: usize, k: usize) -> usize {
    floor_at(k, shares_bps[t]).min(by_tier[t].len())
}

/// Whether placing tier `chosen` at position `k` still lets every later prefix up to `m`
/// meet every floor: for each later length K, the creators still owed must fit in K − k slots.
fn feasible_after(
    by_tier: &[Vec<usize>; 5],
    placed: &[usize; 5],
    shares_bps: [u32; 5],
    chosen: usize,
    k: usize,
    m: usize,
) -> bool {
    (k..=m).all(|big_k| {
        let owed: usize = (0..5)
            .map(|t| {
                let have = placed[t] + usize::from(t == chosen);
                required(by_tier, shares_bps, t, big_k).saturating_sub(have)
            })
            .sum();
        owed <= big_k - k
    })
}

/// The tier (with candidates left) whose next owed creator falls due first; ties go to the
/// tier whose best remaining candidate ranks higher.
fn earliest_due(
    by_tier: &[Vec<usize>; 5],
    placed: &[usize; 5],
    shares_bps: [u32; 5],
    k: usize,
    m: usize,
) -> Option<usize> {
    (0..5)
        .filter(|&t| placed[t] < by_tier[t].len())
        .filter_map(|t| {
            let due = (k..=m).find(|&big_k| required(by_tier, shares_bps, t, big_k) > placed[t])?;
            Some((due, by_tier[t][placed[t]], t))
        })
        .min()
        .map(|(_, _, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cands(spec: &[(Tier, u32)]) -> Vec<Candidate> {
        spec.iter()
            .map(|&(tier, quality)| Candidate { tier, quality })
            .collect()
    }

    /// Checks every property of a fair order; returns the first broken one.
    fn check(candidates: &[Candidate], n: usize, order: &[usize]) -> Result<(), String> {
        if order.len() != n.min(candidates.len()) {
            return Err(format!("length {} for n {n}", order.len()));
        }
        let mut seen = vec![false; candidates.len()];
        for &i in order {
            if i >= candidates.len() || seen[i] {
                return Err(format!("index {i} out of range or repeated"));
            }
            seen[i] = true;
        }
        let mut quality = [0u64; 5];
        let mut available = [0usize; 5];
        for c in candidates {
            quality[c.tier.index()] += u64::from(c.quality);
            available[c.tier.index()] += 1;
        }
        let shares = tier_shares_bps(quality);
        let mut have = [0usize; 5];
        for (k, &i) in order.iter().enumerate() {
            have[candidates[i].tier.index()] += 1;
            for t in 0..5 {
                let floor = floor_at(k + 1, shares[t]).min(available[t]);
                if have[t] < floor {
                    return Err(format!(
                        "prefix {} holds {} of tier {t}, floor {floor}",
                        k + 1,
                        have[t]
                    ));
                }
            }
        }
        Ok(())
    }

    #[test]
    fn a_tier_below_its_floor_gets_its_best_candidate() {
        // Four mega creators score above two mid ones; mid holds half the quality.
        let c = cands(&[
            (Tier::Mega, 1_000),
            (Tier::Mega, 1_000),
            (Tier::Mega, 1_000),
            (Tier::Mega, 1_000),
            (Tier::Mid, 4_000),
            (Tier::Mid, 4_000),
        ]);
        let order = fair_order(&c, 4);
        assert_eq!(order, vec![0, 4, 1, 5]);
        assert_eq!(check(&c, 4, &order), Ok(()));
    }

    #[test]
    fn floors_falling_due_together_are_met_by_looking_ahead() {
        // Three tiers with a third each: at position 3 two tiers would be owed at once
        // if the best candidate (mega) took both of the first two slots.
        let c = cands(&[
            (Tier::Mega, 3_000),
            (Tier::Mega, 3_000),
            (Tier::Mega, 3_000),
            (Tier::Mid, 3_000),
            (Tier::Nano, 3_000),
        ]);
        let order = fair_order(&c, 3);
        assert_eq!(check(&c, 3, &order), Ok(()));
    }

    #[test]
    fn one_tier_alone_ranks_by_score() {
        let c = cands(&[(Tier::Micro, 10), (Tier::Micro, 9_000), (Tier::Micro, 5)]);
        assert_eq!(fair_order(&c, 5), vec![0, 1, 2]);
    }

    #[test]
    fn no_candidates_or_no_slots_is_an_empty_ranking() {
        assert!(fair_order(&[], 10).is_empty());
        assert!(fair_order(&cands(&[(Tier::Nano, 1)]), 0).is_empty());
    }

    fn tier() -> impl Strategy<Value = Tier> {
        (0usize..5).prop_map(|i| Tier::ALL[i])
    }

    proptest! {
        #[test]
        fn a_fair_order_is_a_permutation_meeting_every_floor(
            spec in proptest::collection::vec((tier(), 0u32..=10_000), 0..60),
            n in 0usize..70,
        ) {
            let c = cands(&spec);
            let order = fair_order(&c, n);
            prop_assert_eq!(check(&c, n, &order), Ok(()));
        }

        #[test]
        fn a_tier_with_no_candidates_takes_no_slots(
            spec in proptest::collection::vec((1usize..5, 0u32..=10_000), 0..40),
            n in 0usize..50,
        ) {
            let c: Vec<Candidate> = spec.iter().map(|&(t, quality)| Candidate { tier: Tier::ALL[t], quality }).collect();
            let order = fair_order(&c, n);
            prop_assert!(order.iter().all(|&i| c[i].tier != Tier::Nano));
        }

        #[test]
        fn candidates_of_one_tier_keep_their_score_order(
            t in tier(), qualities in proptest::collection::vec(0u32..=10_000, 0..40), n in 0usize..50,
        ) {
            let c: Vec<Candidate> = qualities.iter().map(|&quality| Candidate { tier: t, quality }).collect();
            let order = fair_order(&c, n);
            prop_assert_eq!(order, (0..n.min(c.len())).collect::<Vec<_>>());
        }
    }
}
