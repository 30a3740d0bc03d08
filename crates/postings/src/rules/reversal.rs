//! A purchase reversed: refunded by the platform or charged back by the buyer's bank. Every
//! line of the purchase (the match included, back to its budget) is mirrored to where it
//! came from under derived ids, but for the processor's fee when the processor keeps it
//! ([`ProcessorFeeOnReversal`]): the buyer still gets the whole price back, that part from
//! the platform's fees (`platform_fees → processor_clearing`, `…/processor_fee_kept/refund`),
//! so the fee becomes the platform's cost. The creator's lines come out of `creator_pending`
//! while the hold is held and out of `creator_available` once it was released — which may
//! leave the available balance negative (a chargeback after a payout): later income pays that
//! debt first, since a payout only pays a positive available balance.

use ledger::{AccountId, Code, Purpose, Transfer, TransferId};
use time::OffsetDateTime;

use super::PLATFORM;
use super::purchase::{purchase_accounts, purchase_transfers};
use crate::{Effect, Guard, HoldStatus, Purchase, PurchaseStatus, WriteJob};

/// Why a purchase is reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reversal {
    /// The platform refunded it.
    Refund,
    /// The buyer's bank took the money back (a dispute).
    Chargeback,
}

impl Reversal {
    fn suffix(self) -> &'static str {
        match self {
            Reversal::Refund => "refund",
            Reversal::Chargeback => "chargeback",
        }
    }

    /// The purchase's status afterwards.
    pub fn status(self) -> PurchaseStatus {
        match self {
            Reversal::Refund => PurchaseStatus::Refunded,
            Reversal::Chargeback => PurchaseStatus::Disputed,
        }
    }

    /// The code of the platform paying back the processor's fee the processor keeps.
    fn processor_fee_kept_code(self) -> Code {
        match self {
            Reversal::Refund => Code::PROCESSOR_FEE_KEPT_REFUND,
            Reversal::Chargeback => Code::PROCESSOR_FEE_KEPT_CHARGEBACK,
        }
    }

    fn code(self, original: Code) -> Code {
        match (self, original) {
            (Reversal::Refund, Code::BADGE_SHARE) => Code::BADGE_SHARE_REFUND,
            (Reversal::Refund, Code::BADGE_FEE) => Code::BADGE_FEE_REFUND,
            (Reversal::Refund, Code::PROCESSOR_FEE) => Code::PROCESSOR_FEE_REFUND,
            (Reversal::Refund, Code::MATCH) => Code::MATCH_REFUND,
            (Reversal::Chargeback, Code::BADGE_SHARE) => Code::BADGE_SHARE_CHARGEBACK,
            (Reversal::Chargeback, Code::BADGE_FEE) => Code::BADGE_FEE_CHARGEBACK,
            (Reversal::Chargeback, Code::PROCESSOR_FEE) => Code::PROCESSOR_FEE_CHARGEBACK,
            (Reversal::Chargeback, Code::MATCH) => Code::MATCH_CHARGEBACK,
            (_, other) => other,
        }
    }
}

/// Who bears the processor's fee when a card purchase is reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorFeeOnReversal {
    /// The processor keeps its fee, as card processors do: the buyer still gets the whole
    /// price back, the platform's fees account paying the fee's part.
    KeptByProcessor,
    /// The processor gives its fee back: its line is mirrored like the others.
    Returned,
}

/// The job that reverses `p`, given who bears the processor's fee and where its hold stands
/// (`None`: it has none). Guarded by the purchase still being `succeeded` and the hold still
/// where it was read.
pub fn reversal_job(
    p: &Purchase,
    reversal: Reversal,
    fee: ProcessorFeeOnReversal,
    hold: Option<HoldStatus>,
    at: OffsetDateTime,
) -> WriteJob {
    let c = p.price.currency();
    let pending = AccountId::of(p.creator_id.as_str(), Purpose::CreatorPending, c);
    let available = AccountId::of(p.creator_id.as_str(), Purpose::CreatorAvailable, c);
    let transfers = purchase_transfers(p)
        .into_iter()
        .map(|t| {
            if t.code == Code::PROCESSOR_FEE && fee == ProcessorFeeOnReversal::KeptByProcessor {
                // The processor's fee stays where it went; the platform gives the buyer
                // that part of the price from its fees.
                return Transfer {
                    id: TransferId::new(format!(
                        "{}/processor_fee_kept/{}",
                        p.id,
                        reversal.suffix()
                    )),
                    debit: AccountId::of(PLATFORM, Purpose::PlatformFees, c),
                    credit: t.debit,
                    code: reversal.processor_fee_kept_code(),
                    ..t
                };
            }
            // Released income is taken back from the available balance.
            let from = if t.credit == pending && hold == Some(HoldStatus::Released) {
                available.clone()
            } else {
                t.credit
            };
            Transfer {
                id: TransferId::new(format!("{}/{}", t.id, reversal.suffix())),
                debit: from,
                credit: t.debit,
                code: reversal.code(t.code),
                ..t
            }
        })
        .collect();
    let mut guards = vec![Guard::purchase_succeeded(&p.id)];
    let mut effects = vec![Effect::SetPurchaseStatus {
        purchase_id: p.id.clone(),
        status: reversal.status(),
        at,
    }];
    if let Some(program) = &p.match_program
        && p.match_amount.is_positive()
    {
        // What was matched counts against the cap no more.
        effects.push(Effect::MatchUsage {
            program: program.clone(),
            creator: p.creator_id.clone(),
            currency: c,
            delta: -p.match_amount.amount(),
        });
    }
    if let Some(status) = hold {
        guards.push(Guard::hold(p.id.as_str(), status));
        if status == HoldStatus::Held {
            effects.push(Effect::SetHoldStatus {
                hold_id: p.id.to_string(),
                status: HoldStatus::Reversed,
                release_id: None,
                at,
            });
        }
    }
    WriteJob {
        accounts: purchase_accounts(p),
        transfers,
        computed: None,
        idempotency: None,
        claim: None,
        guards,
        effects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PaymentMethod;
    use crate::rules::testing::{assert_balanced_lines, purchase};
    use money::Money;
    use proptest::prelude::*;

    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-12-01 00:00 UTC)
    }

    /// What a purchase and its reversal changed on each account (credits less debits),
    /// accounts left unchanged left out.
    fn net(p: &Purchase, job: &WriteJob) -> std::collections::BTreeMap<String, i64> {
        let mut net = std::collections::BTreeMap::new();
        for t in purchase_transfers(p).iter().chain(&job.transfers) {
            *net.entry(t.debit.to_string()).or_default() -= t.amount;
            *net.entry(t.credit.to_string()).or_default() += t.amount;
        }
        net.retain(|_, v| *v != 0);
        net
    }

    #[test]
    fn with_the_processor_keeping_its_fee_the_buyer_gets_the_price_back_at_the_platform_s_cost() {
        // 4.99: 0.44 to the processor (2.9 % + 30¢), 1.36 to the platform, 3.19 to the creator.
        let p = purchase(PaymentMethod::Card, 499, 319, 136, 44);
        let creator_pending = format!("{}/creator_pending/USD", p.creator_id);
        for (reversal, share, fee, processor) in [
            (
                Reversal::Refund,
                Code::BADGE_SHARE_REFUND,
                Code::BADGE_FEE_REFUND,
                Code::PROCESSOR_FEE_KEPT_REFUND,
            ),
            (
                Reversal::Chargeback,
                Code::BADGE_SHARE_CHARGEBACK,
                Code::BADGE_FEE_CHARGEBACK,
                Code::PROCESSOR_FEE_KEPT_CHARGEBACK,
            ),
        ] {
            let job = reversal_job(
                &p,
                reversal,
                ProcessorFeeOnReversal::KeptByProcessor,
                Some(HoldStatus::Held),
                at(),
            );
            let lines: Vec<(String, String, i64, Code)> = job
                .transfers
                .iter()
                .map(|t| (t.debit.to_string(), t.credit.to_string(), t.amount, t.code))
                .collect();
            let clearing = "platform/processor_clearing/USD".to_owned();
            let fees = "platform/platform_fees/USD".to_owned();
            assert_eq!(
                lines,
                [
                    (creator_pending.clone(), clearing.clone(), 319, share),
                    (fees.clone(), clearing.clone(), 136, fee),
                    (fees.clone(), clearing.clone(), 44, processor),
                ]
            );
            assert_eq!(
                job.transfers[2].id.as_str(),
                format!("{}/processor_fee_kept/{}", p.id, reversal.suffix())
            );
            // Clearing is square (the buyer has all 4.99 back), the processor keeps its
            // 0.44, and the platform's fees are 0.44 short.
            assert_eq!(
                net(&p, &job),
                [
                    ("platform/platform_fees/USD".to_owned(), -44),
                    ("platform/processor_fees/USD".to_owned(), 44),
                ]
                .into()
            );
            assert_balanced_lines(&job.accounts, &job.transfers);
        }
    }

    #[test]
    fn with_the_fee_returned_the_processor_s_line_is_mirrored_like_the_others() {
        let p = purchase(PaymentMethod::Card, 499, 319, 136, 44);
        let job = reversal_job(
            &p,
            Reversal::Refund,
            ProcessorFeeOnReversal::Returned,
            Some(HoldStatus::Held),
            at(),
        );
        let fee = job
            .transfers
            .iter()
            .find(|t| t.code == Code::PROCESSOR_FEE_REFUND)
            .expect("the processor's fee back");
        assert_eq!(
            (fee.debit.to_string(), fee.credit.to_string(), fee.amount),
            (
                "platform/processor_fees/USD".to_owned(),
                "platform/processor_clearing/USD".to_owned(),
                44
            )
        );
        assert_eq!(fee.id.as_str(), format!("{}/processor_fee/refund", p.id));
        assert_eq!(net(&p, &job), Default::default());
    }

    #[test]
    fn a_refund_while_held_mirrors_every_line_out_of_pending_and_reverses_the_hold() {
        let p = purchase(PaymentMethod::Card, 499, 3_600, 750, 89);
        let job = reversal_job(
            &p,
            Reversal::Refund,
            ProcessorFeeOnReversal::Returned,
            Some(HoldStatus::Held),
            at(),
        );
        let original = purchase_transfers(&p);
        assert_eq!(job.transfers.len(), original.len());
        for (r, o) in job.transfers.iter().zip(&original) {
            assert_eq!(
                (&r.debit, &r.credit, r.amount),
                (&o.credit, &o.debit, o.amount)
            );
            assert_eq!(r.id.as_str(), format!("{}/refund", o.id));
        }
        assert_eq!(job.transfers[0].code, Code::BADGE_SHARE_REFUND);
        assert!(job.guards.contains(&Guard::purchase_succeeded(&p.id)));
        assert!(
            job.guards
                .contains(&Guard::hold(p.id.as_str(), HoldStatus::Held))
        );
        assert!(job.effects.contains(&Effect::SetHoldStatus {
            hold_id: p.id.to_string(),
            status: HoldStatus::Reversed,
            release_id: None,
            at: at(),
        }));
        assert_balanced_lines(&job.accounts, &job.transfers);
    }

    #[test]
    fn a_chargeback_after_the_release_takes_the_share_from_available() {
        let p = purchase(PaymentMethod::Card, 499, 3_600, 750, 89);
        let job = reversal_job(
            &p,
            Reversal::Chargeback,
            ProcessorFeeOnReversal::Returned,
            Some(HoldStatus::Released),
            at(),
        );
        let share = &job.transfers[0];
        assert_eq!(share.code, Code::BADGE_SHARE_CHARGEBACK);
        assert_eq!(
            share.debit,
            AccountId::of(
                p.creator_id.as_str(),
                Purpose::CreatorAvailable,
                p.price.currency()
            )
        );
        // The released hold stays released: nothing to mark.
        assert!(
            !job.effects
                .iter()
                .any(|e| matches!(e, Effect::SetHoldStatus { .. }))
        );
        assert!(job.effects.contains(&Effect::SetPurchaseStatus {
            purchase_id: p.id.clone(),
            status: PurchaseStatus::Disputed,
            at: at(),
        }));
    }

    #[test]
    fn a_reversed_match_goes_back_to_its_budget_and_frees_the_cap() {
        let mut p = purchase(PaymentMethod::Wallet, 499, 425, 74, 0);
        p.match_program = Some("mp_1".into());
        p.match_amount = Money::new(42, p.price.currency());
        let job = reversal_job(
            &p,
            Reversal::Refund,
            ProcessorFeeOnReversal::Returned,
            Some(HoldStatus::Held),
            at(),
        );
        let m = job
            .transfers
            .iter()
            .find(|t| t.code == Code::MATCH_REFUND)
            .expect("match back");
        assert_eq!(m.credit.to_string(), "mp_1/match_budget/USD");
        assert!(job.effects.contains(&Effect::MatchUsage {
            program: "mp_1".into(),
            creator: p.creator_id.clone(),
            currency: p.price.currency(),
            delta: -42,
        }));
    }

    proptest! {
        #[test]
        fn a_purchase_and_its_reversal_cancel_out_on_every_account(
            share in 0_i64..100_000, fee in 0_i64..10_000, processor in 0_i64..1_000,
            matched in 0_i64..10_000, chargeback in any::<bool>(), released in any::<bool>(),
            kept in any::<bool>(),
        ) {
            prop_assume!(share + fee + processor > 0);
            let mut p = purchase(PaymentMethod::Card, share + fee + processor, share, fee, processor);
            if matched > 0 {
                p.match_program = Some("mp_1".into());
                p.match_amount = Money::new(matched, p.price.currency());
            }
            let reversal = if chargeback { Reversal::Chargeback } else { Reversal::Refund };
            let hold = if released { HoldStatus::Released } else { HoldStatus::Held };
            let fee = if kept {
                ProcessorFeeOnReversal::KeptByProcessor
            } else {
                ProcessorFeeOnReversal::Returned
            };
            let job = reversal_job(&p, reversal, fee, Some(hold), at());
            let mut net = net(&p, &job);
            if kept {
                // The processor keeps its fee; the platform pays it back to the buyer.
                prop_assert_eq!(net.remove("platform/processor_fees/USD").unwrap_or(0), processor);
                prop_assert_eq!(net.remove("platform/platform_fees/USD").unwrap_or(0), -processor);
            }
            if released {
                // Pending keeps the share until the release moves it; available gives it back.
                let c = p.price.currency();
                let pending = AccountId::of(p.creator_id.as_str(), Purpose::CreatorPending, c);
                let available = AccountId::of(p.creator_id.as_str(), Purpose::CreatorAvailable, c);
                let income = share + matched;
                prop_assert_eq!(net.remove(&pending.to_string()).unwrap_or(0), income);
                prop_assert_eq!(net.remove(&available.to_string()).unwrap_or(0), -income);
            }
            prop_assert!(net.values().all(|v| *v == 0), "{:?}", net);
            // The budget exists already: the match came from it.
            let mut accounts = job.accounts.clone();
            accounts.push(crate::rules::budget_account(
                &crate::MatchProgramId::from_string("mp_1".into()),
                p.price.currency(),
            ));
            assert_balanced_lines(&accounts, &job.transfers);
        }
    }
}
