//! Creator tiers: size classes by follower count.

use std::fmt;
use std::str::FromStr;

use crate::MarketError;

/// A creator's size class by followers, ordered from the smallest to the largest:
/// nano < 10k ≤ micro < 100k ≤ mid < 500k ≤ macro < 1M ≤ mega.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Fewer than 10,000 followers.
    Nano,
    /// 10,000 to 99,999 followers.
    Micro,
    /// 100,000 to 499,999 followers.
    Mid,
    /// 500,000 to 999,999 followers.
    Macro,
    /// 1,000,000 followers or more.
    Mega,
}

impl Tier {
    /// Every tier, the smallest first; `Tier::ALL[t.index()] == t`.
    pub const ALL: [Tier; 5] = [Tier::Nano, Tier::Micro, Tier::Mid, Tier::Macro, Tier::Mega];

    /// The tier of a creator with `followers` followers.
    pub const fn of(followers: u64) -> Tier {
        match followers {
            0..10_000 => Tier::Nano,
            10_000..100_000 => Tier::Micro,
            100_000..500_000 => Tier::Mid,
            500_000..1_000_000 => Tier::Macro,
            _ => Tier::Mega,
        }
    }

    /// The tier's name in the API: `"nano"`, `"micro"`, `"mid"`, `"macro"` or `"mega"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tier::Nano => "nano",
            Tier::Micro => "micro",
            Tier::Mid => "mid",
            Tier::Macro => "macro",
            Tier::Mega => "mega",
        }
    }

    /// The tier's position in [`Tier::ALL`], for arrays indexed by tier.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = MarketError;

    fn from_str(s: &str) -> Result<Tier, MarketError> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| MarketError::UnknownTier(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_change_exactly_at_their_thresholds() {
        let cases = [
            (0, Tier::Nano),
            (9_999, Tier::Nano),
            (10_000, Tier::Micro),
            (99_999, Tier::Micro),
            (100_000, Tier::Mid),
            (499_999, Tier::Mid),
            (500_000, Tier::Macro),
            (999_999, Tier::Macro),
            (1_000_000, Tier::Mega),
            (u64::MAX, Tier::Mega),
        ];
        for (followers, tier) in cases {
            assert_eq!(Tier::of(followers), tier, "{followers} followers");
        }
    }

    #[test]
    fn tiers_are_ordered_by_size_and_round_trip_through_their_names() {
        assert!(Tier::Nano < Tier::Micro && Tier::Mid < Tier::Macro && Tier::Macro < Tier::Mega);
        for (i, t) in Tier::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(t.as_str().parse::<Tier>(), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert!("giga".parse::<Tier>().is_err());
    }
}
