//! The creator shop's rules, pure: what a product, a coupon code and an order may be
//! ([`catalog`]), which creator a sale belongs to ([`attribution`]), what the commission is
//! and what a return takes back ([`commission`]), and which clicks count ([`clicks`]). No IO:
//! the server reads and writes, the postings crate moves the money.

pub mod attribution;
pub mod catalog;
pub mod clicks;
pub mod commission;

pub use attribution::{Attribution, Click, attribute};
pub use catalog::{CouponCode, ProductRules, ShopError};
pub use clicks::{RepeatFilter, is_bot};
pub use commission::{Line, commission, locks_at, per_click, remaining_commission};
