//! A badge purchase. A card purchase of price P, split by [`live::split_badge_price`]:
//!
//! ```text
//! platform/processor_clearing ──share──▶ creator/creator_pending     (BADGE_SHARE)
//!                             ──fee────▶ platform/platform_fees      (BADGE_FEE)
//!                             ──fee────▶ platform/processor_fees     (PROCESSOR_FEE)
//! ```
//!
//! A wallet purchase debits the buyer's wallet instead of clearing and has no processor fee;
//! the wallet's balance rule refuses it in the batch when the wallet holds too little. The
//! share (and any match, decided in the batch) is held for the hold period.

use ledger::{Account, AccountId, Code, Purpose, Transfer};
use money::Money;

use super::{PLATFORM, posted};
use crate::{
    Computed, Effect, Guard, Hold, HoldStatus, IdempotencyRecord, IncomeSource, PaymentMethod,
    Purchase, WriteJob,
};

/// The account a purchase is paid from: the processor's clearing for a card, the buyer's
/// wallet for a wallet.
fn source_account(p: &Purchase) -> AccountId {
    let c = p.price.currency();
    match p.payment_method {
        PaymentMethod::Card => AccountId::of(PLATFORM, Purpose::ProcessorClearing, c),
        PaymentMethod::Wallet => AccountId::of(p.viewer_id.as_str(), Purpose::Wallet, c),
    }
}

/// The accounts a purchase's transfers name, to open if they do not exist yet.
pub fn purchase_accounts(p: &Purchase) -> Vec<Account> {
    let c = p.price.currency();
    let mut accounts = vec![
        Account::of(p.creator_id.as_str(), Purpose::CreatorPending, c),
        Account::of(p.creator_id.as_str(), Purpose::CreatorAvailable, c),
        Account::of(PLATFORM, Purpose::PlatformFees, c),
    ];
    match p.payment_method {
        PaymentMethod::Card => {
            accounts.push(Account::of(PLATFORM, Purpose::ProcessorClearing, c));
            accounts.push(Account::of(PLATFORM, Purpose::ProcessorFees, c));
        }
        PaymentMethod::Wallet => {
            accounts.push(Account::of(p.viewer_id.as_str(), Purpose::Wallet, c));
        }
    }
    accounts
}

fn line(p: &Purchase, suffix: &str, credit: AccountId, amount: Money, code: Code) -> Transfer {
    posted(
        format!("{}/{suffix}", p.id),
        source_account(p),
        credit,
        amount,
        code,
        p.id.as_str(),
    )
}

/// The purchase's transfers: the price split into the creator's share, the platform's fee
/// and the processor's fee, each from the paying account, and the match once the batch
/// decided it (a purchase being booked has none yet). Zero amounts are not transfers.
pub fn purchase_transfers(p: &Purchase) -> Vec<Transfer> {
    let c = p.price.currency();
    let lines = [
        (
            "share",
            AccountId::of(p.creator_id.as_str(), Purpose::CreatorPending, c),
            p.creator_share,
            Code::BADGE_SHARE,
        ),
        (
            "fee",
            AccountId::of(PLATFORM, Purpose::PlatformFees, c),
            p.platform_fee,
            Code::BADGE_FEE,
        ),
        (
            "processor_fee",
            AccountId::of(PLATFORM, Purpose::ProcessorFees, c),
            p.processor_fee,
            Code::PROCESSOR_FEE,
        ),
    ];
    let mut transfers: Vec<Transfer> = lines
        .into_iter()
        .filter(|(_, _, amount, _)| amount.is_positive())
        .map(|(suffix, credit, amount, code)| line(p, suffix, credit, amount, code))
        .collect();
    if let Some(program) = &p.match_program
        && p.match_amount.is_positive()
    {
        transfers.push(Transfer {
            debit: AccountId::of(program, Purpose::MatchBudget, c),
            ..line(
                p,
                "match",
                AccountId::of(p.creator_id.as_str(), Purpose::CreatorPending, c),
                p.match_amount,
                Code::MATCH,
            )
        });
    }
    transfers
}

/// The hold of a purchase's share (and of its match, which the batch adds to it), when
/// there is one.
pub fn purchase_hold(
    p: &Purchase,
    hold_period: std::time::Duration,
    matched: bool,
) -> Option<Hold> {
    (p.creator_share.is_positive() || matched).then(|| Hold {
        id: p.id.to_string(),
        owner: p.creator_id.clone(),
        amount: p.creator_share,
        source: IncomeSource::Badges,
        status: HoldStatus::Held,
        release_at: p.created_at + hold_period,
        created_at: p.created_at,
    })
}

/// The whole job of booking a purchase: its row and hold, its transfers, the match the
/// batch decides (from [`super::match_for`]), the answer to store under the buyer's key, and
/// the guards the caller checked before charging (the live still on, the spending caps),
/// which the batch checks again exactly.
pub fn purchase_job(
    p: &Purchase,
    hold_period: std::time::Duration,
    matched: Option<Computed>,
    guards: Vec<Guard>,
    answer: Option<IdempotencyRecord>,
) -> WriteJob {
    let mut effects = vec![Effect::InsertPurchase(Box::new(p.clone()))];
    if let Some(hold) = purchase_hold(p, hold_period, matched.is_some()) {
        effects.push(Effect::InsertHold(Box::new(hold)));
    }
    WriteJob {
        accounts: purchase_accounts(p),
        transfers: purchase_transfers(p),
        computed: matched,
        idempotency: answer,
        claim: None,
        guards,
        effects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{assert_balanced_lines, purchase};
    use proptest::prelude::*;

    #[test]
    fn a_card_purchase_pays_the_creator_the_platform_and_the_processor_from_clearing() {
        let p = purchase(PaymentMethod::Card, 499, 3_600, 750, 89);
        let t = purchase_transfers(&p);
        let clearing = AccountId::of(PLATFORM, Purpose::ProcessorClearing, p.price.currency());
        assert_eq!(t.len(), 3);
        assert!(t.iter().all(|t| t.debit == clearing));
        assert_eq!(
            t.iter().map(|t| (t.code, t.amount)).collect::<Vec<_>>(),
            [
                (Code::BADGE_SHARE, 3_600),
                (Code::BADGE_FEE, 750),
                (Code::PROCESSOR_FEE, 89)
            ]
        );
        assert_eq!(
            t[0].credit.to_string(),
            format!("{}/creator_pending/USD", p.creator_id)
        );
        assert_eq!(t[0].id.as_str(), format!("{}/share", p.id));
    }

    #[test]
    fn a_wallet_purchase_is_paid_from_the_buyers_wallet_without_a_processor_fee() {
        let p = purchase(PaymentMethod::Wallet, 199, 150, 49, 0);
        let t = purchase_transfers(&p);
        let wallet = AccountId::of(p.viewer_id.as_str(), Purpose::Wallet, p.price.currency());
        assert_eq!(t.len(), 2);
        assert!(t.iter().all(|t| t.debit == wallet));
        assert!(purchase_accounts(&p).iter().any(|a| a.id == wallet));
        assert!(
            !purchase_accounts(&p)
                .iter()
                .any(|a| a.id.to_string().contains("processor"))
        );
    }

    #[test]
    fn a_booked_match_is_a_transfer_from_the_programs_budget() {
        let mut p = purchase(PaymentMethod::Card, 499, 3_600, 750, 89);
        p.match_program = Some("mp_1".into());
        p.match_amount = Money::new(360, p.price.currency());
        let t = purchase_transfers(&p);
        let m = t
            .iter()
            .find(|t| t.code == Code::MATCH)
            .expect("a match line");
        assert_eq!(m.debit.to_string(), "mp_1/match_budget/USD");
        assert_eq!(m.amount, 360);
    }

    #[test]
    fn the_purchase_job_holds_the_share_and_carries_the_callers_guards() {
        let p = purchase(PaymentMethod::Card, 499, 3_600, 750, 89);
        let job = purchase_job(
            &p,
            std::time::Duration::from_secs(7 * 86_400),
            None,
            vec![Guard::live_active(&p.live_id)],
            None,
        );
        assert_eq!(job.guards, vec![Guard::live_active(&p.live_id)]);
        let hold = job.effects.iter().find_map(|e| match e {
            Effect::InsertHold(h) => Some(h),
            _ => None,
        });
        let hold = hold.expect("a hold");
        assert_eq!(hold.amount.amount(), 3_600);
        assert_eq!(hold.source, IncomeSource::Badges);
        assert_eq!(hold.release_at, p.created_at + time::Duration::days(7));
    }

    #[test]
    fn a_purchase_with_no_share_and_no_match_has_no_hold() {
        let p = purchase(PaymentMethod::Card, 1, 0, 0, 1);
        assert!(purchase_hold(&p, std::time::Duration::ZERO, false).is_none());
        assert!(purchase_hold(&p, std::time::Duration::ZERO, true).is_some());
    }

    proptest! {
        #[test]
        fn every_purchase_moves_exactly_its_price(
            price in 1_i64..10_000_000,
            fee_bps in 0_u32..10_000,
            processor_bps in 0_u32..2_000,
            wallet in any::<bool>(),
        ) {
            let currency = money::Currency::USD;
            let processor = if wallet {
                live::ProcessorFee::NONE
            } else {
                live::ProcessorFee { bps: money::Bps::new(processor_bps).expect("bps"), fixed_minor: 30 }
            };
            let split = live::split_badge_price(
                Money::new(price, currency),
                processor,
                money::Bps::new(fee_bps).expect("bps"),
            );
            let method = if wallet { PaymentMethod::Wallet } else { PaymentMethod::Card };
            let p = purchase(
                method,
                price,
                split.creator_share.amount(),
                split.platform_fee.amount(),
                split.processor_fee.amount(),
            );
            let t = purchase_transfers(&p);
            prop_assert_eq!(t.iter().map(|t| t.amount).sum::<i64>(), price);
            assert_balanced_lines(&purchase_accounts(&p), &t);
        }
    }
}
