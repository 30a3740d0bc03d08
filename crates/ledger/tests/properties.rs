//! Random sequences of ledger operations, including retries, conflicting retries, failing
//! sets and two-phase transfers, never create or lose money and never break a rule: after
//! every step the verifier, replaying every applied transfer from zero, agrees with the
//! book's balances and finds nothing wrong.

use ledger::{
    Account, AccountId, Applied, BalanceRule, Balances, Book, Code, LedgerError, Purpose, Transfer,
    TransferId, TransferKind, Verifier,
};
use money::Currency;
use proptest::prelude::*;

fn accounts() -> Vec<Account> {
    let mut out = Vec::new();
    for (i, currency) in [
        Currency::USD,
        Currency::USD,
        Currency::USD,
        Currency::JPY,
        Currency::JPY,
    ]
    .into_iter()
    .enumerate()
    {
        let mut a = Account::of(&format!("owner{i}"), Purpose::CreatorPending, currency);
        // Accounts 1 and 4 are wallets: they may never go below zero.
        if i == 1 || i == 4 {
            a.rule = BalanceRule::DebitsMustNotExceedCredits;
        }
        out.push(a);
    }
    out
}

#[derive(Debug, Clone)]
enum Op {
    /// A new set of (debit, credit, amount, pending?) transfers.
    Set(Vec<(usize, usize, i64, bool)>),
    /// Resend an earlier set unchanged.
    Retry(usize),
    /// Resend an earlier set with another amount.
    Conflict(usize),
    /// Post part of (or all) an earlier pending transfer.
    Post(usize, i64),
    /// Void an earlier pending transfer.
    Void(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0usize..5, 0usize..5, -5i64..1_000, any::<bool>()), 1..4).prop_map(Op::Set),
        1 => (0usize..64).prop_map(Op::Retry),
        1 => (0usize..64).prop_map(Op::Conflict),
        1 => (0usize..64, 0i64..1_200).prop_map(|(i, a)| Op::Post(i, a)),
        1 => (0usize..64).prop_map(Op::Void),
    ]
}

struct World {
    book: Book,
    accounts: Vec<Account>,
    sets: Vec<(Vec<Transfer>, bool)>,
    pendings: Vec<Transfer>,
    applied: Vec<Transfer>,
    next: u64,
}

impl World {
    fn new() -> World {
        let mut book = Book::new();
        let accounts = accounts();
        for a in &accounts {
            book.load_account(a.clone(), Balances::default());
        }
        World {
            book,
            accounts,
            sets: Vec::new(),
            pendings: Vec::new(),
            applied: Vec::new(),
            next: 0,
        }
    }

    fn id(&mut self) -> TransferId {
        self.next += 1;
        TransferId::new(format!("t{}", self.next))
    }

    fn transfer(
        &mut self,
        debit: usize,
        credit: usize,
        amount: i64,
        kind: TransferKind,
    ) -> Transfer {
        let id = self.id();
        let d = &self.accounts[debit];
        Transfer {
            id,
            debit: d.id.clone(),
            credit: self.accounts[credit].id.clone(),
            amount,
            currency: d.currency,
            kind,
            code: Code::BADGE_SHARE,
            reference: "prop".into(),
        }
    }

    fn apply(&mut self, set: Vec<Transfer>) -> Result<Applied, LedgerError> {
        let before: Vec<Balances> = self
            .accounts
            .iter()
            .map(|a| *self.book.account(&a.id).expect("known").1)
            .collect();
        let result = self.book.apply(&set);
        match &result {
            Ok(Applied::Posted) => {
                for t in &set {
                    if t.kind == TransferKind::Pending {
                        self.pendings.push(t.clone());
                    }
                }
                self.applied.extend(set.iter().cloned());
                self.sets.push((set, true));
            }
            Ok(Applied::Replayed) | Err(_) => {
                // Nothing changed: a refused set is all-or-nothing.
                let after: Vec<Balances> = self
                    .accounts
                    .iter()
                    .map(|a| *self.book.account(&a.id).expect("known").1)
                    .collect();
                assert_eq!(before, after, "a replayed or refused set changed balances");
                if result.is_err() {
                    self.sets.push((set, false));
                }
            }
        }
        result
    }

    fn check(&self) {
        let mut verifier = Verifier::new(
            self.accounts
                .iter()
                .map(|a| (a.clone(), *self.book.account(&a.id).expect("known").1)),
        );
        for t in &self.applied {
            verifier.add(t);
        }
        let report = verifier.finish();
        assert!(report.ok, "verifier found problems: {:?}", report.problems);
        for a in &self.accounts {
            let b = self.book.account(&a.id).expect("known").1;
            assert!(a.rule.allows(b), "rule of {} broken: {b:?}", a.id);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn money_is_conserved_and_rules_hold_whatever_the_sequence(ops in prop::collection::vec(op(), 1..60)) {
        let mut w = World::new();
        for op in ops {
            match op {
                Op::Set(spec) => {
                    let set: Vec<Transfer> = spec
                        .into_iter()
                        .map(|(d, c, amount, pending)| {
                            let kind = if pending { TransferKind::Pending } else { TransferKind::Posted };
                            w.transfer(d, c, amount, kind)
                        })
                        .collect();
                    let _ = w.apply(set);
                }
                Op::Retry(i) if !w.sets.is_empty() => {
                    let (set, _) = w.sets[i % w.sets.len()].clone();
                    // A set refused once may have been posted by a later retry.
                    let posted = set.iter().all(|t| w.book.transfer(&t.id) == Some(t));
                    let result = w.apply(set);
                    if posted {
                        prop_assert_eq!(result, Ok(Applied::Replayed));
                    } else {
                        prop_assert_ne!(result, Ok(Applied::Replayed));
                    }
                }
                Op::Conflict(i) if !w.sets.is_empty() => {
                    let (mut set, was_applied) = w.sets[i % w.sets.len()].clone();
                    set[0].amount += 1;
                    let result = w.apply(set);
                    if was_applied {
                        prop_assert!(matches!(result, Err(LedgerError::ExistsWithDifferentFields(_))), "{result:?}");
                    }
                }
                Op::Post(i, amount) if !w.pendings.is_empty() => {
                    let p = w.pendings[i % w.pendings.len()].clone();
                    let t = Transfer { id: w.id(), amount, kind: TransferKind::PostPending(p.id.clone()), ..p };
                    let _ = w.apply(vec![t]);
                }
                Op::Void(i) if !w.pendings.is_empty() => {
                    let p = w.pendings[i % w.pendings.len()].clone();
                    let t = Transfer { id: w.id(), kind: TransferKind::VoidPending(p.id.clone()), ..p };
                    let _ = w.apply(vec![t]);
                }
                _ => {}
            }
            w.check();
        }
    }
}

fn two_accounts(rule: BalanceRule) -> (Book, AccountId, AccountId) {
    let mut book = Book::new();
    let source = Account::of("platform", Purpose::ProcessorClearing, Currency::USD);
    let mut wallet = Account::of("viewer", Purpose::CreatorAvailable, Currency::USD);
    wallet.rule = rule;
    let ids = (source.id.clone(), wallet.id.clone());
    book.load_account(source, Balances::default());
    book.load_account(wallet, Balances::default());
    (book, ids.0, ids.1)
}

fn posted(id: &str, debit: &AccountId, credit: &AccountId, amount: i64) -> Transfer {
    Transfer {
        id: TransferId::new(id),
        debit: debit.clone(),
        credit: credit.clone(),
        amount,
        currency: Currency::USD,
        kind: TransferKind::Posted,
        code: Code::BADGE_SHARE,
        reference: "test".into(),
    }
}

#[test]
fn a_wallet_cannot_be_overdrawn_and_the_whole_set_is_refused() {
    let (mut book, source, wallet) = two_accounts(BalanceRule::DebitsMustNotExceedCredits);
    book.apply(&[posted("top-up", &source, &wallet, 500)])
        .expect("top-up");
    let result = book.apply(&[
        posted("ok-part", &wallet, &source, 300),
        posted("too-much", &wallet, &source, 300),
    ]);
    assert!(
        matches!(result, Err(LedgerError::ExceedsBalanceRule { .. })),
        "{result:?}"
    );
    assert_eq!(
        book.account(&wallet)
            .expect("known")
            .1
            .credit_balance(Currency::USD)
            .amount(),
        500
    );
}

#[test]
fn posting_a_set_twice_is_a_replay_and_changes_nothing() {
    let (mut book, source, wallet) = two_accounts(BalanceRule::None);
    let set = [
        posted("a", &source, &wallet, 100),
        posted("b", &source, &wallet, 50),
    ];
    assert_eq!(book.apply(&set), Ok(Applied::Posted));
    assert_eq!(book.apply(&set), Ok(Applied::Replayed));
    assert_eq!(book.account(&wallet).expect("known").1.credits_posted, 150);
    let partly = [
        posted("a", &source, &wallet, 100),
        posted("c", &source, &wallet, 1),
    ];
    assert_eq!(
        book.apply(&partly),
        Err(LedgerError::PartlyApplied(TransferId::new("a")))
    );
}

#[test]
fn a_pending_transfer_is_posted_or_voided_once() {
    let (mut book, source, wallet) = two_accounts(BalanceRule::None);
    let pending = Transfer {
        kind: TransferKind::Pending,
        ..posted("hold", &source, &wallet, 100)
    };
    book.apply(std::slice::from_ref(&pending)).expect("pending");
    assert_eq!(book.account(&wallet).expect("known").1.credits_pending, 100);
    let post = Transfer {
        kind: TransferKind::PostPending(pending.id.clone()),
        ..posted("post", &source, &wallet, 60)
    };
    book.apply(&[post]).expect("post");
    let b = *book.account(&wallet).expect("known").1;
    assert_eq!((b.credits_pending, b.credits_posted), (0, 60));
    let void = Transfer {
        kind: TransferKind::VoidPending(pending.id.clone()),
        ..posted("void", &source, &wallet, 100)
    };
    assert_eq!(
        book.apply(&[void]),
        Err(LedgerError::PendingAlreadyResolved(pending.id))
    );
}

#[test]
fn take_changes_reports_summed_deltas_sorted_by_account() {
    let (mut book, source, wallet) = two_accounts(BalanceRule::None);
    book.apply(&[posted("a", &source, &wallet, 100)])
        .expect("a");
    book.apply(&[posted("b", &source, &wallet, 23)]).expect("b");
    let changes = book.take_changes();
    assert_eq!(changes.transfers.len(), 2);
    let mut expected = vec![
        (
            source.clone(),
            Balances {
                debits_posted: 123,
                ..Balances::default()
            },
        ),
        (
            wallet.clone(),
            Balances {
                credits_posted: 123,
                ..Balances::default()
            },
        ),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(changes.deltas, expected);
    assert!(book.take_changes().deltas.is_empty());
}

#[test]
fn the_verifier_finds_a_stored_balance_that_its_transfers_do_not_explain() {
    let source = Account::of("platform", Purpose::ProcessorClearing, Currency::USD);
    let creator = Account::of("c", Purpose::CreatorPending, Currency::USD);
    let t = posted("a", &source.id, &creator.id, 100);
    let mut verifier = Verifier::new([
        (
            source.clone(),
            Balances {
                debits_posted: 100,
                ..Balances::default()
            },
        ),
        (
            creator.clone(),
            Balances {
                credits_posted: 101,
                ..Balances::default()
            },
        ),
    ]);
    verifier.add(&t);
    let report = verifier.finish();
    assert!(!report.ok);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(creator.id.as_str())),
        "{:?}",
        report.problems
    );
}
