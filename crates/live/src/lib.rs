//! Lives, chat and badges as plain values: the validated inputs (`Handle`, `CountryCode`,
//! `CommentText`, `LiveTitle`, `Tier`), the per-country badge price table, the split of a
//! badge price between creator and platform, and the rules that decide whether a creator
//! may go live and sell badges. This crate owns those rules and nothing else. It must never
//! know about IO, clocks (callers pass `today`), async, databases (sqlx) or HTTP (axum), and
//! it never uses floating point: prices are `money::Money` in integer minor units.
//!
//! One private module per concept: `error` (`LiveError`), `handle`, `country` (with the
//! launch countries), `account` (account kinds), `text` (comments and titles), `prices`
//! (tiers and the price table), `eligibility` (the creator check and ages) and `split` (a
//! badge price between processor, platform and creator). Everything public is re-exported
//! here, so callers name it `live::X` and never the module.

mod account;
mod country;
mod eligibility;
mod error;
mod handle;
mod prices;
mod split;
#[cfg(test)]
mod test_support;
mod text;

pub use account::AccountKind;
pub use country::{CountryCode, LAUNCH_COUNTRIES};
pub use eligibility::{
    CreatorFacts, EligibilityRules, Ineligible, age_years, check_creator_eligible, is_minor,
};
pub use error::LiveError;
pub use handle::Handle;
pub use prices::{CountryPrices, PriceTable, Tier, TierPrice};
pub use split::{BadgeSplit, ProcessorFee, split_badge_price};
pub use text::{CommentText, LiveTitle};
