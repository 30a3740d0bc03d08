//! What a run measured: excellent creators found, income by tier, Gini, top-1 % share, the
//! Lorenz curve — in bps with integer arithmetic, except the true value (a simulation float).

use crate::sim::economy::Member;
use crate::sim::{Outcome, Ranking};
use crate::tier::Tier;

const WHOLE: u128 = 10_000;

/// Points on the Lorenz curve an [`Outcome`] keeps (besides the origin).
pub const LORENZ_POINTS: usize = 100;

/// The outcome of a run from each creator's deal income (in cents, by member).
pub(crate) fn outcome(
    ranking: Ranking,
    members: &[Member],
    income: &[u64],
    deals: u64,
    spent_cents: u64,
    value_cents: f64,
) -> Outcome {
    let mut creators = [0u32; 5];
    let mut tier_income = [0u64; 5];
    let mut qualities: [Vec<(f64, usize)>; 5] = Default::default();
    for (i, m) in members.iter().enumerate() {
        let t = m.tier().index();
        creators[t] += 1;
        tier_income[t] += income.get(i).copied().unwrap_or(0);
        qualities[t].push((m.truth.quality, i));
    }
    let excellent_found_bps = qualities.map(|mut q| {
        if q.is_empty() {
            return None;
        }
        q.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let decile = q.len().div_ceil(10);
        let found = q
            .iter()
            .take(decile)
            .filter(|&&(_, i)| income.get(i).is_some_and(|&v| v > 0))
            .count();
        Some(bps(found as u128, decile as u128))
    });
    let total: u64 = tier_income.iter().sum();
    let mut sorted = income.to_vec();
    sorted.sort_unstable();
    Outcome {
        ranking,
        deals,
        spent_cents,
        value_cents: cents(value_cents),
        creators,
        excellent_found_bps,
        income_share_bps: tier_income.map(|v| bps(u128::from(v), u128::from(total))),
        gini_bps: gini_bps(&sorted),
        top_1_percent_bps: top_share_bps(&sorted, 100),
        lorenz: lorenz(&sorted, LORENZ_POINTS),
    }
}

#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a sum of simulated values, non-negative and far below u64::MAX"
)]
fn cents(value: f64) -> u64 {
    value.max(0.0).round() as u64
}

/// `part / whole` in bps, 0 when `whole` is 0.
fn bps(part: u128, whole: u128) -> u32 {
    if whole == 0 {
        return 0;
    }
    u32::try_from(part * WHOLE / whole).unwrap_or(u32::MAX)
}

/// The Gini coefficient of `sorted` (ascending) incomes in bps:
/// G = Σᵢ (2i − n − 1) xᵢ / (n Σ x), with i from 1.
pub fn gini_bps(sorted: &[u64]) -> u32 {
    let n = sorted.len() as i128;
    let total: i128 = sorted.iter().map(|&x| i128::from(x)).sum();
    if n == 0 || total == 0 {
        return 0;
    }
    let weighted: i128 = sorted
        .iter()
        .zip(1i128..)
        .map(|(&x, i)| (2 * i - n - 1) * i128::from(x))
        .sum();
    u32::try_from(weighted * 10_000 / (n * total)).unwrap_or(0)
}

/// The share (bps) of the total held by the top `1 / per` of `sorted` (ascending) incomes,
/// at least one of them.
pub fn top_share_bps(sorted: &[u64], per: usize) -> u32 {
    let total: u128 = sorted.iter().map(|&x| u128::from(x)).sum();
    let top = sorted.len().div_ceil(per.max(1));
    let held: u128 = sorted.iter().rev().take(top).map(|&x| u128::from(x)).sum();
    bps(held, total)
}

/// `points` + 1 points of the Lorenz curve of `sorted` (ascending) incomes, from (0, 0) to
/// (10,000, 10,000): the poorest x bps of creators hold y bps of the income.
pub fn lorenz(sorted: &[u64], points: usize) -> Vec<(u32, u32)> {
    let n = sorted.len();
    let total: u128 = sorted.iter().map(|&x| u128::from(x)).sum();
    let mut cumulative = Vec::with_capacity(n + 1);
    let mut sum = 0u128;
    cumulative.push(0u128);
    for &x in sorted {
        sum += u128::from(x);
        cumulative.push(sum);
    }
    (0..=points)
        .map(|k| {
            let x = bps(k as u128, points.max(1) as u128);
            let upto = n * k / points.max(1);
            (x, bps(cumulative.get(upto).copied().unwrap_or(sum), total))
        })
        .collect()
}

/// The tier of `Tier::ALL[t]`, for tables.
pub fn tier_name(t: usize) -> &'static str {
    Tier::ALL.get(t).map_or("", |t| t.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_incomes_have_no_gap_and_one_earner_has_all_of_it() {
        assert_eq!(gini_bps(&[5, 5, 5, 5]), 0);
        // One of four holds everything: (2·4 − 5) / 4 = 0.75.
        assert_eq!(gini_bps(&[0, 0, 0, 8]), 7_500);
        assert_eq!(top_share_bps(&[0, 0, 0, 8], 100), 10_000);
        assert_eq!(top_share_bps(&[1, 1, 1, 1], 100), 2_500);
        assert_eq!(gini_bps(&[]), 0);
    }

    #[test]
    fn the_lorenz_curve_runs_from_corner_to_corner_below_the_diagonal() {
        let curve = lorenz(&[0, 1, 2, 7], 4);
        assert_eq!(
            curve,
            vec![
                (0, 0),
                (2_500, 0),
                (5_000, 1_000),
                (7_500, 3_000),
                (10_000, 10_000)
            ]
        );
    }
}
