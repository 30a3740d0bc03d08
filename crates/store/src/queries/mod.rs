//! Reads, and the small writes that move no money (accounts, tokens, sessions, lives,
//! comments), one module per aggregate, each with the decoder and column list of its rows.
//! What several of them share is here: a page of a list, its offset cursor, a stored tier.
//! The modules depend on this one and on `columns`, and on a sibling only for its decoder
//! (`sessions` reads a user, `earnings` a live); this one uses none of them, so no import
//! goes round in a circle.

pub(crate) mod attempts;
pub(crate) mod comments;
pub(crate) mod earnings;
pub(crate) mod holds;
pub(crate) mod idempotency;
pub(crate) mod income;
pub(crate) mod lives;
pub(crate) mod market;
pub(crate) mod matching;
pub(crate) mod payouts;
pub(crate) mod pending_events;
pub(crate) mod purchases;
pub(crate) mod sandbox;
pub(crate) mod sessions;
pub(crate) mod shop;
pub(crate) mod shop_pages;
pub(crate) mod statements;
pub(crate) mod topups;
pub(crate) mod users;

use live::Tier;

use crate::StoreError;
use crate::columns::corrupt;

/// A buyer's top tier in a live, as a scalar subquery: the highest tier of their standing
/// purchases in it. Read through the buyer's purchases by time (`purchases_by_viewer_time`)
/// from a day before the live started — a purchase is made while its live is on, and the day
/// covers any drift between the clocks of the nodes that started the live and sold the badge
/// — so that the purchases have no index by (live, buyer), a write at a random place each.
/// `$from` is the table (with SQLite's `INDEXED BY`: both indexes that lead with an equality
/// look alike to it without statistics), `$live` and `$viewer` the expressions compared.
/// (Migration 0014's comment calls the day's margin `TOP_TIER_SINCE`: it is this macro's
/// `86400000000` microseconds; the migration is left as applied.)
macro_rules! top_tier_of {
    ($from:literal, $live:literal, $viewer:literal) => {
        concat!(
            "(SELECT MAX(tier) FROM ",
            $from,
            " WHERE viewer_id = ",
            $viewer,
            " AND live_id = ",
            $live,
            " AND status = 'succeeded' AND created_at >= ",
            "(SELECT started_at FROM lives WHERE id = ",
            $live,
            ") - 86400000000)"
        )
    };
}
pub(crate) use top_tier_of;

/// Ids read in one `IN (…)` list, well under either database's limit of parameters.
pub(crate) const IDS_PER_READ: usize = 500;

/// `$first, $first+1, …`, `n` of them, for an `IN (…)` list: only placeholders are
/// formatted into the SQL, nothing of the input.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One column of `rows`, for an `UNNEST($n::…[])` parameter of a set-wise PostgreSQL write.
pub(crate) fn column<'a, T, V>(rows: &[&'a T], value: impl Fn(&'a T) -> V) -> Vec<V> {
    rows.iter().map(|row| value(row)).collect()
}

/// One page of a list: the items and the cursor of the next page.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items.
    pub data: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
}

/// Decodes an offset cursor (`o<n>`, n ≥ 0); anything else (`o-1` too: PostgreSQL refuses
/// a negative `OFFSET`) starts at the beginning.
pub(crate) fn offset_of(cursor: Option<&str>) -> i64 {
    cursor
        .and_then(|c| c.strip_prefix("o"))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .unwrap_or(0)
}

/// A stored tier (a badge purchase's, a comment's badge).
pub(crate) fn tier_from(value: i64) -> Result<Tier, StoreError> {
    Tier::new(value).map_err(corrupt)
}

/// The first `limit` of `rows` (which holds one more when there is a next page), with the
/// cursor after the last.
pub(crate) fn page_by_id<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(id)
    } else {
        None
    };
    Page {
        data: rows,
        next_cursor,
    }
}
