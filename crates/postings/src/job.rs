//! What the ledger writer is asked to do: a [`WriteJob`] (transfers, the rows written with
//! them, the guards that must hold, a transfer only the batch can size), and what became of
//! it ([`Outcome`], [`Refusal`]). Values only: the store carries them out.

use ledger::{Account, AccountId, Balances, Code, LedgerError, Transfer, TransferId};
use money::Currency;
use time::OffsetDateTime;

use crate::ids::{LiveId, OfferId, PayoutId, PurchaseId, TopupId, UserId};
use crate::records::{
    AttemptStatus, Hold, HoldStatus, IdempotencyRecord, Offer, OfferStatus, PaymentAttempt, Payout,
    PayoutStatus, Purchase, PurchaseStatus, SandboxCharge, ShopOrder, Topup, TopupStatus,
};

/// The stored status of a live that is on air (the other is `ended`).
pub const LIVE_ON_AIR: &str = "live";

/// A row whose status a [`Guard::Status`] checks. The order of the variants is the order in
/// which PostgreSQL locks them (purchases, holds, payouts, top-ups, lives, payment attempts,
/// offers), each kind sorted by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowRef {
    /// A purchase (`succeeded`, `refunded`, `disputed`).
    Purchase(PurchaseId),
    /// A hold (`held`, `released`, `reversed`).
    Hold(String),
    /// A payout (`pending`, `paid`, `failed`).
    Payout(PayoutId),
    /// A wallet top-up (`succeeded`, `disputed`).
    Topup(TopupId),
    /// A live (`live`, `ended`); locked `FOR SHARE` on PostgreSQL, so that ending it waits.
    Live(LiveId),
    /// A card payment attempt, by its provider key (`pending`, `processing`, `booked`, …).
    Attempt(String),
    /// A brand's offer (`offered`, `accepted`, `delivered`, `approved`, …).
    Offer(OfferId),
}

impl RowRef {
    /// The row's id.
    pub fn id(&self) -> &str {
        match self {
            RowRef::Purchase(id) => id.as_str(),
            RowRef::Hold(id) => id,
            RowRef::Payout(id) => id.as_str(),
            RowRef::Topup(id) => id.as_str(),
            RowRef::Live(id) => id.as_str(),
            RowRef::Attempt(key) => key,
            RowRef::Offer(id) => id.as_str(),
        }
    }
}

/// A condition checked inside the batch, against committed rows and the jobs before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The viewer's succeeded purchases in `currency` since `since`, plus `amount`, must
    /// not exceed `limit` (minor units).
    SpendLimit {
        /// The buyer.
        viewer_id: UserId,
        /// Currency of the limit.
        currency: Currency,
        /// Start of the period.
        since: OffsetDateTime,
        /// This purchase's amount.
        amount: i64,
        /// The cap.
        limit: i64,
    },
    /// The row must exist and have this status.
    Status(RowRef, &'static str),
    /// The row must not exist, neither stored nor inserted by an earlier job of the batch: a
    /// job that inserts it may count on being the one that did.
    Absent(RowRef),
}

impl Guard {
    /// The purchase exists and is neither refunded nor disputed.
    pub fn purchase_succeeded(id: &PurchaseId) -> Guard {
        Guard::Status(
            RowRef::Purchase(id.clone()),
            PurchaseStatus::Succeeded.as_str(),
        )
    }

    /// The live exists and is on air.
    pub fn live_active(id: &LiveId) -> Guard {
        Guard::Status(RowRef::Live(id.clone()), LIVE_ON_AIR)
    }

    /// The hold exists with `status`.
    pub fn hold(id: &str, status: HoldStatus) -> Guard {
        Guard::Status(RowRef::Hold(id.to_owned()), status.as_str())
    }

    /// The payout exists with `status`.
    pub fn payout(id: &PayoutId, status: PayoutStatus) -> Guard {
        Guard::Status(RowRef::Payout(id.clone()), status.as_str())
    }

    /// The top-up exists with `status`.
    pub fn topup(id: &TopupId, status: TopupStatus) -> Guard {
        Guard::Status(RowRef::Topup(id.clone()), status.as_str())
    }

    /// The offer exists with `status`.
    pub fn offer(id: &OfferId, status: OfferStatus) -> Guard {
        Guard::Status(RowRef::Offer(id.clone()), status.as_str())
    }

    /// The payment attempt exists with `status`.
    pub fn attempt(key: &str, status: AttemptStatus) -> Guard {
        Guard::Status(RowRef::Attempt(key.to_owned()), status.as_str())
    }

    /// No payment attempt has `key` yet.
    pub fn no_attempt(key: &str) -> Guard {
        Guard::Absent(RowRef::Attempt(key.to_owned()))
    }
}

/// A transfer whose amount is decided inside the batch, from balances as they stand there
/// (after the jobs before it): what no caller can know exactly in advance when other
/// requests, and other nodes, move the same balances. A "spendable" balance is posted
/// credits minus posted and pending debits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Computed {
    /// A match of `wanted` from the program's `budget` to `to`, cut to what the budget holds
    /// and to what is left of `cap` for (program, creator, currency): matching stops at the
    /// exact cent where either runs out. The job's purchase and hold get the amount.
    Match {
        /// The program.
        program: String,
        /// The creator matched.
        creator: UserId,
        /// The program's budget account in the currency.
        budget: AccountId,
        /// The creator's pending account.
        to: AccountId,
        /// The currency.
        currency: Currency,
        /// The full match (rate × share).
        wanted: i64,
        /// The per-creator cap in the currency.
        cap: i64,
        /// The transfer's id.
        id: TransferId,
        /// The transfer's reference (the purchase).
        reference: String,
    },
    /// All of `from`'s spendable balance as a pending transfer to `to`, if it is at least
    /// `minimum`; otherwise the job is refused ([`Refusal::BelowMinimum`]). The job's payout
    /// gets the amount.
    PayOut {
        /// The creator's available account.
        from: AccountId,
        /// The creator's paid-out account.
        to: AccountId,
        /// The currency.
        currency: Currency,
        /// Smallest payout.
        minimum: i64,
        /// The pending transfer's id.
        id: TransferId,
        /// The payout.
        reference: String,
    },
    /// `amount` to `to`: from `from` as far as its spendable balance goes, the rest from
    /// `fallback` (a disputed top-up: what is left in the wallet, then the platform's loss).
    Drain {
        /// Taken first.
        from: AccountId,
        /// Takes the rest.
        fallback: AccountId,
        /// Credited.
        to: AccountId,
        /// The currency.
        currency: Currency,
        /// The whole amount.
        amount: i64,
        /// Ids and codes of the two transfers (from, fallback).
        legs: [(TransferId, Code); 2],
        /// The reference.
        reference: String,
    },
    /// What `debt` is owed (its debits over its credits), up to `up_to`, paid from `from` (a
    /// wallet topped up in the same job): a later top-up paying back a wallet's debt.
    Repay {
        /// Pays.
        from: AccountId,
        /// The debt account (debit-normal).
        debt: AccountId,
        /// The currency.
        currency: Currency,
        /// The most paid back (the top-up's amount).
        up_to: i64,
        /// The transfer's id.
        id: TransferId,
        /// The reference (the top-up).
        reference: String,
    },
}

impl Computed {
    /// The account whose balance decides the amount (locked before planning).
    pub fn decides(&self) -> &AccountId {
        match self {
            Computed::Match { budget, .. } => budget,
            Computed::PayOut { from, .. } | Computed::Drain { from, .. } => from,
            Computed::Repay { debt, .. } => debt,
        }
    }

    /// Every account the computed transfer may name.
    pub fn accounts(&self) -> Vec<&AccountId> {
        match self {
            Computed::Match { budget, to, .. } => vec![budget, to],
            Computed::PayOut { from, to, .. } => vec![from, to],
            Computed::Drain {
                from, fallback, to, ..
            } => vec![from, fallback, to],
            Computed::Repay { from, debt, .. } => vec![from, debt],
        }
    }
}

/// What an account can still give: posted credits minus posted and pending debits. The one
/// definition of a spendable balance (a wallet's, a budget's, a creator's available money).
pub fn spendable(b: &Balances) -> i64 {
    b.credits_posted
        .saturating_sub(b.debits_posted)
        .saturating_sub(b.debits_pending)
}

/// A row written when the job's transfers apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Records a new purchase.
    InsertPurchase(Box<Purchase>),
    /// Records new held income.
    InsertHold(Box<Hold>),
    /// Marks a purchase refunded or disputed.
    SetPurchaseStatus {
        /// The purchase.
        purchase_id: PurchaseId,
        /// Its new status.
        status: PurchaseStatus,
        /// When.
        at: OffsetDateTime,
    },
    /// Records a wallet top-up.
    InsertTopup(Box<Topup>),
    /// Marks a top-up disputed.
    SetTopupStatus {
        /// The top-up.
        topup_id: TopupId,
        /// Its new status.
        status: TopupStatus,
        /// When.
        at: OffsetDateTime,
    },
    /// Records a payout (its amount is the job's [`Computed::PayOut`]).
    InsertPayout(Box<Payout>),
    /// Marks a payout paid or failed, or records the provider's id of a pending one.
    SetPayoutStatus {
        /// The payout.
        payout_id: PayoutId,
        /// Its new status.
        status: PayoutStatus,
        /// The provider's payout id, if known now.
        provider_id: Option<String>,
        /// Why it failed.
        failure: Option<String>,
        /// When.
        at: OffsetDateTime,
    },
    /// Adds `delta` to what a match program has matched for a creator (a reversal's is
    /// negative).
    MatchUsage {
        /// The program.
        program: String,
        /// The creator.
        creator: UserId,
        /// The currency.
        currency: Currency,
        /// The change.
        delta: i64,
    },
    /// Records a card payment attempt, unless one with its key exists (a retry's). Under a
    /// [`Guard::Absent`] of the attempt, it is a new one, and the batch fails rather than
    /// leave a stored one in its place (another node's batch inserting the same key first).
    InsertAttempt(Box<PaymentAttempt>),
    /// Records a charge in the sandbox provider's records, written with the booking it pays
    /// for (its key's attempt is new in the same job).
    InsertCharge(Box<SandboxCharge>),
    /// Moves a payment attempt to a new status, with the provider's payment id if known.
    SetAttempt {
        /// The attempt's provider key.
        key: String,
        /// Its new status.
        status: AttemptStatus,
        /// The provider's payment id, if known now.
        payment_id: Option<String>,
        /// When.
        at: OffsetDateTime,
    },
    /// Records a shop order (with its commission booked by the job's transfers).
    InsertShopOrder(Box<ShopOrder>),
    /// Replaces what a return changes on a shop order: its lines, commission, split, returns
    /// and hold.
    SetShopOrder(Box<ShopOrder>),
    /// Records a brand's offer (its fee held by the job's pending transfers).
    InsertOffer(Box<Offer>),
    /// Replaces an offer's state: its status and what the step recorded with it.
    SetOffer(Box<Offer>),
    /// Marks a hold released (by the release named) or reversed.
    SetHoldStatus {
        /// The hold.
        hold_id: String,
        /// Its new status.
        status: HoldStatus,
        /// The release transfer's id, for a release.
        release_id: Option<String>,
        /// When.
        at: OffsetDateTime,
    },
}

impl Effect {
    /// The status the effect gives a row, so that later jobs of the batch see it.
    pub fn sets(&self) -> Option<(RowRef, &'static str)> {
        match self {
            Effect::InsertPurchase(p) => Some((
                RowRef::Purchase(p.id.clone()),
                PurchaseStatus::Succeeded.as_str(),
            )),
            Effect::InsertHold(h) => Some((RowRef::Hold(h.id.clone()), h.status.as_str())),
            Effect::SetPurchaseStatus {
                purchase_id,
                status,
                ..
            } => Some((RowRef::Purchase(purchase_id.clone()), status.as_str())),
            Effect::SetHoldStatus {
                hold_id, status, ..
            } => Some((RowRef::Hold(hold_id.clone()), status.as_str())),
            Effect::InsertTopup(t) => Some((RowRef::Topup(t.id.clone()), t.status.as_str())),
            Effect::SetTopupStatus {
                topup_id, status, ..
            } => Some((RowRef::Topup(topup_id.clone()), status.as_str())),
            Effect::InsertPayout(p) => Some((RowRef::Payout(p.id.clone()), p.status.as_str())),
            Effect::SetPayoutStatus {
                payout_id, status, ..
            } => Some((RowRef::Payout(payout_id.clone()), status.as_str())),
            Effect::SetAttempt { key, status, .. } => {
                Some((RowRef::Attempt(key.clone()), status.as_str()))
            }
            Effect::InsertOffer(o) | Effect::SetOffer(o) => {
                Some((RowRef::Offer(o.id.clone()), o.status.as_str()))
            }
            // Inserted only when absent: what a later job sees is what is stored (the plan
            // shows a later job an attempt this batch inserts where none was).
            Effect::MatchUsage { .. }
            | Effect::InsertAttempt(_)
            | Effect::InsertCharge(_)
            | Effect::InsertShopOrder(_)
            | Effect::SetShopOrder(_) => None,
        }
    }
}

/// One unit of work for the writer: all of it is committed, or none.
#[derive(Debug, Clone, Default)]
pub struct WriteJob {
    /// Accounts to open if they do not exist yet.
    pub accounts: Vec<Account>,
    /// One set of transfers, applied atomically (may be empty).
    pub transfers: Vec<Transfer>,
    /// A transfer whose amount the batch decides, applied with the set.
    pub computed: Option<Computed>,
    /// The answer to store under the caller's idempotency key.
    pub idempotency: Option<IdempotencyRecord>,
    /// A second key the job claims, beside the caller's: a business key that must be used
    /// once (a brand's order id, the number of an order's next return). Taken already, the
    /// job is a [`Outcome::Duplicate`] of what is stored under it.
    pub claim: Option<IdempotencyRecord>,
    /// Conditions that must hold.
    pub guards: Vec<Guard>,
    /// Rows written with the transfers.
    pub effects: Vec<Effect>,
}

impl WriteJob {
    /// Whether the job names `account`: opens it, moves money on it, or may compute a
    /// transfer on it.
    pub fn names(&self, account: &str) -> bool {
        self.accounts.iter().any(|a| a.id.as_str() == account)
            || self
                .transfers
                .iter()
                .any(|t| t.debit.as_str() == account || t.credit.as_str() == account)
            || self
                .computed
                .as_ref()
                .is_some_and(|c| c.accounts().iter().any(|a| a.as_str() == account))
    }

    /// A job that only stores an answer under its key (a declined card, an event that
    /// changes nothing), so that a retry is answered the same; a used key is a duplicate.
    pub fn answer(record: IdempotencyRecord) -> WriteJob {
        WriteJob {
            idempotency: Some(record),
            ..WriteJob::default()
        }
    }
}

/// Why a job was refused; nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The ledger refused the transfers.
    Ledger(LedgerError),
    /// An account with a balance rule (a wallet, a budget) holds less than the job takes.
    InsufficientFunds {
        /// The account.
        account: AccountId,
    },
    /// A [`Guard::SpendLimit`] failed.
    SpendingLimit,
    /// A [`Guard::Status`] failed (the row is missing or has another status), or a
    /// [`Guard::Absent`] (the row exists).
    Status(RowRef),
    /// A [`Computed::PayOut`] found less than its minimum.
    BelowMinimum,
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written.
    Applied,
    /// Its transfers all existed already: nothing written.
    Replayed,
    /// Its idempotency key was already used: nothing written; here is the stored answer.
    Duplicate(IdempotencyRecord),
    /// Refused: nothing written.
    Refused(Refusal),
}
