//! The in-memory index that ranks many creators for a brief.
//!
//! Creators live in slots (a removed creator's slot is reused). What scoring reads is kept in
//! columns, one entry per slot — tier, engagement, views per follower, reliability — and each
//! creator's niches and audience shares in one flat arena, so scoring a niche's creators walks
//! memory mostly in order instead of chasing a pointer per creator. What only a match or an
//! update needs (the id, ratings, positions in the niche lists) is kept apart.
//!
//! An inverted list of slots per niche says which creators a brief with niches considers, and
//! [`CohortStats`] are kept up to date on every change: an upsert of a known creator takes the
//! old entry out of its niche lists and cohort and puts the new one in, with no rebuild (the
//! arena compacts itself once half of it is stale).
//!
//! Ranking reads a cache that the first [`Index::top`] after a change builds (any upsert or
//! removal drops it): every creator's quality, reliability and value for money (none depends on
//! the brief), ordered by tier and, within a tier, by the *ceiling* — the score the creator would
//! have with a perfect fit and the whole audience in the brief's countries — overall and per
//! niche, with the fit's inputs copied from the arena in that order so a scan reads memory front
//! to back. [`Index::top`] scans each tier of the brief's orders from the best ceiling down,
//! keeping the tier's best `n` in a bounded heap, and stops at the first creator whose ceiling
//! cannot enter it: the rest cannot either. Tiers are independent until the fair re-ranking, so
//! a large index scans them on two threads. The pool (at most `n` per tier: the re-ranking
//! never needs more of one tier) is re-ranked with [`fair_order_with_shares`], the shares being
//! of the quality of every candidate. The results are exactly those of scoring every candidate
//! afresh (a property test says so); the cost of a change is that the next ranking rebuilds the
//! cache (about half a second for a million creators; see BENCHMARKS.md).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::MarketError;
use crate::fair::{Candidate, fair_order_with_shares, tier_shares_bps};
use crate::profile::{Brief, Creator, Ratings};
use crate::score::{
    CohortStats, NEUTRAL_BPS, Parts, Percentiles, ValueScale, WHOLE_BPS, engagements_per_fee,
    fit_bps, niche_bps, quality_bps, reliability_bps, value_bps, views_per_follower_bps,
};
use crate::tier::Tier;
use crate::why::{Facts, why};
use money::Currency;

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

/// The most matches [`Index::top`] returns: the fair re-ranking's look-ahead is quadratic in
/// `n`, and no page shows more.
pub const MAX_MATCHES: usize = 1_000;

/// [`Entry::log_value`] of a creator without a fee.
const NO_FEE: i32 = i32::MIN;

/// From this many creators on, [`Index::top`] scans the tiers on two threads.
const PARALLEL_FROM: usize = 200_000;

/// The tier column's value for an empty slot.
const EMPTY: u8 = u8::MAX;

/// How many distinct country codes and age ranges the index interns: a key and a share
/// (≤ 10,000) are packed into one `u32` of the arena.
const MAX_KEYS: usize = 1 << 16;

/// Where a slot's niches, countries and ages lie in the arena, one after the other.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    niches: u16,
    countries: u16,
    ages: u16,
}

impl Span {
    fn len(self) -> usize {
        usize::from(self.niches) + usize::from(self.countries) + usize::from(self.ages)
    }

    /// The niches, countries and ages this span points at in `arena`.
    fn split(self, arena: &[u32]) -> (&[u32], &[u32], &[u32]) {
        let start = self.start as usize;
        let all = arena.get(start..start + self.len()).unwrap_or(&[]);
        let (niches, rest) = all.split_at(usize::from(self.niches).min(all.len()));
        let (countries, ages) = rest.split_at(usize::from(self.countries).min(rest.len()));
        (niches, countries, ages)
    }
}

/// What ranking reads that does not depend on the brief, built by the first [`Index::top`]
/// after a change and kept until the next change.
#[derive(Debug)]
struct Ranked {
    percentiles: Percentiles,
    /// Every creator's niches, countries and ages, copied in the order of `everyone`, so a
    /// scan reads them front to back; the entries' spans point here.
    arena: Vec<u32>,
    /// Every creator.
    everyone: Order,
    /// Each niche's creators, by interned niche.
    niches: Vec<Order>,
}

/// Creators by tier, and within a tier by ceiling (the score with a perfect fit), the best
/// first and the lower slot first among equals: a scan for a tier's best `n` stops at the
/// first creator whose ceiling cannot enter them.
#[derive(Debug, Default)]
struct Order {
    entries: Vec<Entry>,
    /// Tier `t`'s entries are `entries[starts[t]..starts[t + 1]]`.
    starts: [usize; 6],
    /// Each tier's total quality.
    quality: [u64; 5],
}

impl Order {
    fn tier(&self, t: usize) -> &[Entry] {
        let (from, to) = (self.starts[t], self.starts[t + 1]);
        self.entries.get(from..to).unwrap_or(&[])
    }
}

/// A creator in an [`Order`]: what its score needs, the fit's inputs in [`Ranked::arena`].
/// Entries compare by slot alone (so they can ride in a heap beside their unique key).
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    slot: u32,
    quality: u16,
    /// The value part with the whole audience: what the brief's audience can only lower.
    value: u16,
    reliability: u16,
    /// log₂ of engagements per fee over the median's in its currency (1/1024ths);
    /// [`NO_FEE`] without a fee.
    log_value: i32,
    span: Span,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.slot == other.slot
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        self.slot.cmp(&other.slot)
    }
}

impl Entry {
    fn parts(self, fit: u32, value: u32) -> Parts {
        Parts {
            fit,
            quality: self.quality.into(),
            value,
            reliability: self.reliability.into(),
        }
    }

    /// The best key this creator could have: its key with a perfect fit and the whole
    /// audience in the brief's countries.
    fn ceiling(self) -> Key {
        let parts = self.parts(WHOLE_BPS, self.value.into());
        (parts.score(), Reverse(self.slot))
    }
}

/// A tier's candidate for the re-ranking.
#[derive(Debug, Clone, Copy)]
struct Scored {
    key: Key,
    tier: Tier,
    parts: Parts,
}

/// What only a match or an update reads.
#[derive(Debug, Clone)]
struct Cold {
    id: String,
    /// (interned niche, position in that niche's list).
    niche_positions: Vec<(u32, u32)>,
    ratings: Ratings,
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
    tier: Vec<u8>,
    engagement: Vec<u16>,
    views: Vec<u16>,
    reliability: Vec<u16>,
    /// The fee's currency and [`engagements_per_fee`], for creators with a known fee.
    value: Vec<Option<(Currency, u64)>>,
    span: Vec<Span>,
    /// Niche ids, then `key << 16 | share` for countries, then for ages, per slot.
    arena: Vec<u32>,
    /// Arena entries no span points at any more.
    stale: usize,
    cold: Vec<Option<Cold>>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
    niche_ids: HashMap<String, u32>,
    niche_names: Vec<String>,
    niche_lists: Vec<Vec<u32>>,
    /// Country codes and age ranges, interned together (they never meet in one map).
    key_ids: HashMap<String, u32>,
    stats: CohortStats,
    /// Built on demand; any change empties it.
    ranked: OnceLock<Ranked>,
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
        let too_many = |n: usize| u16::try_from(n).map_err(|_| MarketError::TooManyEntries);
        let mut niches: Vec<u32> = creator
            .niches
            .iter()
            .map(|n| self.intern_niche(n))
            .collect();
        niches.sort_unstable();
        niches.dedup();
        let span_niches = too_many(niches.len())?;
        let countries = too_many(creator.audience_countries.len())?;
        let ages = too_many(creator.audience_ages.len())?;
        let mut packed = Vec::with_capacity(usize::from(countries) + usize::from(ages));
        for (key, &share) in creator
            .audience_countries
            .iter()
            .chain(&creator.audience_ages)
        {
            packed.push(self.intern_key(key)? << 16 | share.min(0xFFFF));
        }
        let start = u32::try_from(self.arena.len()).map_err(|_| MarketError::IndexFull)?;
        self.ranked.take();

        let slot = match self.by_id.get(&creator.id) {
            Some(&slot) => {
                self.unlink(slot);
                slot
            }
            None => match self.free.pop() {
                Some(slot) => slot,
                None => self.push_slot()?,
            },
        };
        let i = slot as usize;
        self.arena.extend_from_slice(&niches);
        self.arena.extend_from_slice(&packed);
        let niche_positions = niches
            .into_iter()
            .map(|n| {
                let list = &mut self.niche_lists[n as usize];
                let pos = u32::try_from(list.len()).unwrap_or(u32::MAX);
                list.push(slot);
                (n, pos)
            })
            .collect();
        let tier = creator.tier();
        let engagement = u16::try_from(creator.engagement_bps).unwrap_or(u16::MAX);
        let views = u16::try_from(views_per_follower_bps(creator.avg_views, creator.followers))
            .unwrap_or(u16::MAX);
        let reliability = reliability_bps(creator.ratings, creator.deliveries);
        self.tier[i] = u8::try_from(tier.index()).unwrap_or(EMPTY);
        self.engagement[i] = engagement;
        self.views[i] = views;
        self.reliability[i] = u16::try_from(reliability).unwrap_or(u16::MAX);
        self.value[i] = creator.fee.map(|fee| {
            let v = engagements_per_fee(creator.avg_views, creator.engagement_bps, fee.amount());
            (fee.currency(), v)
        });
        self.span[i] = Span {
            start,
            niches: span_niches,
            countries,
            ages,
        };
        self.cold[i] = Some(Cold {
            id: creator.id.clone(),
            niche_positions,
            ratings: creator.ratings,
        });
        self.stats.insert(tier, engagement.into(), views.into());
        self.by_id.insert(creator.id.clone(), slot);
        if self.stale > self.arena.len() / 2 {
            self.compact();
        }
        Ok(())
    }

    /// Removes a creator; whether they were indexed.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.by_id.remove(id) else {
            return false;
        };
        self.ranked.take();
        self.unlink(slot);
        self.free.push(slot);
        true
    }

    /// The best `n` creators for `brief` (at most [`MAX_MATCHES`]), best first, exposure-fair
    /// across tiers.
    pub fn top(&self, brief: &Brief, n: usize) -> Vec<Match> {
        let n = n.min(MAX_MATCHES);
        if n == 0 {
            return Vec::new();
        }
        let ranked = self.ranked.get_or_init(|| self.rank());
        let resolved = self.resolve(brief);
        let orders: Vec<(Option<u32>, &Order)> = if brief.niches.is_empty() {
            vec![(None, &ranked.everyone)]
        } else {
            resolved
                .niches
                .iter()
                .filter_map(|&niche| Some((Some(niche), ranked.niches.get(niche as usize)?)))
                .collect()
        };
        let union = orders.len() > 1;
        let work = |t: usize| -> (Vec<Scored>, u64) {
            let quality = match orders[..] {
                [(_, order)] => order.quality[t],
                _ => union_quality(&orders, t, self.tier.len()),
            };
            let best = Index::best_of_tier(ranked, t, &orders, &resolved, n);
            (best, quality)
        };
        // Tiers are independent until the re-ranking: a large index scans them on two
        // threads, each taking the largest tier left (a tier with many creators to scan, or
        // several niches to count once, is most of the work).
        let mut tiers: Vec<(usize, usize)> = (0..5)
            .map(|t| (orders.iter().map(|(_, o)| o.tier(t).len()).sum(), t))
            .collect();
        tiers.sort_unstable_by(|a, b| b.cmp(a));
        let next = AtomicUsize::new(0);
        let worker = || {
            let mut done = Vec::new();
            while let Some(&(_, t)) = tiers.get(next.fetch_add(1, Ordering::Relaxed)) {
                done.push((t, work(t)));
            }
            done
        };
        let done = if self.len() >= PARALLEL_FROM || (union && self.len() >= PARALLEL_FROM / 2) {
            std::thread::scope(|s| {
                let other = s.spawn(worker);
                let mut mine = worker();
                match other.join() {
                    Ok(theirs) => mine.extend(theirs),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
                mine
            })
        } else {
            worker()
        };
        let mut quality = [0u64; 5];
        let mut pool = Vec::with_capacity(5 * n);
        for (t, (best, q)) in done {
            quality[t] = q;
            pool.extend(best);
        }
        pool.sort_unstable_by_key(|s| Reverse(s.key));
        let candidates: Vec<Candidate> = pool
            .iter()
            .map(|s| Candidate {
                tier: s.tier,
                quality: s.parts.quality,
            })
            .collect();
        let order = fair_order_with_shares(&candidates, n, tier_shares_bps(quality));
        order
            .into_iter()
            .filter_map(|i| pool.get(i))
            .filter_map(|s| {
                let (_, Reverse(slot)) = s.key;
                self.to_match(slot, s.tier, s.parts, brief, &resolved, &ranked.percentiles)
            })
            .collect()
    }

    /// The best `n` of tier `t` among the creators of `orders` (each order a niche's creators,
    /// or everyone), scanning each order from the best ceiling down and stopping at the first
    /// creator whose ceiling, a perfect fit, could not enter the best `n` found so far.
    fn best_of_tier(
        ranked: &Ranked,
        t: usize,
        orders: &[(Option<u32>, &Order)],
        brief: &Resolved,
        n: usize,
    ) -> Vec<Scored> {
        // A min-heap of the best `n` keys, the worst on top to be pushed out, with each fit
        // and entry (a key is never repeated, so they never decide an order).
        let mut heap: BinaryHeap<Reverse<(Key, u32, u32, Entry)>> =
            BinaryHeap::with_capacity(n + 1);
        for (k, &(_, order)) in orders.iter().enumerate() {
            let earlier = &orders[..k];
            for &entry in order.tier(t) {
                let worst = (heap.len() >= n)
                    .then(|| heap.peek().map(|Reverse((key, ..))| *key))
                    .flatten();
                if worst.is_some_and(|worst| entry.ceiling() <= worst) {
                    break;
                }
                let data = entry.span.split(&ranked.arena);
                // A creator also in an earlier niche of the brief was considered there: its
                // ceiling beats the worst now, so it beat the (lower) worst then.
                if k > 0
                    && earlier
                        .iter()
                        .any(|(niche, _)| niche.is_some_and(|n| data.0.contains(&n)))
                {
                    continue;
                }
                let (fit, audience) = fit(data, brief);
                let value = match entry.log_value {
                    NO_FEE => NEUTRAL_BPS,
                    log => value_bps(log.into(), audience),
                };
                let parts = entry.parts(fit, value);
                let key = (parts.score(), Reverse(entry.slot));
                let item = Reverse((key, fit, value, entry));
                match worst {
                    None => heap.push(item),
                    Some(worst) if key > worst => {
                        heap.pop();
                        heap.push(item);
                    }
                    Some(_) => {}
                }
            }
        }
        let tier = Tier::ALL.get(t).copied().unwrap_or(Tier::Nano);
        heap.into_iter()
            .map(|Reverse((key, fit, value, entry))| Scored {
                key,
                tier,
                parts: entry.parts(fit, value),
            })
            .collect()
    }

    /// What ranking reads that does not depend on the brief: every creator's quality and
    /// reliability, ordered by tier and ceiling, overall and per niche.
    fn rank(&self) -> Ranked {
        const BUCKETS: usize = WHOLE_BPS as usize + 1;
        let percentiles = self.stats.percentiles();
        let values = ValueScale::new(
            self.value
                .iter()
                .zip(&self.tier)
                .filter(|&(_, &t)| t != EMPTY)
                .filter_map(|(v, _)| *v),
        );
        // A counting sort on (tier, ceiling from the best down) over the slots in order, so
        // equal ceilings keep the lower slot first, as the rank key does.
        let mut bucketed: Vec<(usize, Entry)> = Vec::with_capacity(self.len());
        let mut next = vec![0usize; 5 * BUCKETS + 1];
        let mut everyone = Order::default();
        for i in 0..self.tier.len() {
            let Ok(slot) = u32::try_from(i) else { break };
            let Some((tier, quality, reliability)) = self.standing(slot, &percentiles) else {
                continue;
            };
            let log_value = self.value[i]
                .and_then(|(c, v)| values.log_ratio(values.currency(c)?, v))
                .map_or(NO_FEE, |log| {
                    i32::try_from(log).unwrap_or(if log < 0 { NO_FEE + 1 } else { i32::MAX })
                });
            let entry = Entry {
                slot,
                quality: u16::try_from(quality).unwrap_or(u16::MAX),
                value: u16::try_from(values.value_bps(self.value[i], WHOLE_BPS))
                    .unwrap_or(u16::MAX),
                log_value,
                reliability: u16::try_from(reliability).unwrap_or(u16::MAX),
                span: self.span[i],
            };
            everyone.quality[tier.index()] += u64::from(quality);
            let ceiling = (entry.ceiling().0 as usize).min(BUCKETS - 1);
            let bucket = tier.index() * BUCKETS + (BUCKETS - 1 - ceiling);
            next[bucket + 1] += 1;
            bucketed.push((bucket, entry));
        }
        for b in 1..next.len() {
            next[b] += next[b - 1];
        }
        for (t, start) in everyone.starts.iter_mut().enumerate() {
            *start = next[t * BUCKETS];
        }
        everyone.entries = vec![Entry::default(); bucketed.len()];
        let mut position = vec![u32::MAX; self.tier.len()];
        for &(bucket, entry) in &bucketed {
            let at = next[bucket];
            next[bucket] += 1;
            everyone.entries[at] = entry;
            position[entry.slot as usize] = u32::try_from(at).unwrap_or(u32::MAX);
        }
        let mut arena = Vec::with_capacity(self.arena.len() - self.stale);
        for entry in &mut everyone.entries {
            let span = entry.span;
            let start = span.start as usize;
            entry.span.start = u32::try_from(arena.len()).unwrap_or(u32::MAX);
            arena.extend_from_slice(self.arena.get(start..start + span.len()).unwrap_or(&[]));
        }
        // Each niche's creators in the same order: their positions overall, sorted.
        let niches = self
            .niche_lists
            .iter()
            .map(|list| {
                let mut at: Vec<u32> = list
                    .iter()
                    .filter_map(|&slot| position.get(slot as usize).copied())
                    .filter(|&p| p != u32::MAX)
                    .collect();
                at.sort_unstable();
                let mut order = Order::default();
                for (t, start) in order.starts.iter_mut().enumerate() {
                    let overall = everyone.starts[t];
                    *start = at.partition_point(|&p| (p as usize) < overall);
                }
                order.entries = at
                    .iter()
                    .filter_map(|&p| everyone.entries.get(p as usize).copied())
                    .collect();
                for t in 0..5 {
                    order.quality[t] = order.tier(t).iter().map(|e| u64::from(e.quality)).sum();
                }
                order
            })
            .collect();
        Ranked {
            percentiles,
            arena,
            everyone,
            niches,
        }
    }

    /// A slot's tier, quality and reliability: what does not depend on the brief.
    fn standing(&self, slot: u32, p: &Percentiles) -> Option<(Tier, u32, u32)> {
        let i = slot as usize;
        let tier = *Tier::ALL.get(usize::from(*self.tier.get(i)?))?;
        let quality = quality_bps(
            p.engagement(tier, self.engagement[i].into()),
            p.views(tier, self.views[i].into()),
        );
        Some((tier, quality, self.reliability[i].into()))
    }

    fn arena_part(&self, slot: u32, skip: usize, len: u16) -> &[u32] {
        let Some(span) = self.span.get(slot as usize) else {
            return &[];
        };
        let start = span.start as usize + skip;
        self.arena
            .get(start..start + usize::from(len))
            .unwrap_or(&[])
    }

    fn niches(&self, slot: u32) -> &[u32] {
        let span = self.span.get(slot as usize).copied().unwrap_or_default();
        self.arena_part(slot, 0, span.niches)
    }

    fn countries(&self, slot: u32) -> &[u32] {
        let span = self.span.get(slot as usize).copied().unwrap_or_default();
        self.arena_part(slot, usize::from(span.niches), span.countries)
    }

    fn push_slot(&mut self) -> Result<u32, MarketError> {
        let slot = u32::try_from(self.tier.len()).map_err(|_| MarketError::IndexFull)?;
        self.tier.push(EMPTY);
        self.engagement.push(0);
        self.views.push(0);
        self.reliability.push(0);
        self.value.push(None);
        self.span.push(Span::default());
        self.cold.push(None);
        Ok(slot)
    }

    /// Takes a slot's creator out of its niche lists and cohort, leaving the slot empty.
    fn unlink(&mut self, slot: u32) {
        let i = slot as usize;
        let Some(cold) = self.cold.get_mut(i).and_then(Option::take) else {
            return;
        };
        if let Some(tier) = self
            .tier
            .get(i)
            .and_then(|&t| Tier::ALL.get(usize::from(t)))
        {
            self.stats
                .remove(*tier, self.engagement[i].into(), self.views[i].into());
        }
        self.tier[i] = EMPTY;
        self.value[i] = None;
        self.stale += self.span[i].len();
        self.span[i] = Span::default();
        for &(niche, pos) in &cold.niche_positions {
            let list = &mut self.niche_lists[niche as usize];
            list.swap_remove(pos as usize);
            // The list's last slot moved into `pos`: tell its creator.
            if let Some(&moved) = list.get(pos as usize)
                && let Some(other) = self.cold.get_mut(moved as usize).and_then(Option::as_mut)
                && let Some(entry) = other.niche_positions.iter_mut().find(|(n, _)| *n == niche)
            {
                entry.1 = pos;
            }
        }
    }

    /// Rewrites the arena without its stale entries, in slot order.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.stale);
        for span in &mut self.span {
            let start = span.start as usize;
            let part = self.arena.get(start..start + span.len()).unwrap_or(&[]);
            span.start = u32::try_from(arena.len()).unwrap_or(u32::MAX);
            arena.extend_from_slice(part);
        }
        self.arena = arena;
        self.stale = 0;
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

    fn intern_key(&mut self, key: &str) -> Result<u32, MarketError> {
        if let Some(&id) = self.key_ids.get(key) {
            return Ok(id);
        }
        if self.key_ids.len() >= MAX_KEYS {
            return Err(MarketError::TooManyEntries);
        }
        let id = u32::try_from(self.key_ids.len()).map_err(|_| MarketError::TooManyEntries)?;
        self.key_ids.insert(key.to_owned(), id);
        Ok(id)
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
            ages: brief.ages.as_deref().filter(|a| !a.is_empty()).map(keys),
        }
    }

    fn to_match(
        &self,
        slot: u32,
        tier: Tier,
        parts: Parts,
        brief: &Brief,
        resolved: &Resolved,
        p: &Percentiles,
    ) -> Option<Match> {
        let cold = self.cold.get(slot as usize)?.as_ref()?;
        let mine = self.niches(slot);
        let niche = brief
            .niches
            .iter()
            .find(|n| {
                self.niche_ids
                    .get(n.as_str())
                    .is_some_and(|id| mine.contains(id))
            })
            .or_else(|| mine.first().and_then(|&n| self.niche_names.get(n as usize)))
            .map(String::as_str);
        let audience = resolved.countries.as_deref().map(|c| {
            (
                brief.countries.as_slice(),
                share_in(self.countries(slot), c),
            )
        });
        let facts = Facts {
            niche,
            tier,
            audience,
            engagement_percentile_bps: Some(
                p.engagement(tier, self.engagement[slot as usize].into()),
            ),
            ratings: cold.ratings,
        };
        Some(Match {
            creator_id: cold.id.clone(),
            tier,
            score: parts.score(),
            parts,
            why: why(&facts),
        })
    }
}

/// Tier `t`'s total quality over the creators of several niches, each counted once.
fn union_quality(orders: &[(Option<u32>, &Order)], t: usize, slots: usize) -> u64 {
    let mut quality = 0u64;
    let mut seen = vec![0u64; slots.div_ceil(64)];
    for (_, order) in orders {
        for entry in order.tier(t) {
            let (word, bit) = (entry.slot as usize / 64, 1u64 << (entry.slot % 64));
            if let Some(w) = seen.get_mut(word)
                && *w & bit == 0
            {
                *w |= bit;
                quality += u64::from(entry.quality);
            }
        }
    }
    quality
}

/// A creator's fit with the brief, from its niches, countries and ages (as in the arena),
/// and the share of its audience in the brief's countries (the whole when it names none).
fn fit((niches, countries, ages): (&[u32], &[u32], &[u32]), brief: &Resolved) -> (u32, u32) {
    let matched = niches.iter().filter(|n| brief.niches.contains(n)).count();
    let audience = brief.countries.as_deref().map(|c| share_in(countries, c));
    let fit = fit_bps(
        niche_bps(matched, brief.wanted_niches),
        audience,
        brief.ages.as_deref().map(|a| share_in(ages, a)),
    );
    (fit, audience.unwrap_or(WHOLE_BPS))
}

/// The share of packed `key << 16 | share` entries whose key is `wanted`, in bps.
fn share_in(packed: &[u32], wanted: &[u32]) -> u32 {
    packed
        .iter()
        .filter(|&&p| wanted.contains(&(p >> 16)))
        .map(|&p| p & 0xFFFF)
        .sum()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::fair::fair_order;
    use crate::profile::Deliveries;
    use crate::score::CohortStats;
    use crate::synthetic::{Synthetic, brief};

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
            fee: None,
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
        assert_eq!(index.top(&brief(&[], &[]), usize::MAX).len(), 3);
        assert_eq!(index.top(&brief(&["cooking"], &[]), 0), vec![]);
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

    /// The same ranking the slow way: every candidate scored, sorted, fairly re-ranked.
    fn brute_force<'a>(creators: &'a [Creator], brief: &Brief, n: usize) -> Vec<&'a str> {
        let slots: Vec<usize> = (0..creators.len()).collect();
        brute_force_by_slot(creators, &slots, brief, n)
    }

    /// [`brute_force`] with each creator's slot given, which breaks ties between equal scores.
    fn brute_force_by_slot<'a>(
        creators: &'a [Creator],
        slots: &[usize],
        brief: &Brief,
        n: usize,
    ) -> Vec<&'a str> {
        let mut stats = CohortStats::new();
        for c in creators {
            stats.insert(
                c.tier(),
                c.engagement_bps,
                views_per_follower_bps(c.avg_views, c.followers),
            );
        }
        let p = stats.percentiles();
        let value_of = |c: &Creator| {
            c.fee.map(|fee| {
                let v = engagements_per_fee(c.avg_views, c.engagement_bps, fee.amount());
                (fee.currency(), v)
            })
        };
        let values = ValueScale::new(creators.iter().filter_map(value_of));
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
                let audience = (!brief.countries.is_empty())
                    .then(|| share(&c.audience_countries, &brief.countries));
                let fit = fit_bps(
                    niche_bps(matched, brief.niches.len()),
                    audience,
                    brief.ages.as_deref().map(|a| share(&c.audience_ages, a)),
                );
                let audience = audience.unwrap_or(WHOLE_BPS);
                let views = views_per_follower_bps(c.avg_views, c.followers);
                let parts = Parts {
                    fit,
                    quality: quality_bps(
                        p.engagement(c.tier(), c.engagement_bps),
                        p.views(c.tier(), views),
                    ),
                    value: values.value_bps(value_of(c), audience),
                    reliability: reliability_bps(c.ratings, c.deliveries),
                };
                (parts.score(), i, parts)
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(slots[a.1].cmp(&slots[b.1])));
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
        let mut rng = Synthetic::new(7);
        let creators: Vec<Creator> = (0..3_000).map(|i| rng.creator(i)).collect();
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
    fn creators_changed_many_times_rank_as_their_latest_selves() {
        let mut rng = Synthetic::new(11);
        let mut creators: Vec<Creator> = (0..500).map(|i| rng.creator(i)).collect();
        let mut index = Index::new();
        for c in &creators {
            index.upsert(c).expect("valid");
        }
        // Every creator changes three times: new niches, followers, audience. The arena
        // goes stale and compacts along the way.
        for _ in 0..3 {
            for (i, c) in creators.iter_mut().enumerate() {
                *c = rng.creator(i);
                index.upsert(c).expect("valid");
            }
        }
        assert_eq!(index.len(), 500);
        assert!(index.stale <= index.arena.len() / 2);
        for b in [brief(&["cooking", "music"], &["DE"]), brief(&[], &["US"])] {
            assert_eq!(
                ids(&index.top(&b, 50)),
                brute_force(&creators, &b, 50),
                "{b:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_sequence_of_upserts_and_removals_ranks_as_a_fresh_scoring_would(
            ops in proptest::collection::vec(
                (0usize..12, proptest::bool::weighted(0.7), 0u64..u64::MAX),
                1..80,
            ),
            n in 1usize..15,
        ) {
            let mut index = Index::new();
            let mut live: BTreeMap<usize, Creator> = BTreeMap::new();
            for (who, upsert, seed) in ops {
                if upsert {
                    let c = Synthetic::new(seed).creator(who);
                    index.upsert(&c).expect("valid");
                    live.insert(who, c);
                } else {
                    let removed = index.remove(&format!("creator-{who}"));
                    proptest::prop_assert_eq!(removed, live.remove(&who).is_some());
                }
            }
            proptest::prop_assert_eq!(index.len(), live.len());
            let creators: Vec<Creator> = live.into_values().collect();
            let slots: Vec<usize> =
                creators.iter().map(|c| index.by_id[&c.id] as usize).collect();
            for b in [
                brief(&["cooking", "travel", "tech"], &["US"]),
                brief(&[], &[]),
                brief(&["music"], &[]),
            ] {
                let got = index.top(&b, n);
                let want = brute_force_by_slot(&creators, &slots, &b, n);
                proptest::prop_assert_eq!(ids(&got), want);
            }
        }
    }

    #[test]
    fn a_hundred_thousand_creators_give_a_hundred_fair_matches() {
        let mut rng = Synthetic::new(0x9E37_79B9_7F4A_7C15);
        let creators: Vec<Creator> = (0..100_000).map(|i| rng.creator(i)).collect();
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
