// Ids are the server's own (purchase, payout, offer ids and a suffix), never a caller's
// text: a fast hash, not a DoS-resistant one, is right for them.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::model::{Account, AccountId, Balances, LedgerError, Transfer, TransferId, TransferKind};

/// How a set of transfers was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The set was new and is now applied.
    Posted,
    /// Every transfer of the set already existed with the same fields: nothing changed.
    Replayed,
}

/// What a [`Book`] changed since it was loaded: new accounts, new transfers in the order they
/// were applied, and the change of each touched account's balances (sorted by account id, the
/// order in which a database should lock them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Accounts opened.
    pub accounts: Vec<Account>,
    /// Transfers applied, in order.
    pub transfers: Vec<Transfer>,
    /// Per account, the balances after minus the balances as loaded; no all-zero entries.
    pub deltas: Vec<(AccountId, Balances)>,
}

/// A working set of the ledger: the accounts and transfers that a batch touches, with their
/// balances. It applies sets of transfers atomically and remembers what it changed.
///
/// The whole ledger in memory is a `Book` loaded with everything (the property tests use it
/// that way); the store's batching writer loads only what one batch needs.
#[derive(Debug, Default)]
pub struct Book {
    accounts: HashMap<AccountId, (Account, Balances)>,
    base: HashMap<AccountId, Balances>,
    transfers: HashMap<TransferId, Transfer>,
    resolved: HashSet<TransferId>,
    new_accounts: Vec<Account>,
    new_transfers: Vec<Transfer>,
}

impl Book {
    /// An empty book.
    pub fn new() -> Book {
        Book::default()
    }

    /// Adds an account as it stands in the store (not a change).
    pub fn load_account(&mut self, account: Account, balances: Balances) {
        self.base.insert(account.id.clone(), balances);
        self.accounts
            .insert(account.id.clone(), (account, balances));
    }

    /// Adds a transfer that exists in the store (not a change); `resolved` tells, for a
    /// pending transfer, whether it was already posted or voided.
    pub fn load_transfer(&mut self, transfer: Transfer, resolved: bool) {
        if resolved {
            self.resolved.insert(transfer.id.clone());
        }
        self.transfers.insert(transfer.id.clone(), transfer);
    }

    /// Opens `account` with zero balances unless an account with its id is known.
    /// Returns whether it was opened.
    pub fn open_account(&mut self, account: Account) -> bool {
        if self.accounts.contains_key(&account.id) {
            return false;
        }
        self.base.insert(account.id.clone(), Balances::default());
        self.accounts
            .insert(account.id.clone(), (account.clone(), Balances::default()));
        self.new_accounts.push(account);
        true
    }

    /// The account and its current balances.
    pub fn account(&self, id: &AccountId) -> Option<(&Account, &Balances)> {
        self.accounts.get(id).map(|(a, b)| (a, b))
    }

    /// Every account with its balances, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Account, &Balances)> {
        self.accounts.values().map(|(a, b)| (a, b))
    }

    /// A known transfer.
    pub fn transfer(&self, id: &TransferId) -> Option<&Transfer> {
        self.transfers.get(id)
    }

    /// Applies `set` atomically: every transfer or none. A set whose transfers all exist
    /// already with the same fields is a replay and changes nothing.
    pub fn apply(&mut self, set: &[Transfer]) -> Result<Applied, LedgerError> {
        let mut ids = HashSet::with_capacity_and_hasher(set.len(), Default::default());
        for t in set {
            if !ids.insert(&t.id) {
                return Err(LedgerError::DuplicateInSet(t.id.clone()));
            }
        }
        if let Some(applied) = self.replay_of(set)? {
            return Ok(applied);
        }

        let mut staged: HashMap<&AccountId, Balances> = HashMap::default();
        let mut resolving: HashSet<&TransferId> = HashSet::default();
        for t in set {
            self.stage(t, set, &mut staged, &mut resolving)?;
        }

        for (id, balances) in staged {
            if let Some(entry) = self.accounts.get_mut(id) {
                entry.1 = balances;
            }
        }
        for t in set {
            if let Some(p) = t.kind.pending_id() {
                self.resolved.insert(p.clone());
            }
            self.transfers.insert(t.id.clone(), t.clone());
            self.new_transfers.push(t.clone());
        }
        Ok(Applied::Posted)
    }

    /// `Some(Replayed)` when all of `set` exists unchanged, `None` when none of it exists.
    fn replay_of(&self, set: &[Transfer]) -> Result<Option<Applied>, LedgerError> {
        let mut existing = 0usize;
        for t in set {
            if let Some(old) = self.transfers.get(&t.id) {
                if old != t {
                    return Err(LedgerError::ExistsWithDifferentFields(t.id.clone()));
                }
                existing += 1;
            }
        }
        if existing == 0 {
            Ok(None)
        } else if existing == set.len() {
            Ok(Some(Applied::Replayed))
        } else {
            let first = set
                .iter()
                .find(|t| self.transfers.contains_key(&t.id))
                .map(|t| t.id.clone())
                .expect("existing > 0 means one transfer of the set exists");
            Err(LedgerError::PartlyApplied(first))
        }
    }

    fn stage<'s>(
        &self,
        t: &'s Transfer,
        set: &'s [Transfer],
        staged: &mut HashMap<&'s AccountId, Balances>,
        resolving: &mut HashSet<&'s TransferId>,
    ) -> Result<(), LedgerError> {
        let unknown = |account: &AccountId| LedgerError::UnknownAccount {
            transfer: t.id.clone(),
            account: account.clone(),
        };
        let (debit_account, debit_now) = self
            .accounts
            .get(&t.debit)
            .ok_or_else(|| unknown(&t.debit))?;
        let (credit_account, credit_now) = self
            .accounts
            .get(&t.credit)
            .ok_or_else(|| unknown(&t.credit))?;
        if t.debit == t.credit {
            return Err(LedgerError::SameAccount(t.id.clone()));
        }
        if debit_account.currency != t.currency || credit_account.currency != t.currency {
            return Err(LedgerError::CurrencyMismatch(t.id.clone()));
        }
        if t.amount <= 0 {
            return Err(LedgerError::AmountNotPositive(t.id.clone()));
        }
        let mut debit = *staged.get(&t.debit).unwrap_or(debit_now);
        let mut credit = *staged.get(&t.credit).unwrap_or(credit_now);
        let overflow = || LedgerError::Overflow(t.id.clone());
        let add = |x: i64, y: i64| x.checked_add(y).ok_or_else(overflow);

        match &t.kind {
            TransferKind::Posted | TransferKind::Pending => {
                if t.kind == TransferKind::Posted {
                    debit.debits_posted = add(debit.debits_posted, t.amount)?;
                    credit.credits_posted = add(credit.credits_posted, t.amount)?;
                } else {
                    debit.debits_pending = add(debit.debits_pending, t.amount)?;
                    credit.credits_pending = add(credit.credits_pending, t.amount)?;
                }
                for (account, balances) in [(debit_account, &debit), (credit_account, &credit)] {
                    if !account.rule.allows(balances) {
                        return Err(LedgerError::ExceedsBalanceRule {
                            transfer: t.id.clone(),
                            account: account.id.clone(),
                        });
                    }
                }
            }
            TransferKind::PostPending(p) | TransferKind::VoidPending(p) => {
                let pending = self
                    .transfers
                    .get(p)
                    .or_else(|| set.iter().find(|s| &s.id == p && s.id != t.id))
                    .filter(|s| s.kind == TransferKind::Pending)
                    .ok_or_else(|| LedgerError::PendingNotFound {
                        transfer: t.id.clone(),
                        pending: p.clone(),
                    })?;
                if self.resolved.contains(p) || !resolving.insert(p) {
                    return Err(LedgerError::PendingAlreadyResolved(p.clone()));
                }
                let is_post = matches!(t.kind, TransferKind::PostPending(_));
                let amount_ok = if is_post {
                    t.amount <= pending.amount
                } else {
                    t.amount == pending.amount
                };
                if pending.debit != t.debit
                    || pending.credit != t.credit
                    || pending.currency != t.currency
                    || !amount_ok
                {
                    return Err(LedgerError::PendingMismatch(t.id.clone()));
                }
                debit.debits_pending -= pending.amount;
                credit.credits_pending -= pending.amount;
                if is_post {
                    debit.debits_posted = add(debit.debits_posted, t.amount)?;
                    credit.credits_posted = add(credit.credits_posted, t.amount)?;
                }
            }
        }
        staged.insert(&t.debit, debit);
        staged.insert(&t.credit, credit);
        Ok(())
    }

    /// Hands over what changed since loading (or the last call) and starts afresh from the
    /// current balances.
    pub fn take_changes(&mut self) -> Changes {
        let mut deltas: Vec<(AccountId, Balances)> = self
            .accounts
            .iter()
            .filter_map(|(id, (_, now))| {
                let base = self.base.get(id).copied().unwrap_or_default();
                let delta = now.delta_from(&base);
                (!delta.is_zero()).then(|| (id.clone(), delta))
            })
            .collect();
        deltas.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, (_, now)) in &self.accounts {
            self.base.insert(id.clone(), *now);
        }
        Changes {
            accounts: std::mem::take(&mut self.new_accounts),
            transfers: std::mem::take(&mut self.new_transfers),
            deltas,
        }
    }
}
