//! Money: amounts as integer counts of a currency's minor unit, with the ISO 4217 currency
//! beside them, checked arithmetic that returns a `Result`, basis-point splits and exact
//! allocation that never create or lose a minor unit. This crate owns the rules for
//! representing, combining, splitting and printing amounts. It must never know about IO,
//! async, databases (sqlx) or HTTP (axum), and it never touches floating point: every
//! intermediate is an integer (`i128` where a product could overflow `i64`).
//!
//! Why one long file: about half of it is the tests and properties of the arithmetic above
//! them; the code itself is under 400 lines.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most characters of rejected input an error message repeats back.
const ECHO_CHARS_MAX: usize = 16;

/// Basis points in a whole: 10,000 bps = 100 %.
const BPS_PER_WHOLE: u32 = 10_000;

/// Everything that can go wrong when building or combining amounts.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// The code is not an upper-case ISO 4217 code with a defined minor unit.
    #[error(
        "unknown currency {0:?}: expected an upper-case ISO 4217 code with a minor unit, such as \"USD\""
    )]
    UnknownCurrency(String),
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: cannot combine {left} with {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in a signed 64-bit count of minor units.
    #[error("amount overflow: the result does not fit in 64 bits of minor units")]
    Overflow,
    /// Allocation weights were empty or all zero.
    #[error("weights must be non-empty and not all zero")]
    InvalidWeights,
    /// A basis-point value above 10,000 (100 %).
    #[error("basis points must be between 0 and 10000, got {0}")]
    BpsOutOfRange(u32),
}

/// An ISO 4217 currency that has a defined minor unit (so never `XXX`, `XAU` and the like).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// United States dollar (2 decimals).
    pub const USD: Currency = Currency(iso_currency::Currency::USD);
    /// Euro (2 decimals).
    pub const EUR: Currency = Currency(iso_currency::Currency::EUR);
    /// Pound sterling (2 decimals).
    pub const GBP: Currency = Currency(iso_currency::Currency::GBP);
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency(iso_currency::Currency::JPY);
    /// Turkish lira (2 decimals).
    pub const TRY: Currency = Currency(iso_currency::Currency::TRY);
    /// Brazilian real (2 decimals).
    pub const BRL: Currency = Currency(iso_currency::Currency::BRL);
    /// Mexican peso (2 decimals).
    pub const MXN: Currency = Currency(iso_currency::Currency::MXN);
    /// Australian dollar (2 decimals).
    pub const AUD: Currency = Currency(iso_currency::Currency::AUD);
    /// Bahraini dinar (3 decimals).
    pub const BHD: Currency = Currency(iso_currency::Currency::BHD);

    /// Parses an upper-case ISO 4217 code such as `"USD"`; codes without a minor unit are rejected.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let unknown = || MoneyError::UnknownCurrency(echo(code));
        // The crate's lookup is an exact match already; checking the shape first keeps the
        // rule ("three upper-case ASCII letters") explicit rather than an accident of it.
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(unknown());
        }
        let iso = iso_currency::Currency::from_code(code).ok_or_else(unknown)?;
        // Precious metals, SDRs, `XTS` and `XXX` have no minor unit, so no amount in them
        // can be written as an integer count of minor units.
        match iso.exponent().map(u8::try_from) {
            Some(Ok(_)) => Ok(Currency(iso)),
            _ => Err(unknown()),
        }
    }

    /// The three-letter ISO 4217 code, e.g. `"USD"`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Number of minor-unit digits: USD 2, JPY 0, BHD 3.
    pub fn exponent(self) -> u8 {
        self.0
            .exponent()
            .and_then(|e| u8::try_from(e).ok())
            .expect("a Currency is only built from codes whose exponent is defined and small")
    }

    /// Every currency [`Currency::parse`] takes, in alphabetical order of code.
    pub fn all() -> impl Iterator<Item = Currency> {
        let letters = b'A'..=b'Z';
        letters.clone().flat_map(move |a| {
            let letters = letters.clone();
            letters.clone().flat_map(move |b| {
                letters.clone().filter_map(move |c| {
                    Currency::parse(std::str::from_utf8(&[a, b, c]).ok()?).ok()
                })
            })
        })
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Currency").field(&self.code()).finish()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;

        impl serde::de::Visitor<'_> for CodeVisitor {
            type Value = Currency;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an upper-case ISO 4217 currency code with a minor unit, such as \"USD\"",
                )
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Currency, E> {
                Currency::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(CodeVisitor)
    }
}

/// Basis points, 0..=10,000 (1 bp = 0.01 %); serialized as a plain integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Bps(u32);

impl Bps {
    /// Zero basis points: nothing is split off.
    pub const ZERO: Bps = Bps(0);
    /// 10,000 basis points: everything is split off.
    pub const MAX: Bps = Bps(BPS_PER_WHOLE);

    /// Validates a basis-point value; above 10,000 is `MoneyError::BpsOutOfRange`.
    pub fn new(v: u32) -> Result<Bps, MoneyError> {
        if v > BPS_PER_WHOLE {
            return Err(MoneyError::BpsOutOfRange(v));
        }
        Ok(Bps(v))
    }

    /// The value in basis points.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Bps {
    type Error = MoneyError;

    fn try_from(v: u32) -> Result<Self, Self::Error> {
        Bps::new(v)
    }
}

impl From<Bps> for u32 {
    fn from(bps: Bps) -> u32 {
        bps.0
    }
}

impl fmt::Display for Bps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bps", self.0)
    }
}

/// An amount: a signed count of minor units (cents, yen, fils) in one currency.
///
/// There is deliberately no `Default` (a zero needs a currency) and no `Ord` (amounts in
/// different currencies do not compare). Serialized as `{"amount": 199, "currency": "USD"}`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Money {
    amount: i64,
    currency: Currency,
}

impl Money {
    /// An amount of `amount_minor` minor units of `currency` (199 USD = US$1.99).
    pub const fn new(amount_minor: i64, currency: Currency) -> Money {
        Money {
            amount: amount_minor,
            currency,
        }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money::new(0, currency)
    }

    /// The amount in minor units.
    pub const fn amount(self) -> i64 {
        self.amount
    }

    /// The currency.
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// `self + other`; errors on a currency mismatch or overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self - other`; errors on a currency mismatch or overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `-self`; errors only for the most negative amount, whose negation does not fit.
    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// True when the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.amount == 0
    }

    /// True when the amount is above zero.
    pub const fn is_positive(self) -> bool {
        self.amount > 0
    }

    /// True when the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.amount < 0
    }

    /// Splits off `bps` basis points, returning `(part, rest)`.
    ///
    /// Rounding rule: `part` (for example the platform fee) is `amount * bps / 10_000`
    /// rounded toward zero — that is, floored for non-negative amounts — and every minor unit
    /// the rounding leaves over goes to `rest` (for example the creator's share).
    /// `part + rest == self` always, `|part| <= |self|`, and `part` never has the opposite
    /// sign of `self`. The product is computed in `i128`, so no input overflows.
    ///
    /// ```
    /// use money::{Bps, Currency, Money};
    ///
    /// // A 30 % fee on US$1.99 is 59.7 cents: the fee is 59, the creator keeps 140.
    /// let (fee, creator) = Money::new(199, Currency::USD).split_bps(Bps::new(3_000)?);
    /// assert_eq!((fee.amount(), creator.amount()), (59, 140));
    /// # Ok::<(), money::MoneyError>(())
    /// ```
    pub fn split_bps(self, bps: Bps) -> (Money, Money) {
        let product = i128::from(self.amount) * i128::from(bps.get());
        // Integer division truncates toward zero, which is the rounding rule above.
        let part = i64::try_from(product / i128::from(BPS_PER_WHOLE))
            .expect("bps <= 10_000, so |part| <= |amount| and part fits in i64");
        let rest = self
            .amount
            .checked_sub(part)
            .expect("part has the sign of amount and no larger magnitude, so rest lies between 0 and amount");
        (
            Money::new(part, self.currency),
            Money::new(rest, self.currency),
        )
    }

    /// Allocates `self` exactly in proportion to `weights` (largest-remainder method).
    ///
    /// Each share starts as `floor(|amount| * w / sum(weights))`; the minor units left over
    /// go one each to the shares with the largest fractional remainders, ties to the
    /// earliest index. The shares sum exactly to `self`, there is one per weight, each is
    /// within one minor unit of its exact proportional value, and a zero weight gets zero.
    /// A negative amount is allocated as its absolute value, then each share negated.
    /// Empty or all-zero weights are `MoneyError::InvalidWeights`.
    ///
    /// ```
    /// use money::{Currency, Money};
    ///
    /// let shares = Money::new(100, Currency::USD).allocate(&[1, 1, 1])?;
    /// assert_eq!(shares.iter().map(|s| s.amount()).collect::<Vec<_>>(), [34, 33, 33]);
    /// # Ok::<(), money::MoneyError>(())
    /// ```
    pub fn allocate(self, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
        let total_weight: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        if total_weight == 0 {
            return Err(MoneyError::InvalidWeights);
        }
        let magnitude = u128::from(self.amount.unsigned_abs());

        // |amount| <= 2^63 and w < 2^64, so every product fits in u128.
        let mut shares: Vec<u128> = Vec::with_capacity(weights.len());
        let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
        for (index, &weight) in weights.iter().enumerate() {
            let product = magnitude * u128::from(weight);
            shares.push(product / total_weight);
            remainders.push((product % total_weight, index));
        }
        let floored: u128 = shares.iter().sum();
        // Fewer than weights.len() units are left over, and only shares with a non-zero
        // remainder can receive one (the remainders sum to leftover * total_weight).
        let leftover = magnitude - floored;
        remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, index) in remainders
            .iter()
            .take(usize::try_from(leftover).unwrap_or(usize::MAX))
        {
            shares[index] += 1;
        }

        let negative = self.amount < 0;
        let money = shares
            .into_iter()
            .map(|share| {
                // Every share is at most |amount| <= 2^63, so its signed value fits in i64.
                let share = i128::try_from(share).expect("a share is at most 2^63");
                let signed = if negative { -share } else { share };
                let amount = i64::try_from(signed)
                    .expect("a share has the sign of amount and no larger magnitude");
                Money::new(amount, self.currency)
            })
            .collect();
        Ok(money)
    }

    /// Formats for humans, e.g. `"1.99 USD"`, `"120 JPY"`, `"-0.05 EUR"`, `"1.234 BHD"`.
    pub fn to_decimal_string(self) -> String {
        self.to_string()
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount < 0 { "-" } else { "" };
        let digits = self.amount.unsigned_abs().to_string();
        let exponent = usize::from(self.currency.exponent());
        if exponent == 0 {
            return write!(f, "{sign}{digits} {}", self.currency);
        }
        // Pad so there is at least one digit before the decimal point: 5 cents -> "005".
        let padded = format!("{digits:0>width$}", width = exponent + 1);
        let (units, fraction) = padded.split_at(padded.len() - exponent);
        write!(f, "{sign}{units}.{fraction} {}", self.currency)
    }
}

/// The first few characters of rejected input, so errors stay small whatever was sent.
fn echo(input: &str) -> String {
    input.chars().take(ECHO_CHARS_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::USD)
    }

    #[test]
    fn all_is_what_parse_takes() {
        let all: Vec<Currency> = Currency::all().collect();
        assert!(all.len() > 150, "{}", all.len());
        for c in [Currency::USD, Currency::JPY, Currency::BHD, Currency::EUR] {
            assert!(all.contains(&c), "{c}");
        }
        assert!(all.windows(2).all(|w| w[0].code() < w[1].code()));
        assert!(
            !all.iter()
                .any(|c| ["XAU", "XXX", "XTS"].contains(&c.code()))
        );
    }

    #[test]
    fn exponents_come_from_iso_4217() {
        assert_eq!(Currency::USD.exponent(), 2);
        assert_eq!(Currency::EUR.exponent(), 2);
        assert_eq!(Currency::JPY.exponent(), 0);
        assert_eq!(Currency::BHD.exponent(), 3);
    }

    #[test]
    fn every_associated_const_has_a_minor_unit_and_parses_back() {
        let all = [
            Currency::USD,
            Currency::EUR,
            Currency::GBP,
            Currency::JPY,
            Currency::TRY,
            Currency::BRL,
            Currency::MXN,
            Currency::AUD,
            Currency::BHD,
        ];
        for currency in all {
            assert_eq!(Currency::parse(currency.code()), Ok(currency));
            assert!(currency.exponent() <= 3, "{currency}");
        }
    }

    #[test]
    fn parse_accepts_known_upper_case_codes() {
        assert_eq!(Currency::parse("USD"), Ok(Currency::USD));
        assert_eq!(Currency::parse("JPY").map(Currency::code), Ok("JPY"));
        assert_eq!("EUR".parse::<Currency>(), Ok(Currency::EUR));
        assert_eq!(Currency::parse("CHF").map(Currency::exponent), Ok(2));
    }

    #[test]
    fn parse_rejects_lower_case_codes() {
        assert_eq!(
            Currency::parse("usd"),
            Err(MoneyError::UnknownCurrency("usd".into()))
        );
        assert!(Currency::parse("Usd").is_err());
    }

    #[test]
    fn parse_rejects_codes_without_a_minor_unit() {
        for code in ["XXX", "XAU", "XTS", "XDR"] {
            assert_eq!(
                Currency::parse(code),
                Err(MoneyError::UnknownCurrency(code.into())),
                "{code}"
            );
        }
    }

    #[test]
    fn parse_rejects_wrong_lengths_and_unassigned_codes() {
        for code in ["", "US", "ABCD", "USD ", " USD", "QQQ", "ÜSD"] {
            assert!(Currency::parse(code).is_err(), "{code:?}");
        }
    }

    #[test]
    fn unknown_currency_error_echoes_only_a_bounded_prefix() {
        let long = "A".repeat(10_000);
        let Err(MoneyError::UnknownCurrency(echoed)) = Currency::parse(&long) else {
            panic!("a 10,000-letter code must be rejected");
        };
        assert_eq!(echoed.len(), ECHO_CHARS_MAX);
    }

    #[test]
    fn error_messages_are_lower_case_without_a_trailing_dot() {
        let errors = [
            MoneyError::UnknownCurrency("usd".into()),
            MoneyError::CurrencyMismatch {
                left: Currency::USD,
                right: Currency::EUR,
            },
            MoneyError::Overflow,
            MoneyError::InvalidWeights,
            MoneyError::BpsOutOfRange(10_001),
        ];
        for error in errors {
            let message = error.to_string();
            let first = message.chars().next().expect("messages are not empty");
            assert!(first.is_lowercase(), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
        assert_eq!(
            MoneyError::CurrencyMismatch {
                left: Currency::USD,
                right: Currency::EUR
            }
            .to_string(),
            "currency mismatch: cannot combine USD with EUR"
        );
    }

    #[test]
    fn currency_displays_and_debugs_as_its_code() {
        assert_eq!(Currency::BHD.to_string(), "BHD");
        assert_eq!(format!("{:?}", Currency::JPY), "Currency(\"JPY\")");
    }

    #[test]
    fn currency_serializes_as_its_code_string() {
        assert_eq!(
            serde_json::to_string(&Currency::USD).expect("serializes"),
            "\"USD\""
        );
        let back: Currency = serde_json::from_str("\"JPY\"").expect("JPY deserializes");
        assert_eq!(back, Currency::JPY);
    }

    #[test]
    fn currency_deserialization_rejects_unknown_codes_with_a_clear_error() {
        let error = serde_json::from_str::<Currency>("\"usd\"")
            .expect_err("lower case is rejected")
            .to_string();
        assert!(error.contains("unknown currency \"usd\""), "{error}");
        let error = serde_json::from_str::<Currency>("840")
            .expect_err("numbers are rejected")
            .to_string();
        assert!(error.contains("ISO 4217"), "{error}");
    }

    #[test]
    fn money_serializes_as_amount_and_currency() {
        let json = serde_json::to_value(usd(199)).expect("serializes");
        assert_eq!(json, serde_json::json!({"amount": 199, "currency": "USD"}));
        let back: Money =
            serde_json::from_str(r#"{"amount": 120, "currency": "JPY"}"#).expect("deserializes");
        assert_eq!(back, Money::new(120, Currency::JPY));
    }

    #[test]
    fn money_deserialization_rejects_fractional_amounts_and_bad_currencies() {
        assert!(serde_json::from_str::<Money>(r#"{"amount": 1.5, "currency": "USD"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount": 1, "currency": "XXX"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount": 1}"#).is_err());
    }

    #[test]
    fn formatting_places_the_decimal_point_by_exponent() {
        assert_eq!(usd(199).to_decimal_string(), "1.99 USD");
        assert_eq!(
            Money::new(120, Currency::JPY).to_decimal_string(),
            "120 JPY"
        );
        assert_eq!(
            Money::new(-5, Currency::EUR).to_decimal_string(),
            "-0.05 EUR"
        );
        assert_eq!(
            Money::new(1234, Currency::BHD).to_decimal_string(),
            "1.234 BHD"
        );
        assert_eq!(
            Money::new(7, Currency::BHD).to_decimal_string(),
            "0.007 BHD"
        );
        assert_eq!(usd(0).to_decimal_string(), "0.00 USD");
        assert_eq!(usd(-100).to_string(), "-1.00 USD");
        assert_eq!(Money::new(-120, Currency::JPY).to_string(), "-120 JPY");
        assert_eq!(
            usd(i64::MIN).to_string(),
            "-92233720368547758.08 USD",
            "the most negative amount formats without overflow"
        );
    }

    #[test]
    fn checked_add_and_sub_reject_mixed_currencies() {
        let eur = Money::new(1, Currency::EUR);
        let mismatch = MoneyError::CurrencyMismatch {
            left: Currency::USD,
            right: Currency::EUR,
        };
        assert_eq!(usd(1).checked_add(eur), Err(mismatch.clone()));
        assert_eq!(usd(1).checked_sub(eur), Err(mismatch));
    }

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN).checked_sub(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MAX).checked_neg(), Ok(usd(-i64::MAX)));
        assert_eq!(usd(150).checked_add(usd(49)), Ok(usd(199)));
        assert_eq!(usd(150).checked_sub(usd(200)), Ok(usd(-50)));
    }

    #[test]
    fn sign_predicates() {
        assert!(usd(0).is_zero() && !usd(0).is_positive() && !usd(0).is_negative());
        assert!(usd(1).is_positive() && !usd(1).is_zero());
        assert!(usd(-1).is_negative() && !usd(-1).is_positive());
        assert_eq!(Money::zero(Currency::JPY), Money::new(0, Currency::JPY));
    }

    #[test]
    fn bps_rejects_values_above_ten_thousand() {
        assert_eq!(Bps::new(10_000).map(Bps::get), Ok(10_000));
        assert_eq!(Bps::new(10_001), Err(MoneyError::BpsOutOfRange(10_001)));
        assert_eq!(Bps::ZERO.get(), 0);
        assert_eq!(Bps::MAX.get(), 10_000);
    }

    #[test]
    fn bps_serializes_as_a_plain_validated_integer() {
        let bps = Bps::new(2_500).expect("in range");
        assert_eq!(serde_json::to_string(&bps).expect("serializes"), "2500");
        assert_eq!(serde_json::from_str::<Bps>("2500").expect("in range"), bps);
        let error = serde_json::from_str::<Bps>("10001")
            .expect_err("out of range")
            .to_string();
        assert!(
            error.contains("basis points must be between 0 and 10000"),
            "{error}"
        );
        assert!(serde_json::from_str::<Bps>("-1").is_err());
    }

    #[test]
    fn split_bps_rounds_the_part_toward_zero_and_gives_the_rest_the_remainder() {
        let thirty_percent = Bps::new(3_000).expect("in range");
        // 30 % of 199 is 59.7: the fee is 59, the creator gets 140.
        assert_eq!(usd(199).split_bps(thirty_percent), (usd(59), usd(140)));
        // Toward zero for negative amounts too: -59.7 becomes -59.
        assert_eq!(usd(-199).split_bps(thirty_percent), (usd(-59), usd(-140)));
        assert_eq!(usd(199).split_bps(Bps::ZERO), (usd(0), usd(199)));
        assert_eq!(usd(199).split_bps(Bps::MAX), (usd(199), usd(0)));
        assert_eq!(
            usd(i64::MAX).split_bps(Bps::MAX),
            (usd(i64::MAX), usd(0)),
            "the i128 intermediate does not overflow"
        );
        assert_eq!(usd(i64::MIN).split_bps(Bps::MAX), (usd(i64::MIN), usd(0)));
    }

    #[test]
    fn allocate_gives_leftover_units_to_the_largest_remainders() {
        // 100 / 3 = 33.33 each: the one leftover cent goes to the earliest tie.
        assert_eq!(
            usd(100).allocate(&[1, 1, 1]),
            Ok(vec![usd(34), usd(33), usd(33)])
        );
        // 5 split 3:7 is 1.5 / 3.5: a tie on the remainder, the earliest index wins.
        assert_eq!(usd(5).allocate(&[3, 7]), Ok(vec![usd(2), usd(3)]));
        // 10 split 1:2:3 is 1.67 / 3.33 / 5: the largest remainder (index 0) gets the unit.
        assert_eq!(
            usd(10).allocate(&[1, 2, 3]),
            Ok(vec![usd(2), usd(3), usd(5)])
        );
    }

    #[test]
    fn allocate_negative_amounts_symmetrically() {
        assert_eq!(
            usd(-100).allocate(&[1, 1, 1]),
            Ok(vec![usd(-34), usd(-33), usd(-33)])
        );
    }

    #[test]
    fn allocate_gives_zero_weights_nothing() {
        assert_eq!(
            usd(7).allocate(&[0, 1, 0]),
            Ok(vec![usd(0), usd(7), usd(0)])
        );
        assert_eq!(usd(0).allocate(&[2, 3]), Ok(vec![usd(0), usd(0)]));
    }

    #[test]
    fn allocate_rejects_empty_or_all_zero_weights() {
        assert_eq!(usd(100).allocate(&[]), Err(MoneyError::InvalidWeights));
        assert_eq!(usd(100).allocate(&[0, 0]), Err(MoneyError::InvalidWeights));
    }

    #[test]
    fn allocate_handles_extreme_amounts_and_weights() {
        let shares = usd(i64::MIN)
            .allocate(&[u64::MAX, u64::MAX, 1])
            .expect("weights are valid");
        let total = shares
            .iter()
            .try_fold(usd(0), |acc, &share| acc.checked_add(share))
            .expect("shares of an amount sum without overflow");
        assert_eq!(total, usd(i64::MIN));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(vec![
            Currency::USD,
            Currency::EUR,
            Currency::JPY,
            Currency::BHD,
            Currency::TRY,
        ])
    }

    fn money() -> impl Strategy<Value = Money> {
        (any::<i64>(), currency()).prop_map(|(amount, currency)| Money::new(amount, currency))
    }

    fn bps() -> impl Strategy<Value = Bps> {
        (0..=BPS_PER_WHOLE).prop_map(|v| Bps::new(v).expect("generated in range"))
    }

    proptest! {
        #[test]
        fn split_bps_parts_sum_to_the_whole(m in money(), bps in bps()) {
            let (part, rest) = m.split_bps(bps);
            prop_assert_eq!(part.checked_add(rest), Ok(m));
            prop_assert!(part.amount().unsigned_abs() <= m.amount().unsigned_abs());
            prop_assert!(part.amount().signum() * m.amount().signum() >= 0);
            prop_assert_eq!(part.currency(), m.currency());
            prop_assert_eq!(rest.currency(), m.currency());
        }

        #[test]
        fn split_bps_part_is_the_exact_share_rounded_toward_zero(m in money(), bps in bps()) {
            let (part, _) = m.split_bps(bps);
            let exact_times_whole = i128::from(m.amount()) * i128::from(bps.get());
            let part_times_whole = i128::from(part.amount()) * i128::from(BPS_PER_WHOLE);
            // |part| <= |exact| < |part| + 1, measured in ten-thousandths.
            prop_assert!(part_times_whole.abs() <= exact_times_whole.abs());
            prop_assert!(exact_times_whole.abs() - part_times_whole.abs() < i128::from(BPS_PER_WHOLE));
        }

        #[test]
        fn allocate_sums_exactly_and_stays_within_one_unit(
            m in money(),
            weights in prop::collection::vec(0..=u64::from(u32::MAX), 1..20),
        ) {
            let total_weight: i128 = weights.iter().map(|&w| i128::from(w)).sum();
            prop_assume!(total_weight > 0);
            let shares = m.allocate(&weights).expect("weights are non-empty and not all zero");
            prop_assert_eq!(shares.len(), weights.len());
            let sum: i128 = shares.iter().map(|s| i128::from(s.amount())).sum();
            prop_assert_eq!(sum, i128::from(m.amount()));
            for (share, &weight) in shares.iter().zip(&weights) {
                prop_assert_eq!(share.currency(), m.currency());
                // |share - amount * w / W| < 1, multiplied through by W.
                let deviation = i128::from(share.amount()) * total_weight
                    - i128::from(m.amount()) * i128::from(weight);
                prop_assert!(deviation.abs() < total_weight);
                if weight == 0 {
                    prop_assert!(share.is_zero());
                }
            }
        }

        #[test]
        fn allocate_with_any_u64_weights_never_panics_and_sums(
            m in money(),
            weights in prop::collection::vec(any::<u64>(), 1..8),
        ) {
            match m.allocate(&weights) {
                Ok(shares) => {
                    let sum: i128 = shares.iter().map(|s| i128::from(s.amount())).sum();
                    prop_assert_eq!(sum, i128::from(m.amount()));
                }
                Err(error) => {
                    prop_assert_eq!(error, MoneyError::InvalidWeights);
                    prop_assert!(weights.iter().all(|&w| w == 0));
                }
            }
        }

        #[test]
        fn checked_add_never_panics_and_errs_exactly_on_overflow(a in any::<i64>(), b in any::<i64>()) {
            let exact = i128::from(a) + i128::from(b);
            match Money::new(a, Currency::USD).checked_add(Money::new(b, Currency::USD)) {
                Ok(sum) => prop_assert_eq!(i128::from(sum.amount()), exact),
                Err(error) => {
                    prop_assert_eq!(error, MoneyError::Overflow);
                    prop_assert!(i64::try_from(exact).is_err());
                }
            }
        }

        #[test]
        fn checked_sub_never_panics_and_errs_exactly_on_overflow(a in any::<i64>(), b in any::<i64>()) {
            let exact = i128::from(a) - i128::from(b);
            match Money::new(a, Currency::EUR).checked_sub(Money::new(b, Currency::EUR)) {
                Ok(difference) => prop_assert_eq!(i128::from(difference.amount()), exact),
                Err(error) => {
                    prop_assert_eq!(error, MoneyError::Overflow);
                    prop_assert!(i64::try_from(exact).is_err());
                }
            }
        }

        #[test]
        fn add_then_sub_round_trips(a in money(), b in any::<i64>()) {
            let b = Money::new(b, a.currency());
            if let Ok(sum) = a.checked_add(b) {
                prop_assert_eq!(sum.checked_sub(b), Ok(a));
            }
            if let Ok(difference) = a.checked_sub(b) {
                prop_assert_eq!(difference.checked_add(b), Ok(a));
            }
        }

        #[test]
        fn negation_round_trips_except_at_the_minimum(m in money()) {
            match m.checked_neg() {
                Ok(negated) => prop_assert_eq!(negated.checked_neg(), Ok(m)),
                Err(error) => {
                    prop_assert_eq!(error, MoneyError::Overflow);
                    prop_assert_eq!(m.amount(), i64::MIN);
                }
            }
        }

        #[test]
        fn serde_round_trips(m in money()) {
            let json = serde_json::to_string(&m).expect("money serializes");
            prop_assert_eq!(serde_json::from_str::<Money>(&json).expect("and deserializes"), m);
        }

        #[test]
        fn decimal_string_holds_exactly_the_amount_digits(m in money()) {
            let text = m.to_decimal_string();
            let (number, code) = text.split_once(' ').expect("amount and code are space separated");
            prop_assert_eq!(code, m.currency().code());
            let exponent = usize::from(m.currency().exponent());
            let fraction_digits = number.split_once('.').map_or(0, |(_, fraction)| fraction.len());
            prop_assert_eq!(fraction_digits, exponent);
            let digits: String = number.chars().filter(|&c| c != '.').collect();
            prop_assert_eq!(digits.parse::<i128>().expect("only digits and a sign remain"), i128::from(m.amount()));
        }
    }
}
