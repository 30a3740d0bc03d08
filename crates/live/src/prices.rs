//! What badges cost: the `Tier` a viewer buys (1 to 3), one country's three prices in its
//! own currency (`CountryPrices`, `TierPrice`), and the `PriceTable` that holds them by the
//! buyer's country. The table is checked when it is built: no country twice, and every
//! price positive, in the country's currency and rising strictly with the tier.

use std::collections::BTreeMap;
use std::fmt;

use money::{Currency, Money};
use serde::{Deserialize, Serialize};

use crate::country::CountryCode;
use crate::error::LiveError;

/// A badge tier, 1 to 3; higher tiers cost more and show more hearts. Serialized as an integer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Tier(u8);

impl Tier {
    /// The three tiers, lowest first.
    pub const ALL: [Tier; 3] = [Tier(1), Tier(2), Tier(3)];

    /// Validates a tier number; anything but 1, 2 or 3 is `LiveError::UnknownTier`.
    pub fn new(n: i64) -> Result<Tier, LiveError> {
        match n {
            1..=3 => Ok(Tier(u8::try_from(n).expect("1..=3 fits in u8"))),
            _ => Err(LiveError::UnknownTier(n)),
        }
    }

    /// The tier number, 1 to 3.
    pub fn get(self) -> u8 {
        self.0
    }

    /// Hearts shown on the badge: tier 1 shows 1 heart, tier 2 shows 2, tier 3 shows 3.
    pub fn hearts(self) -> u8 {
        self.0
    }

    /// Position in a per-tier array, 0 to 2.
    fn index(self) -> usize {
        usize::from(self.0 - 1)
    }
}

impl TryFrom<i64> for Tier {
    type Error = LiveError;

    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Tier::new(n)
    }
}

impl From<Tier> for u8 {
    fn from(tier: Tier) -> u8 {
        tier.0
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The price of one tier.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TierPrice {
    /// The tier.
    pub tier: Tier,
    /// What it costs in the country's currency.
    pub price: Money,
}

/// One country's badge prices; the price of tier `t` is `tiers[t - 1]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CountryPrices {
    /// The country these prices apply to (the buyer's country).
    pub country: CountryCode,
    /// The currency every tier is priced in.
    pub currency: Currency,
    /// Prices for tiers 1, 2 and 3, in that order.
    pub tiers: [Money; 3],
}

impl CountryPrices {
    /// The price of `tier`.
    pub fn price(&self, tier: Tier) -> Money {
        self.tiers[tier.index()]
    }

    /// Every tier with its price, lowest tier first.
    pub fn tier_prices(&self) -> [TierPrice; 3] {
        Tier::ALL.map(|tier| TierPrice {
            tier,
            price: self.price(tier),
        })
    }

    /// Checks one entry: every price in `currency`, positive, and rising with the tier.
    fn validate(&self) -> Result<(), LiveError> {
        let country = self.country;
        for (tier, price) in Tier::ALL.into_iter().zip(self.tiers) {
            if price.currency() != self.currency {
                return Err(LiveError::InvalidPriceTable(format!(
                    "{country} tier {tier} is priced in {} but the country's currency is {}",
                    price.currency(),
                    self.currency
                )));
            }
            if !price.is_positive() {
                return Err(LiveError::InvalidPriceTable(format!(
                    "{country} tier {tier} price must be positive, got {price}"
                )));
            }
        }
        for (lower, higher) in self.tiers.iter().zip(&self.tiers[1..]) {
            if higher.amount() <= lower.amount() {
                return Err(LiveError::InvalidPriceTable(format!(
                    "{country} prices must rise strictly with the tier, got {lower} then {higher}"
                )));
            }
        }
        Ok(())
    }
}

/// Badge prices for every country where badges are sold, keyed by the buyer's country.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PriceTable {
    by_country: BTreeMap<CountryCode, CountryPrices>,
}

impl PriceTable {
    /// The shipped prices for the eleven launch countries (US 0.99 / 1.99 / 4.99 USD).
    pub fn defaults() -> PriceTable {
        let entry =
            |country: CountryCode, currency: Currency, [t1, t2, t3]: [i64; 3]| CountryPrices {
                country,
                currency,
                tiers: [
                    Money::new(t1, currency),
                    Money::new(t2, currency),
                    Money::new(t3, currency),
                ],
            };
        // App-store-like local price points for the US$0.99 / 1.99 / 4.99 tiers.
        let entries = vec![
            entry(CountryCode::US, Currency::USD, [99, 199, 499]),
            entry(CountryCode::FR, Currency::EUR, [109, 219, 549]),
            entry(CountryCode::DE, Currency::EUR, [109, 219, 549]),
            entry(CountryCode::IT, Currency::EUR, [109, 219, 549]),
            entry(CountryCode::ES, Currency::EUR, [109, 219, 549]),
            entry(CountryCode::GB, Currency::GBP, [99, 199, 499]),
            entry(CountryCode::TR, Currency::TRY, [2_999, 5_999, 14_999]),
            entry(CountryCode::BR, Currency::BRL, [590, 1_190, 2_790]),
            entry(CountryCode::MX, Currency::MXN, [1_900, 3_900, 9_900]),
            entry(CountryCode::AU, Currency::AUD, [149, 299, 799]),
            entry(CountryCode::JP, Currency::JPY, [120, 250, 610]),
        ];
        PriceTable::new(entries).expect("the shipped price table is valid (checked by a test)")
    }

    /// Builds a table, checking that no country appears twice and that each country's
    /// prices are in its currency, positive and strictly rising by tier.
    pub fn new(entries: Vec<CountryPrices>) -> Result<PriceTable, LiveError> {
        let mut by_country = BTreeMap::new();
        for entry in entries {
            entry.validate()?;
            if by_country.insert(entry.country, entry).is_some() {
                return Err(LiveError::InvalidPriceTable(format!(
                    "{} appears more than once",
                    entry.country
                )));
            }
        }
        Ok(PriceTable { by_country })
    }

    /// The prices for buyers in `c`, or `None` where badges are not offered.
    pub fn for_country(&self, c: CountryCode) -> Option<&CountryPrices> {
        self.by_country.get(&c)
    }

    /// The price of tier `t` for buyers in `c`, or `None` where badges are not offered.
    pub fn price(&self, c: CountryCode, t: Tier) -> Option<Money> {
        self.for_country(c).map(|prices| prices.price(t))
    }

    /// Countries with prices, in code order.
    pub fn countries(&self) -> impl Iterator<Item = CountryCode> + '_ {
        self.by_country.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country::LAUNCH_COUNTRIES;
    use crate::test_support::country;

    // Tiers.

    #[test]
    fn tiers_are_one_to_three_with_as_many_hearts() {
        for n in 1..=3 {
            let tier = Tier::new(n).expect("1..=3 is valid");
            assert_eq!(i64::from(tier.get()), n);
            assert_eq!(tier.hearts(), tier.get());
        }
        assert_eq!(Tier::ALL.map(Tier::get), [1, 2, 3]);
        for n in [0, 4, -1, i64::MAX, i64::MIN] {
            assert_eq!(Tier::new(n), Err(LiveError::UnknownTier(n)));
        }
    }

    #[test]
    fn tier_serde_is_a_validated_integer() {
        let tier: Tier = serde_json::from_str("2").expect("valid");
        assert_eq!(tier.get(), 2);
        assert_eq!(serde_json::to_string(&tier).expect("serializes"), "2");
        assert!(serde_json::from_str::<Tier>("4").is_err());
        assert!(serde_json::from_str::<Tier>("0").is_err());
    }

    // Prices.

    #[test]
    fn defaults_cover_the_eleven_launch_countries_with_rising_prices_in_local_currency() {
        let table = PriceTable::defaults();
        let expected = [
            ("US", Currency::USD),
            ("FR", Currency::EUR),
            ("DE", Currency::EUR),
            ("IT", Currency::EUR),
            ("ES", Currency::EUR),
            ("GB", Currency::GBP),
            ("TR", Currency::TRY),
            ("BR", Currency::BRL),
            ("MX", Currency::MXN),
            ("AU", Currency::AUD),
            ("JP", Currency::JPY),
        ];
        assert_eq!(table.countries().count(), expected.len());
        for (code, currency) in expected {
            let prices = table
                .for_country(country(code))
                .expect("launch country has prices");
            assert_eq!(prices.currency, currency, "{code}");
            for tier in Tier::ALL {
                assert_eq!(prices.price(tier).currency(), currency, "{code}");
                assert!(prices.price(tier).is_positive(), "{code}");
            }
            assert!(
                prices.tiers[0].amount() < prices.tiers[1].amount(),
                "{code}"
            );
            assert!(
                prices.tiers[1].amount() < prices.tiers[2].amount(),
                "{code}"
            );
        }
        let mut launch: Vec<_> = LAUNCH_COUNTRIES.to_vec();
        launch.sort();
        assert_eq!(table.countries().collect::<Vec<_>>(), launch);
    }

    #[test]
    fn default_us_prices_are_99_199_499_cents() {
        let table = PriceTable::defaults();
        let prices = Tier::ALL.map(|t| table.price(CountryCode::US, t));
        assert_eq!(
            prices,
            [99, 199, 499].map(|a| Some(Money::new(a, Currency::USD)))
        );
    }

    #[test]
    fn default_jp_tier_one_is_120_yen() {
        let tier_one = Tier::new(1).expect("valid");
        assert_eq!(
            PriceTable::defaults().price(CountryCode::JP, tier_one),
            Some(Money::new(120, Currency::JPY))
        );
    }

    #[test]
    fn unsupported_country_has_no_prices() {
        let table = PriceTable::defaults();
        assert_eq!(table.for_country(country("CA")), None);
        assert_eq!(table.price(country("CA"), Tier::ALL[0]), None);
    }

    #[test]
    fn tier_prices_list_every_tier_in_order() {
        let table = PriceTable::defaults();
        let prices = table.for_country(CountryCode::GB).expect("GB has prices");
        let listed = prices.tier_prices();
        assert_eq!(listed.map(|p| p.tier), Tier::ALL);
        assert_eq!(listed.map(|p| p.price.amount()), [99, 199, 499]);
    }

    fn prices(country: CountryCode, currency: Currency, amounts: [i64; 3]) -> CountryPrices {
        CountryPrices {
            country,
            currency,
            tiers: amounts.map(|a| Money::new(a, currency)),
        }
    }

    #[test]
    fn price_table_rejects_duplicate_countries() {
        let us = prices(CountryCode::US, Currency::USD, [1, 2, 3]);
        assert_eq!(
            PriceTable::new(vec![us, us]),
            Err(LiveError::InvalidPriceTable(
                "US appears more than once".into()
            ))
        );
    }

    #[test]
    fn price_table_rejects_prices_that_do_not_rise_strictly() {
        for amounts in [[1, 1, 2], [1, 3, 2], [3, 2, 1]] {
            let entry = prices(CountryCode::US, Currency::USD, amounts);
            assert!(PriceTable::new(vec![entry]).is_err(), "{amounts:?}");
        }
    }

    #[test]
    fn price_table_rejects_zero_and_negative_prices() {
        for amounts in [[0, 1, 2], [-1, 1, 2]] {
            let entry = prices(CountryCode::US, Currency::USD, amounts);
            assert!(PriceTable::new(vec![entry]).is_err(), "{amounts:?}");
        }
    }

    #[test]
    fn price_table_rejects_a_tier_in_another_currency() {
        let mut entry = prices(CountryCode::JP, Currency::JPY, [120, 250, 610]);
        entry.tiers[2] = Money::new(499, Currency::USD);
        let error = PriceTable::new(vec![entry]).expect_err("mixed currencies");
        assert_eq!(
            error.to_string(),
            "invalid price table: JP tier 3 is priced in USD but the country's currency is JPY"
        );
    }

    #[test]
    fn empty_price_table_is_allowed_and_offers_nothing() {
        let table = PriceTable::new(Vec::new()).expect("an operator may offer badges nowhere");
        assert_eq!(table.countries().count(), 0);
    }
}
