//! The HTTP handlers, one module per section of API.md.

pub(crate) mod accounts;
pub(crate) mod insights;
pub(crate) mod lives;
pub(crate) mod market;
pub(crate) mod matching;
pub(crate) mod ops;
pub(crate) mod payments;
pub(crate) mod payouts;
pub(crate) mod purchases;
pub(crate) mod shop;
pub(crate) mod statements;
pub(crate) mod wallet;
pub(crate) mod webhooks;
pub(crate) mod ws;
