//! Payouts, two-phase on the ledger. Phase one, in the ledger batch: a pending transfer of
//! the whole spendable available balance (decided there, so a chargeback or a concurrent run
//! is seen) from `creator_available` to `creator_paid_out`, and the payout row. The provider
//! then pays; its confirmation posts the pending transfer (`payout.paid`) or voids it, giving
//! the money back (`payout.failed`). Two runs at once pay once: the second finds nothing left
//! above the minimum. A payout the bank returns after it was paid (`payout.failed` after
//! `payout.paid`) is a posted transfer back from `creator_paid_out` to `creator_available`.

use ledger::{Account, AccountId, Code, Purpose, Transfer, TransferId, TransferKind};
use money::{Currency, Money};
use time::OffsetDateTime;

use crate::{
    Computed, Effect, Guard, IdempotencyRecord, Payout, PayoutId, PayoutStatus, UserId, WriteJob,
};

/// The smallest payout in `currency`, in minor units, for a minimum of `major` units of
/// every currency (10 → US$10.00, ¥10, 10.000 BHD).
pub fn payout_minimum(major: u64, currency: Currency) -> i64 {
    let major = i64::try_from(major).unwrap_or(i64::MAX);
    major.saturating_mul(10_i64.pow(u32::from(currency.exponent())))
}

fn pending_id(payout: &PayoutId) -> TransferId {
    TransferId::new(format!("{payout}/pending"))
}

/// The job booking payout `id` of `creator`'s whole available balance in `currency`, if it
/// is at least `minimum` (otherwise the batch refuses it: [`crate::Refusal::BelowMinimum`]).
pub fn payout_job(
    id: &PayoutId,
    creator: &UserId,
    currency: Currency,
    minimum: i64,
    at: OffsetDateTime,
) -> WriteJob {
    let available = Account::of(creator.as_str(), Purpose::CreatorAvailable, currency);
    let paid_out = Account::of(creator.as_str(), Purpose::CreatorPaidOut, currency);
    WriteJob {
        computed: Some(Computed::PayOut {
            from: available.id.clone(),
            to: paid_out.id.clone(),
            currency,
            minimum,
            id: pending_id(id),
            reference: id.to_string(),
        }),
        accounts: vec![available, paid_out],
        effects: vec![Effect::InsertPayout(Box::new(Payout {
            id: id.clone(),
            creator_id: creator.clone(),
            // The batch puts the amount it decided here.
            amount: Money::zero(currency),
            status: PayoutStatus::Pending,
            provider_id: None,
            failure: None,
            created_at: at,
            updated_at: at,
        }))],
        ..WriteJob::default()
    }
}

/// The job recording the provider's id of a pending payout it accepted; refused when the
/// provider's confirmation settled the payout first.
pub fn payout_sent_job(payout: &PayoutId, provider_id: String, at: OffsetDateTime) -> WriteJob {
    WriteJob {
        guards: vec![Guard::payout(payout, PayoutStatus::Pending)],
        effects: vec![Effect::SetPayoutStatus {
            payout_id: payout.clone(),
            status: PayoutStatus::Pending,
            provider_id: Some(provider_id),
            failure: None,
            at,
        }],
        ..WriteJob::default()
    }
}

/// The job posting (`paid`) or voiding a pending payout, with `answer` stored under its key.
/// Refused when the payout is not pending any more (settled by an earlier event).
pub fn settlement_job(
    payout: &Payout,
    paid: bool,
    provider_id: Option<String>,
    failure: Option<String>,
    answer: Option<IdempotencyRecord>,
    at: OffsetDateTime,
) -> WriteJob {
    let c = payout.amount.currency();
    let pending = pending_id(&payout.id);
    let (suffix, kind, status) = if paid {
        (
            "paid",
            TransferKind::PostPending(pending),
            PayoutStatus::Paid,
        )
    } else {
        (
            "void",
            TransferKind::VoidPending(pending),
            PayoutStatus::Failed,
        )
    };
    WriteJob {
        transfers: vec![Transfer {
            id: TransferId::new(format!("{}/{suffix}", payout.id)),
            debit: AccountId::of(payout.creator_id.as_str(), Purpose::CreatorAvailable, c),
            credit: AccountId::of(payout.creator_id.as_str(), Purpose::CreatorPaidOut, c),
            amount: payout.amount.amount(),
            currency: c,
            kind,
            code: Code::PAYOUT,
            reference: payout.id.to_string(),
        }],
        idempotency: answer,
        guards: vec![Guard::payout(&payout.id, PayoutStatus::Pending)],
        effects: vec![Effect::SetPayoutStatus {
            payout_id: payout.id.clone(),
            status,
            provider_id,
            failure,
            at,
        }],
        ..WriteJob::default()
    }
}

/// The job booking back a paid payout that the creator's bank returned (`payout.failed`
/// after `payout.paid`): its amount goes from `creator_paid_out` back to
/// `creator_available` (the next run pays it again), and the payout becomes `failed` with
/// `failure`, `answer` stored under its key. Guarded by the payout still being `paid`, so a
/// redelivered or concurrent return books it once; its transfer id derives from the payout.
pub fn payout_returned_job(
    payout: &Payout,
    failure: String,
    answer: Option<IdempotencyRecord>,
    at: OffsetDateTime,
) -> WriteJob {
    let c = payout.amount.currency();
    WriteJob {
        transfers: vec![super::posted(
            format!("{}/returned", payout.id),
            AccountId::of(payout.creator_id.as_str(), Purpose::CreatorPaidOut, c),
            AccountId::of(payout.creator_id.as_str(), Purpose::CreatorAvailable, c),
            payout.amount,
            Code::PAYOUT_RETURN,
            payout.id.as_str(),
        )],
        idempotency: answer,
        guards: vec![Guard::payout(&payout.id, PayoutStatus::Paid)],
        effects: vec![Effect::SetPayoutStatus {
            payout_id: payout.id.clone(),
            status: PayoutStatus::Failed,
            provider_id: None,
            failure: Some(failure),
            at,
        }],
        ..WriteJob::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_payout_is_in_each_currencys_major_units() {
        assert_eq!(payout_minimum(10, Currency::USD), 1_000);
        assert_eq!(payout_minimum(10, Currency::JPY), 10);
        assert_eq!(payout_minimum(10, Currency::BHD), 10_000);
        assert_eq!(payout_minimum(u64::MAX, Currency::USD), i64::MAX);
    }

    #[test]
    fn a_payout_is_a_pending_transfer_sized_by_the_batch() {
        let (id, creator) = (PayoutId::generate(), UserId::generate());
        let job = payout_job(
            &id,
            &creator,
            Currency::USD,
            1_000,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert!(job.transfers.is_empty());
        let Some(Computed::PayOut {
            from,
            to,
            minimum,
            id: t,
            ..
        }) = &job.computed
        else {
            panic!("a computed payout");
        };
        assert_eq!(from.to_string(), format!("{creator}/creator_available/USD"));
        assert_eq!(to.to_string(), format!("{creator}/creator_paid_out/USD"));
        assert_eq!(*minimum, 1_000);
        assert_eq!(t.as_str(), format!("{id}/pending"));
    }

    #[test]
    fn a_settlement_posts_or_voids_the_pending_transfer_of_its_payout() {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let payout = Payout {
            id: PayoutId::generate(),
            creator_id: UserId::generate(),
            amount: Money::new(12_345, Currency::EUR),
            status: PayoutStatus::Pending,
            provider_id: None,
            failure: None,
            created_at: at,
            updated_at: at,
        };
        let pending = TransferId::new(format!("{}/pending", payout.id));
        let paid = settlement_job(&payout, true, Some("po_1".into()), None, None, at);
        assert_eq!(
            paid.transfers[0].kind,
            TransferKind::PostPending(pending.clone())
        );
        assert_eq!(paid.transfers[0].amount, 12_345);
        let failed = settlement_job(&payout, false, None, Some("closed".into()), None, at);
        assert_eq!(failed.transfers[0].kind, TransferKind::VoidPending(pending));
        for job in [&paid, &failed] {
            assert_eq!(
                job.guards,
                vec![Guard::payout(&payout.id, PayoutStatus::Pending)]
            );
        }
        assert!(matches!(
            &failed.effects[0],
            Effect::SetPayoutStatus {
                status: PayoutStatus::Failed,
                ..
            }
        ));
    }

    fn paid_payout(amount: i64) -> Payout {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        Payout {
            id: PayoutId::generate(),
            creator_id: UserId::generate(),
            amount: Money::new(amount, Currency::USD),
            status: PayoutStatus::Paid,
            provider_id: Some("po_1".into()),
            failure: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_returned_payout_moves_its_amount_from_paid_out_back_to_available() {
        let payout = paid_payout(12_345);
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let job = payout_returned_job(&payout, "account closed".into(), None, at);
        let [t] = job.transfers.as_slice() else {
            panic!("one transfer: {:?}", job.transfers);
        };
        let creator = payout.creator_id.as_str();
        assert_eq!(t.id.as_str(), format!("{}/returned", payout.id));
        assert_eq!(
            t.debit.to_string(),
            format!("{creator}/creator_paid_out/USD")
        );
        assert_eq!(
            t.credit.to_string(),
            format!("{creator}/creator_available/USD")
        );
        assert_eq!((t.amount, t.currency), (12_345, Currency::USD));
        assert_eq!(t.kind, TransferKind::Posted);
        assert_eq!(t.code, Code::PAYOUT_RETURN);
        assert_eq!(t.reference, payout.id.as_str());
        // Only a paid payout is returned, and it becomes failed with the bank's reason.
        assert_eq!(
            job.guards,
            vec![Guard::payout(&payout.id, PayoutStatus::Paid)]
        );
        assert_eq!(
            job.effects,
            vec![Effect::SetPayoutStatus {
                payout_id: payout.id.clone(),
                status: PayoutStatus::Failed,
                provider_id: None,
                failure: Some("account closed".into()),
                at,
            }]
        );
        let accounts = [
            Account::of(creator, Purpose::CreatorPaidOut, Currency::USD),
            Account::of(creator, Purpose::CreatorAvailable, Currency::USD),
        ];
        crate::rules::testing::assert_balanced_lines(&accounts, &job.transfers);
    }

    #[test]
    fn a_payout_paid_then_returned_leaves_its_money_available_and_nothing_paid_out() {
        use crate::plan::{Loaded, plan};
        use ledger::Balances;
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let mut payout = paid_payout(2_500);
        payout.status = PayoutStatus::Pending;
        let creator = payout.creator_id.as_str();
        let available = Account::of(creator, Purpose::CreatorAvailable, Currency::USD);
        let paid_out = Account::of(creator, Purpose::CreatorPaidOut, Currency::USD);
        // Booked (pending), then paid, then returned by the bank, as the ledger sees them.
        let mut book = ledger::Book::new();
        book.load_account(
            available.clone(),
            Balances {
                credits_posted: 2_500,
                ..Balances::default()
            },
        );
        book.load_account(paid_out.clone(), Balances::default());
        let pending = Transfer {
            id: pending_id(&payout.id),
            debit: available.id.clone(),
            credit: paid_out.id.clone(),
            amount: 2_500,
            currency: Currency::USD,
            kind: TransferKind::Pending,
            code: Code::PAYOUT,
            reference: payout.id.to_string(),
        };
        let paid = settlement_job(&payout, true, Some("po_1".into()), None, None, at);
        payout.status = PayoutStatus::Paid;
        let returned = payout_returned_job(&payout, "account closed".into(), None, at);
        for transfers in [vec![pending], paid.transfers, returned.transfers] {
            book.apply(&transfers).expect("applies");
        }
        let spendable = |b: &Balances| b.credits_posted - b.debits_posted - b.debits_pending;
        let a = book.account(&available.id).expect("loaded").1;
        let p = book.account(&paid_out.id).expect("loaded").1;
        assert_eq!(spendable(a), 2_500);
        assert_eq!(p.credits_posted - p.debits_posted, 0);
        // Two returns of the same payout in one batch (a redelivery racing the first): the
        // second fails the guard and moves nothing.
        let again = payout_returned_job(&payout, "account closed".into(), None, at);
        let jobs = [again.clone(), again];
        let mut loaded = Loaded {
            accounts: vec![
                (available, Balances::default()),
                (
                    paid_out,
                    Balances {
                        credits_posted: 2_500,
                        ..Balances::default()
                    },
                ),
            ],
            ..Loaded::default()
        };
        loaded.statuses.insert(
            crate::RowRef::Payout(payout.id.clone()),
            PayoutStatus::Paid.as_str().into(),
        );
        let planned = plan(&jobs, loaded).expect("plans");
        assert_eq!(planned.outcomes[0], crate::Outcome::Applied);
        assert!(matches!(
            planned.outcomes[1],
            crate::Outcome::Refused(crate::Refusal::Status(crate::RowRef::Payout(_)))
        ));
        assert_eq!(planned.changes.transfers.len(), 1);
        // A payout that is not paid (still pending, or failed already) is not returned.
        for status in [PayoutStatus::Pending, PayoutStatus::Failed] {
            let mut loaded = Loaded::default();
            loaded.statuses.insert(
                crate::RowRef::Payout(payout.id.clone()),
                status.as_str().into(),
            );
            let job = payout_returned_job(&payout, "closed".into(), None, at);
            let planned = plan(std::slice::from_ref(&job), loaded).expect("plans");
            assert!(matches!(
                planned.outcomes[0],
                crate::Outcome::Refused(crate::Refusal::Status(_))
            ));
        }
    }
}
