//! The commission on an order and what returns take back, to the minor unit.
//!
//! A line's commission is `amount × commission_bps / 10,000`, rounded toward zero; the
//! order's is the sum of its lines'. A return of part of a line keeps that line's commission
//! in proportion to the units kept, rounded toward zero: `line × kept / quantity`. So a full
//! return leaves nothing, and more returns never leave more. The commission is locked (no
//! more returns) once the longest return window of the order's lines has passed.

use money::{Bps, Currency, Money};
use time::{Duration, OffsetDateTime};

use crate::catalog::ShopError;

/// A line of an order, with the terms of its product when the order was reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The product.
    pub product_id: String,
    /// Units bought.
    pub quantity: u32,
    /// Units returned so far.
    pub returned: u32,
    /// What the buyer paid for the line (all its units).
    pub amount: Money,
    /// The product's commission rate then.
    pub commission_bps: Bps,
    /// The product's return window then, in days.
    pub return_window_days: u16,
}

impl Line {
    /// The line's commission before any return.
    pub fn commission(&self) -> Money {
        self.amount.split_bps(self.commission_bps).0
    }

    /// The line's commission on the units kept.
    pub fn kept_commission(&self) -> Money {
        let whole = i128::from(self.commission().amount());
        let kept = i128::from(self.quantity.saturating_sub(self.returned));
        let quantity = i128::from(self.quantity.max(1));
        let amount = i64::try_from(whole * kept / quantity)
            .expect("kept <= quantity, so the result is at most the line's commission");
        Money::new(amount, self.amount.currency())
    }
}

/// The currency every line is in; lines in several currencies are refused.
pub fn currency_of(lines: &[Line]) -> Result<Currency, ShopError> {
    let first = lines.first().ok_or_else(|| ShopError {
        field: "items",
        reason: "at least one item".into(),
    })?;
    let currency = first.amount.currency();
    if lines.iter().any(|l| l.amount.currency() != currency) {
        return Err(ShopError {
            field: "items",
            reason: "every item's amount must be in one currency".into(),
        });
    }
    Ok(currency)
}

/// The order's commission before returns: the sum of its lines'.
pub fn commission(lines: &[Line]) -> Result<Money, ShopError> {
    let currency = currency_of(lines)?;
    Ok(sum(currency, lines.iter().map(Line::commission)))
}

/// The order's commission on what was kept.
pub fn remaining_commission(lines: &[Line]) -> Result<Money, ShopError> {
    let currency = currency_of(lines)?;
    Ok(sum(currency, lines.iter().map(Line::kept_commission)))
}

/// What the order's lines sold, returns deducted in proportion (for a brand's sales).
pub fn kept_sales(lines: &[Line]) -> Result<Money, ShopError> {
    let currency = currency_of(lines)?;
    Ok(sum(
        currency,
        lines.iter().map(|l| {
            let kept = i128::from(l.quantity.saturating_sub(l.returned));
            let amount = i128::from(l.amount.amount()) * kept / i128::from(l.quantity.max(1));
            Money::new(i64::try_from(amount).unwrap_or(i64::MAX), currency)
        }),
    ))
}

fn sum(currency: Currency, amounts: impl Iterator<Item = Money>) -> Money {
    Money::new(
        amounts.map(Money::amount).fold(0i64, i64::saturating_add),
        currency,
    )
}

/// When the order's commission locks: the order's time plus its longest return window.
pub fn locks_at(ordered_at: OffsetDateTime, lines: &[Line]) -> OffsetDateTime {
    let days = lines
        .iter()
        .map(|l| l.return_window_days)
        .max()
        .unwrap_or(0);
    ordered_at + Duration::days(i64::from(days))
}

/// Records a return of `quantity` units of `product_id` on `lines` (the lines of that product
/// in order, each up to what is left of it). Refused, changing nothing, when the order has
/// fewer units of the product left.
pub fn record_return(lines: &mut [Line], product_id: &str, quantity: u32) -> Result<(), ShopError> {
    let left: u32 = lines
        .iter()
        .filter(|l| l.product_id == product_id)
        .map(|l| l.quantity - l.returned)
        .sum();
    if left == 0 && !lines.iter().any(|l| l.product_id == product_id) {
        return Err(ShopError {
            field: "items",
            reason: format!("{product_id} is not in this order"),
        });
    }
    if quantity > left {
        return Err(ShopError {
            field: "items",
            reason: format!("{quantity} of {product_id} returned, {left} left to return"),
        });
    }
    let mut rest = quantity;
    for line in lines.iter_mut().filter(|l| l.product_id == product_id) {
        let take = rest.min(line.quantity - line.returned);
        line.returned += take;
        rest -= take;
    }
    Ok(())
}

/// Commission per counted click, rounded toward zero; `None` without a click.
pub fn per_click(commission: Money, clicks: i64) -> Option<Money> {
    (clicks > 0).then(|| Money::new(commission.amount() / clicks, commission.currency()))
}

/// The platform's fee on a commission and the creator's share (the rest), as for badges.
pub fn split(commission: Money, platform_fee: Bps) -> (Money, Money) {
    commission.split_bps(platform_fee)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn line(product: &str, quantity: u32, amount: Money, bps: u32, window: u16) -> Line {
        Line {
            product_id: product.into(),
            quantity,
            returned: 0,
            amount,
            commission_bps: Bps::new(bps).expect("bps"),
            return_window_days: window,
        }
    }

    #[test]
    fn commission_per_click_rounds_toward_zero_and_needs_a_click() {
        let earned = Money::new(599, Currency::USD);
        assert_eq!(per_click(earned, 2), Some(Money::new(299, Currency::USD)));
        assert_eq!(
            per_click(Money::new(1_000, Currency::JPY), 3),
            Some(Money::new(333, Currency::JPY))
        );
        assert_eq!(per_click(earned, 0), None);
    }

    #[test]
    fn each_line_is_rounded_toward_zero_in_a_two_decimal_currency() {
        // 12.5 % of US$19.99 is 249.875 cents: 249. 9,000 bps of 1 cent is 0.9: 0.
        let lines = [
            line("p1", 1, Money::new(1_999, Currency::USD), 1_250, 30),
            line("p2", 3, Money::new(1, Currency::USD), 9_000, 0),
        ];
        assert_eq!(commission(&lines), Ok(Money::new(249, Currency::USD)));
    }

    #[test]
    fn a_zero_decimal_currency_rounds_to_whole_yen() {
        // 7.5 % of ¥1,999 is ¥149.925: ¥149; 10 % of ¥5 is ¥0.5: ¥0.
        let lines = [
            line("p1", 1, Money::new(1_999, Currency::JPY), 750, 14),
            line("p2", 1, Money::new(5, Currency::JPY), 1_000, 14),
        ];
        assert_eq!(commission(&lines), Ok(Money::new(149, Currency::JPY)));
        let (fee, share) = split(
            Money::new(149, Currency::JPY),
            Bps::new(2_000).expect("bps"),
        );
        assert_eq!((fee.amount(), share.amount()), (29, 120));
    }

    #[test]
    fn a_partial_then_a_full_return_keeps_the_commission_in_proportion_then_none() {
        let mut lines = vec![line("p1", 3, Money::new(3_000, Currency::USD), 1_000, 30)];
        assert_eq!(commission(&lines), Ok(Money::new(300, Currency::USD)));
        record_return(&mut lines, "p1", 1).expect("one of three");
        assert_eq!(
            remaining_commission(&lines),
            Ok(Money::new(200, Currency::USD))
        );
        assert!(record_return(&mut lines, "p1", 3).is_err(), "only two left");
        assert_eq!(lines[0].returned, 1, "a refused return changes nothing");
        record_return(&mut lines, "p1", 2).expect("the rest");
        assert_eq!(
            remaining_commission(&lines),
            Ok(Money::new(0, Currency::USD))
        );
        assert!(
            record_return(&mut lines, "p2", 1).is_err(),
            "not in the order"
        );
    }

    #[test]
    fn proportions_round_toward_zero() {
        // 100 cents of commission on 3 units; 1 kept is 33.3: 33.
        let mut lines = vec![line("p1", 3, Money::new(1_000, Currency::USD), 1_000, 30)];
        record_return(&mut lines, "p1", 2).expect("two of three");
        assert_eq!(
            remaining_commission(&lines),
            Ok(Money::new(33, Currency::USD))
        );
    }

    #[test]
    fn the_order_locks_after_its_longest_return_window() {
        let at = datetime!(2026-12-03 10:00 UTC);
        let lines = [
            line("p1", 1, Money::new(100, Currency::USD), 100, 14),
            line("p2", 1, Money::new(100, Currency::USD), 100, 30),
        ];
        assert_eq!(locks_at(at, &lines), datetime!(2027-01-02 10:00 UTC));
        let none = [line("p1", 1, Money::new(100, Currency::USD), 100, 0)];
        assert_eq!(locks_at(at, &none), at);
    }

    #[test]
    fn lines_in_two_currencies_are_refused() {
        let lines = [
            line("p1", 1, Money::new(100, Currency::USD), 100, 14),
            line("p2", 1, Money::new(100, Currency::EUR), 100, 14),
        ];
        assert_eq!(commission(&lines).unwrap_err().field, "items");
        assert!(commission(&[]).is_err());
    }

    proptest! {
        #[test]
        fn returns_never_raise_the_commission_and_a_full_return_leaves_none(
            spec in proptest::collection::vec((1u32..20, 0i64..1_000_000, 1u32..=9_000), 1..6),
            returns in proptest::collection::vec((0usize..6, 1u32..5), 0..12),
        ) {
            let mut lines: Vec<Line> = spec
                .iter()
                .enumerate()
                .map(|(i, (q, a, bps))| line(&format!("p{i}"), *q, Money::new(*a, Currency::USD), *bps, 30))
                .collect();
            let whole = commission(&lines).expect("one currency");
            let sales: i64 = spec.iter().map(|(_, a, _)| a).sum();
            prop_assert!(whole.amount() * 10_000 <= sales * 9_000);
            let mut before = whole;
            for (i, q) in returns {
                let product = format!("p{}", i % lines.len());
                let _ = record_return(&mut lines, &product, q);
                let now = remaining_commission(&lines).expect("one currency");
                prop_assert!(now.amount() >= 0 && now.amount() <= before.amount(), "{now:?} > {before:?}");
                before = now;
            }
            for i in 0..lines.len() {
                let left = lines[i].quantity - lines[i].returned;
                if left > 0 {
                    record_return(&mut lines, &format!("p{i}"), left).expect("what is left");
                }
            }
            prop_assert_eq!(remaining_commission(&lines).expect("one currency").amount(), 0);
        }
    }
}
