//! A brand deal paid through escrow: a two-phase transfer from the brand's wallet.
//!
//! Making an offer holds its fee — two pending transfers, split when the offer is made into
//! the creator's share and the platform's fee for `brand_deals` — so the wallet's spendable
//! balance drops at once and its balance rule (debits, pending ones included, never above
//! credits) refuses an offer it cannot cover, however many are made at once:
//!
//! ```text
//! <brand>/wallet ──share (pending)──▶ <creator>/creator_pending     (BRAND_DEAL_ESCROW)
//!                ──fee (pending)────▶ platform/platform_fees        (BRAND_DEAL_ESCROW)
//! ```
//!
//! Approval (the brand's, or time running out on a delivery) posts both, the share counting
//! as the creator's `brand_deals` income and held like any new income; decline, expiry and
//! cancel void both, giving the wallet its money back. Every step is guarded by the status it
//! starts from, so two steps racing (a manual approval and the automatic one on another node)
//! apply once: the second is refused by the batch.

use ledger::{Account, AccountId, Code, Purpose, Transfer, TransferId, TransferKind};
use money::{Bps, Money};
use time::OffsetDateTime;

use super::PLATFORM;
use crate::{
    Effect, Guard, Hold, HoldStatus, IdempotencyRecord, IncomeSource, Offer, OfferAction,
    OfferStatus, WriteJob,
};

/// Splits an offer's `fee` into the platform's fee (`platform_fee` of it, rounded toward
/// zero) and the creator's share.
pub fn deal_split(fee: Money, platform_fee: Bps) -> (Money, Money) {
    fee.split_bps(platform_fee)
}

/// An offer's two legs: (suffix, credited account, amount, code when posted), the empty
/// ones left out.
fn legs(offer: &Offer) -> Vec<(&'static str, AccountId, Money, Code)> {
    let c = offer.fee.currency();
    [
        (
            "share",
            AccountId::of(offer.creator_id.as_str(), Purpose::CreatorPending, c),
            offer.creator_share,
            Code::BRAND_DEAL_SHARE,
        ),
        (
            "fee",
            AccountId::of(PLATFORM, Purpose::PlatformFees, c),
            offer.platform_fee,
            Code::BRAND_DEAL_FEE,
        ),
    ]
    .into_iter()
    .filter(|(_, _, amount, _)| amount.is_positive())
    .collect()
}

fn wallet(offer: &Offer) -> AccountId {
    AccountId::of(
        offer.brand_id.as_str(),
        Purpose::Wallet,
        offer.fee.currency(),
    )
}

fn pending_id(offer: &Offer, suffix: &str) -> TransferId {
    TransferId::new(format!("{}/{suffix}", offer.id))
}

/// The job making `offer` (status `offered`, split decided): its row and the pending
/// transfers holding its fee, with `answer` stored under the brand's key. Refused with
/// [`crate::Refusal::InsufficientFunds`] when the wallet's spendable balance is short.
pub fn offer_job(offer: &Offer, answer: Option<IdempotencyRecord>) -> WriteJob {
    let c = offer.fee.currency();
    let transfers = legs(offer)
        .into_iter()
        .map(|(suffix, credit, amount, _)| Transfer {
            id: pending_id(offer, suffix),
            debit: wallet(offer),
            credit,
            amount: amount.amount(),
            currency: c,
            kind: TransferKind::Pending,
            code: Code::BRAND_DEAL_ESCROW,
            reference: offer.id.to_string(),
        })
        .collect();
    WriteJob {
        accounts: vec![
            Account::of(offer.brand_id.as_str(), Purpose::Wallet, c),
            Account::of(offer.creator_id.as_str(), Purpose::CreatorPending, c),
            Account::of(offer.creator_id.as_str(), Purpose::CreatorAvailable, c),
            Account::of(PLATFORM, Purpose::PlatformFees, c),
        ],
        transfers,
        idempotency: answer,
        effects: vec![Effect::InsertOffer(Box::new(offer.clone()))],
        ..WriteJob::default()
    }
}

/// Why a step cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an offer that is {from} cannot be {action:?}")]
pub struct InvalidStep {
    /// Where the offer stands.
    pub from: &'static str,
    /// What was asked.
    pub action: OfferAction,
}

/// What a step records beside the new status.
#[derive(Debug, Clone, Default)]
pub struct StepDetails {
    /// A delivery's address.
    pub delivery_url: Option<String>,
    /// A request for changes' note.
    pub note: Option<String>,
    /// For a delivery: whether it came by the campaign's deadline.
    pub on_time: Option<bool>,
}

/// The job taking `action` on `before` at `at`, and the offer after it. Guarded by the status
/// `before` has, so that a step racing another (on this node or another) applies once.
/// Money moves with the steps that end the hold: approval posts the legs and holds the
/// creator's share for `hold_period` (source `brand_deals`); decline, expiry and cancel void
/// them. A delivery starts the `review` period after which it is approved automatically.
pub fn offer_step_job(
    before: &Offer,
    action: OfferAction,
    details: StepDetails,
    times: StepTimes,
    answer: Option<IdempotencyRecord>,
) -> Result<(WriteJob, Offer), InvalidStep> {
    let status = before.status.after(action).ok_or(InvalidStep {
        from: before.status.as_str(),
        action,
    })?;
    let at = times.at;
    let mut after = Offer {
        status,
        updated_at: at,
        ..before.clone()
    };
    match action {
        OfferAction::Deliver => {
            after.delivery_url = details.delivery_url;
            after.delivered_at = Some(at);
            after.approve_by = Some(at + times.review);
            after.on_time = details.on_time;
        }
        OfferAction::RequestChanges => {
            after.note = details.note;
            after.approve_by = None;
        }
        OfferAction::Approve => {
            after.auto_approved = times.automatic;
            after.hold_id = before
                .creator_share
                .is_positive()
                .then(|| before.id.to_string());
        }
        OfferAction::Accept | OfferAction::Decline | OfferAction::Expire | OfferAction::Cancel => {}
    }
    let c = before.fee.currency();
    let transfers = match status {
        OfferStatus::Approved
        | OfferStatus::Declined
        | OfferStatus::Expired
        | OfferStatus::Cancelled => {
            let post = status == OfferStatus::Approved;
            legs(before)
                .into_iter()
                .map(|(suffix, credit, amount, code)| {
                    let pending = pending_id(before, suffix);
                    Transfer {
                        id: TransferId::new(format!(
                            "{pending}/{}",
                            if post { "post" } else { "void" }
                        )),
                        debit: wallet(before),
                        credit,
                        amount: amount.amount(),
                        currency: c,
                        kind: if post {
                            TransferKind::PostPending(pending)
                        } else {
                            TransferKind::VoidPending(pending)
                        },
                        code: if post { code } else { Code::BRAND_DEAL_ESCROW },
                        reference: before.id.to_string(),
                    }
                })
                .collect()
        }
        OfferStatus::Offered
        | OfferStatus::Accepted
        | OfferStatus::Delivered
        | OfferStatus::ChangesRequested => Vec::new(),
    };
    let mut effects = vec![Effect::SetOffer(Box::new(after.clone()))];
    if let Some(id) = &after.hold_id
        && status == OfferStatus::Approved
    {
        effects.push(Effect::InsertHold(Box::new(Hold {
            id: id.clone(),
            owner: before.creator_id.clone(),
            amount: before.creator_share,
            source: IncomeSource::BrandDeals,
            status: HoldStatus::Held,
            release_at: at + times.hold_period,
            created_at: at,
        })));
    }
    let job = WriteJob {
        transfers,
        idempotency: answer,
        guards: vec![Guard::offer(&before.id, before.status)],
        effects,
        ..WriteJob::default()
    };
    Ok((job, after))
}

/// The times a step depends on.
#[derive(Debug, Clone, Copy)]
pub struct StepTimes {
    /// Now.
    pub at: OffsetDateTime,
    /// How long a delivery waits for the brand before it is approved.
    pub review: time::Duration,
    /// How long approved income is held before it is available.
    pub hold_period: time::Duration,
    /// Whether the step is time running out (expiry, automatic approval), not a person.
    pub automatic: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CampaignId, OfferId, UserId};
    use ledger::Book;
    use money::Currency;
    use time::macros::datetime;

    fn offer(fee: i64, bps: u32) -> Offer {
        let fee = Money::new(fee, Currency::USD);
        let (platform_fee, creator_share) =
            deal_split(fee, Bps::new(bps).expect("a rate of at most 10,000 bps"));
        let at = datetime!(2026-12-01 10:00 UTC);
        Offer {
            id: OfferId::from_string("off_1".into()),
            campaign_id: CampaignId::from_string("cmp_1".into()),
            brand_id: UserId::from_string("brand".into()),
            creator_id: UserId::from_string("ana".into()),
            fee,
            platform_fee,
            creator_share,
            status: OfferStatus::Offered,
            expires_at: at + time::Duration::days(7),
            delivery_url: None,
            delivered_at: None,
            approve_by: None,
            note: None,
            on_time: None,
            auto_approved: false,
            hold_id: None,
            created_at: at,
            updated_at: at,
        }
    }

    fn times() -> StepTimes {
        StepTimes {
            at: datetime!(2026-12-02 10:00 UTC),
            review: time::Duration::days(7),
            hold_period: time::Duration::days(7),
            automatic: false,
        }
    }

    /// A book with the brand's wallet funded with `funds`.
    fn book(funds: i64) -> Book {
        let mut book = Book::new();
        for a in offer_job(&offer(1, 0), None).accounts {
            book.open_account(a);
        }
        let clearing = Account::of(PLATFORM, Purpose::ProcessorClearing, Currency::USD);
        book.open_account(clearing.clone());
        book.apply(&[Transfer {
            id: TransferId::new("topup"),
            debit: clearing.id,
            credit: AccountId::of("brand", Purpose::Wallet, Currency::USD),
            amount: funds,
            currency: Currency::USD,
            kind: TransferKind::Posted,
            code: Code::WALLET_TOPUP,
            reference: "top".into(),
        }])
        .expect("the top-up funds the wallet");
        book
    }

    fn balance(book: &Book, owner: &str, purpose: Purpose) -> (i64, i64) {
        let (_, b) = book
            .account(&AccountId::of(owner, purpose, Currency::USD))
            .expect("an account the book opened");
        (
            b.credits_posted - b.debits_posted,
            b.credits_pending - b.debits_pending,
        )
    }

    fn walk(o: &Offer, actions: &[OfferAction]) -> (Vec<WriteJob>, Offer) {
        let mut now = o.clone();
        let mut jobs = Vec::new();
        for a in actions {
            let (job, after) = offer_step_job(
                &now,
                *a,
                StepDetails {
                    delivery_url: Some("https://example.com/post".into()),
                    ..StepDetails::default()
                },
                times(),
                None,
            )
            .expect("a step allowed from the status before");
            jobs.push(job);
            now = after;
        }
        (jobs, now)
    }

    #[test]
    fn an_offer_holds_its_fee_and_approval_pays_share_and_fee_once() {
        let o = offer(10_000, 1_500);
        assert_eq!(o.platform_fee.amount(), 1_500);
        let mut book = book(10_000);
        book.apply(&offer_job(&o, None).transfers)
            .expect("the wallet holds the fee");
        assert_eq!(balance(&book, "brand", Purpose::Wallet), (10_000, -10_000));
        let (jobs, after) = walk(
            &o,
            &[
                OfferAction::Accept,
                OfferAction::Deliver,
                OfferAction::RequestChanges,
                OfferAction::Deliver,
                OfferAction::Approve,
            ],
        );
        assert_eq!(after.status, OfferStatus::Approved);
        assert_eq!(after.hold_id.as_deref(), Some("off_1"));
        for job in &jobs {
            book.apply(&job.transfers)
                .expect("each step applies after the one before");
        }
        assert_eq!(balance(&book, "brand", Purpose::Wallet), (0, 0));
        assert_eq!(balance(&book, "ana", Purpose::CreatorPending), (8_500, 0));
        assert_eq!(balance(&book, PLATFORM, Purpose::PlatformFees), (1_500, 0));
        // The approval's hold is the share, as brand-deal income.
        let hold = jobs[4].effects.iter().find_map(|e| match e {
            Effect::InsertHold(h) => Some(h),
            _ => None,
        });
        assert_eq!(
            hold.map(|h| (h.amount.amount(), h.source)),
            Some((8_500, IncomeSource::BrandDeals))
        );
        // A second approval derives the same transfer ids: a replay, no money moves again
        // (the batch refuses it before that, by the offer's status guard).
        let again = offer_step_job(
            &jobs_before_approval(&o),
            OfferAction::Approve,
            StepDetails::default(),
            times(),
            None,
        )
        .expect("delivered, so approvable")
        .0;
        assert_eq!(
            book.apply(&again.transfers).expect("a replay"),
            ledger::Applied::Replayed
        );
        assert_eq!(balance(&book, "ana", Purpose::CreatorPending), (8_500, 0));
        // Voiding after the approval is refused: the pending transfers are resolved.
        let void = offer_step_job(
            &offer(10_000, 1_500),
            OfferAction::Decline,
            StepDetails::default(),
            times(),
            None,
        )
        .expect("offered, so declinable")
        .0;
        assert!(book.apply(&void.transfers).is_err());
    }

    fn jobs_before_approval(o: &Offer) -> Offer {
        walk(o, &[OfferAction::Accept, OfferAction::Deliver]).1
    }

    #[test]
    fn decline_expiry_and_cancel_give_the_whole_hold_back() {
        for path in [
            &[OfferAction::Decline][..],
            &[OfferAction::Expire],
            &[OfferAction::Cancel],
            &[OfferAction::Accept, OfferAction::Cancel],
        ] {
            let o = offer(2_500, 1_000);
            let mut book = book(2_500);
            book.apply(&offer_job(&o, None).transfers)
                .expect("the wallet holds the fee");
            let (jobs, after) = walk(&o, path);
            for job in &jobs {
                book.apply(&job.transfers)
                    .expect("each step applies after the one before");
                assert!(
                    !job.effects
                        .iter()
                        .any(|e| matches!(e, Effect::InsertHold(_)))
                );
            }
            assert!(!after.status.holds(), "{path:?}");
            assert_eq!(
                balance(&book, "brand", Purpose::Wallet),
                (2_500, 0),
                "{path:?}"
            );
            assert_eq!(balance(&book, "ana", Purpose::CreatorPending), (0, 0));
        }
    }

    #[test]
    fn the_wallet_cannot_hold_more_than_it_has() {
        let mut book = book(15_000);
        book.apply(&offer_job(&offer(10_000, 0), None).transfers)
            .expect("a funded wallet holds the first offer");
        let second = Offer {
            id: OfferId::from_string("off_2".into()),
            ..offer(10_000, 0)
        };
        assert!(book.apply(&offer_job(&second, None).transfers).is_err());
    }

    #[test]
    fn every_step_from_a_wrong_state_is_refused_and_each_step_is_guarded() {
        let o = offer(1_000, 0);
        for status in OfferStatus::ALL {
            for action in [
                OfferAction::Accept,
                OfferAction::Decline,
                OfferAction::Expire,
                OfferAction::Cancel,
                OfferAction::Deliver,
                OfferAction::RequestChanges,
                OfferAction::Approve,
            ] {
                let from = Offer {
                    status,
                    ..o.clone()
                };
                match offer_step_job(&from, action, StepDetails::default(), times(), None) {
                    Ok((job, after)) => {
                        assert_eq!(status.after(action), Some(after.status));
                        assert_eq!(job.guards, vec![Guard::offer(&o.id, status)]);
                        assert!(status.holds(), "{status:?} ends no hold");
                    }
                    Err(e) => assert_eq!(status.after(action), None, "{e}"),
                }
            }
        }
        assert_eq!(OfferStatus::Delivered.after(OfferAction::Cancel), None);
        assert_eq!(OfferStatus::Approved.after(OfferAction::Approve), None);
    }

    #[test]
    fn a_delivery_starts_the_review_and_records_whether_it_was_on_time() {
        let o = Offer {
            status: OfferStatus::Accepted,
            ..offer(1_000, 0)
        };
        let (job, after) = offer_step_job(
            &o,
            OfferAction::Deliver,
            StepDetails {
                delivery_url: Some("https://example.com/v".into()),
                on_time: Some(true),
                ..StepDetails::default()
            },
            times(),
            None,
        )
        .expect("an accepted offer takes a delivery");
        assert!(job.transfers.is_empty());
        assert_eq!(after.approve_by, Some(times().at + time::Duration::days(7)));
        assert_eq!(after.on_time, Some(true));
        assert_eq!(after.delivery_url.as_deref(), Some("https://example.com/v"));
    }
}
