//! The brand marketplace's ranking, pure: creator tiers ([`tier`]), what a ranking sees of a
//! creator and a brief ([`profile`]), the score and its parts — fit, quality within the
//! creator's size cohort, reliability shrunk toward a prior ([`score`]) — the exposure-fair
//! re-ranking of the top results ([`fair`]), the one-sentence reason per match ([`why`]) and
//! the in-memory index that ranks many creators for a brief ([`index`]); seeded synthetic
//! creators ([`synthetic`]) and a synthetic economy that judges rankings by what they do for
//! brands and for the income gap ([`sim`]). No IO and no money movement: the server loads
//! metrics and profiles into an [`Index`], offers and escrow belong to the postings crate.

pub mod fair;
pub mod fit;
pub mod index;
pub mod profile;
pub mod score;
pub mod sim;
pub mod synthetic;
pub mod tier;
pub mod why;

pub use fair::{Candidate, fair_order};
pub use index::{Index, MAX_MATCHES, Match};
pub use profile::{Brief, Creator, Deliveries, Ratings};
pub use score::{CohortStats, Parts, Percentiles, ValueScale};
pub use tier::Tier;

/// What the market refuses in its inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketError {
    /// A creator without an id.
    #[error("creator id must not be empty")]
    EmptyId,
    /// Shares or a rate above 10,000 bps.
    #[error("{what} must total at most 10000 bps, got {bps}")]
    OverWhole {
        /// The field.
        what: &'static str,
        /// What it totals.
        bps: u64,
    },
    /// A star sum that no ratings of 1–5 stars could give.
    #[error("{count} ratings must sum to between {count} and 5 × {count} stars, got {stars_sum}")]
    StarsOutOfRange {
        /// Number of ratings.
        count: u32,
        /// Sum of their stars.
        stars_sum: u32,
    },
    /// More deliveries on time than deliveries.
    #[error("on-time deliveries must be at most the deliveries ({total}), got {on_time}")]
    OnTimeOverTotal {
        /// On-time deliveries.
        on_time: u32,
        /// All deliveries.
        total: u32,
    },
    /// A creator's fee of zero or less.
    #[error("fee must be positive, got {0} minor units")]
    FeeNotPositive(i64),
    /// More creators than the index can address (2³² slots).
    #[error("the index holds at most 4294967295 creators")]
    IndexFull,
    /// More niches, countries or age ranges than the index can hold (65,535 per creator,
    /// 65,536 distinct countries and age ranges).
    #[error("too many niches, countries or age ranges: at most 65535 per creator")]
    TooManyEntries,
    /// A tier name not among nano, micro, mid, macro, mega.
    #[error("tier must be one of nano, micro, mid, macro, mega, got {0:?}")]
    UnknownTier(String),
}
