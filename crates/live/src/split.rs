//! How a badge price divides: `ProcessorFee` works out the payment processor's cut, and
//! `split_badge_price` takes that, then the platform's fee, and leaves the rest to the
//! creator (`BadgeSplit`). Everything is integer minor units, so the three parts always sum
//! to the price.

use money::{Bps, Money};

/// How a badge price divides between the payment processor, the platform and the creator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BadgeSplit {
    /// What the creator earns: the price minus both fees.
    pub creator_share: Money,
    /// What the platform keeps.
    pub platform_fee: Money,
    /// What the payment processor keeps (zero for a wallet payment: the processor was paid
    /// when the wallet was topped up).
    pub processor_fee: Money,
}

/// A payment processor's price: a percentage and a fixed amount per payment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ProcessorFee {
    /// The percentage part, in basis points.
    pub bps: Bps,
    /// The fixed part, in minor units of the payment's currency.
    pub fixed_minor: i64,
}

impl ProcessorFee {
    /// No fee (the sandbox, and wallet payments).
    pub const NONE: ProcessorFee = ProcessorFee {
        bps: Bps::ZERO,
        fixed_minor: 0,
    };

    /// The fee on `amount`: `bps` of it rounded toward zero, plus the fixed part; never
    /// more than the amount itself, never negative.
    ///
    /// ```
    /// use live::ProcessorFee;
    /// use money::{Bps, Currency, Money};
    ///
    /// // Stripe's 2.9 % + 30¢ on US$4.99: 14.471¢ rounds to 14, plus 30.
    /// let fee = ProcessorFee { bps: Bps::new(290)?, fixed_minor: 30 };
    /// assert_eq!(fee.on(Money::new(499, Currency::USD)), Money::new(44, Currency::USD));
    /// # Ok::<(), money::MoneyError>(())
    /// ```
    pub fn on(self, amount: Money) -> Money {
        if !amount.is_positive() {
            return Money::zero(amount.currency());
        }
        let (percent, _) = amount.split_bps(self.bps);
        let fee = percent
            .amount()
            .saturating_add(self.fixed_minor.max(0))
            .min(amount.amount());
        Money::new(fee, amount.currency())
    }
}

/// Splits a badge price. First the processor's fee ([`ProcessorFee::on`]); then the
/// platform's fee, `platform_fee_bps` of what is left, rounded toward zero; the creator gets
/// the remainder. The three always sum to the price.
///
/// ```
/// use live::{ProcessorFee, split_badge_price};
/// use money::{Bps, Currency, Money};
///
/// let split = split_badge_price(Money::new(499, Currency::USD), ProcessorFee::NONE, Bps::new(1_500)?);
/// assert_eq!(split.platform_fee, Money::new(74, Currency::USD)); // 74.85 rounds down
/// assert_eq!(split.creator_share, Money::new(425, Currency::USD));
///
/// let card = ProcessorFee { bps: Bps::new(290)?, fixed_minor: 30 };
/// let split = split_badge_price(Money::new(499, Currency::USD), card, Bps::new(3_000)?);
/// assert_eq!(split.processor_fee, Money::new(44, Currency::USD));
/// assert_eq!(split.platform_fee, Money::new(136, Currency::USD)); // 30 % of 455 = 136.5
/// assert_eq!(split.creator_share, Money::new(319, Currency::USD));
/// # Ok::<(), money::MoneyError>(())
/// ```
pub fn split_badge_price(
    price: Money,
    processor_fee: ProcessorFee,
    platform_fee_bps: Bps,
) -> BadgeSplit {
    let processor_fee = processor_fee.on(price);
    let net = Money::new(price.amount() - processor_fee.amount(), price.currency());
    let (platform_fee, creator_share) = net.split_bps(platform_fee_bps);
    BadgeSplit {
        creator_share,
        platform_fee,
        processor_fee,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use money::Currency;

    #[test]
    fn badge_fee_rounds_toward_zero_and_the_creator_gets_the_remainder() {
        let fee = Bps::new(3_000).expect("in range");
        let split = split_badge_price(Money::new(199, Currency::USD), ProcessorFee::NONE, fee);
        assert_eq!(split.platform_fee, Money::new(59, Currency::USD));
        assert_eq!(split.creator_share, Money::new(140, Currency::USD));
        let free = split_badge_price(
            Money::new(120, Currency::JPY),
            ProcessorFee::NONE,
            Bps::ZERO,
        );
        assert_eq!(free.platform_fee, Money::zero(Currency::JPY));
        assert_eq!(free.creator_share, Money::new(120, Currency::JPY));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use money::Currency;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn badge_split_always_sums_to_the_price(
            amount in any::<i64>(),
            currency in prop::sample::select(vec![Currency::USD, Currency::JPY, Currency::BHD]),
            fee_bps in 0..=10_000_u32,
            processor_bps in 0..=10_000_u32,
            fixed in 0..1_000_i64,
        ) {
            let price = Money::new(amount, currency);
            let processor = ProcessorFee { bps: Bps::new(processor_bps).expect("generated in range"), fixed_minor: fixed };
            let split = split_badge_price(price, processor, Bps::new(fee_bps).expect("generated in range"));
            let sum = split.creator_share.checked_add(split.platform_fee).and_then(|s| s.checked_add(split.processor_fee));
            prop_assert_eq!(sum, Ok(price));
            if price.is_positive() {
                prop_assert!(!split.platform_fee.is_negative());
                prop_assert!(!split.creator_share.is_negative());
                prop_assert!(!split.processor_fee.is_negative());
                prop_assert!(split.processor_fee.amount() <= price.amount());
            }
        }
    }
}
