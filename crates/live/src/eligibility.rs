//! Whether a creator may go live and sell badges: the operator's `EligibilityRules`, the
//! `CreatorFacts` the check needs, the `Ineligible` reasons it can give, and the age
//! arithmetic (`age_years`, `is_minor`) it rests on. Callers pass `today`; nothing here
//! reads a clock.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::account::AccountKind;
use crate::country::{CountryCode, LAUNCH_COUNTRIES};

/// The operator's creator-eligibility settings.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct EligibilityRules {
    /// Age in completed years from which a creator counts as an adult.
    pub adult_age_years: u8,
    /// Followers a creator needs at least.
    pub follower_minimum: u64,
    /// Countries where creators may sell badges.
    pub countries: Vec<CountryCode>,
}

impl EligibilityRules {
    /// The documented defaults: adult at 18, no follower minimum, the launch countries.
    pub fn defaults() -> EligibilityRules {
        EligibilityRules {
            adult_age_years: 18,
            follower_minimum: 0,
            countries: LAUNCH_COUNTRIES.to_vec(),
        }
    }
}

/// What the eligibility check needs to know about a creator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CreatorFacts {
    /// The account's kind; only creators are eligible.
    pub kind: AccountKind,
    /// The creator's country.
    pub country: CountryCode,
    /// Birth date, when the platform sent one.
    pub birth_date: Option<Date>,
    /// Follower count on the host platform; `None` counts as zero.
    pub followers: Option<u64>,
    /// Whether the account is suspended.
    pub suspended: bool,
}

/// Why a creator may not go live or sell badges; the message is safe to show the creator.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// The account is a viewer or a brand.
    #[error("only creator accounts can go live")]
    NotACreator,
    /// The account is suspended.
    #[error("creator account is suspended")]
    Suspended,
    /// The creator is younger than the adult age.
    #[error("creator must be at least {adult_age_years} years old")]
    Minor {
        /// The configured adult age, in years.
        adult_age_years: u8,
    },
    /// Badges are not offered in the creator's country.
    #[error("badges are not offered in the creator's country ({0})")]
    CountryNotSupported(CountryCode),
    /// The creator has fewer followers than the configured minimum.
    #[error("creator needs at least {need} followers, has {have}")]
    TooFewFollowers {
        /// Followers the creator has.
        have: u64,
        /// Followers the rules require.
        need: u64,
    },
}

/// Decides whether a creator may go live and sell badges on `today`.
///
/// Checks, in order, reporting the first that fails: the account is a creator, it is not
/// suspended, it is not a minor, its country is in `rules.countries`, and it has at least
/// `rules.follower_minimum` followers (an unknown count is zero). An unknown birth date
/// counts as adult: the host platform vouches for the age of accounts it does not date.
pub fn check_creator_eligible(
    f: &CreatorFacts,
    rules: &EligibilityRules,
    today: Date,
) -> Result<(), Ineligible> {
    if f.kind != AccountKind::Creator {
        return Err(Ineligible::NotACreator);
    }
    if f.suspended {
        return Err(Ineligible::Suspended);
    }
    if is_minor(f.birth_date, today, rules.adult_age_years) {
        return Err(Ineligible::Minor {
            adult_age_years: rules.adult_age_years,
        });
    }
    if !rules.countries.contains(&f.country) {
        return Err(Ineligible::CountryNotSupported(f.country));
    }
    let have = f.followers.unwrap_or(0);
    if have < rules.follower_minimum {
        return Err(Ineligible::TooFewFollowers {
            have,
            need: rules.follower_minimum,
        });
    }
    Ok(())
}

/// Completed years from `birth` to `today` (0 if `today` is earlier).
///
/// Someone born on 29 February turns a year older on 1 March in non-leap years.
pub fn age_years(birth: Date, today: Date) -> u16 {
    if today <= birth {
        return 0;
    }
    let mut years = today.year() - birth.year();
    // Comparing (month, day) pairs puts a 29 February birthday after 28 February, so in a
    // non-leap year it is reached on 1 March.
    if (u8::from(today.month()), today.day()) < (u8::from(birth.month()), birth.day()) {
        years -= 1;
    }
    u16::try_from(years).unwrap_or(0)
}

/// True when `birth` is known and the person is younger than `adult_age_years` on `today`;
/// an unknown birth date counts as adult.
pub fn is_minor(birth: Option<Date>, today: Date, adult_age_years: u8) -> bool {
    birth.is_some_and(|birth| age_years(birth, today) < u16::from(adult_age_years))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::country;
    use time::Month;

    fn date(year: i32, month: Month, day: u8) -> Date {
        Date::from_calendar_date(year, month, day).expect("test dates are valid")
    }

    fn today() -> Date {
        date(2026, Month::June, 15)
    }

    fn adult_creator() -> CreatorFacts {
        CreatorFacts {
            kind: AccountKind::Creator,
            country: CountryCode::US,
            birth_date: Some(date(1990, Month::April, 1)),
            followers: Some(12_000),
            suspended: false,
        }
    }

    #[test]
    fn adult_creator_in_a_launch_country_is_eligible() {
        let rules = EligibilityRules::defaults();
        assert_eq!(
            check_creator_eligible(&adult_creator(), &rules, today()),
            Ok(())
        );
    }

    #[test]
    fn viewers_and_brands_are_not_creators() {
        let rules = EligibilityRules::defaults();
        for kind in [AccountKind::Viewer, AccountKind::Brand] {
            let facts = CreatorFacts {
                kind,
                ..adult_creator()
            };
            assert_eq!(
                check_creator_eligible(&facts, &rules, today()),
                Err(Ineligible::NotACreator)
            );
        }
    }

    #[test]
    fn a_minor_creator_is_ineligible_with_the_configured_age_in_the_message() {
        let facts = CreatorFacts {
            birth_date: Some(date(2010, Month::January, 1)),
            ..adult_creator()
        };
        let error = check_creator_eligible(&facts, &EligibilityRules::defaults(), today())
            .expect_err("16 is under 18");
        assert_eq!(
            error,
            Ineligible::Minor {
                adult_age_years: 18
            }
        );
        assert_eq!(error.to_string(), "creator must be at least 18 years old");
    }

    #[test]
    fn a_creator_turns_adult_on_the_birthday() {
        let rules = EligibilityRules::defaults();
        let facts = CreatorFacts {
            birth_date: Some(date(2008, Month::June, 15)),
            ..adult_creator()
        };
        assert_eq!(check_creator_eligible(&facts, &rules, today()), Ok(()));
        let day_before = today().previous_day().expect("not the first date");
        assert_eq!(
            check_creator_eligible(&facts, &rules, day_before),
            Err(Ineligible::Minor {
                adult_age_years: 18
            })
        );
    }

    #[test]
    fn unknown_birth_date_counts_as_adult() {
        let facts = CreatorFacts {
            birth_date: None,
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(&facts, &EligibilityRules::defaults(), today()),
            Ok(())
        );
    }

    #[test]
    fn creator_outside_the_badge_countries_is_ineligible() {
        let facts = CreatorFacts {
            country: country("CA"),
            ..adult_creator()
        };
        let error = check_creator_eligible(&facts, &EligibilityRules::defaults(), today())
            .expect_err("CA is not a launch country");
        assert_eq!(error, Ineligible::CountryNotSupported(country("CA")));
        assert_eq!(
            error.to_string(),
            "badges are not offered in the creator's country (CA)"
        );
    }

    #[test]
    fn follower_minimum_is_inclusive_and_unknown_counts_as_zero() {
        let rules = EligibilityRules {
            follower_minimum: 10_000,
            ..EligibilityRules::defaults()
        };
        let exactly = CreatorFacts {
            followers: Some(10_000),
            ..adult_creator()
        };
        assert_eq!(check_creator_eligible(&exactly, &rules, today()), Ok(()));
        let short = CreatorFacts {
            followers: Some(9_999),
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(&short, &rules, today()),
            Err(Ineligible::TooFewFollowers {
                have: 9_999,
                need: 10_000
            })
        );
        let unknown = CreatorFacts {
            followers: None,
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(&unknown, &rules, today()),
            Err(Ineligible::TooFewFollowers {
                have: 0,
                need: 10_000
            })
        );
        let unknown_without_minimum = CreatorFacts {
            followers: None,
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(
                &unknown_without_minimum,
                &EligibilityRules::defaults(),
                today()
            ),
            Ok(())
        );
    }

    #[test]
    fn suspended_creator_is_ineligible_before_anything_else_about_them() {
        let facts = CreatorFacts {
            suspended: true,
            country: country("CA"),
            ..adult_creator()
        };
        assert_eq!(
            check_creator_eligible(&facts, &EligibilityRules::defaults(), today()),
            Err(Ineligible::Suspended)
        );
    }

    #[test]
    fn ineligible_messages_are_lower_case_without_a_trailing_dot() {
        let reasons = [
            Ineligible::NotACreator,
            Ineligible::Suspended,
            Ineligible::Minor {
                adult_age_years: 18,
            },
            Ineligible::CountryNotSupported(CountryCode::JP),
            Ineligible::TooFewFollowers { have: 1, need: 2 },
        ];
        for reason in reasons {
            let message = reason.to_string();
            assert!(message.starts_with(char::is_lowercase), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    // Ages.

    #[test]
    fn age_counts_completed_years() {
        let birth = date(2000, Month::June, 15);
        assert_eq!(age_years(birth, date(2018, Month::June, 14)), 17);
        assert_eq!(age_years(birth, date(2018, Month::June, 15)), 18);
        assert_eq!(age_years(birth, date(2018, Month::December, 31)), 18);
        assert_eq!(age_years(birth, birth), 0);
        assert_eq!(
            age_years(birth, date(1999, Month::January, 1)),
            0,
            "future birth dates are age 0"
        );
    }

    #[test]
    fn feb_29_birthday_counts_on_march_1_in_non_leap_years() {
        let birth = date(2008, Month::February, 29);
        assert_eq!(age_years(birth, date(2026, Month::February, 28)), 17);
        assert_eq!(age_years(birth, date(2026, Month::March, 1)), 18);
        // In a leap year the birthday itself exists.
        assert_eq!(age_years(birth, date(2024, Month::February, 28)), 15);
        assert_eq!(age_years(birth, date(2024, Month::February, 29)), 16);
    }

    #[test]
    fn is_minor_treats_unknown_birth_dates_as_adult() {
        let today = today();
        assert!(!is_minor(None, today, 18));
        assert!(is_minor(Some(date(2010, Month::January, 1)), today, 18));
        assert!(!is_minor(Some(date(2008, Month::June, 15)), today, 18));
        assert!(is_minor(Some(date(2008, Month::June, 16)), today, 18));
        assert!(
            !is_minor(Some(today), today, 0),
            "an adult age of 0 makes everyone adult"
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use time::Duration;

    fn date() -> impl Strategy<Value = Date> {
        // Julian days from 1900-01-01 to 2100-12-31.
        (2_415_021..=2_488_434_i32)
            .prop_map(|day| Date::from_julian_day(day).expect("generated within range"))
    }

    proptest! {
        #[test]
        fn age_grows_by_one_on_each_anniversary(birth in date(), years in 0_i32..100) {
            let Ok(anniversary) = birth.replace_year(birth.year() + years) else {
                // A 29 February birth date in a non-leap year: the birthday is 1 March.
                let march_first = Date::from_calendar_date(birth.year() + years, time::Month::March, 1)
                    .expect("1 March always exists");
                prop_assert_eq!(i32::from(age_years(birth, march_first)), years);
                return Ok(());
            };
            prop_assert_eq!(i32::from(age_years(birth, anniversary)), years);
            if years > 0 {
                let eve = anniversary - Duration::days(1);
                prop_assert_eq!(i32::from(age_years(birth, eve)), years - 1);
            }
        }

        #[test]
        fn age_never_decreases_as_time_passes(birth in date(), a in date(), b in date()) {
            let (earlier, later) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(age_years(birth, earlier) <= age_years(birth, later));
        }
    }
}
