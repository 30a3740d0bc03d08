//! One sentence per match, from its parts and facts.

use std::fmt::Write as _;

use crate::profile::Ratings;
use crate::score::WHOLE_BPS;
use crate::tier::Tier;

/// The facts a match's sentence is built from; a part left `None` is left out of the sentence.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The niche to name: one of the brief's the creator has, else the creator's first.
    pub niche: Option<&'a str>,
    /// The creator's tier, whose creators the engagement is compared with.
    pub tier: Tier,
    /// The brief's countries, and the share of the creator's audience in them (bps).
    pub audience: Option<(&'a [String], u32)>,
    /// The creator's engagement percentile within the tier (bps).
    pub engagement_percentile_bps: Option<u32>,
    /// Ratings so far; none are left out.
    pub ratings: Ratings,
}

/// One sentence: "Cooking creator with 62 % of their audience in US; engagement in the top
/// 10 % of mid creators; 4.7★ over 12 deals."
pub fn why(facts: &Facts<'_>) -> String {
    let mut s = String::with_capacity(96);
    match facts.niche {
        Some(niche) if !niche.is_empty() => {
            let mut chars = niche.chars();
            if let Some(first) = chars.next() {
                s.extend(first.to_uppercase());
                s.push_str(chars.as_str());
            }
            s.push_str(" creator");
        }
        _ => {
            let _ = write!(s, "A {} creator", facts.tier);
        }
    }
    if let Some((countries, share_bps)) = facts.audience
        && !countries.is_empty()
    {
        let _ = write!(
            s,
            " with {} % of their audience in {}",
            percent(share_bps),
            list(countries)
        );
    }
    if let Some(p) = facts.engagement_percentile_bps {
        let p = p.min(WHOLE_BPS);
        if p >= WHOLE_BPS / 2 {
            let top = (WHOLE_BPS - p).div_ceil(100).max(1);
            let _ = write!(
                s,
                "; engagement in the top {top} % of {} creators",
                facts.tier
            );
        } else {
            let bottom = p.div_ceil(100).max(1);
            let _ = write!(
                s,
                "; engagement in the bottom {bottom} % of {} creators",
                facts.tier
            );
        }
    }
    let Ratings { count, stars_sum } = facts.ratings;
    if count > 0 {
        let tenths = (u64::from(stars_sum) * 10 + u64::from(count) / 2) / u64::from(count);
        let deals = if count == 1 { "deal" } else { "deals" };
        let _ = write!(s, "; {}.{}★ over {count} {deals}", tenths / 10, tenths % 10);
    }
    s.push('.');
    s
}

fn percent(bps: u32) -> u32 {
    (bps.min(WHOLE_BPS) + 50) / 100
}

/// "US", "US and CA", "US, CA and GB".
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_sentence_names_niche_audience_engagement_and_ratings() {
        let countries = vec!["US".to_owned()];
        let facts = Facts {
            niche: Some("cooking"),
            tier: Tier::Mid,
            audience: Some((&countries, 6_200)),
            engagement_percentile_bps: Some(9_000),
            ratings: Ratings {
                count: 12,
                stars_sum: 56,
            },
        };
        assert_eq!(
            why(&facts),
            "Cooking creator with 62 % of their audience in US; engagement in the top 10 % of mid creators; 4.7★ over 12 deals."
        );
    }

    #[test]
    fn unknown_parts_leave_no_trailing_junk() {
        let facts = Facts {
            niche: None,
            tier: Tier::Nano,
            audience: None,
            engagement_percentile_bps: None,
            ratings: Ratings::default(),
        };
        assert_eq!(why(&facts), "A nano creator.");
        let countries = vec!["US".to_owned(), "CA".to_owned(), "GB".to_owned()];
        let facts = Facts {
            niche: Some("travel"),
            audience: Some((&countries, 1_234)),
            engagement_percentile_bps: Some(1_000),
            ratings: Ratings {
                count: 1,
                stars_sum: 5,
            },
            ..facts
        };
        assert_eq!(
            why(&facts),
            "Travel creator with 12 % of their audience in US, CA and GB; engagement in the bottom 10 % of nano creators; 5.0★ over 1 deal."
        );
    }
}
