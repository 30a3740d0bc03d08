//! The double-entry core: accounts with balance rules, immutable transfers, sets of
//! transfers applied atomically, two-phase (pending → post or void) transfers, idempotent
//! transfer ids, and a verifier that recomputes every balance from the transfers.
//!
//! It follows TigerBeetle's model: a transfer moves a positive amount from one debit account
//! to one credit account of the same currency, so every transfer is balanced by construction
//! and the sum of all debits equals the sum of all credits in each currency.
//!
//! This crate does no IO and knows nothing of HTTP, SQL or async runtimes: the store loads
//! the accounts and transfers a batch touches into a [`Book`], applies the batch here, and
//! writes back what [`Book::take_changes`] reports.

mod book;
mod model;
mod verify;

pub use book::{Applied, Book, Changes};
pub use model::{
    Account, AccountId, BalanceRule, Balances, Code, LedgerError, Purpose, Transfer, TransferId,
    TransferKind,
};
pub use verify::{Report, Verifier};
