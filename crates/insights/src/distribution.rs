//! How income is spread across creators: the Gini coefficient, the top 1 %'s share, the
//! median, each tier's share and the Lorenz curve, all in integer arithmetic.
//!
//! Every ratio is in basis points (10,000 = 100 %) and **rounded toward zero**, so that
//! shares never add up to more than the whole: the tiers' shares sum to at most 10,000 and at
//! least 10,000 − 4 (five shares, each less than one basis point short) when there is income.

use market::Tier;
use money::{Currency, Money};

/// The whole, in basis points.
pub const BPS_WHOLE: u32 = 10_000;

/// Most points of a Lorenz curve: every percentile from 0 % to 100 %.
pub const LORENZ_POINTS_MAX: usize = 101;

/// A point of a Lorenz curve: the poorest `x_bps` of creators earn `y_bps` of the income.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LorenzPoint {
    /// Share of creators, the lowest incomes first, in basis points.
    pub x_bps: u32,
    /// Their share of the income, in basis points.
    pub y_bps: u32,
}

/// One tier's creators and their share of the income.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierShare {
    /// The tier.
    pub tier: Tier,
    /// How many creators of the distribution are in it.
    pub creators: u64,
    /// Their share of the income, in basis points (toward zero).
    pub share_bps: u32,
}

/// The income of a set of creators in one currency, each with their tier.
///
/// Incomes are integers of minor units; a negative income (a creator whose reversals
/// outweigh their income) counts as zero, since shares of a negative whole mean nothing.
/// Which creators belong in the set is the caller's choice: the measures treat every income
/// given, zero included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    currency: Currency,
    /// Every income, the lowest first.
    amounts: Vec<i64>,
    /// Per tier ([`Tier::index`]): creators and income.
    tiers: [(u64, u128); 5],
    /// The sum of `amounts`.
    total: u128,
}

/// `part / whole` in basis points, toward zero, at most 10,000 (0 when `whole` is 0).
///
/// Exact whenever `part × 10,000` fits in 128 bits (any sum of fewer than 2^50 incomes of at
/// most `i64::MAX`); past that both are halved until it fits, which changes the result by a
/// fraction of a basis point.
pub fn bps_of(part: u128, whole: u128) -> u32 {
    let (mut part, mut whole) = (part.min(whole), whole);
    let whole_bps = u128::from(BPS_WHOLE);
    let scaled = loop {
        if whole == 0 {
            return 0;
        }
        match part.checked_mul(whole_bps) {
            Some(p) => break p,
            None => {
                part >>= 1;
                whole >>= 1;
            }
        }
    };
    u32::try_from(scaled / whole).map_or(BPS_WHOLE, |b| b.min(BPS_WHOLE))
}

/// A count as a `u128` (a `usize` always fits).
fn wide(n: usize) -> u128 {
    u128::try_from(n).unwrap_or(u128::MAX)
}

impl Distribution {
    /// The distribution of `incomes` (amount in minor units of `currency`, tier) — one per
    /// creator.
    pub fn new(currency: Currency, incomes: impl IntoIterator<Item = (i64, Tier)>) -> Distribution {
        let mut amounts = Vec::new();
        let mut tiers = [(0_u64, 0_u128); 5];
        let mut total: u128 = 0;
        for (amount, tier) in incomes {
            let amount = amount.max(0);
            let unsigned = u128::from(amount.unsigned_abs());
            let entry = &mut tiers[tier.index()];
            entry.0 = entry.0.saturating_add(1);
            entry.1 = entry.1.saturating_add(unsigned);
            total = total.saturating_add(unsigned);
            amounts.push(amount);
        }
        amounts.sort_unstable();
        Distribution {
            currency,
            amounts,
            tiers,
            total,
        }
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// How many creators.
    pub fn creators(&self) -> u64 {
        u64::try_from(self.amounts.len()).unwrap_or(u64::MAX)
    }

    /// Every creator's income together (`i64::MAX` minor units at most: a sum past it is
    /// shown as that).
    pub fn total(&self) -> Money {
        Money::new(i64::try_from(self.total).unwrap_or(i64::MAX), self.currency)
    }

    /// The median income: the middle one, or with an even number of creators the mean of
    /// the two middle ones rounded down to the minor unit; zero without creators.
    pub fn median(&self) -> Money {
        let n = self.amounts.len();
        let amount = match n {
            0 => 0,
            _ if n % 2 == 1 => self.amounts[n / 2],
            _ => {
                let (low, high) = (self.amounts[n / 2 - 1], self.amounts[n / 2]);
                // Both are at least zero: the mean lies between them and fits.
                low + (high - low) / 2
            }
        };
        Money::new(amount, self.currency)
    }

    /// The Gini coefficient in basis points: 0 when every creator earns the same,
    /// `10,000 × (n − 1) / n` when one of `n` earns everything; 0 without income.
    ///
    /// With the incomes sorted from the lowest, `x₁ ≤ … ≤ xₙ`:
    /// `G = Σᵢ (2i − n − 1) · xᵢ / (n · Σ x)`, toward zero.
    pub fn gini_bps(&self) -> u32 {
        let n = wide(self.amounts.len());
        if n == 0 || self.total == 0 {
            return 0;
        }
        // Each term is at most n · i64::MAX; the sum fits while n < 2^32 creators.
        let n_signed = i128::try_from(n).unwrap_or(i128::MAX);
        let mut weighted: i128 = 0;
        for (i, amount) in (1_i128..).zip(&self.amounts) {
            let weight = 2 * i - n_signed - 1;
            weighted = weighted.saturating_add(weight.saturating_mul(i128::from(*amount)));
        }
        // Non-negative for sorted incomes (the larger ones carry the positive weights).
        let weighted = u128::try_from(weighted).unwrap_or(0);
        bps_of(weighted, n.saturating_mul(self.total))
    }

    /// The share of the income earned by the top `percent` % of creators (the
    /// `⌈n × percent / 100⌉` highest incomes), in basis points; 0 without income.
    pub fn top_share_bps(&self, percent: u8) -> u32 {
        let n = self.amounts.len();
        let k = (n * usize::from(percent.min(100))).div_ceil(100);
        let top: u128 = self.amounts[n - k..]
            .iter()
            .map(|a| u128::from(a.unsigned_abs()))
            .sum();
        bps_of(top, self.total)
    }

    /// The share of the income earned by the top 1 % of creators (at least one creator).
    pub fn top_1_percent_share_bps(&self) -> u32 {
        self.top_share_bps(1)
    }

    /// Every tier, nano to mega, with its creators and its share of the income.
    pub fn by_tier(&self) -> [TierShare; 5] {
        Tier::ALL.map(|tier| {
            let (creators, income) = self.tiers[tier.index()];
            TierShare {
                tier,
                creators,
                share_bps: bps_of(income, self.total),
            }
        })
    }

    /// The Lorenz curve: from `(0, 0)` to `(10,000, 10,000)`, the share of the income (y)
    /// earned by the poorest share of creators (x), at every creator when there are at most
    /// 100 of them and at each percentile otherwise (at most [`LORENZ_POINTS_MAX`] points).
    /// Both coordinates are toward zero, so every point is on or under the diagonal. Without
    /// income the curve is the diagonal itself.
    pub fn lorenz(&self) -> Vec<LorenzPoint> {
        let n = self.amounts.len();
        if n == 0 || self.total == 0 {
            return vec![
                LorenzPoint { x_bps: 0, y_bps: 0 },
                LorenzPoint {
                    x_bps: BPS_WHOLE,
                    y_bps: BPS_WHOLE,
                },
            ];
        }
        let steps = n.min(LORENZ_POINTS_MAX - 1);
        let mut points = Vec::with_capacity(steps + 1);
        let mut taken = 0_usize;
        let mut cumulative: u128 = 0;
        for j in 0..=steps {
            // The first k creators, k = ⌊j × n / steps⌋: every creator when steps = n.
            let k = j * n / steps;
            for amount in &self.amounts[taken..k] {
                cumulative += u128::from(amount.unsigned_abs());
            }
            taken = k;
            points.push(LorenzPoint {
                x_bps: bps_of(wide(k), wide(n)),
                y_bps: bps_of(cumulative, self.total),
            });
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nano(amounts: &[i64]) -> Distribution {
        Distribution::new(Currency::USD, amounts.iter().map(|a| (*a, Tier::Nano)))
    }

    #[test]
    fn equal_incomes_have_a_gini_of_zero_and_one_earner_of_n_has_n_minus_one_over_n() {
        assert_eq!(nano(&[500; 7]).gini_bps(), 0);
        assert_eq!(nano(&[0, 0, 0, 100]).gini_bps(), 7_500);
        assert_eq!(nano(&[0, 0, 100]).gini_bps(), 6_666, "toward zero");
        assert_eq!(
            nano(&[42]).gini_bps(),
            0,
            "one creator is equal to themself"
        );
    }

    #[test]
    fn a_known_distribution_has_its_textbook_figures() {
        // G = (−4·1 − 2·2 + 0·3 + 2·4 + 4·5) / (5 · 15) = 20 / 75.
        let d = nano(&[3, 1, 5, 2, 4]);
        assert_eq!(d.gini_bps(), 2_666);
        assert_eq!(d.median(), Money::new(3, Currency::USD));
        assert_eq!(d.total(), Money::new(15, Currency::USD));
        assert_eq!(d.creators(), 5);
        // The top 1 % of 5 creators is one creator: 5 of 15.
        assert_eq!(d.top_1_percent_share_bps(), 3_333);
        let lorenz: Vec<(u32, u32)> = d.lorenz().iter().map(|p| (p.x_bps, p.y_bps)).collect();
        assert_eq!(
            lorenz,
            vec![
                (0, 0),
                (2_000, 666),
                (4_000, 2_000),
                (6_000, 4_000),
                (8_000, 6_666),
                (10_000, 10_000)
            ]
        );
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two_rounded_down() {
        assert_eq!(nano(&[1, 2, 4, 100]).median().amount(), 3);
        assert_eq!(nano(&[1, 2]).median().amount(), 1);
        assert_eq!(nano(&[i64::MAX, i64::MAX]).median().amount(), i64::MAX);
        assert_eq!(nano(&[]).median(), Money::zero(Currency::USD));
    }

    #[test]
    fn no_income_gives_zeros_and_the_diagonal() {
        for d in [nano(&[]), nano(&[0, 0]), nano(&[-5])] {
            assert_eq!(d.gini_bps(), 0);
            assert_eq!(d.top_1_percent_share_bps(), 0);
            assert!(d.total().is_zero());
            assert!(d.by_tier().iter().all(|t| t.share_bps == 0));
            assert_eq!(
                d.lorenz(),
                vec![
                    LorenzPoint { x_bps: 0, y_bps: 0 },
                    LorenzPoint {
                        x_bps: 10_000,
                        y_bps: 10_000
                    }
                ]
            );
        }
    }

    #[test]
    fn the_top_one_percent_of_a_thousand_is_ten_creators() {
        let mut amounts = vec![1_i64; 990];
        amounts.extend([99; 10]);
        // 990 + 990 = 1,980: the ten earn half.
        assert_eq!(nano(&amounts).top_1_percent_share_bps(), 5_000);
        // 1,001 creators: the top 1 % rounds up to 11.
        amounts.push(1);
        let d = nano(&amounts);
        assert_eq!(d.top_share_bps(1), bps_of(990 + 1, 1_981));
    }

    #[test]
    fn tiers_count_their_creators_and_share_the_income_toward_zero() {
        let d = Distribution::new(
            Currency::USD,
            [
                (100, Tier::Nano),
                (100, Tier::Nano),
                (100, Tier::Micro),
                (0, Tier::Mega),
            ],
        );
        let tiers: Vec<(&str, u64, u32)> = d
            .by_tier()
            .iter()
            .map(|t| (t.tier.as_str(), t.creators, t.share_bps))
            .collect();
        assert_eq!(
            tiers,
            vec![
                ("nano", 2, 6_666),
                ("micro", 1, 3_333),
                ("mid", 0, 0),
                ("macro", 0, 0),
                ("mega", 1, 0),
            ]
        );
    }

    #[test]
    fn a_large_population_is_drawn_at_every_percentile() {
        let amounts: Vec<i64> = (1..=1_000).collect();
        let lorenz = nano(&amounts).lorenz();
        assert_eq!(lorenz.len(), LORENZ_POINTS_MAX);
        assert_eq!(lorenz[50].x_bps, 5_000);
        // The poorer half, 1..=500, earns 125,250 of 500,500.
        assert_eq!(lorenz[50].y_bps, bps_of(125_250, 500_500));
    }

    #[test]
    fn ratios_of_huge_sums_stay_within_the_whole() {
        assert_eq!(bps_of(u128::MAX, u128::MAX), 10_000);
        assert_eq!(bps_of(u128::MAX / 2, u128::MAX), 4_999);
        assert_eq!(bps_of(5, 0), 0);
        let d = nano(&[i64::MAX; 4]);
        assert_eq!(d.gini_bps(), 0);
        assert_eq!(
            d.total().amount(),
            i64::MAX,
            "a sum past i64 is shown at most"
        );
        assert_eq!(d.top_1_percent_share_bps(), 2_500);
    }

    fn incomes() -> impl Strategy<Value = Vec<(i64, Tier)>> {
        proptest::collection::vec(
            (
                prop_oneof![Just(0_i64), 0_i64..1_000, 0_i64..1_000_000_000_000],
                (0_usize..5).prop_map(|i| Tier::ALL[i]),
            ),
            0..400,
        )
    }

    proptest! {
        #[test]
        fn gini_lies_between_zero_and_n_minus_one_over_n_whatever_the_order(
            incomes in incomes(),
        ) {
            let d = Distribution::new(Currency::USD, incomes.iter().copied());
            let n = incomes.len() as u128;
            let gini = d.gini_bps();
            prop_assert!(gini <= bps_of(n.saturating_sub(1), n.max(1)));
            let reversed = Distribution::new(Currency::USD, incomes.iter().rev().copied());
            prop_assert_eq!(reversed.gini_bps(), gini);
        }

        #[test]
        fn one_earner_among_n_gets_n_minus_one_over_n(n in 1_usize..2_000, amount in 1_i64..i64::MAX) {
            let mut amounts = vec![0_i64; n - 1];
            amounts.push(amount);
            prop_assert_eq!(nano(&amounts).gini_bps(), bps_of(n as u128 - 1, n as u128));
            prop_assert_eq!(nano(&amounts).top_1_percent_share_bps(), 10_000);
        }

        #[test]
        fn equal_incomes_always_have_a_gini_of_zero(n in 1_usize..500, amount in 0_i64..i64::MAX) {
            prop_assert_eq!(nano(&vec![amount; n]).gini_bps(), 0);
        }

        #[test]
        fn scaling_every_income_changes_no_ratio(
            amounts in proptest::collection::vec(0_i64..1_000_000, 1..200),
            factor in 1_i64..1_000,
        ) {
            let d = nano(&amounts);
            let scaled = nano(&amounts.iter().map(|a| a * factor).collect::<Vec<_>>());
            prop_assert_eq!(scaled.gini_bps(), d.gini_bps());
            prop_assert_eq!(scaled.top_1_percent_share_bps(), d.top_1_percent_share_bps());
            prop_assert_eq!(scaled.lorenz(), d.lorenz());
        }

        #[test]
        fn the_lorenz_curve_rises_from_corner_to_corner_under_the_diagonal(incomes in incomes()) {
            let d = Distribution::new(Currency::USD, incomes);
            let lorenz = d.lorenz();
            prop_assert!(lorenz.len() >= 2 && lorenz.len() <= LORENZ_POINTS_MAX);
            prop_assert_eq!(lorenz[0], LorenzPoint { x_bps: 0, y_bps: 0 });
            prop_assert_eq!(lorenz[lorenz.len() - 1], LorenzPoint { x_bps: 10_000, y_bps: 10_000 });
            for pair in lorenz.windows(2) {
                prop_assert!(pair[0].x_bps < pair[1].x_bps, "{:?}", pair);
                prop_assert!(pair[0].y_bps <= pair[1].y_bps, "{:?}", pair);
            }
            for p in &lorenz {
                prop_assert!(p.y_bps <= p.x_bps, "{:?}", p);
            }
        }

        #[test]
        fn tier_shares_sum_to_the_whole_less_at_most_four_and_count_everyone(incomes in incomes()) {
            let d = Distribution::new(Currency::USD, incomes.iter().copied());
            let tiers = d.by_tier();
            let shares: u32 = tiers.iter().map(|t| t.share_bps).sum();
            let creators: u64 = tiers.iter().map(|t| t.creators).sum();
            prop_assert_eq!(creators, incomes.len() as u64);
            if d.total().is_zero() {
                prop_assert_eq!(shares, 0);
            } else {
                prop_assert!((10_000 - 4..=10_000).contains(&shares), "{}", shares);
            }
        }

        #[test]
        fn the_top_earn_at_least_their_share_of_creators_and_the_median_lies_within(
            incomes in incomes(),
            percent in 1_u8..=100,
        ) {
            let d = Distribution::new(Currency::USD, incomes.iter().copied());
            let n = incomes.len();
            if d.total().is_positive() {
                let k = (n * usize::from(percent)).div_ceil(100);
                prop_assert!(d.top_share_bps(percent) >= bps_of(k as u128, n as u128));
            }
            let median = d.median().amount();
            let min = incomes.iter().map(|i| i.0).min().unwrap_or(0);
            let max = incomes.iter().map(|i| i.0).max().unwrap_or(0);
            prop_assert!(min <= median && median <= max);
        }
    }
}
