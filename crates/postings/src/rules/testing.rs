//! Values the rules' tests share.

use ledger::{Account, Balances, Book, Transfer};
use money::{Currency, Money};

use crate::{LiveId, PaymentMethod, Purchase, PurchaseId, PurchaseStatus, UserId};

/// A succeeded purchase in USD with the given split.
pub(crate) fn purchase(
    method: PaymentMethod,
    price: i64,
    share: i64,
    fee: i64,
    processor: i64,
) -> Purchase {
    let c = Currency::USD;
    let at = time::macros::datetime!(2026-11-30 12:00 UTC);
    let id = PurchaseId::generate();
    Purchase {
        payment_id: match method {
            PaymentMethod::Card => format!("pi_{id}"),
            PaymentMethod::Wallet => format!("wallet:{id}"),
        },
        id,
        live_id: LiveId::generate(),
        viewer_id: UserId::generate(),
        creator_id: UserId::generate(),
        tier: live::Tier::new(3).expect("a tier"),
        price: Money::new(price, c),
        creator_share: Money::new(share, c),
        platform_fee: Money::new(fee, c),
        processor_fee: Money::new(processor, c),
        match_amount: Money::zero(c),
        match_program: None,
        payment_method: method,
        status: PurchaseStatus::Succeeded,
        created_at: at,
        refunded_at: None,
    }
}

/// Applies `transfers` to a book holding `accounts` (each with money enough for any rule)
/// and checks that every transfer names one of them and that debits equal credits.
pub(crate) fn assert_balanced_lines(accounts: &[Account], transfers: &[Transfer]) {
    let mut book = Book::new();
    for a in accounts {
        book.load_account(
            a.clone(),
            Balances {
                credits_posted: 1_000_000_000_000,
                ..Balances::default()
            },
        );
    }
    book.apply(transfers)
        .expect("the lines apply to their own accounts");
    let changes = book.take_changes();
    let mut debits = 0_i128;
    let mut credits = 0_i128;
    for (_, d) in &changes.deltas {
        debits += i128::from(d.debits_posted) + i128::from(d.debits_pending);
        credits += i128::from(d.credits_posted) + i128::from(d.credits_pending);
    }
    assert_eq!(debits, credits, "debits equal credits");
}
