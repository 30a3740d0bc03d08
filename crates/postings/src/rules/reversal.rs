//! A purchase reversed: refunded by the platform or charged back by the buyer's bank. Every
//! line of the purchase (the match included, back to its budget) is mirrored to where it
//! came from under derived ids. The creator's lines come out of `creator_pending` while the
//! hold is held and out of `creator_available` once it was released — which may leave the
//! available balance negative (a chargeback after a payout): later income pays that debt
//! first, since a payout only pays a positive available balance.

use ledger::{AccountId, Code, Purpose, Transfer, TransferId};
use time::OffsetDateTime;

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

/// The job that reverses `p`, given where its hold stands (`None`: it has none). Guarded by
/// the purchase still being `succeeded` and the hold still where it was read.
pub fn reversal_job(
    p: &Purchase,
    reversal: Reversal,
    hold: Option<HoldStatus>,
    at: OffsetDateTime,
) -> WriteJob {
    let c = p.price.currency();
    let pending = AccountId::of(p.creator_id.as_str(), Purpose::CreatorPending, c);
    let available = AccountId::of(p.creator_id.as_str(), Purpose::CreatorAvailable, c);
    let transfers = purchase_transfers(p)
        .into_iter()
        .map(|t| {
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

    #[test]
    fn a_refund_while_held_mirrors_every_line_out_of_pending_and_reverses_the_hold() {
        let p = purchase(PaymentMethod::Card, 499, 3_600, 750, 89);
        let job = reversal_job(&p, Reversal::Refund, Some(HoldStatus::Held), at());
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
        let job = reversal_job(&p, Reversal::Chargeback, Some(HoldStatus::Released), at());
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
        let job = reversal_job(&p, Reversal::Refund, Some(HoldStatus::Held), at());
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
        ) {
            prop_assume!(share + fee + processor > 0);
            let mut p = purchase(PaymentMethod::Card, share + fee + processor, share, fee, processor);
            if matched > 0 {
                p.match_program = Some("mp_1".into());
                p.match_amount = Money::new(matched, p.price.currency());
            }
            let reversal = if chargeback { Reversal::Chargeback } else { Reversal::Refund };
            let hold = if released { HoldStatus::Released } else { HoldStatus::Held };
            let job = reversal_job(&p, reversal, Some(hold), at());
            let mut net: std::collections::HashMap<String, i64> = Default::default();
            for t in purchase_transfers(&p).iter().chain(&job.transfers) {
                *net.entry(t.debit.to_string()).or_default() -= t.amount;
                *net.entry(t.credit.to_string()).or_default() += t.amount;
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
