//! Wallets: a viewer's prepaid balance, topped up by card and spent on badges without a
//! card round trip. A wallet never goes below zero (its balance rule, checked in the batch).
//!
//! ```text
//! platform/processor_clearing ──top-up──▶ <viewer>/wallet                  (WALLET_TOPUP)
//! platform/platform_fees ──processor's fee──▶ platform/processor_fees      (TOPUP_PROCESSOR_FEE)
//! ```
//!
//! A disputed top-up takes back what is left in the wallet; the part already spent (the
//! creators keep what they earned from it) is the platform's loss. A top-up refunded at the
//! provider takes back what is left too, and the part already spent becomes the owner's debt
//! (`<viewer>/wallet_debt`), which later top-ups pay back first:
//!
//! ```text
//! <viewer>/wallet ──refund──▶ platform/processor_clearing             (WALLET_TOPUP_REFUND)
//! <viewer>/wallet_debt ──the spent part──▶ platform/processor_clearing (TOPUP_REFUND_DEBT)
//! <viewer>/wallet ──a later top-up repays──▶ <viewer>/wallet_debt      (WALLET_DEBT_REPAID)
//! ```

use ledger::{Account, AccountId, Code, Purpose, TransferId};
use time::OffsetDateTime;

use super::{PLATFORM, posted};
use crate::{Computed, Effect, Guard, IdempotencyRecord, Topup, TopupStatus, WriteJob};

/// The job booking a paid top-up, with the answer stored under the buyer's key. The
/// processor's fee is the platform's cost, not the wallet's. What the owner owes from a
/// refunded top-up is paid back from it first (decided in the batch: [`Computed::Repay`]).
pub fn topup_job(topup: &Topup, answer: Option<IdempotencyRecord>) -> WriteJob {
    let currency = topup.amount.currency();
    let reference = topup.id.as_str();
    let mut transfers = vec![posted(
        format!("{}/topup", topup.id),
        AccountId::of(PLATFORM, Purpose::ProcessorClearing, currency),
        AccountId::of(topup.user_id.as_str(), Purpose::Wallet, currency),
        topup.amount,
        Code::WALLET_TOPUP,
        reference,
    )];
    if topup.processor_fee.is_positive() {
        transfers.push(posted(
            format!("{}/processor_fee", topup.id),
            AccountId::of(PLATFORM, Purpose::PlatformFees, currency),
            AccountId::of(PLATFORM, Purpose::ProcessorFees, currency),
            topup.processor_fee,
            Code::TOPUP_PROCESSOR_FEE,
            reference,
        ));
    }
    WriteJob {
        accounts: vec![
            Account::of(PLATFORM, Purpose::ProcessorClearing, currency),
            Account::of(PLATFORM, Purpose::PlatformFees, currency),
            Account::of(PLATFORM, Purpose::ProcessorFees, currency),
            Account::of(topup.user_id.as_str(), Purpose::Wallet, currency),
            Account::of(topup.user_id.as_str(), Purpose::WalletDebt, currency),
        ],
        transfers,
        computed: Some(Computed::Repay {
            from: AccountId::of(topup.user_id.as_str(), Purpose::Wallet, currency),
            debt: AccountId::of(topup.user_id.as_str(), Purpose::WalletDebt, currency),
            currency,
            up_to: topup.amount.amount(),
            id: TransferId::new(format!("{}/debt_repaid", topup.id)),
            reference: reference.to_owned(),
        }),
        idempotency: answer,
        effects: vec![Effect::InsertTopup(Box::new(topup.clone()))],
        ..WriteJob::default()
    }
}

/// The job of a disputed top-up: what is still in the wallet goes back to clearing, the rest
/// from the platform's losses (decided in the batch: [`Computed::Drain`]); the top-up is
/// marked disputed, guarded by its still being succeeded.
pub fn topup_dispute_job(
    topup: &Topup,
    answer: Option<IdempotencyRecord>,
    at: OffsetDateTime,
) -> WriteJob {
    let c = topup.amount.currency();
    let taken = TakenBack {
        rest_from: Account::of(PLATFORM, Purpose::PlatformLosses, c),
        legs: [
            ("chargeback", Code::WALLET_TOPUP_CHARGEBACK),
            ("chargeback_loss", Code::TOPUP_CHARGEBACK_LOSS),
        ],
        status: TopupStatus::Disputed,
    };
    taken.job(topup, answer, at)
}

/// The job of a top-up refunded at the provider: what is still in the wallet goes back to
/// clearing, the rest is the owner's debt (decided in the batch: [`Computed::Drain`]); the
/// top-up is marked refunded, guarded by its still being succeeded.
pub fn topup_refund_job(
    topup: &Topup,
    answer: Option<IdempotencyRecord>,
    at: OffsetDateTime,
) -> WriteJob {
    let c = topup.amount.currency();
    let taken = TakenBack {
        rest_from: Account::of(topup.user_id.as_str(), Purpose::WalletDebt, c),
        legs: [
            ("refund", Code::WALLET_TOPUP_REFUND),
            ("refund_debt", Code::TOPUP_REFUND_DEBT),
        ],
        status: TopupStatus::Refunded,
    };
    taken.job(topup, answer, at)
}

/// A top-up taken back from the wallet: what is left there first, the rest from `rest_from`;
/// the legs' id suffixes and codes; the top-up's new status.
struct TakenBack {
    rest_from: Account,
    legs: [(&'static str, Code); 2],
    status: TopupStatus,
}

impl TakenBack {
    fn job(self, topup: &Topup, answer: Option<IdempotencyRecord>, at: OffsetDateTime) -> WriteJob {
        let c = topup.amount.currency();
        let owner = topup.user_id.as_str();
        let leg = |(suffix, code): (&str, Code)| {
            (TransferId::new(format!("{}/{suffix}", topup.id)), code)
        };
        WriteJob {
            computed: Some(Computed::Drain {
                from: AccountId::of(owner, Purpose::Wallet, c),
                fallback: self.rest_from.id.clone(),
                to: AccountId::of(PLATFORM, Purpose::ProcessorClearing, c),
                currency: c,
                amount: topup.amount.amount(),
                legs: self.legs.map(leg),
                reference: topup.id.to_string(),
            }),
            accounts: vec![
                Account::of(owner, Purpose::Wallet, c),
                self.rest_from,
                Account::of(PLATFORM, Purpose::ProcessorClearing, c),
            ],
            idempotency: answer,
            guards: vec![Guard::topup(&topup.id, TopupStatus::Succeeded)],
            effects: vec![Effect::SetTopupStatus {
                topup_id: topup.id.clone(),
                status: self.status,
                at,
            }],
            ..WriteJob::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::assert_balanced_lines;
    use crate::{TopupId, UserId};
    use money::{Currency, Money};

    fn topup(amount: i64, fee: i64) -> Topup {
        Topup {
            id: TopupId::generate(),
            user_id: UserId::generate(),
            amount: Money::new(amount, Currency::USD),
            processor_fee: Money::new(fee, Currency::USD),
            payment_id: "pi_1".into(),
            status: TopupStatus::Succeeded,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_topup_fills_the_wallet_with_all_it_paid_and_the_platform_bears_the_fee() {
        let t = topup(2_000, 88);
        let job = topup_job(&t, None);
        assert_eq!(job.transfers.len(), 2);
        let wallet = AccountId::of(t.user_id.as_str(), Purpose::Wallet, Currency::USD);
        assert_eq!(job.transfers[0].credit, wallet);
        assert_eq!(job.transfers[0].amount, 2_000);
        assert_eq!(job.transfers[1].code, Code::TOPUP_PROCESSOR_FEE);
        assert_eq!(job.transfers[1].amount, 88);
        assert_balanced_lines(&job.accounts, &job.transfers);
        assert_eq!(topup_job(&topup(500, 0), None).transfers.len(), 1);
    }

    #[test]
    fn a_disputed_topup_drains_the_wallet_first_then_the_platforms_losses() {
        let t = topup(2_000, 88);
        let job = topup_dispute_job(&t, None, time::OffsetDateTime::UNIX_EPOCH);
        let Some(Computed::Drain {
            from,
            fallback,
            amount,
            ..
        }) = &job.computed
        else {
            panic!("a drain");
        };
        assert_eq!(from.to_string(), format!("{}/wallet/USD", t.user_id));
        assert_eq!(fallback.to_string(), "platform/platform_losses/USD");
        assert_eq!(*amount, 2_000);
        assert_eq!(
            job.guards,
            vec![Guard::topup(&t.id, TopupStatus::Succeeded)]
        );
    }
}
