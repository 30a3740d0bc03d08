use std::collections::{BTreeMap, HashMap, HashSet};

use money::Currency;

use crate::model::{Account, AccountId, Balances, Transfer, TransferId, TransferKind};

/// At most this many problems are listed; the count of the rest is given instead.
const PROBLEMS_MAX: usize = 1_000;

/// What [`Verifier::finish`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// No problem found.
    pub ok: bool,
    /// Transfers read.
    pub transfers: u64,
    /// Accounts read.
    pub accounts: u64,
    /// One sentence per broken invariant, naming the accounts and transfers involved.
    pub problems: Vec<String>,
}

#[derive(Debug)]
struct Pending {
    debit: AccountId,
    credit: AccountId,
    amount: i64,
    resolved: bool,
}

/// Recomputes every balance from the transfers, in the order they were applied, and checks
/// every rule: each transfer well-formed and in one currency, each pending transfer resolved
/// at most once, no balance rule broken at any step, every stored balance equal to the
/// recomputed one, and debits equal to credits per currency. Transfers are streamed in, so a
/// ledger of any size verifies in memory proportional to its accounts and pending transfers.
#[derive(Debug)]
pub struct Verifier {
    accounts: HashMap<AccountId, (Account, Balances, Balances)>,
    pendings: HashMap<TransferId, Pending>,
    seen: HashSet<TransferId>,
    transfers: u64,
    problems: Vec<String>,
    problems_dropped: u64,
}

impl Verifier {
    /// Starts from the accounts and the balances the store holds for them.
    pub fn new(accounts: impl IntoIterator<Item = (Account, Balances)>) -> Verifier {
        Verifier {
            accounts: accounts
                .into_iter()
                .map(|(a, stored)| (a.id.clone(), (a, stored, Balances::default())))
                .collect(),
            pendings: HashMap::new(),
            seen: HashSet::new(),
            transfers: 0,
            problems: Vec::new(),
            problems_dropped: 0,
        }
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < PROBLEMS_MAX {
            self.problems.push(text);
        } else {
            self.problems_dropped += 1;
        }
    }

    /// Takes the next transfer, in the order the ledger applied them.
    pub fn add(&mut self, t: &Transfer) {
        self.transfers += 1;
        if !self.seen.insert(t.id.clone()) {
            self.problem(format!("transfer {} appears twice", t.id));
            return;
        }
        if t.amount <= 0 {
            self.problem(format!(
                "transfer {} has non-positive amount {}",
                t.id, t.amount
            ));
            return;
        }
        if t.debit == t.credit {
            self.problem(format!("transfer {} debits and credits {}", t.id, t.debit));
            return;
        }
        for id in [&t.debit, &t.credit] {
            match self.accounts.get(id) {
                None => {
                    self.problem(format!("transfer {} names unknown account {id}", t.id));
                    return;
                }
                Some((a, _, _)) if a.currency != t.currency => {
                    self.problem(format!(
                        "transfer {} in {} touches account {id} in {}",
                        t.id, t.currency, a.currency
                    ));
                    return;
                }
                Some(_) => {}
            }
        }
        let (mut debit_delta, mut credit_delta) = (Balances::default(), Balances::default());
        match &t.kind {
            TransferKind::Posted => {
                debit_delta.debits_posted = t.amount;
                credit_delta.credits_posted = t.amount;
            }
            TransferKind::Pending => {
                debit_delta.debits_pending = t.amount;
                credit_delta.credits_pending = t.amount;
                self.pendings.insert(
                    t.id.clone(),
                    Pending {
                        debit: t.debit.clone(),
                        credit: t.credit.clone(),
                        amount: t.amount,
                        resolved: false,
                    },
                );
            }
            TransferKind::PostPending(p) | TransferKind::VoidPending(p) => {
                let is_post = matches!(t.kind, TransferKind::PostPending(_));
                let Some(pending) = self.pendings.get_mut(p) else {
                    self.problem(format!(
                        "transfer {} resolves unknown pending transfer {p}",
                        t.id
                    ));
                    return;
                };
                if pending.resolved {
                    self.problem(format!(
                        "pending transfer {p} resolved twice (again by {})",
                        t.id
                    ));
                    return;
                }
                let amount_ok = if is_post {
                    t.amount <= pending.amount
                } else {
                    t.amount == pending.amount
                };
                if pending.debit != t.debit || pending.credit != t.credit || !amount_ok {
                    self.problem(format!(
                        "transfer {} does not match pending transfer {p}",
                        t.id
                    ));
                    return;
                }
                pending.resolved = true;
                debit_delta.debits_pending = -pending.amount;
                credit_delta.credits_pending = -pending.amount;
                if is_post {
                    debit_delta.debits_posted = t.amount;
                    credit_delta.credits_posted = t.amount;
                }
            }
        }
        let adds_exposure = matches!(t.kind, TransferKind::Posted | TransferKind::Pending);
        for (id, delta) in [(&t.debit, debit_delta), (&t.credit, credit_delta)] {
            let broken = {
                let (account, _, computed) = self
                    .accounts
                    .get_mut(id)
                    .expect("both accounts were checked to exist above");
                computed.debits_posted += delta.debits_posted;
                computed.credits_posted += delta.credits_posted;
                computed.debits_pending += delta.debits_pending;
                computed.credits_pending += delta.credits_pending;
                adds_exposure && !account.rule.allows(computed)
            };
            if broken {
                self.problem(format!(
                    "transfer {} breaks the balance rule of account {id}",
                    t.id
                ));
            }
        }
    }

    /// Compares stored with recomputed balances and sums debits and credits per currency.
    pub fn finish(mut self) -> Report {
        let mut mismatches: Vec<String> = self
            .accounts
            .values()
            .filter(|(_, stored, computed)| stored != computed)
            .map(|(a, stored, computed)| {
                format!(
                    "account {} stores {stored:?} but its transfers sum to {computed:?}",
                    a.id
                )
            })
            .collect();
        mismatches.sort();
        for m in mismatches {
            self.problem(m);
        }
        let mut per_currency: BTreeMap<Currency, (i128, i128)> = BTreeMap::new();
        for (a, _, computed) in self.accounts.values() {
            let e = per_currency.entry(a.currency).or_default();
            e.0 += i128::from(computed.debits_posted);
            e.1 += i128::from(computed.credits_posted);
        }
        for (currency, (debits, credits)) in per_currency {
            if debits != credits {
                self.problem(format!(
                    "{currency}: posted debits {debits} differ from posted credits {credits}"
                ));
            }
        }
        if self.problems_dropped > 0 {
            let more = self.problems_dropped;
            self.problems.push(format!("and {more} more problems"));
        }
        Report {
            ok: self.problems.is_empty(),
            transfers: self.transfers,
            accounts: self.accounts.len() as u64,
            problems: self.problems,
        }
    }
}
