//! A shop order's commission and its returns. The brand pays from its wallet (whose balance
//! rule refuses an order it cannot cover); the creator's share is held until the order locks
//! (its longest return window), then released like any held income and paid out:
//!
//! ```text
//! <brand>/wallet ──share──▶ <creator>/creator_pending      (COMMISSION_SHARE)
//!                ──fee────▶ platform/platform_fees          (COMMISSION_FEE)
//! ```
//!
//! A return before the order locks takes back what the commission lost, share and fee in
//! proportion, into the brand's wallet; the hold is replaced by one of the share left:
//!
//! ```text
//! <creator>/creator_pending ──share──▶ <brand>/wallet       (COMMISSION_SHARE_RETURN)
//! platform/platform_fees    ──fee────▶ <brand>/wallet       (COMMISSION_FEE_RETURN)
//! ```
//!
//! An order is booked once per brand order id, a return once per number (the order's
//! returns so far plus one): both are claimed keys of their jobs, so a replayed order, or two
//! returns of one order at once, cannot book twice.

use ledger::{Account, AccountId, Code, Purpose};
use money::{Bps, Money};
use time::OffsetDateTime;

use super::{PLATFORM, posted};
use crate::{
    Effect, Guard, Hold, HoldStatus, IdempotencyRecord, IncomeSource, ShopOrder, WriteJob,
};

/// The key that books `order_id` of `brand` once; its stored body is Ovation's order id.
pub fn order_claim(brand: &str, order_id: &str, ovation_id: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        account_id: format!("shop-orders:{brand}"),
        key: order_id.to_owned(),
        fingerprint: String::new(),
        status: 201,
        body: ovation_id.to_owned(),
    }
}

/// The key of an order's `n`th return.
pub fn return_claim(order: &ShopOrder, n: u32) -> IdempotencyRecord {
    IdempotencyRecord {
        account_id: format!("shop-returns:{}", order.id),
        key: n.to_string(),
        fingerprint: String::new(),
        status: 200,
        body: String::new(),
    }
}

fn accounts(order: &ShopOrder, creator: &str) -> Vec<Account> {
    let c = order.commission.currency();
    vec![
        Account::of(order.brand_id.as_str(), Purpose::Wallet, c),
        Account::of(creator, Purpose::CreatorPending, c),
        Account::of(creator, Purpose::CreatorAvailable, c),
        Account::of(PLATFORM, Purpose::PlatformFees, c),
    ]
}

fn hold(order: &ShopOrder, creator: &str, id: String, amount: Money, at: OffsetDateTime) -> Hold {
    Hold {
        id,
        owner: crate::UserId::from_string(creator.to_owned()),
        amount,
        source: IncomeSource::Commissions,
        status: HoldStatus::Held,
        release_at: order.locks_at,
        created_at: at,
    }
}

/// Splits `commission` into the platform's fee (`platform_fee` of it, rounded toward zero)
/// and the creator's share, as a badge's price is split.
pub fn commission_split(commission: Money, platform_fee: Bps) -> (Money, Money) {
    shop::commission::split(commission, platform_fee)
}

/// The job booking `order` (its commission, fee and share already decided), claimed under
/// its brand order id, with the answer stored under the brand's key.
pub fn order_job(order: &ShopOrder, answer: Option<IdempotencyRecord>) -> WriteJob {
    let claim = Some(order_claim(
        order.brand_id.as_str(),
        &order.order_id,
        order.id.as_str(),
    ));
    let Some(creator) = order
        .creator_id
        .as_ref()
        .filter(|_| order.commission.is_positive())
    else {
        return WriteJob {
            idempotency: answer,
            claim,
            effects: vec![Effect::InsertShopOrder(Box::new(ShopOrder {
                hold_id: None,
                ..order.clone()
            }))],
            ..WriteJob::default()
        };
    };
    let (c, reference) = (order.commission.currency(), order.id.as_str());
    let wallet = AccountId::of(order.brand_id.as_str(), Purpose::Wallet, c);
    let lines = [
        (
            "share",
            AccountId::of(creator.as_str(), Purpose::CreatorPending, c),
            order.creator_share,
            Code::COMMISSION_SHARE,
        ),
        (
            "fee",
            AccountId::of(PLATFORM, Purpose::PlatformFees, c),
            order.platform_fee,
            Code::COMMISSION_FEE,
        ),
    ];
    let transfers = lines
        .into_iter()
        .filter(|(_, _, amount, _)| amount.is_positive())
        .map(|(suffix, credit, amount, code)| {
            posted(
                format!("{reference}/{suffix}"),
                wallet.clone(),
                credit,
                amount,
                code,
                reference,
            )
        })
        .collect();
    let hold_id = order
        .creator_share
        .is_positive()
        .then(|| order.id.to_string());
    let mut effects = vec![Effect::InsertShopOrder(Box::new(ShopOrder {
        hold_id: hold_id.clone(),
        ..order.clone()
    }))];
    if let Some(id) = hold_id {
        effects.push(Effect::InsertHold(Box::new(hold(
            order,
            creator.as_str(),
            id,
            order.creator_share,
            order.created_at,
        ))));
    }
    WriteJob {
        accounts: accounts(order, creator.as_str()),
        transfers,
        idempotency: answer,
        claim,
        effects,
        ..WriteJob::default()
    }
}

/// The job recording a return on `before`, whose lines are now `lines` (the units returned
/// counted): the commission kept is the lines' ([`shop::commission::remaining_commission`]),
/// the fee in it in the same proportion as before, the rest the share. What the commission
/// lost goes back to the brand's wallet and the hold is replaced by one of the share left,
/// guarded by the old one still being held (a return after the release is refused).
pub fn order_return_job(
    before: &ShopOrder,
    lines: Vec<shop::Line>,
    at: OffsetDateTime,
    answer: Option<IdempotencyRecord>,
) -> Result<(WriteJob, ShopOrder), shop::ShopError> {
    let n = before.returns + 1;
    let kept = shop::commission::remaining_commission(&lines)?;
    let kept = if before.creator_id.is_some() {
        Money::new(
            kept.amount().min(before.commission.amount()),
            kept.currency(),
        )
    } else {
        Money::zero(kept.currency())
    };
    let fee = if before.commission.is_positive() {
        let amount = i128::from(before.platform_fee.amount()) * i128::from(kept.amount())
            / i128::from(before.commission.amount());
        Money::new(
            i64::try_from(amount).expect("at most the fee before"),
            kept.currency(),
        )
    } else {
        Money::zero(kept.currency())
    };
    let share = Money::new(kept.amount() - fee.amount(), kept.currency());
    let hold_id = share.is_positive().then(|| format!("{}/r{n}", before.id));
    let after = ShopOrder {
        lines,
        commission: kept,
        platform_fee: fee,
        creator_share: share,
        returns: n,
        hold_id: hold_id.clone(),
        updated_at: at,
        ..before.clone()
    };
    let mut job = WriteJob {
        idempotency: answer,
        claim: Some(return_claim(before, n)),
        effects: vec![Effect::SetShopOrder(Box::new(after.clone()))],
        ..WriteJob::default()
    };
    let Some(creator) = before.creator_id.as_ref() else {
        return Ok((job, after));
    };
    let (c, reference) = (kept.currency(), before.id.as_str());
    let wallet = AccountId::of(before.brand_id.as_str(), Purpose::Wallet, c);
    let back = [
        (
            "share",
            AccountId::of(creator.as_str(), Purpose::CreatorPending, c),
            before.creator_share.amount() - share.amount(),
            Code::COMMISSION_SHARE_RETURN,
        ),
        (
            "fee",
            AccountId::of(PLATFORM, Purpose::PlatformFees, c),
            before.platform_fee.amount() - fee.amount(),
            Code::COMMISSION_FEE_RETURN,
        ),
    ];
    job.transfers = back
        .into_iter()
        .filter(|(_, _, amount, _)| *amount > 0)
        .map(|(suffix, debit, amount, code)| {
            posted(
                format!("{reference}/r{n}/{suffix}"),
                debit,
                wallet.clone(),
                Money::new(amount, c),
                code,
                reference,
            )
        })
        .collect();
    job.accounts = accounts(before, creator.as_str());
    if let Some(old) = &before.hold_id {
        job.guards.push(Guard::hold(old, HoldStatus::Held));
        job.effects.push(Effect::SetHoldStatus {
            hold_id: old.clone(),
            status: HoldStatus::Reversed,
            release_id: None,
            at,
        });
    }
    if let Some(id) = hold_id {
        job.effects.push(Effect::InsertHold(Box::new(hold(
            before,
            creator.as_str(),
            id,
            share,
            at,
        ))));
    }
    Ok((job, after))
}
