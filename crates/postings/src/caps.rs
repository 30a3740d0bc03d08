//! Spending caps on badges: the operator's daily and weekly caps per currency, a minor's
//! daily limit (zero unless the operator set one), and the lower caps a buyer set for
//! themselves; the lower of the operator's and the buyer's counts. Days start at midnight
//! UTC, weeks on Monday. A purchase's caps are checked before its card is charged and again,
//! exactly, inside the ledger batch ([`cap_guard`]).

use std::collections::BTreeMap;

use money::{Currency, Money};
use time::{Date, OffsetDateTime};

use crate::{Guard, UserId};

/// The operator's caps, per currency (a currency not listed has none).
#[derive(Debug, Clone, Copy)]
pub struct OperatorCaps<'a> {
    /// Daily cap for adults.
    pub daily: &'a BTreeMap<Currency, i64>,
    /// Weekly cap.
    pub weekly: &'a BTreeMap<Currency, i64>,
    /// Daily limit for minors (absent: minors cannot buy).
    pub minors_daily: &'a BTreeMap<Currency, i64>,
    /// Age from which a buyer is an adult.
    pub adult_age_years: u8,
}

/// What a buyer tells about themselves for their caps.
#[derive(Debug, Clone, Copy)]
pub struct Buyer {
    /// Their birth date, if the platform gave it.
    pub birth_date: Option<Date>,
    /// The daily cap they set themselves.
    pub own_daily: Option<i64>,
    /// The weekly one.
    pub own_weekly: Option<i64>,
}

/// A buyer's caps in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Daily cap, if any.
    pub daily: Option<i64>,
    /// Weekly cap, if any.
    pub weekly: Option<i64>,
    /// Whether the buyer is a minor (their daily cap is the minors' limit).
    pub minor: bool,
}

/// The period a cap counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// From midnight UTC.
    Daily,
    /// From Monday, midnight UTC.
    Weekly,
}

impl Period {
    /// `daily` or `weekly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
        }
    }
}

/// The caps of `buyer` in `currency` at `now`.
pub fn effective_caps(
    operator: OperatorCaps<'_>,
    buyer: Buyer,
    currency: Currency,
    now: OffsetDateTime,
) -> Caps {
    let minor = live::is_minor(buyer.birth_date, now.date(), operator.adult_age_years);
    let lower = |a: Option<i64>, b: Option<i64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let operator_daily = if minor {
        // Minors cannot buy unless the operator set their limit.
        Some(operator.minors_daily.get(&currency).copied().unwrap_or(0))
    } else {
        operator.daily.get(&currency).copied()
    };
    Caps {
        daily: lower(operator_daily, buyer.own_daily),
        weekly: lower(operator.weekly.get(&currency).copied(), buyer.own_weekly),
        minor,
    }
}

/// The start of today (UTC) and of this ISO week (Monday, UTC).
pub fn day_and_week(now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let day = now.replace_time(time::Time::MIDNIGHT);
    let week = day - time::Duration::days(i64::from(now.weekday().number_days_from_monday()));
    (day, week)
}

impl Caps {
    /// Each cap there is, with its period and the period's start.
    pub fn periods(self, now: OffsetDateTime) -> Vec<(Period, OffsetDateTime, i64)> {
        let (day, week) = day_and_week(now);
        [
            (Period::Daily, day, self.daily),
            (Period::Weekly, week, self.weekly),
        ]
        .into_iter()
        .filter_map(|(period, since, limit)| Some((period, since, limit?)))
        .collect()
    }
}

/// Why a purchase is over a cap, for the buyer.
pub fn over_cap_message(
    caps: Caps,
    period: Period,
    limit: i64,
    spent: i64,
    price: Money,
) -> String {
    let currency = price.currency();
    let whose = if caps.minor && period == Period::Daily {
        "for minors "
    } else {
        ""
    };
    format!(
        "the {} badge spending limit {whose}is {}, {} is spent already and this badge costs {price}",
        period.as_str(),
        Money::new(limit, currency),
        Money::new(spent, currency),
    )
}

/// Whether `price` on top of `spent` goes over `limit`.
pub fn over_cap(spent: i64, price: Money, limit: i64) -> bool {
    spent.saturating_add(price.amount()) > limit
}

/// The guard that checks a cap again inside the batch, against committed purchases and the
/// jobs before it.
pub fn cap_guard(buyer: &UserId, price: Money, since: OffsetDateTime, limit: i64) -> Guard {
    Guard::SpendLimit {
        viewer_id: buyer.clone(),
        currency: price.currency(),
        since,
        amount: price.amount(),
        limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    /// The operator's caps in dollars only: 100.00 a day, 300.00 a week, 10.00 for minors.
    struct Operator([BTreeMap<Currency, i64>; 3]);

    impl Operator {
        fn new() -> Operator {
            Operator([10_000, 30_000, 1_000].map(|cap| BTreeMap::from([(Currency::USD, cap)])))
        }

        fn caps(&self) -> OperatorCaps<'_> {
            OperatorCaps {
                daily: &self.0[0],
                weekly: &self.0[1],
                minors_daily: &self.0[2],
                adult_age_years: 18,
            }
        }
    }

    #[test]
    fn the_lower_of_the_operators_and_the_buyers_caps_counts() {
        let operator = Operator::new();
        let op = operator.caps();
        let now = datetime!(2026-12-02 15:00 UTC);
        let buyer = Buyer {
            birth_date: None,
            own_daily: Some(5_000),
            own_weekly: Some(50_000),
        };
        let caps = effective_caps(op, buyer, Currency::USD, now);
        assert_eq!(
            caps,
            Caps {
                daily: Some(5_000),
                weekly: Some(30_000),
                minor: false
            }
        );
        // No operator cap in euros: only the buyer's own.
        let caps = effective_caps(op, buyer, Currency::EUR, now);
        assert_eq!(
            caps,
            Caps {
                daily: Some(5_000),
                weekly: Some(50_000),
                minor: false
            }
        );
    }

    #[test]
    fn a_minor_has_the_minors_limit_and_none_where_the_operator_set_none() {
        let operator = Operator::new();
        let op = operator.caps();
        let now = datetime!(2026-12-02 15:00 UTC);
        let buyer = Buyer {
            birth_date: Some(date!(2012 - 01 - 01)),
            own_daily: None,
            own_weekly: None,
        };
        assert_eq!(
            effective_caps(op, buyer, Currency::USD, now).daily,
            Some(1_000)
        );
        assert_eq!(effective_caps(op, buyer, Currency::EUR, now).daily, Some(0));
        let msg = over_cap_message(
            effective_caps(op, buyer, Currency::USD, now),
            Period::Daily,
            1_000,
            900,
            Money::new(199, Currency::USD),
        );
        assert!(msg.contains("for minors"), "{msg}");
    }

    #[test]
    fn days_start_at_midnight_and_weeks_on_monday_utc() {
        let (day, week) = day_and_week(datetime!(2026-12-02 15:30 UTC)); // a Wednesday
        assert_eq!(day, datetime!(2026-12-02 00:00 UTC));
        assert_eq!(week, datetime!(2026-11-30 00:00 UTC));
        let (day, week) = day_and_week(datetime!(2026-11-30 00:00 UTC)); // a Monday
        assert_eq!(day, week);
    }

    #[test]
    fn a_cap_is_passed_only_above_it() {
        let price = Money::new(199, Currency::USD);
        assert!(!over_cap(801, price, 1_000));
        assert!(over_cap(802, price, 1_000));
        assert!(over_cap(i64::MAX, price, i64::MAX - 1));
    }
}
