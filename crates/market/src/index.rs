//! The in-memory index that ranks many creators for a brief.
//!
//! Creators live in compact rows in a slab (a removed creator's slot is reused), with an
//! inverted list of slots per niche so a brief scores only the creators in its niches, and
//! [`CohortStats`] kept up to date on every change. An upsert of a known creator takes the
//! old row out of its niche lists and cohort and puts the new one in: no rebuild. [`Index::top`]
//! scores the candidates, keeps the best `n` of each tier in bounded heaps (the fair re-ranking
//! never needs more than `n` of one tier), and re-ranks the pool with [`fair_order_with_shares`],
//! the shares being of the quality of every candidate scored.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::MarketError;
use crate::fair::{Candidate, fair_order_with_shares, tier_shares_bps};
use crate::profile::{Brief, Creator, Deliveries, Ratings};
use crate::score::{
    CohortStats, Parts, Percentiles, fit_bps, niche_bps, quality_bps, reliability_bps,
    views_per_follower_bps,
};
use crate::tier::Tier;
use crate::why::{Facts, why};

/// A ranked creator for a brief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The creator's id.
    pub creator_id: String,
    /// The creator's tier.
    pub tier: Tier,
    /// The weighted score, 0–10,000 bps.
    pub score: u32,
    /// The score's parts.
    pub parts: Parts,
    /// One sentence saying why.
    pub why: String,
}

/// A candidate's rank key, larger is better: its score, then the lower slot (the earlier
/// indexed) on a tie, so rankings are deterministic.
type Key = (u32, Reverse<u32>);

/// A creator as the index keeps them: names interned, only what scoring reads.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    tier: Tier,
    engagement_bps: u32,
    views_bps: u32,
    /// (interned country, share in bps).
    countries: Box<[(u32, u32)]>,
    /// (interned age range, share in bps).
    ages: Box<[(u32, u32)]>,
    /// (interned niche, position in that niche's list).
    niches: Vec<(u32, u32)>,
    ratings: Ratings,
    deliveries: Deliveries,
}

/// The brief with its names resolved against the index.
#[derive(Debug)]
struct Resolved {
    niches: Vec<u32>,
    wanted_niches: usize,
    countries: Option<Vec<u32>>,
    ages: Option<Vec<u32>>,
}

/// Creators indexed for ranking; see the module docs.
#[derive(Debug, Default)]
pub struct Index {
    rows: Vec<Option<Row>>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
    niche_ids: HashMap<String, u32>,
    niche_names: Vec<String>,
    niche_lists: Vec<Vec<u32>>,
    /// Country codes and age ranges, interned together (they never meet in one map).
    key_ids: HashMap<String, u32>,
    stats: CohortStats,
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index::default()
    }

    /// How many creators are indexed.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no creator is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Adds a creator or replaces the one with the same id, moving them between niche lists
    /// and cohorts as their niches and followers changed.
    pub fn upsert(&mut self, creator: &Creator) -> Result<(), MarketError> {
        creator.validate()?;
        let slot = match self.by_id.get(&creator.id) {
            Some(&slot) => {
                self.unlink(slot);
                slot
            }
            None => match self.free.pop() {
                Some(slot) => slot,
                None => {
                    let slot =
                        u32::try_from(self.rows.len()).map_err(|_| MarketError::IndexFull)?;
                    self.rows.push(None);
                    slot
                }
            },
        };
        let mut niches: Vec<u32> = creator
            .niches
            .iter()
            .map(|n| self.intern_niche(n))
            .collect();
        niches.sort_unstable();
        niches.dedup();
        let niches = niches
            .into_iter()
            .map(|n| {
                let list = &mut self.niche_lists[n as usize];
                let pos = u32::try_from(list.len()).unwrap_or(u32::MAX);
                list.push(slot);
                (n, pos)
            })
            .collect();
        let countries = creator
            .audience_countries
            .iter()
            .map(|(k, &v)| (self.intern_key(k), v))
            .collect();
        let ages = creator
            .audience_ages
            .iter()
            .map(|(k, &v)| (self.intern_key(k), v))
            .collect();
        let row = Row {
            id: creator.id.clone(),
            tier: creator.tier(),
            engagement_bps: creator.engagement_bps,
            views_bps: views_per_follower_bps(creator.avg_views, creator.followers),
            countries,
            ages,
            niches,
            ratings: creator.ratings,
            deliveries: creator.deliveries,
        };
        self.stats
            .insert(row.tier, row.engagement_bps, row.views_bps);
        self.by_id.insert(creator.id.clone(), slot);
        self.rows[slot as usize] = Some(row);
        Ok(())
    }

    /// Removes a creator; whether they were indexed.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.by_id.remove(id) else {
            return false;
        };
        self.unlink(slot);
        self.rows[slot as usize] = None;
        self.free.push(slot);
        true
    }

    /// The best `n` creators for `brief`, best first, exposure-fair across tiers.
    pub fn top(&self, brief: &Brief, n: usize) -> Vec<Match> {
        if n == 0 {
            return Vec::new();
        }
        let brief_ids = self.resolve(brief);
        let percentiles = self.stats.percentiles();
        let mut quality = [0u64; 5];
        // Min-heaps of the best `n` keys per tier, the worst on top to be pushed out.
        let mut heaps: [BinaryHeap<Reverse<Key>>; 5] = Default::default();
        let mut consider = |slot: u32, row: &Row| {
            let parts = score_row(row, &brief_ids, &percentiles);
            let t = row.tier.index();
            quality[t] += u64::from(parts.quality);
            let key = (parts.score(), Reverse(slot));
            let heap = &mut heaps[t];
            if heap.len() < n {
                heap.push(Reverse(key));
            } else if heap.peek().is_some_and(|Reverse(worst)| key > *worst) {
                heap.pop();
                heap.push(Reverse(key));
            }
        };
        if brief.niches.is_empty() {
            for (slot, row) in self.rows.iter().enumerate() {
                if let (Some(row), Ok(slot)) = (row, u32::try_from(slot)) {
                    consider(slot, row);
                }
            }
        } else {
            for (i, &niche) in brief_ids.niches.iter().enumerate() {
                let earlier = &brief_ids.niches[..i];
                for &slot in &self.niche_lists[niche as usize] {
                    let Some(row) = self.row(slot) else { continue };
                    // A creator in two of the brief's niches is scored in the first only.
                    if row.niches.iter().any(|(n, _)| earlier.contains(n)) {
                        continue;
                    }
                    consider(slot, row);
                }
            }
        }
        let mut pool: Vec<Key> = heaps
            .into_iter()
            .flat_map(|h| h.into_iter().map(|Reverse(key)| key))
            .collect();
        pool.sort_unstable_by(|a, b| b.cmp(a));
        let scored: Vec<(&Row, Parts)> = pool
            .iter()
            .filter_map(|&(_, Reverse(slot))| self.row(slot))
            .map(|row| (row, score_row(row, &brief_ids, &percentiles)))
            .collect();
        let candidates: Vec<Candidate> = scored
            .iter()
            .map(|(row, parts)| Candidate {
                tier: row.tier,
                quality: parts.quality,
            })
            .collect();
        let order = fair_order_with_shares(&candidates, n, tier_shares_bps(quality));
        order
            .into_iter()
            .filter_map(|i| scored.get(i))
            .map(|&(row, parts)| self.to_match(row, parts, brief, &brief_ids, &percentiles))
            .collect()
    }

    fn row(&self, slot: u32) -> Option<&Row> {
        self.rows.get(slot as usize).and_then(Option::as_ref)
    }

    /// Takes a slot's row out of its niche lists and cohort, leaving the slot empty.
    fn unlink(&mut self, slot: u32) {
        let Some(row) = self.rows.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.stats
            .remove(row.tier, row.engagement_bps, row.views_bps);
        for &(niche, pos) in &row.niches {
            let list = &mut self.niche_lists[niche as usize];
            list.swap_remove(pos as usize);
            // The last slot of the list moved into `pos`: tell its row.
            if let Some(&moved) = list.get(pos as usize)
                && let Some(row) = self.rows.get_mut(moved as usize).and_then(Option::as_mut)
                && let Some(entry) = row.niches.iter_mut().find(|(n, _)| *n == niche)
            {
                entry.1 = pos;
            }
        }
    }

    fn intern_niche(&mut self, niche: &str) -> u32 {
        if let Some(&id) = self.niche_ids.get(niche) {
            return id;
        }
        let id = u32::try_from(self.niche_names.len()).unwrap_or(u32::MAX);
        self.niche_ids.insert(niche.to_owned(), id);
        self.niche_names.push(niche.to_owned());
        self.niche_lists.push(Vec::new());
        id
    }

    fn intern_key(&mut self, key: &str) -> u32 {
        let next = u32::try_from(self.key_ids.len()).unwrap_or(u32::MAX);
        *self.key_ids.entry(key.to_owned()).or_insert(next)
    }

    fn resolve(&self, brief: &Brief) -> Resolved {
        let mut wanted: Vec<&str> = brief.niches.iter().map(String::as_str).collect();
        wanted.sort_unstable();
        wanted.dedup();
        // Names the index has never seen match no creator: `u32::MAX` stands for them.
        let keys = |names: &[String]| -> Vec<u32> {
            names
                .iter()
                .map(|k| self.key_ids.get(k).copied().unwrap_or(u32::MAX))
                .collect()
        };
        Resolved {
            niches: wanted
                .iter()
                .filter_map(|n| self.niche_ids.get(*n).copied())
                .collect(),
            wanted_niches: wanted.len(),
            countries: (!brief.countries.is_empty()).then(|| keys(&brief.countries)),
            ages: brief.ages.as_deref().map(keys),
        }
    }

    fn to_match(
        &self,
        row: &Row,
        parts: Parts,
        brief: &Brief,
        ids: &Resolved,
        p: &Percentiles,
    ) -> Match {
        let niche = brief
            .niches
            .iter()
            .find(|n| {
                self.niche_ids
                    .get(n.as_str())
                    .is_some_and(|id| row.niches.iter().any(|(m, _)| m == id))
            })
            .map(String::as_str)
            .or_else(|| {
                row.niches
                    .first()
                    .and_then(|&(n, _)| self.niche_names.get(n as usize))
                    .map(String::as_str)
            });
        let audience = ids
            .countries
            .as_deref()
            .map(|c| (brief.countries.as_slice(), share_in(&row.countries, c)));
        let facts = Facts {
            niche,
            tier: row.tier,
            audience,
            engagement_percentile_bps: Some(p.engagement(row.tier, row.engagement_bps)),
            ratings: row.ratings,
        };
        Match {
            creator_id: row.id.clone(),
            tier: row.tier,
            score: parts.score(),
            parts,
            why: why(&facts),
        }
    }
}

/// The audience share in `wanted` keys, in bps.
fn share_in(shares: &[(u32, u32)], wanted: &[u32]) -> u32 {
    shares
        .iter()
        .filter(|(k, _)| wanted.contains(k))
        .map(|&(_, v)| v)
        .sum()
}

fn score_row(row: &Row, brief: &Resolved, p: &Percentiles) -> Parts {
    let matched = row
        .niches
        .iter()
        .filter(|(n, _)| brief.niches.contains(n))
        .count();
    let fit = fit_bps(
        niche_bps(matched, brief.wanted_niches),
        brief
            .countries
            .as_deref()
            .map(|c| share_in(&row.countries, c)),
        brief.ages.as_deref().map(|a| share_in(&row.ages, a)),
    );
    let quality = quality_bps(
        p.engagement(row.tier, row.engagement_bps),
        p.views(row.tier, row.views_bps),
    );
    Parts {
        fit,
        quality,
        reliability: reliability_bps(row.ratings, row.deliveries),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use money::{Currency, Money};

    use super::*;
    use crate::fair::fair_order;
    use crate::score::CohortStats;

    fn usd() -> Currency {
        Currency::parse("USD").expect("USD is a currency")
    }

    fn brief(niches: &[&str], countries: &[&str]) -> Brief {
        Brief {
            niches: niches.iter().map(|&n| n.to_owned()).collect(),
            countries: countries.iter().map(|&c| c.to_owned()).collect(),
            ages: None,
            fee: Money::new(50_000, usd()),
        }
    }

    fn creator(id: &str, followers: u64, engagement_bps: u32, niches: &[&str]) -> Creator {
        Creator {
            id: id.into(),
            followers,
            avg_views: followers / 10,
            engagement_bps,
            audience_countries: BTreeMap::from([("US".into(), 6_000), ("CA".into(), 2_000)]),
            audience_ages: BTreeMap::from([("18-24".into(), 5_000)]),
            niches: niches.iter().map(|&n| n.to_owned()).collect(),
            ratings: Ratings::default(),
            deliveries: Deliveries::default(),
        }
    }

    fn ids(matches: &[Match]) -> Vec<&str> {
        matches.iter().map(|m| m.creator_id.as_str()).collect()
    }

    #[test]
    fn a_brief_scores_only_creators_in_its_niches() {
        let mut index = Index::new();
        index
            .upsert(&creator("chef", 50_000, 300, &["cooking"]))
            .expect("valid");
        index
            .upsert(&creator("both", 50_000, 300, &["travel", "cooking"]))
            .expect("valid");
        index
            .upsert(&creator("hiker", 50_000, 300, &["travel"]))
            .expect("valid");
        let mut got = ids(&index.top(&brief(&["cooking"], &[]), 10))
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        got.sort();
        assert_eq!(got, ["both", "chef"]);
        // Both niches: each creator once, the one in both first.
        let got = index.top(&brief(&["cooking", "travel"], &[]), 10);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].creator_id, "both");
        assert_eq!(index.top(&brief(&["knitting"], &[]), 10), vec![]);
        assert_eq!(index.top(&brief(&[], &[]), 10).len(), 3);
    }

    #[test]
    fn an_upsert_moves_a_creator_between_niches_and_tiers() {
        let mut index = Index::new();
        for i in 0..5 {
            index
                .upsert(&creator(&format!("c{i}"), 20_000, 300, &["cooking"]))
                .expect("valid");
        }
        index
            .upsert(&creator("c2", 700_000, 300, &["travel"]))
            .expect("valid");
        assert_eq!(index.len(), 5);
        let cooking = index.top(&brief(&["cooking"], &[]), 10);
        assert!(!ids(&cooking).contains(&"c2"));
        assert_eq!(cooking.len(), 4);
        let travel = index.top(&brief(&["travel"], &[]), 10);
        assert_eq!(ids(&travel), ["c2"]);
        assert_eq!(travel[0].tier, Tier::Macro);
        // Alone in the macro cohort now: the median of it.
        assert_eq!(index.stats.members(Tier::Macro), 1);
        assert_eq!(index.stats.members(Tier::Micro), 4);
    }

    #[test]
    fn a_removed_creator_leaves_every_ranking_and_the_others_stay_findable() {
        let mut index = Index::new();
        for i in 0..6 {
            index
                .upsert(&creator(
                    &format!("c{i}"),
                    20_000,
                    300 + i,
                    &["cooking", "travel"],
                ))
                .expect("valid");
        }
        assert!(index.remove("c1"));
        assert!(!index.remove("c1"));
        assert!(index.remove("c4"));
        // The freed slot is reused, and the lists' moved entries still unlink correctly.
        index
            .upsert(&creator("new", 20_000, 900, &["travel"]))
            .expect("valid");
        assert!(index.remove("c5"));
        let mut cooking = ids(&index.top(&brief(&["cooking"], &[]), 10))
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        cooking.sort();
        assert_eq!(cooking, ["c0", "c2", "c3"]);
        let travel = index.top(&brief(&["travel"], &[]), 10);
        assert_eq!(travel.len(), 4);
        assert_eq!(travel[0].creator_id, "new");
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn an_invalid_creator_is_refused_and_leaves_the_index_alone() {
        let mut index = Index::new();
        let mut bad = creator("bad", 1_000, 300, &["cooking"]);
        bad.deliveries = Deliveries {
            on_time: 2,
            total: 1,
        };
        assert!(index.upsert(&bad).is_err());
        assert!(index.is_empty());
    }

    #[test]
    fn an_excellent_mid_creator_outranks_an_ordinary_mega_one() {
        let mut index = Index::new();
        // Mid creators engage at 1–3 %, mega ones at 0.5–1.5 %: the best mid creator's
        // 3 % is only good against mid creators, but that is where it is judged.
        for (i, e) in [100, 150, 200, 250, 300].into_iter().enumerate() {
            index
                .upsert(&creator(&format!("mid{i}"), 200_000, e, &["cooking"]))
                .expect("valid");
        }
        for (i, e) in [50, 100, 150].into_iter().enumerate() {
            index
                .upsert(&creator(&format!("mega{i}"), 5_000_000, e, &["cooking"]))
                .expect("valid");
        }
        let top = index.top(&brief(&["cooking"], &["US"]), 8);
        let mid4 = top
            .iter()
            .position(|m| m.creator_id == "mid4")
            .expect("ranked");
        let mega1 = top
            .iter()
            .position(|m| m.creator_id == "mega1")
            .expect("ranked");
        assert!(mid4 < mega1, "{top:#?}");
        assert_eq!(
            top[mid4].why,
            "Cooking creator with 60 % of their audience in US; engagement in the top 10 % of mid creators."
        );
    }

    /// A small xorshift, so the synthetic creators are the same on every run.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const NICHES: [&str; 8] = [
        "cooking",
        "travel",
        "fitness",
        "gaming",
        "beauty",
        "tech",
        "music",
        "parenting",
    ];
    const COUNTRIES: [&str; 5] = ["US", "CA", "GB", "DE", "BR"];

    fn synthetic(rng: &mut XorShift, i: usize) -> Creator {
        // Followers from about 1,000 to 4 million, each power of two about as common.
        let followers = (1_000u64 << rng.below(12)) + rng.below(1_000);
        // Engagement falls as followers grow.
        let engagement_bps =
            u32::try_from(2_000 / (1 + followers / 20_000) + rng.below(300)).unwrap_or(0);
        let mut countries = BTreeMap::new();
        let mut left = 10_000u64;
        for c in COUNTRIES {
            let share = rng.below(left + 1);
            left -= share;
            countries.insert(c.to_owned(), u32::try_from(share).unwrap_or(0));
        }
        let count = u32::try_from(rng.below(20)).unwrap_or(0);
        let stars_sum = count + u32::try_from(rng.below(u64::from(4 * count) + 1)).unwrap_or(0);
        let total = u32::try_from(rng.below(20)).unwrap_or(0);
        Creator {
            id: format!("creator-{i}"),
            followers,
            avg_views: followers * rng.below(40) / 100,
            engagement_bps,
            audience_countries: countries,
            audience_ages: BTreeMap::from([(
                "18-24".into(),
                u32::try_from(rng.below(10_001)).unwrap_or(0),
            )]),
            niches: (0..1 + rng.below(2))
                .map(|_| NICHES[usize::try_from(rng.below(8)).unwrap_or(0)].to_owned())
                .collect(),
            ratings: Ratings { count, stars_sum },
            deliveries: Deliveries {
                on_time: total - u32::try_from(rng.below(u64::from(total) + 1)).unwrap_or(0),
                total,
            },
        }
    }

    /// The same ranking the slow way: every candidate scored, sorted, fairly re-ranked.
    fn brute_force<'a>(creators: &'a [Creator], brief: &Brief, n: usize) -> Vec<&'a str> {
        let mut stats = CohortStats::new();
        for c in creators {
            stats.insert(
                c.tier(),
                c.engagement_bps,
                views_per_follower_bps(c.avg_views, c.followers),
            );
        }
        let p = stats.percentiles();
        let mut scored: Vec<(u32, usize, Parts)> = creators
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                brief.niches.is_empty() || c.niches.iter().any(|n| brief.niches.contains(n))
            })
            .map(|(i, c)| {
                let mut mine = c.niches.clone();
                mine.sort();
                mine.dedup();
                let matched = mine.iter().filter(|n| brief.niches.contains(n)).count();
                let share = |map: &BTreeMap<String, u32>, keys: &[String]| {
                    keys.iter().filter_map(|k| map.get(k)).sum::<u32>()
                };
                let fit = fit_bps(
                    niche_bps(matched, brief.niches.len()),
                    (!brief.countries.is_empty())
                        .then(|| share(&c.audience_countries, &brief.countries)),
                    brief.ages.as_deref().map(|a| share(&c.audience_ages, a)),
                );
                let views = views_per_follower_bps(c.avg_views, c.followers);
                let parts = Parts {
                    fit,
                    quality: quality_bps(
                        p.engagement(c.tier(), c.engagement_bps),
                        p.views(c.tier(), views),
                    ),
                    reliability: reliability_bps(c.ratings, c.deliveries),
                };
                (parts.score(), i, parts)
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let candidates: Vec<Candidate> = scored
            .iter()
            .map(|&(_, i, parts)| Candidate {
                tier: creators[i].tier(),
                quality: parts.quality,
            })
            .collect();
        fair_order(&candidates, n)
            .into_iter()
            .map(|k| creators[scored[k].1].id.as_str())
            .collect()
    }

    #[test]
    fn the_index_ranks_as_scoring_every_candidate_would() {
        let mut rng = XorShift(7);
        let creators: Vec<Creator> = (0..3_000).map(|i| synthetic(&mut rng, i)).collect();
        let mut index = Index::new();
        for c in &creators {
            index.upsert(c).expect("synthetic creators are valid");
        }
        let mut aged = brief(&["cooking", "tech"], &["US", "GB"]);
        aged.ages = Some(vec!["18-24".into()]);
        for b in [brief(&["cooking"], &["US"]), brief(&[], &[]), aged] {
            for n in [1, 10, 100] {
                assert_eq!(
                    ids(&index.top(&b, n)),
                    brute_force(&creators, &b, n),
                    "{b:?}, n = {n}"
                );
            }
        }
    }

    #[test]
    fn a_hundred_thousand_creators_give_a_hundred_fair_matches() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let creators: Vec<Creator> = (0..100_000).map(|i| synthetic(&mut rng, i)).collect();
        let mut index = Index::new();
        for c in &creators {
            index.upsert(c).expect("synthetic creators are valid");
        }
        assert_eq!(index.len(), 100_000);
        let b = brief(&["cooking", "travel"], &["US", "CA"]);
        let top = index.top(&b, 100);
        assert_eq!(top.len(), 100);
        let mut unique = ids(&top);
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 100);
        assert_eq!(ids(&top), brute_force(&creators, &b, 100));
        // Quality is judged within each tier, so every tier's share of the quality is about
        // its share of the creators (macro, the smallest, is one in twelve), and so its slots.
        for tier in Tier::ALL {
            let slots = top.iter().filter(|m| m.tier == tier).count();
            assert!(slots >= 7, "{tier} has {slots} of 100 slots");
        }
        assert!(
            top.iter()
                .all(|m| m.why.ends_with('.') && !m.why.contains(";."))
        );
    }
}
