//! How well one creator fits one brief, as the index scores it: for the few campaigns a
//! creator is recommended, where no index is needed.

use crate::profile::{Brief, Creator};
use crate::score::{fit_bps, niche_bps};

/// The fit part of `creator`'s score for `brief`, in basis points (the index's own rule:
/// niche overlap, then the audience shares in the brief's countries and ages).
pub fn fit_of(creator: &Creator, brief: &Brief) -> u32 {
    let mut wanted: Vec<&str> = brief.niches.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let matched = wanted
        .iter()
        .filter(|n| creator.niches.iter().any(|c| c == *n))
        .count();
    let share = |shares: &std::collections::BTreeMap<String, u32>, keys: &[String]| {
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().filter_map(|k| shares.get(*k)).sum::<u32>()
    };
    fit_bps(
        niche_bps(matched, wanted.len()),
        (!brief.countries.is_empty()).then(|| share(&creator.audience_countries, &brief.countries)),
        brief
            .ages
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|a| share(&creator.audience_ages, a)),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use money::{Currency, Money};

    use super::*;
    use crate::{Deliveries, Index, Ratings};

    fn creator(id: &str, niches: &[&str], us: u32) -> Creator {
        Creator {
            id: id.into(),
            followers: 40_000,
            avg_views: 8_000,
            engagement_bps: 500,
            audience_countries: BTreeMap::from([("US".into(), us), ("CA".into(), 1_000)]),
            audience_ages: BTreeMap::from([("18-24".into(), 5_000)]),
            niches: niches.iter().map(|n| (*n).to_owned()).collect(),
            ratings: Ratings::default(),
            deliveries: Deliveries::default(),
            fee: None,
        }
    }

    #[test]
    fn the_fit_of_one_creator_is_the_fit_the_index_gives() {
        let creators = [
            creator("a", &["cooking", "travel"], 6_000),
            creator("b", &["cooking"], 2_000),
            creator("c", &["travel"], 9_000),
        ];
        let mut index = Index::new();
        for c in &creators {
            index.upsert(c).expect("a valid creator");
        }
        let brief = Brief {
            niches: vec!["cooking".into(), "travel".into(), "cooking".into()],
            countries: vec!["US".into()],
            ages: Some(vec!["18-24".into()]),
            fee: Money::new(10_000, Currency::USD),
        };
        for m in index.top(&brief, 10) {
            let c = creators
                .iter()
                .find(|c| c.id == m.creator_id)
                .expect("every match is one of the creators");
            assert_eq!(fit_of(c, &brief), m.parts.fit, "{}", c.id);
        }
    }
}
