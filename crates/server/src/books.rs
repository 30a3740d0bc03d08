//! How each business event is written on the ledger: the accounts and balanced transfers of
//! a badge purchase, of its reversal (a refund or a chargeback), and of the release of held
//! income. The HTTP handlers, the webhook handler, the scheduled release and the CLI all
//! build their ledger jobs here, so that one event always moves money the same way.
//!
//! A card purchase of price P, split by [`live::split_badge_price`]:
//!
//! ```text
//! platform/processor_clearing ──share──▶ creator/creator_pending     (BADGE_SHARE)
//!                             ──fee────▶ platform/platform_fees      (BADGE_FEE)
//!                             ──fee────▶ platform/processor_fees     (PROCESSOR_FEE)
//! ```
//!
//! A wallet purchase debits the buyer's wallet instead of clearing and has no processor fee.
//! The share is held ([`store::Hold`]) for the hold period, then released:
//! `creator_pending ──▶ creator_available` (HOLD_RELEASE). A reversal mirrors every line back
//! to where it came from; the creator's line is taken from `creator_pending` while the hold
//! is held and from `creator_available` once it was released, which may leave the available
//! balance negative (a chargeback after a payout): later income pays that debt first, since
//! a payout only pays a positive available balance.

use std::collections::BTreeMap;

use ledger::{Account, AccountId, Code, Purpose, Transfer, TransferId, TransferKind};
use money::{Currency, Money};
use store::{
    Effect, Guard, Hold, HoldStatus, IdempotencyRecord, Outcome, PaymentMethod, Payout, Purchase,
    PurchaseStatus, Refusal, RowRef, Store, StoreError, UserId, WriteJob,
};
use time::OffsetDateTime;

/// The owner of the platform's own ledger accounts.
pub const PLATFORM: &str = "platform";

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
    Transfer {
        id: TransferId::new(format!("{}/{suffix}", p.id)),
        debit: source_account(p),
        credit,
        amount: amount.amount(),
        currency: p.price.currency(),
        kind: TransferKind::Posted,
        code,
        reference: p.id.to_string(),
    }
}

/// The purchase's transfers: the price split into the creator's share, the platform's fee
/// and the processor's fee, each from the paying account. Zero amounts are not transfers.
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
    // The match, once the batch decided it (a purchase being booked has none yet).
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
        source: "badges",
        status: HoldStatus::Held,
        release_at: p.created_at + hold_period,
        created_at: p.created_at,
    })
}

/// The match a purchase may get: from the oldest match program running now whose caps name
/// the purchase's currency and whose countries include the creator's. The amount — the
/// program's rate of the creator's share, cut to the budget and the creator's cap — is
/// decided inside the ledger batch ([`store::Computed::Match`]).
pub async fn match_for(
    state: &crate::state::AppState,
    p: &Purchase,
) -> Result<Option<store::Computed>, StoreError> {
    let programs = state.programs.get(&state.store).await?;
    let currency = p.price.currency();
    let mut creator_country = None;
    for program in programs.iter() {
        if p.created_at < program.starts_at || p.created_at >= program.ends_at {
            continue;
        }
        let Some(cap) = program.caps.iter().find(|c| c.currency() == currency) else {
            continue;
        };
        if !program.countries.is_empty() {
            if creator_country.is_none() {
                creator_country = state.store.user(&p.creator_id).await?.map(|u| u.country);
            }
            if !creator_country.is_some_and(|c| program.countries.contains(&c)) {
                continue;
            }
        }
        let (wanted, _) = p.creator_share.split_bps(program.rate);
        if !wanted.is_positive() {
            return Ok(None);
        }
        return Ok(Some(store::Computed::Match {
            program: program.id.to_string(),
            creator: p.creator_id.clone(),
            budget: AccountId::of(program.id.as_str(), Purpose::MatchBudget, currency),
            to: AccountId::of(p.creator_id.as_str(), Purpose::CreatorPending, currency),
            currency,
            wanted: wanted.amount(),
            cap: cap.amount(),
            id: TransferId::new(format!("{}/match", p.id)),
            reference: p.id.to_string(),
        }));
    }
    Ok(None)
}

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

/// Reverses `p` on the ledger (the provider's side is the caller's), storing `answer` with
/// it. A release that moves the hold between the read and the write makes the job refused
/// on the hold's guard: it is read again and tried once more.
pub async fn reverse_purchase(
    store: &Store,
    p: &Purchase,
    reversal: Reversal,
    answer: Option<IdempotencyRecord>,
    at: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let hold = store.hold(p.id.as_str()).await?.map(|h| h.status);
        let job = WriteJob {
            idempotency: answer.clone(),
            ..reversal_job(p, reversal, hold, at)
        };
        let outcome = store.writer().submit(job).await?;
        match &outcome {
            Outcome::Refused(Refusal::Status(RowRef::Hold(_))) if attempts < 3 => {}
            _ => return Ok(outcome),
        }
    }
}

/// What one release run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseReport {
    /// Holds released.
    pub holds: u64,
    /// Release transfers posted (one per creator and currency per page of holds).
    pub releases: u64,
    /// Amount released per currency.
    pub released: BTreeMap<Currency, i64>,
    /// Holds another run released first (or that a reversal took back meanwhile).
    pub skipped: u64,
}

/// Holds read per page.
const RELEASE_PAGE: u32 = 5_000;

/// Releases every hold whose period ended by `now`: per page of due holds, one transfer per
/// creator and currency from pending to available, guarded by each of its holds still being
/// held. Idempotent and safe to run on several nodes at once: a hold released by another run
/// fails the guard and its job is skipped (its holds are then no longer due).
pub async fn release_due(store: &Store, now: OffsetDateTime) -> Result<ReleaseReport, StoreError> {
    let mut report = ReleaseReport::default();
    let mut after: Option<(OffsetDateTime, String)> = None;
    loop {
        let page = store
            .due_holds(
                now,
                after.as_ref().map(|(at, id)| (*at, id.as_str())),
                RELEASE_PAGE,
            )
            .await?;
        let Some(last) = page.last() else {
            return Ok(report);
        };
        after = Some((last.release_at, last.id.clone()));
        let mut groups: BTreeMap<(UserId, Currency), Vec<Hold>> = BTreeMap::new();
        for hold in page {
            groups
                .entry((hold.owner.clone(), hold.amount.currency()))
                .or_default()
                .push(hold);
        }
        let jobs = groups.into_iter().map(|((owner, currency), holds)| {
            let job = release_job(&owner, currency, &holds, now);
            async move {
                let outcome = store.writer().submit(job).await;
                (outcome, currency, holds)
            }
        });
        for (outcome, currency, holds) in futures_util::future::join_all(jobs).await {
            let n = holds.len() as u64;
            match outcome? {
                Outcome::Applied => {
                    report.holds += n;
                    report.releases += 1;
                    *report.released.entry(currency).or_default() +=
                        holds.iter().map(|h| h.amount.amount()).sum::<i64>();
                }
                Outcome::Refused(Refusal::Status(_)) | Outcome::Replayed => report.skipped += n,
                other => {
                    tracing::error!(?other, holds = n, "release refused");
                    report.skipped += n;
                }
            }
        }
    }
}

fn release_job(owner: &UserId, currency: Currency, holds: &[Hold], at: OffsetDateTime) -> WriteJob {
    let release_id = format!("rel_{}", uuid::Uuid::now_v7().simple());
    let amount: i64 = holds.iter().map(|h| h.amount.amount()).sum();
    WriteJob {
        accounts: vec![
            Account::of(owner.as_str(), Purpose::CreatorPending, currency),
            Account::of(owner.as_str(), Purpose::CreatorAvailable, currency),
        ],
        transfers: vec![Transfer {
            id: TransferId::new(release_id.clone()),
            debit: AccountId::of(owner.as_str(), Purpose::CreatorPending, currency),
            credit: AccountId::of(owner.as_str(), Purpose::CreatorAvailable, currency),
            amount,
            currency,
            kind: TransferKind::Posted,
            code: Code::HOLD_RELEASE,
            reference: release_id.clone(),
        }],
        computed: None,
        idempotency: None,
        guards: holds
            .iter()
            .map(|h| Guard::hold(&h.id, HoldStatus::Held))
            .collect(),
        effects: holds
            .iter()
            .map(|h| Effect::SetHoldStatus {
                hold_id: h.id.clone(),
                status: HoldStatus::Released,
                release_id: Some(release_id.clone()),
                at,
            })
            .collect(),
    }
}

/// What one payout run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutReport {
    /// Creators' balances looked at (one per creator and currency with money available).
    pub checked: u64,
    /// Payouts created now (each pending until the provider confirms).
    pub payouts: u64,
    /// Their amounts per currency.
    pub amounts: BTreeMap<Currency, i64>,
    /// Balances below the minimum payout (or paid by another run at the same time).
    pub below_minimum: u64,
    /// Payouts from earlier runs the provider had not acknowledged, sent again now.
    pub resumed: u64,
    /// Payouts the provider refused (voided: the money is available again).
    pub rejected: u64,
    /// Payouts the provider could not be asked for now (retried by the next run).
    pub unsent: u64,
}

/// Balances read per page.
const PAYOUT_PAGE: u32 = 1_000;

/// Pays every creator whose available balance in a currency reaches the minimum payout: one
/// payout per creator and currency, two-phase on the ledger. Phase one, in the ledger batch:
/// a pending transfer of the whole available balance (decided there, so a chargeback or a
/// concurrent run is seen) from `creator_available` to `creator_paid_out`, and the payout row.
/// Then the provider is asked to pay (idempotent by payout id); its webhook posts the pending
/// transfer (`payout.paid`) or voids it, giving the money back (`payout.failed`). Two runs at
/// once pay once: the second finds nothing left above the minimum. Payouts a previous run
/// booked but could not send are sent again first. `progress` hears (done, total).
pub async fn run_payouts(
    state: &crate::state::AppState,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<PayoutReport, StoreError> {
    use futures_util::StreamExt;
    let store = &state.store;
    let mut report = PayoutReport::default();
    let unsent = store.unsent_payouts(10_000).await?;
    report.resumed = unsent.len() as u64;
    send_all(state, unsent, &mut report).await?;
    let total = store.count_payable().await?;
    let mut done = 0;
    let mut after = String::new();
    loop {
        let page = store.payable(&after, PAYOUT_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(report);
        };
        after = last.0.clone();
        let jobs = page
            .iter()
            .filter(|(_, _, currency, spendable)| {
                *spendable >= state.config.payout_minimum(*currency)
            })
            .map(|(_, creator, currency, _)| {
                let (job, payout) = payout_job(state, creator, *currency);
                async move { (store.writer().submit(job).await, payout) }
            });
        let booked: Vec<_> = futures_util::future::join_all(jobs).await;
        let mut to_send = Vec::new();
        for (outcome, payout) in booked {
            if outcome? == Outcome::Applied {
                to_send.push(payout);
            }
        }
        report.checked += page.len() as u64;
        report.below_minimum += page.len() as u64 - to_send.len() as u64;
        // Read back the amounts the batches decided, then ask the provider.
        let read: Vec<Result<Option<Payout>, StoreError>> = futures_util::stream::iter(to_send)
            .map(|payout| async move { store.payout(&payout).await })
            .buffer_unordered(SENDING)
            .collect()
            .await;
        let mut booked = Vec::with_capacity(read.len());
        for payout in read {
            let Some(payout) = payout? else { continue };
            report.payouts += 1;
            *report.amounts.entry(payout.amount.currency()).or_default() += payout.amount.amount();
            booked.push(payout);
        }
        send_all(state, booked, &mut report).await?;
        done += page.len() as u64;
        progress(done.min(total), total.max(done));
    }
}

fn payout_job(
    state: &crate::state::AppState,
    creator: &UserId,
    currency: Currency,
) -> (WriteJob, store::PayoutId) {
    let id = store::PayoutId::generate();
    let now = store::now();
    let available = Account::of(creator.as_str(), Purpose::CreatorAvailable, currency);
    let paid_out = Account::of(creator.as_str(), Purpose::CreatorPaidOut, currency);
    let job = WriteJob {
        computed: Some(store::Computed::PayOut {
            from: available.id.clone(),
            to: paid_out.id.clone(),
            currency,
            minimum: state.config.payout_minimum(currency),
            id: TransferId::new(format!("{id}/pending")),
            reference: id.to_string(),
        }),
        accounts: vec![available, paid_out],
        effects: vec![Effect::InsertPayout(Box::new(store::Payout {
            id: id.clone(),
            creator_id: creator.clone(),
            // The batch puts the amount it decided here.
            amount: Money::zero(currency),
            status: store::PayoutStatus::Pending,
            provider_id: None,
            failure: None,
            created_at: now,
            updated_at: now,
        }))],
        ..WriteJob::default()
    };
    (job, id)
}

/// Payouts sent to the provider at once: their ledger jobs share batches.
const SENDING: usize = 256;

/// What became of a payout sent to the provider.
enum Sent {
    Accepted,
    Rejected,
    Unsent,
}

/// Sends `payouts`, [`SENDING`] at a time, and counts the outcomes.
async fn send_all(
    state: &crate::state::AppState,
    payouts: Vec<Payout>,
    report: &mut PayoutReport,
) -> Result<(), StoreError> {
    use futures_util::StreamExt;
    let results: Vec<Result<Sent, StoreError>> = futures_util::stream::iter(payouts)
        .map(|payout| async move { send_payout(state, &payout).await })
        .buffer_unordered(SENDING)
        .collect()
        .await;
    for result in results {
        match result? {
            Sent::Accepted => {}
            Sent::Rejected => report.rejected += 1,
            Sent::Unsent => report.unsent += 1,
        }
    }
    Ok(())
}

/// Asks the provider to pay `payout` and records its id (or voids a rejected one).
async fn send_payout(state: &crate::state::AppState, payout: &Payout) -> Result<Sent, StoreError> {
    let destination = state
        .store
        .user(&payout.creator_id)
        .await?
        .and_then(|u| u.payout_account);
    let request = crate::payments::PayoutRequest {
        idempotency_key: payout.id.to_string(),
        amount: payout.amount,
        creator: payout.creator_id.to_string(),
        destination,
    };
    match state.payments.payout(request).await {
        Ok(provider_id) => {
            let job = WriteJob {
                guards: vec![Guard::payout(&payout.id, store::PayoutStatus::Pending)],
                effects: vec![Effect::SetPayoutStatus {
                    payout_id: payout.id.clone(),
                    status: store::PayoutStatus::Pending,
                    provider_id: Some(provider_id),
                    failure: None,
                    at: store::now(),
                }],
                ..WriteJob::default()
            };
            // Refused: the provider's webhook settled it first.
            state.store.writer().submit(job).await?;
            Ok(Sent::Accepted)
        }
        Err(crate::payments::PayoutError::Rejected(why)) => {
            settle_payout(&state.store, payout, false, None, Some(why), None).await?;
            Ok(Sent::Rejected)
        }
        Err(crate::payments::PayoutError::Unavailable(why)) => {
            tracing::warn!(payout = %payout.id, %why, "payout not sent: the next run sends it");
            Ok(Sent::Unsent)
        }
    }
}

/// Posts (`paid`) or voids a pending payout, storing `answer` with it. Refused when the payout
/// is not pending any more (settled by an earlier event).
pub async fn settle_payout(
    store: &Store,
    payout: &store::Payout,
    paid: bool,
    provider_id: Option<String>,
    failure: Option<String>,
    answer: Option<IdempotencyRecord>,
) -> Result<Outcome, StoreError> {
    let c = payout.amount.currency();
    let available = AccountId::of(payout.creator_id.as_str(), Purpose::CreatorAvailable, c);
    let paid_out = AccountId::of(payout.creator_id.as_str(), Purpose::CreatorPaidOut, c);
    let pending = TransferId::new(format!("{}/pending", payout.id));
    let (suffix, kind, status) = if paid {
        (
            "paid",
            TransferKind::PostPending(pending),
            store::PayoutStatus::Paid,
        )
    } else {
        (
            "void",
            TransferKind::VoidPending(pending),
            store::PayoutStatus::Failed,
        )
    };
    let job = WriteJob {
        transfers: vec![Transfer {
            id: TransferId::new(format!("{}/{suffix}", payout.id)),
            debit: available,
            credit: paid_out,
            amount: payout.amount.amount(),
            currency: c,
            kind,
            code: Code::PAYOUT,
            reference: payout.id.to_string(),
        }],
        idempotency: answer,
        guards: vec![Guard::payout(&payout.id, store::PayoutStatus::Pending)],
        effects: vec![Effect::SetPayoutStatus {
            payout_id: payout.id.clone(),
            status,
            provider_id,
            failure,
            at: store::now(),
        }],
        ..WriteJob::default()
    };
    store.writer().submit(job).await
}
