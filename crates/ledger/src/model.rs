use std::fmt;

use money::{Currency, Money};

/// An account's id: deterministic from its owner, purpose and currency, so that a transfer
/// can name its accounts without a look-up.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// The id of `owner`'s account for `purpose` in `currency`, e.g. `acc_1/creator_pending/USD`.
    pub fn of(owner: &str, purpose: Purpose, currency: Currency) -> AccountId {
        AccountId(format!("{owner}/{}/{}", purpose.as_str(), currency.code()))
    }

    /// Wraps an id read back from the store.
    pub fn from_stored(id: String) -> AccountId {
        AccountId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A transfer's id: unique forever; posting a transfer with an id already posted is a replay.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransferId(String);

impl TransferId {
    /// Wraps an id chosen by the caller; callers derive ids from the business event
    /// (`pur_…/share`) so that a retried event produces the same ids.
    pub fn new(id: impl Into<String>) -> TransferId {
        TransferId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account is for. Stored as text; new purposes are added as the product grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Money received from the payment processor on the platform's behalf (debit-normal).
    ProcessorClearing,
    /// A creator's income still inside its hold period.
    CreatorPending,
    /// A creator's income that can be paid out.
    CreatorAvailable,
    /// What has been paid out to a creator.
    CreatorPaidOut,
    /// The platform's fee income.
    PlatformFees,
    /// What the payment processor kept of card payments (its fee).
    ProcessorFees,
    /// The platform's own money put into the books (it funds match budgets): debit-normal.
    PlatformFunds,
    /// A match program's budget (owner: the program): never below zero.
    MatchBudget,
    /// A viewer's prepaid wallet: never below zero.
    Wallet,
    /// Losses the platform bears (a disputed wallet top-up already spent).
    PlatformLosses,
    /// What a wallet's owner owes (debit-normal): a top-up refunded at the provider after
    /// part of it was spent; later top-ups pay it back first.
    WalletDebt,
}

impl Purpose {
    /// Every purpose, for parsing and tests.
    pub const ALL: [Purpose; 11] = [
        Purpose::ProcessorClearing,
        Purpose::CreatorPending,
        Purpose::CreatorAvailable,
        Purpose::CreatorPaidOut,
        Purpose::PlatformFees,
        Purpose::ProcessorFees,
        Purpose::PlatformFunds,
        Purpose::MatchBudget,
        Purpose::Wallet,
        Purpose::PlatformLosses,
        Purpose::WalletDebt,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ProcessorClearing => "processor_clearing",
            Purpose::CreatorPending => "creator_pending",
            Purpose::CreatorAvailable => "creator_available",
            Purpose::CreatorPaidOut => "creator_paid_out",
            Purpose::PlatformFees => "platform_fees",
            Purpose::ProcessorFees => "processor_fees",
            Purpose::PlatformFunds => "platform_funds",
            Purpose::MatchBudget => "match_budget",
            Purpose::Wallet => "wallet",
            Purpose::PlatformLosses => "platform_losses",
            Purpose::WalletDebt => "wallet_debt",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Purpose> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The balance rule an account of this purpose gets when it is opened.
    pub fn default_rule(self) -> BalanceRule {
        match self {
            // Clearing is where card money enters the books: its debit balance grows freely.
            Purpose::ProcessorClearing => BalanceRule::None,
            // A creator may go negative after a chargeback; the debt is recovered later.
            Purpose::CreatorPending | Purpose::CreatorAvailable => BalanceRule::None,
            Purpose::CreatorPaidOut | Purpose::PlatformFees | Purpose::ProcessorFees => {
                BalanceRule::None
            }
            Purpose::PlatformFunds | Purpose::PlatformLosses | Purpose::WalletDebt => {
                BalanceRule::None
            }
            // A budget and a wallet hold money that exists: they never go below zero.
            Purpose::MatchBudget | Purpose::Wallet => BalanceRule::DebitsMustNotExceedCredits,
        }
    }
}

/// A limit an account's balance must always respect, checked with pending amounts counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BalanceRule {
    /// No limit.
    None,
    /// Debits (posted and pending) may never exceed posted credits: the account cannot go
    /// below zero, like a viewer's prepaid wallet or a budget.
    DebitsMustNotExceedCredits,
    /// Credits (posted and pending) may never exceed posted debits.
    CreditsMustNotExceedDebits,
}

impl BalanceRule {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceRule::None => "none",
            BalanceRule::DebitsMustNotExceedCredits => "debits_must_not_exceed_credits",
            BalanceRule::CreditsMustNotExceedDebits => "credits_must_not_exceed_debits",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<BalanceRule> {
        [
            BalanceRule::None,
            BalanceRule::DebitsMustNotExceedCredits,
            BalanceRule::CreditsMustNotExceedDebits,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// Whether `b` respects the rule.
    pub fn allows(self, b: &Balances) -> bool {
        match self {
            BalanceRule::None => true,
            BalanceRule::DebitsMustNotExceedCredits => {
                i128::from(b.debits_posted) + i128::from(b.debits_pending)
                    <= i128::from(b.credits_posted)
            }
            BalanceRule::CreditsMustNotExceedDebits => {
                i128::from(b.credits_posted) + i128::from(b.credits_pending)
                    <= i128::from(b.debits_posted)
            }
        }
    }
}

/// An account: its balances live beside it in [`Balances`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The id, from [`AccountId::of`].
    pub id: AccountId,
    /// Who the account belongs to: an account id of the product, or `platform`.
    pub owner: String,
    /// What it is for.
    pub purpose: Purpose,
    /// Its one currency.
    pub currency: Currency,
    /// The limit its balance keeps.
    pub rule: BalanceRule,
}

impl Account {
    /// The account of `owner` for `purpose` in `currency`, with the purpose's default rule.
    pub fn of(owner: &str, purpose: Purpose, currency: Currency) -> Account {
        Account {
            id: AccountId::of(owner, purpose, currency),
            owner: owner.to_owned(),
            purpose,
            currency,
            rule: purpose.default_rule(),
        }
    }
}

/// The four running sums of an account, in minor units; each only ever grows but for the
/// pending ones, which shrink when a pending transfer is posted or voided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balances {
    /// Sum of posted transfers debiting the account.
    pub debits_posted: i64,
    /// Sum of posted transfers crediting the account.
    pub credits_posted: i64,
    /// Sum of pending transfers debiting the account.
    pub debits_pending: i64,
    /// Sum of pending transfers crediting the account.
    pub credits_pending: i64,
}

impl Balances {
    /// Posted credits minus posted debits: what a credit-normal account (a creator's
    /// earnings) holds.
    pub fn credit_balance(&self, currency: Currency) -> Money {
        Money::new(self.credits_posted - self.debits_posted, currency)
    }

    /// `self - base`, field by field: what a batch changed.
    pub fn delta_from(&self, base: &Balances) -> Balances {
        Balances {
            debits_posted: self.debits_posted - base.debits_posted,
            credits_posted: self.credits_posted - base.credits_posted,
            debits_pending: self.debits_pending - base.debits_pending,
            credits_pending: self.credits_pending - base.credits_pending,
        }
    }

    /// Whether every field is zero.
    pub fn is_zero(&self) -> bool {
        *self == Balances::default()
    }
}

/// A transfer's role in the two-phase protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// Posted at once.
    Posted,
    /// Reserves the amount: counted in pending balances until posted or voided.
    Pending,
    /// Posts (all or part of) the pending transfer named; the rest is released.
    PostPending(TransferId),
    /// Releases the pending transfer named.
    VoidPending(TransferId),
}

impl TransferKind {
    /// The stored name of the kind (the pending id is stored beside it).
    pub fn as_str(&self) -> &'static str {
        match self {
            TransferKind::Posted => "posted",
            TransferKind::Pending => "pending",
            TransferKind::PostPending(_) => "post_pending",
            TransferKind::VoidPending(_) => "void_pending",
        }
    }

    /// The pending transfer this one resolves, if any.
    pub fn pending_id(&self) -> Option<&TransferId> {
        match self {
            TransferKind::PostPending(id) | TransferKind::VoidPending(id) => Some(id),
            TransferKind::Posted | TransferKind::Pending => None,
        }
    }

    /// Rebuilds a kind read back from the store.
    pub fn from_stored(kind: &str, pending_id: Option<String>) -> Option<TransferKind> {
        match (kind, pending_id) {
            ("posted", None) => Some(TransferKind::Posted),
            ("pending", None) => Some(TransferKind::Pending),
            ("post_pending", Some(p)) => Some(TransferKind::PostPending(TransferId::new(p))),
            ("void_pending", Some(p)) => Some(TransferKind::VoidPending(TransferId::new(p))),
            _ => None,
        }
    }
}

/// What a transfer is for, as a small number the product defines (TigerBeetle's `code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(pub u16);

impl Code {
    /// A badge purchase's share for the creator.
    pub const BADGE_SHARE: Code = Code(1);
    /// A badge purchase's platform fee.
    pub const BADGE_FEE: Code = Code(2);
    /// Reversal of a badge share by a refund.
    pub const BADGE_SHARE_REFUND: Code = Code(3);
    /// Reversal of a badge fee by a refund.
    pub const BADGE_FEE_REFUND: Code = Code(4);
    /// The payment processor's fee on a card payment.
    pub const PROCESSOR_FEE: Code = Code(5);
    /// Reversal of a processor fee by a refund.
    pub const PROCESSOR_FEE_REFUND: Code = Code(6);
    /// Reversal of a badge share by a chargeback (a dispute).
    pub const BADGE_SHARE_CHARGEBACK: Code = Code(7);
    /// Reversal of a badge fee by a chargeback.
    pub const BADGE_FEE_CHARGEBACK: Code = Code(8);
    /// Reversal of a processor fee by a chargeback.
    pub const PROCESSOR_FEE_CHARGEBACK: Code = Code(9);
    /// Income whose hold period ended: pending → available.
    pub const HOLD_RELEASE: Code = Code(10);
    /// A payout to the creator's bank (pending until the provider confirms).
    pub const PAYOUT: Code = Code(11);
    /// The platform's match of a purchase, from a match program's budget.
    pub const MATCH: Code = Code(12);
    /// Reversal of a match by a refund.
    pub const MATCH_REFUND: Code = Code(13);
    /// Reversal of a match by a chargeback.
    pub const MATCH_CHARGEBACK: Code = Code(14);
    /// The platform funding a match program's budget.
    pub const MATCH_FUNDING: Code = Code(15);
    /// A viewer's wallet top-up paid by card.
    pub const WALLET_TOPUP: Code = Code(16);
    /// The processor's fee on a wallet top-up, borne by the platform.
    pub const TOPUP_PROCESSOR_FEE: Code = Code(17);
    /// Reversal of a wallet top-up by a chargeback (from what is left in the wallet).
    pub const WALLET_TOPUP_CHARGEBACK: Code = Code(18);
    /// The part of a disputed top-up already spent: the platform's loss.
    pub const TOPUP_CHARGEBACK_LOSS: Code = Code(19);
    /// A match budget's unspent money returned to the platform.
    pub const MATCH_DEFUNDING: Code = Code(20);
    /// The processor's fee on a refunded card purchase, which the processor keeps: the
    /// platform gives it back to the buyer from its fees.
    pub const PROCESSOR_FEE_KEPT_REFUND: Code = Code(21);
    /// The same on a chargeback.
    pub const PROCESSOR_FEE_KEPT_CHARGEBACK: Code = Code(22);
    /// A paid payout the creator's bank returned (`payout.failed` after `payout.paid`): paid
    /// out → available.
    pub const PAYOUT_RETURN: Code = Code(23);
    /// A wallet top-up refunded at the provider: what is left in the wallet goes back.
    pub const WALLET_TOPUP_REFUND: Code = Code(24);
    /// The part of a refunded top-up already spent: the wallet's owner owes it.
    pub const TOPUP_REFUND_DEBT: Code = Code(25);
    /// A later top-up paying back what the wallet's owner owes.
    pub const WALLET_DEBT_REPAID: Code = Code(26);
    /// A creator's commission on a shop sale, from the brand's wallet to their pending balance.
    pub const COMMISSION_SHARE: Code = Code(27);
    /// The platform's fee on a commission, from the brand's wallet.
    pub const COMMISSION_FEE: Code = Code(28);
    /// A return taking back part of a commission's share, to the brand's wallet.
    pub const COMMISSION_SHARE_RETURN: Code = Code(29);
    /// A return taking back part of the platform's fee on a commission, to the brand's wallet.
    pub const COMMISSION_FEE_RETURN: Code = Code(30);
    /// A brand deal's fee held in escrow from the brand's wallet (the pending transfers of
    /// an offer, to the creator's pending balance and to the platform's fees) and their voids.
    pub const BRAND_DEAL_ESCROW: Code = Code(31);
    /// An approved brand deal's share, posted to the creator's pending balance.
    pub const BRAND_DEAL_SHARE: Code = Code(32);
    /// The platform's fee on an approved brand deal.
    pub const BRAND_DEAL_FEE: Code = Code(33);
}

/// An immutable movement of `amount` from `debit` to `credit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Unique id; reposting the same id with the same fields is a replay.
    pub id: TransferId,
    /// The account debited.
    pub debit: AccountId,
    /// The account credited.
    pub credit: AccountId,
    /// Positive amount in minor units of `currency`. A post moves at most the pending
    /// amount (the rest is released); a void names exactly the pending amount.
    pub amount: i64,
    /// Must be both accounts' currency.
    pub currency: Currency,
    /// Posted, pending, or the resolution of a pending transfer.
    pub kind: TransferKind,
    /// What it is for.
    pub code: Code,
    /// The business object it belongs to (a purchase id), for statements and audits.
    pub reference: String,
}

/// Why a set of transfers was refused. Nothing of a refused set is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A transfer's amount is not positive.
    #[error("transfer {0} must move a positive amount")]
    AmountNotPositive(TransferId),
    /// A transfer debits and credits the same account.
    #[error("transfer {0} debits and credits the same account")]
    SameAccount(TransferId),
    /// An account named by a transfer does not exist.
    #[error("transfer {transfer} names unknown account {account}")]
    UnknownAccount {
        /// The transfer.
        transfer: TransferId,
        /// The missing account.
        account: AccountId,
    },
    /// Currencies of the transfer and its accounts differ.
    #[error("transfer {0} mixes currencies")]
    CurrencyMismatch(TransferId),
    /// The id is taken by a transfer with other fields.
    #[error("transfer {0} already exists with different fields")]
    ExistsWithDifferentFields(TransferId),
    /// Some transfers of the set exist and others do not: not a clean replay.
    #[error("transfer set is partly applied already (at {0})")]
    PartlyApplied(TransferId),
    /// The set names the same transfer id twice.
    #[error("transfer {0} appears twice in one set")]
    DuplicateInSet(TransferId),
    /// The pending transfer to post or void does not exist or is not pending.
    #[error("transfer {transfer} resolves {pending}, which is not a pending transfer")]
    PendingNotFound {
        /// The resolving transfer.
        transfer: TransferId,
        /// The pending id it names.
        pending: TransferId,
    },
    /// The pending transfer was already posted or voided.
    #[error("pending transfer {0} was already posted or voided")]
    PendingAlreadyResolved(TransferId),
    /// A post or void differs from its pending transfer (accounts, currency, or a larger amount).
    #[error("transfer {0} does not match its pending transfer")]
    PendingMismatch(TransferId),
    /// Applying the transfer would break an account's balance rule.
    #[error("transfer {transfer} would break the balance rule of {account}")]
    ExceedsBalanceRule {
        /// The transfer.
        transfer: TransferId,
        /// The account whose rule it breaks.
        account: AccountId,
    },
    /// A running sum would overflow.
    #[error("transfer {0} overflows a balance")]
    Overflow(TransferId),
}
