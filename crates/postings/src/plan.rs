//! The writer's planning step, shared by both stores and free of IO: given the jobs of a
//! batch and what the store loaded for them ([`Needs`] → [`Loaded`]), [`plan`] decides each
//! job in order — a duplicate of a used key, refused by a guard or the ledger, a replay, or
//! applied — each seeing what the jobs before it did, and returns what to write: rows,
//! balance changes summed per account, income per owner and source. Before anything is
//! written it asserts that debits equal credits per currency (the verifier checks the same
//! after the fact: TigerBeetle's paired assertions).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use ledger::{
    Account, AccountId, Applied, Balances, Book, Code, Transfer, TransferId, TransferKind,
};
use money::Currency;
use time::OffsetDateTime;

use crate::IncomeSource;
use crate::ids::{PurchaseId, TopupId};
use crate::job::{Computed, Effect, Guard, Outcome, Refusal, RowRef, WriteJob, spendable};
use crate::records::{
    Hold, HoldStatus, IdempotencyRecord, Payout, Purchase, PurchaseStatus, Topup, TopupStatus,
};

/// A batch that cannot be written: a bug, never a caller's mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Debits and credits differ in a currency.
    #[error("unbalanced batch in {currency}: {sums:?}")]
    Unbalanced {
        /// The currency.
        currency: Currency,
        /// Debits and credits posted, debits and credits pending.
        sums: [i128; 4],
    },
    /// A balance changed on an account the batch did not hold.
    #[error("delta for unknown account {0}")]
    UnknownAccount(AccountId),
}

/// What a batch must load, each set sorted (PostgreSQL locks rows in this order).
#[derive(Debug, Default)]
pub struct Needs<'a> {
    /// Every account a job opens or a transfer names.
    pub accounts: BTreeSet<&'a str>,
    /// The accounts jobs open, by id (the first definition wins).
    pub opened: BTreeMap<&'a str, &'a Account>,
    /// Transfers named as the pending side of a post or void.
    pub pending_ids: BTreeSet<&'a str>,
    /// The batch's transfer ids and the pending ids.
    pub transfer_ids: BTreeSet<&'a str>,
    /// Idempotency keys, with the first record of each.
    pub keys: BTreeMap<(&'a str, &'a str), &'a IdempotencyRecord>,
    /// Rows whose status guards check, in lock order.
    pub rows: BTreeSet<&'a RowRef>,
    /// Accounts whose balance decides a computed amount: locked before planning.
    pub decide: BTreeSet<&'a str>,
    /// Match usage to read: (program, creator, currency).
    pub match_usage: BTreeSet<(&'a str, &'a str, Currency)>,
    /// Spending to sum: viewer, currency, since (micros).
    pub spends: BTreeSet<(&'a str, Currency, i64)>,
}

impl<'a> Needs<'a> {
    pub fn of(jobs: &'a [WriteJob]) -> Needs<'a> {
        let mut needs = Needs::default();
        for job in jobs {
            for a in &job.accounts {
                needs.accounts.insert(a.id.as_str());
                needs.opened.entry(a.id.as_str()).or_insert(a);
            }
            for t in &job.transfers {
                needs.accounts.insert(t.debit.as_str());
                needs.accounts.insert(t.credit.as_str());
                needs.transfer_ids.insert(t.id.as_str());
                if let Some(p) = t.kind.pending_id() {
                    needs.pending_ids.insert(p.as_str());
                    needs.transfer_ids.insert(p.as_str());
                }
            }
            if let Some(c) = &job.computed {
                let decides = c.decides().as_str();
                needs.accounts.insert(decides);
                needs.decide.insert(decides);
                match c {
                    Computed::Match {
                        program,
                        creator,
                        budget,
                        to,
                        currency,
                        id,
                        ..
                    } => {
                        needs.accounts.insert(budget.as_str());
                        needs.accounts.insert(to.as_str());
                        needs.transfer_ids.insert(id.as_str());
                        needs
                            .match_usage
                            .insert((program.as_str(), creator.as_str(), *currency));
                    }
                    Computed::PayOut { from, to, id, .. } => {
                        needs.accounts.insert(from.as_str());
                        needs.accounts.insert(to.as_str());
                        needs.transfer_ids.insert(id.as_str());
                    }
                    Computed::Drain {
                        from,
                        fallback,
                        to,
                        legs,
                        ..
                    } => {
                        needs.accounts.insert(from.as_str());
                        needs.accounts.insert(fallback.as_str());
                        needs.accounts.insert(to.as_str());
                        for (id, _) in legs {
                            needs.transfer_ids.insert(id.as_str());
                        }
                    }
                }
            }
            for effect in &job.effects {
                if let Effect::MatchUsage {
                    program,
                    creator,
                    currency,
                    ..
                } = effect
                {
                    needs
                        .match_usage
                        .insert((program.as_str(), creator.as_str(), *currency));
                }
            }
            if let Some(r) = &job.idempotency {
                needs
                    .keys
                    .entry((r.account_id.as_str(), r.key.as_str()))
                    .or_insert(r);
            }
            for guard in &job.guards {
                match guard {
                    Guard::Status(row, _) => {
                        needs.rows.insert(row);
                    }
                    Guard::SpendLimit {
                        viewer_id,
                        currency,
                        since,
                        ..
                    } => {
                        needs.spends.insert((
                            viewer_id.as_str(),
                            *currency,
                            crate::to_micros(*since),
                        ));
                    }
                }
            }
        }
        needs
    }
}

/// What a batch found in the database.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Existing accounts with their balances.
    pub accounts: Vec<(Account, Balances)>,
    /// Existing transfers, each with whether it is a pending one already posted or voided.
    pub transfers: Vec<(Transfer, bool)>,
    /// Stored answers of the batch's keys (not counting keys this batch claimed).
    pub answers: HashMap<(String, String), IdempotencyRecord>,
    /// The status of each row guards name that exists.
    pub statuses: HashMap<RowRef, String>,
    /// Committed match usage per (program, creator, currency).
    pub match_used: HashMap<(String, String, Currency), i64>,
    /// Committed spending per (viewer, currency, since).
    pub spent: HashMap<(String, Currency, i64), i64>,
}

/// What a batch writes.
#[derive(Debug)]
pub struct Plan<'a> {
    /// One per job, in order.
    pub outcomes: Vec<Outcome>,
    /// Accounts opened, transfers applied, balance changes summed per account.
    pub changes: ledger::Changes,
    /// Income per (owner, source, currency) to add to `income_totals`.
    pub income: Vec<(String, IncomeSource, Currency, i64)>,
    /// Purchases to insert (with their match, when one was computed).
    pub purchases: Vec<Cow<'a, Purchase>>,
    /// Holds to insert (with the match added).
    pub holds: Vec<Cow<'a, Hold>>,
    /// Top-ups to insert.
    pub topups: Vec<&'a Topup>,
    /// Top-ups whose status changes.
    pub topup_statuses: Vec<(&'a TopupId, TopupStatus, OffsetDateTime)>,
    /// Payouts to insert (with their computed amount).
    pub payouts: Vec<Cow<'a, Payout>>,
    /// Payouts whose status changes.
    pub payout_statuses: Vec<&'a Effect>,
    /// Match usage to add, per (program, creator, currency).
    pub match_usage: Vec<(String, String, Currency, i64)>,
    /// Purchases whose status changes.
    pub purchase_statuses: Vec<(&'a PurchaseId, PurchaseStatus, OffsetDateTime)>,
    /// Holds whose status changes, with the release that released them.
    pub hold_statuses: Vec<(&'a str, HoldStatus, Option<&'a str>, OffsetDateTime)>,
    /// Answers to store, one per key.
    pub answers: Vec<&'a IdempotencyRecord>,
}

/// Decides every job of the batch in order, each seeing what the jobs before it did.
pub fn plan(jobs: &[WriteJob], loaded: Loaded) -> Result<Plan<'_>, PlanError> {
    let Loaded {
        accounts,
        transfers,
        mut answers,
        mut statuses,
        spent: committed,
        match_used,
    } = loaded;
    let mut book = Book::new();
    for (account, balances) in accounts {
        book.load_account(account, balances);
    }
    for (transfer, resolved) in transfers {
        book.load_transfer(transfer, resolved);
    }

    let mut spent: HashMap<(&str, Currency, i64), i64> = HashMap::new();
    let mut usage: HashMap<(String, String, Currency), i64> = match_used;
    let mut usage_delta: HashMap<(String, String, Currency), i64> = HashMap::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut new_answers: Vec<&IdempotencyRecord> = Vec::new();
    let mut purchases: Vec<Cow<'_, Purchase>> = Vec::new();
    let mut holds: Vec<Cow<'_, Hold>> = Vec::new();
    let mut topups = Vec::new();
    let mut topup_statuses = Vec::new();
    let mut payouts: Vec<Cow<'_, Payout>> = Vec::new();
    let mut payout_statuses = Vec::new();
    let mut purchase_statuses = Vec::new();
    let mut hold_statuses = Vec::new();

    for job in jobs {
        if let Some(record) = &job.idempotency
            && let Some(stored) = answers.get(&(record.account_id.clone(), record.key.clone()))
        {
            outcomes.push(Outcome::Duplicate(stored.clone()));
            continue;
        }
        if let Some(refusal) = check_guards(job, &statuses, &committed, &spent) {
            outcomes.push(Outcome::Refused(refusal));
            continue;
        }
        for account in &job.accounts {
            book.open_account(account.clone());
        }
        let computed = match &job.computed {
            Some(c) => match compute(c, &book, &usage) {
                Ok(extra) => Some(extra),
                Err(refusal) => {
                    outcomes.push(Outcome::Refused(refusal));
                    continue;
                }
            },
            None => None,
        };
        let set: Cow<'_, [Transfer]> = match &computed {
            Some((extra, _)) if !extra.is_empty() => {
                let mut set = job.transfers.clone();
                set.extend(extra.iter().cloned());
                Cow::Owned(set)
            }
            _ => Cow::Borrowed(&job.transfers),
        };
        let applied = if set.is_empty() {
            Applied::Posted
        } else {
            match book.apply(&set) {
                Ok(applied) => applied,
                Err(ledger::LedgerError::ExceedsBalanceRule { account, .. }) => {
                    outcomes.push(Outcome::Refused(Refusal::InsufficientFunds { account }));
                    continue;
                }
                Err(e) => {
                    outcomes.push(Outcome::Refused(Refusal::Ledger(e)));
                    continue;
                }
            }
        };
        if applied == Applied::Replayed {
            outcomes.push(Outcome::Replayed);
            continue;
        }
        // The job is in: later jobs of the batch see what it did.
        for guard in &job.guards {
            if let Guard::SpendLimit {
                viewer_id,
                currency,
                since,
                amount,
                ..
            } = guard
            {
                *spent
                    .entry((viewer_id.as_str(), *currency, crate::to_micros(*since)))
                    .or_default() += amount;
            }
        }
        let amount = computed.as_ref().map_or(0, |(_, amount)| *amount);
        let matched = match &job.computed {
            Some(Computed::Match {
                program,
                creator,
                currency,
                ..
            }) if amount > 0 => {
                let key = (program.clone(), creator.to_string(), *currency);
                *usage.entry(key.clone()).or_default() += amount;
                *usage_delta.entry(key).or_default() += amount;
                Some((program.as_str(), amount))
            }
            _ => None,
        };
        for effect in &job.effects {
            if let Some((row, status)) = effect.sets() {
                statuses.insert(row, status.to_owned());
            }
            match effect {
                Effect::InsertPurchase(p) => purchases.push(match matched {
                    Some((program, m)) => Cow::Owned(Purchase {
                        match_amount: money::Money::new(m, p.price.currency()),
                        match_program: Some(program.to_owned()),
                        ..(**p).clone()
                    }),
                    None => Cow::Borrowed(&**p),
                }),
                Effect::InsertHold(h) => {
                    let total = h.amount.amount() + matched.map_or(0, |(_, m)| m);
                    if total > 0 {
                        holds.push(if total == h.amount.amount() {
                            Cow::Borrowed(&**h)
                        } else {
                            Cow::Owned(Hold {
                                amount: money::Money::new(total, h.amount.currency()),
                                ..(**h).clone()
                            })
                        });
                    }
                }
                Effect::SetPurchaseStatus {
                    purchase_id,
                    status,
                    at,
                } => purchase_statuses.push((purchase_id, *status, *at)),
                Effect::SetHoldStatus {
                    hold_id,
                    status,
                    release_id,
                    at,
                } => hold_statuses.push((hold_id.as_str(), *status, release_id.as_deref(), *at)),
                Effect::InsertTopup(t) => topups.push(&**t),
                Effect::SetTopupStatus {
                    topup_id,
                    status,
                    at,
                } => topup_statuses.push((topup_id, *status, *at)),
                Effect::InsertPayout(p) => payouts.push(if amount > 0 {
                    Cow::Owned(Payout {
                        amount: money::Money::new(amount, p.amount.currency()),
                        ..(**p).clone()
                    })
                } else {
                    Cow::Borrowed(&**p)
                }),
                Effect::SetPayoutStatus { .. } => payout_statuses.push(effect),
                Effect::MatchUsage {
                    program,
                    creator,
                    currency,
                    delta,
                } => {
                    let key = (program.clone(), creator.to_string(), *currency);
                    *usage.entry(key.clone()).or_default() += delta;
                    *usage_delta.entry(key).or_default() += delta;
                }
            }
        }
        if let Some(record) = &job.idempotency {
            answers.insert(
                (record.account_id.clone(), record.key.clone()),
                record.clone(),
            );
            new_answers.push(record);
        }
        outcomes.push(Outcome::Applied);
    }

    let changes = book.take_changes();
    assert_balanced(&changes.deltas, &book)?;
    let mut income: HashMap<(&str, IncomeSource, Currency), i64> = HashMap::new();
    for t in &changes.transfers {
        if let Some((source, sign)) = IncomeSource::of_code(t.code) {
            let account = if sign > 0 { &t.credit } else { &t.debit };
            if let Some((a, _)) = book.account(account) {
                *income
                    .entry((a.owner.as_str(), source, t.currency))
                    .or_default() += sign * t.amount;
            }
        }
    }
    let income = income
        .into_iter()
        .map(|((owner, source, currency), amount)| (owner.to_owned(), source, currency, amount))
        .collect();
    let mut match_usage: Vec<(String, String, Currency, i64)> = usage_delta
        .into_iter()
        .filter(|(_, d)| *d != 0)
        .map(|((p, c, cur), d)| (p, c, cur, d))
        .collect();
    match_usage.sort();
    Ok(Plan {
        outcomes,
        changes,
        income,
        purchases,
        holds,
        topups,
        topup_statuses,
        payouts,
        payout_statuses,
        match_usage,
        purchase_statuses,
        hold_statuses,
        answers: new_answers,
    })
}

/// The transfers a [`Computed`] asks for, from the balances the book holds now, and the
/// amount decided (the match, the payout, the drained part).
fn compute(
    c: &Computed,
    book: &Book,
    usage: &HashMap<(String, String, Currency), i64>,
) -> Result<(Vec<Transfer>, i64), Refusal> {
    let balance = |id: &AccountId| book.account(id).map_or(0, |(_, b)| spendable(b));
    let posted = |id: &TransferId,
                  debit: &AccountId,
                  credit: &AccountId,
                  amount,
                  currency,
                  code,
                  reference: &str| Transfer {
        id: id.clone(),
        debit: debit.clone(),
        credit: credit.clone(),
        amount,
        currency,
        kind: TransferKind::Posted,
        code,
        reference: reference.to_owned(),
    };
    match c {
        Computed::Match {
            program,
            creator,
            budget,
            to,
            currency,
            wanted,
            cap,
            id,
            reference,
        } => {
            let used = usage
                .get(&(program.clone(), creator.to_string(), *currency))
                .copied()
                .unwrap_or(0);
            let amount = (*wanted)
                .min(cap.saturating_sub(used))
                .min(balance(budget))
                .max(0);
            let transfers = if amount > 0 {
                vec![posted(
                    id,
                    budget,
                    to,
                    amount,
                    *currency,
                    Code::MATCH,
                    reference,
                )]
            } else {
                Vec::new()
            };
            Ok((transfers, amount))
        }
        Computed::PayOut {
            from,
            to,
            currency,
            minimum,
            id,
            reference,
        } => {
            let amount = balance(from);
            if amount < (*minimum).max(1) {
                return Err(Refusal::BelowMinimum);
            }
            let mut transfer = posted(id, from, to, amount, *currency, Code::PAYOUT, reference);
            transfer.kind = TransferKind::Pending;
            Ok((vec![transfer], amount))
        }
        Computed::Drain {
            from,
            fallback,
            to,
            currency,
            amount,
            legs,
            reference,
        } => {
            let first = (*amount).min(balance(from)).max(0);
            let rest = amount - first;
            let mut transfers = Vec::with_capacity(2);
            if first > 0 {
                transfers.push(posted(
                    &legs[0].0, from, to, first, *currency, legs[0].1, reference,
                ));
            }
            if rest > 0 {
                transfers.push(posted(
                    &legs[1].0, fallback, to, rest, *currency, legs[1].1, reference,
                ));
            }
            Ok((transfers, first))
        }
    }
}

fn check_guards(
    job: &WriteJob,
    statuses: &HashMap<RowRef, String>,
    committed: &HashMap<(String, Currency, i64), i64>,
    spent: &HashMap<(&str, Currency, i64), i64>,
) -> Option<Refusal> {
    for guard in &job.guards {
        match guard {
            Guard::Status(row, expected) => {
                if statuses.get(row).map(String::as_str) != Some(*expected) {
                    return Some(Refusal::Status(row.clone()));
                }
            }
            Guard::SpendLimit {
                viewer_id,
                currency,
                since,
                amount,
                limit,
            } => {
                let since = crate::to_micros(*since);
                let before = committed
                    .get(&(viewer_id.as_str().to_owned(), *currency, since))
                    .copied()
                    .unwrap_or(0);
                let in_batch = spent
                    .get(&(viewer_id.as_str(), *currency, since))
                    .copied()
                    .unwrap_or(0);
                if before.saturating_add(in_batch).saturating_add(*amount) > *limit {
                    return Some(Refusal::SpendingLimit);
                }
            }
        }
    }
    None
}

/// Debits equal credits in every currency, posted and pending, before anything is written
/// (the verifier checks the same after the fact: TigerBeetle's paired assertions).
fn assert_balanced(deltas: &[(AccountId, Balances)], book: &Book) -> Result<(), PlanError> {
    let mut sums: HashMap<Currency, [i128; 4]> = HashMap::new();
    for (id, d) in deltas {
        let (account, _) = book
            .account(id)
            .ok_or_else(|| PlanError::UnknownAccount(id.clone()))?;
        let s = sums.entry(account.currency).or_default();
        s[0] += i128::from(d.debits_posted);
        s[1] += i128::from(d.credits_posted);
        s[2] += i128::from(d.debits_pending);
        s[3] += i128::from(d.credits_pending);
    }
    for (currency, s) in sums {
        if s[0] != s[1] || s[2] != s[3] {
            return Err(PlanError::Unbalanced { currency, sums: s });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::purchase;
    use crate::rules::{self, Reversal};
    use crate::{Guard, LiveId, MatchProgramId, PaymentMethod, PayoutId, Topup, TopupId, UserId};
    use ledger::Purpose;
    use money::Money;
    use proptest::prelude::*;

    const HOLD: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

    fn funded(account: Account, credits: i64) -> (Account, Balances) {
        (
            account,
            Balances {
                credits_posted: credits,
                ..Balances::default()
            },
        )
    }

    fn record(key: &str) -> IdempotencyRecord {
        IdempotencyRecord {
            account_id: "acc_1".into(),
            key: key.into(),
            fingerprint: "f".into(),
            status: 201,
            body: "{}".into(),
        }
    }

    fn card_job(p: &Purchase) -> WriteJob {
        rules::purchase_job(p, HOLD, None, Vec::new(), None)
    }

    #[test]
    fn a_key_used_earlier_in_the_batch_is_a_duplicate_and_moves_nothing() {
        let (a, b) = (
            purchase(PaymentMethod::Card, 499, 425, 74, 0),
            purchase(PaymentMethod::Card, 499, 425, 74, 0),
        );
        let jobs = [
            WriteJob {
                idempotency: Some(record("k")),
                ..card_job(&a)
            },
            WriteJob {
                idempotency: Some(record("k")),
                ..card_job(&b)
            },
        ];
        let planned = plan(&jobs, Loaded::default()).expect("plans");
        assert_eq!(planned.outcomes[0], Outcome::Applied);
        assert_eq!(planned.outcomes[1], Outcome::Duplicate(record("k")));
        assert_eq!(planned.purchases.len(), 1);
        assert_eq!(planned.answers.len(), 1);
        assert_eq!(
            planned.changes.transfers.len(),
            2,
            "only the first purchase's share and fee"
        );
    }

    #[test]
    fn a_stored_answer_makes_the_job_a_duplicate() {
        let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
        let mut loaded = Loaded::default();
        loaded
            .answers
            .insert(("acc_1".into(), "k".into()), record("k"));
        let jobs = [WriteJob {
            idempotency: Some(record("k")),
            ..card_job(&p)
        }];
        let planned = plan(&jobs, loaded).expect("plans");
        assert!(matches!(planned.outcomes[0], Outcome::Duplicate(_)));
        assert!(planned.changes.transfers.is_empty());
    }

    #[test]
    fn a_purchase_in_an_ended_live_is_refused_by_its_guard() {
        let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
        let guard = Guard::live_active(&p.live_id);
        let job = rules::purchase_job(&p, HOLD, None, vec![guard], None);
        let mut loaded = Loaded::default();
        loaded
            .statuses
            .insert(RowRef::Live(p.live_id.clone()), "ended".into());
        let planned = plan(std::slice::from_ref(&job), loaded).expect("plans");
        assert_eq!(
            planned.outcomes[0],
            Outcome::Refused(Refusal::Status(RowRef::Live(p.live_id.clone())))
        );
        assert!(planned.purchases.is_empty() && planned.holds.is_empty());
        // A live the store did not find is refused the same way.
        let outcome = plan_of(&job);
        assert!(matches!(outcome, Outcome::Refused(Refusal::Status(_))));
    }

    fn plan_of(job: &WriteJob) -> Outcome {
        plan(std::slice::from_ref(job), Loaded::default())
            .expect("plans")
            .outcomes
            .remove(0)
    }

    #[test]
    fn a_later_job_sees_the_status_an_earlier_one_set() {
        let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
        let at = p.created_at;
        let mut loaded = Loaded::default();
        loaded
            .statuses
            .insert(RowRef::Purchase(p.id.clone()), "succeeded".into());
        loaded
            .statuses
            .insert(RowRef::Hold(p.id.to_string()), "held".into());
        loaded.accounts = rules::purchase_accounts(&p)
            .into_iter()
            .map(|a| funded(a, 1_000_000))
            .collect();
        let refund = rules::reversal_job(&p, Reversal::Refund, Some(HoldStatus::Held), at);
        let chargeback = rules::reversal_job(&p, Reversal::Chargeback, Some(HoldStatus::Held), at);
        let jobs = [refund, chargeback];
        let planned = plan(&jobs, loaded).expect("plans");
        assert_eq!(planned.outcomes[0], Outcome::Applied);
        assert_eq!(
            planned.outcomes[1],
            Outcome::Refused(Refusal::Status(RowRef::Purchase(p.id.clone())))
        );
        assert_eq!(planned.purchase_statuses.len(), 1);
        assert_eq!(planned.hold_statuses.len(), 1);
    }

    #[test]
    fn spending_caps_count_committed_spending_and_the_jobs_before() {
        let viewer = UserId::generate();
        let since = time::macros::datetime!(2026-11-30 00:00 UTC);
        let mut loaded = Loaded::default();
        loaded.spent.insert(
            (
                viewer.to_string(),
                money::Currency::USD,
                crate::to_micros(since),
            ),
            600,
        );
        let job = |price: i64| {
            let mut p = purchase(PaymentMethod::Card, price, price, 0, 0);
            p.viewer_id = viewer.clone();
            let guard = crate::caps::cap_guard(&viewer, p.price, since, 1_000);
            rules::purchase_job(&p, HOLD, None, vec![guard], None)
        };
        let jobs = [job(300), job(200), job(100)];
        let planned = plan(&jobs, loaded).expect("plans");
        assert_eq!(
            planned.outcomes,
            [
                Outcome::Applied,
                Outcome::Refused(Refusal::SpendingLimit),
                Outcome::Applied
            ]
        );
    }

    #[test]
    fn an_empty_wallet_is_a_refusal_for_insufficient_funds() {
        let p = purchase(PaymentMethod::Wallet, 199, 150, 49, 0);
        let wallet = Account::of(p.viewer_id.as_str(), Purpose::Wallet, p.price.currency());
        let mut loaded = Loaded::default();
        loaded.accounts.push(funded(wallet.clone(), 198));
        let jobs = [card_job(&p)];
        let planned = plan(&jobs, loaded).expect("plans");
        assert_eq!(
            planned.outcomes[0],
            Outcome::Refused(Refusal::InsufficientFunds { account: wallet.id })
        );
        assert!(planned.changes.transfers.is_empty());
    }

    #[test]
    fn transfers_that_all_exist_are_a_replay() {
        let p = purchase(PaymentMethod::Card, 499, 425, 74, 0);
        let job = card_job(&p);
        let loaded = Loaded {
            accounts: job.accounts.iter().cloned().map(|a| funded(a, 0)).collect(),
            transfers: job.transfers.iter().cloned().map(|t| (t, false)).collect(),
            ..Loaded::default()
        };
        let jobs = [job];
        let planned = plan(&jobs, loaded).expect("plans");
        assert_eq!(planned.outcomes[0], Outcome::Replayed);
        assert!(planned.purchases.is_empty());
    }

    fn program(cap: i64) -> crate::MatchProgram {
        crate::MatchProgram {
            id: MatchProgramId::from_string("mp_1".into()),
            name: "match".into(),
            rate: money::Bps::new(10_000).expect("bps"),
            caps: vec![Money::new(cap, money::Currency::USD)],
            countries: Vec::new(),
            starts_at: time::macros::datetime!(2026-01-01 00:00 UTC),
            ends_at: time::macros::datetime!(2027-01-01 00:00 UTC),
            created_at: time::macros::datetime!(2026-01-01 00:00 UTC),
        }
    }

    #[test]
    fn matching_stops_at_the_exact_cent_of_the_budget_and_the_cap() {
        let programs = [program(1_000)];
        let budget = rules::budget_account(&programs[0].id, money::Currency::USD);
        let creator = UserId::generate();
        let jobs: Vec<WriteJob> = (0..4)
            .map(|_| {
                let mut p = purchase(PaymentMethod::Card, 400, 400, 0, 0);
                p.creator_id = creator.clone();
                let matched = rules::match_for(&programs, &p, None);
                rules::purchase_job(&p, HOLD, matched, Vec::new(), None)
            })
            .collect();
        // Budget 700: 400, 300, then nothing (the cap of 1,000 is not reached).
        let mut loaded = Loaded::default();
        loaded.accounts.push(funded(budget.clone(), 700));
        let planned = plan(&jobs, loaded).expect("plans");
        let matched: Vec<i64> = planned
            .purchases
            .iter()
            .map(|p| p.match_amount.amount())
            .collect();
        assert_eq!(matched, [400, 300, 0, 0]);
        let holds: Vec<i64> = planned.holds.iter().map(|h| h.amount.amount()).collect();
        assert_eq!(holds, [800, 700, 400, 400]);
        assert_eq!(
            planned.match_usage,
            [(
                "mp_1".into(),
                creator.to_string(),
                money::Currency::USD,
                700
            )]
        );
        // With budget enough, the cap cuts: 300 of its 1,000 were used, 700 are left.
        let mut loaded = Loaded::default();
        loaded.accounts.push(funded(budget, 1_000_000));
        loaded.match_used.insert(
            ("mp_1".into(), creator.to_string(), money::Currency::USD),
            300,
        );
        let planned = plan(&jobs, loaded).expect("plans");
        let matched: Vec<i64> = planned
            .purchases
            .iter()
            .map(|p| p.match_amount.amount())
            .collect();
        assert_eq!(matched, [400, 300, 0, 0]);
    }

    #[test]
    fn a_payout_takes_the_whole_spendable_balance_or_nothing_below_the_minimum() {
        let creator = UserId::generate();
        let c = money::Currency::USD;
        let available = Account::of(creator.as_str(), Purpose::CreatorAvailable, c);
        let job = |min| {
            rules::payout_job(
                &PayoutId::generate(),
                &creator,
                c,
                min,
                time::OffsetDateTime::UNIX_EPOCH,
            )
        };
        let mut loaded = Loaded::default();
        loaded.accounts.push(funded(available.clone(), 2_500));
        let jobs = [job(1_000), job(1)];
        let planned = plan(&jobs, loaded).expect("plans");
        assert_eq!(
            planned.outcomes,
            [Outcome::Applied, Outcome::Refused(Refusal::BelowMinimum)]
        );
        assert_eq!(planned.payouts[0].amount.amount(), 2_500);
        assert_eq!(planned.changes.transfers[0].kind, TransferKind::Pending);
    }

    #[test]
    fn a_disputed_topup_drains_what_is_left_and_books_the_rest_as_a_loss() {
        let topup = Topup {
            id: TopupId::generate(),
            user_id: UserId::generate(),
            amount: Money::new(2_000, money::Currency::USD),
            processor_fee: Money::zero(money::Currency::USD),
            payment_id: "pi".into(),
            status: crate::TopupStatus::Succeeded,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        let job = rules::topup_dispute_job(&topup, None, time::OffsetDateTime::UNIX_EPOCH);
        let mut loaded = Loaded::default();
        loaded
            .statuses
            .insert(RowRef::Topup(topup.id.clone()), "succeeded".into());
        let wallet = Account::of(
            topup.user_id.as_str(),
            Purpose::Wallet,
            money::Currency::USD,
        );
        loaded.accounts.push(funded(wallet, 1_200));
        let jobs = [job];
        let planned = plan(&jobs, loaded).expect("plans");
        let amounts: Vec<(Code, i64)> = planned
            .changes
            .transfers
            .iter()
            .map(|t| (t.code, t.amount))
            .collect();
        assert_eq!(
            amounts,
            [
                (Code::WALLET_TOPUP_CHARGEBACK, 1_200),
                (Code::TOPUP_CHARGEBACK_LOSS, 800)
            ]
        );
    }

    #[test]
    fn income_is_summed_per_owner_source_and_currency() {
        let mut a = purchase(PaymentMethod::Card, 499, 425, 74, 0);
        let b = purchase(PaymentMethod::Card, 199, 150, 49, 0);
        a.creator_id = b.creator_id.clone();
        let jobs = [card_job(&a), card_job(&b)];
        let planned = plan(&jobs, Loaded::default()).expect("plans");
        assert_eq!(
            planned.income,
            [(
                b.creator_id.to_string(),
                IncomeSource::Badges,
                money::Currency::USD,
                575
            )]
        );
    }

    /// A step of a random batch on one wallet.
    #[derive(Debug, Clone)]
    enum Step {
        Topup(i64),
        Buy(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1_i64..5_000).prop_map(Step::Topup),
            (1_i64..3_000).prop_map(Step::Buy),
        ]
    }

    proptest! {
        #[test]
        fn a_batch_never_overdraws_a_wallet_and_always_balances(
            start in 0_i64..5_000,
            steps in proptest::collection::vec(step(), 1..40),
        ) {
            let viewer = UserId::generate();
            let c = money::Currency::USD;
            let wallet = Account::of(viewer.as_str(), Purpose::Wallet, c);
            let mut loaded = Loaded::default();
            loaded.accounts.push(funded(wallet.clone(), start));
            let jobs: Vec<WriteJob> = steps.iter().map(|s| match s {
                Step::Topup(amount) => rules::topup_job(&Topup {
                    id: TopupId::generate(),
                    user_id: viewer.clone(),
                    amount: Money::new(*amount, c),
                    processor_fee: Money::zero(c),
                    payment_id: "pi".into(),
                    status: crate::TopupStatus::Succeeded,
                    created_at: time::OffsetDateTime::UNIX_EPOCH,
                }, None),
                Step::Buy(price) => {
                    let mut p = purchase(PaymentMethod::Wallet, *price, *price - price / 5, price / 5, 0);
                    p.viewer_id = viewer.clone();
                    p.live_id = LiveId::generate();
                    card_job(&p)
                }
            }).collect();
            let planned = plan(&jobs, loaded).expect("a batch always balances");
            // Replay the decisions on a running balance: a purchase is refused exactly when
            // the wallet holds less than its price.
            let mut balance = start;
            for (s, outcome) in steps.iter().zip(&planned.outcomes) {
                match s {
                    Step::Topup(amount) => {
                        prop_assert_eq!(outcome, &Outcome::Applied);
                        balance += amount;
                    }
                    Step::Buy(price) if *price <= balance => {
                        prop_assert_eq!(outcome, &Outcome::Applied);
                        balance -= price;
                    }
                    Step::Buy(_) => {
                        let refused =
                            matches!(outcome, Outcome::Refused(Refusal::InsufficientFunds { .. }));
                        prop_assert!(refused, "{:?}", outcome);
                    }
                }
            }
            let delta = planned
                .changes
                .deltas
                .iter()
                .find(|(id, _)| *id == wallet.id)
                .map_or(0, |(_, d)| d.credits_posted - d.debits_posted);
            prop_assert_eq!(start + delta, balance);
            prop_assert!(balance >= 0);
        }

        #[test]
        fn matches_never_exceed_the_budget_nor_the_cap(
            budget in 0_i64..5_000,
            cap in 0_i64..5_000,
            shares in proptest::collection::vec(1_i64..2_000, 1..30),
        ) {
            let programs = [program(cap)];
            let creator = UserId::generate();
            let jobs: Vec<WriteJob> = shares.iter().map(|share| {
                let mut p = purchase(PaymentMethod::Card, *share, *share, 0, 0);
                p.creator_id = creator.clone();
                let matched = rules::match_for(&programs, &p, None);
                rules::purchase_job(&p, HOLD, matched, Vec::new(), None)
            }).collect();
            let mut loaded = Loaded::default();
            loaded.accounts.push(funded(rules::budget_account(&programs[0].id, money::Currency::USD), budget));
            let planned = plan(&jobs, loaded).expect("plans");
            let matched: i64 = planned.purchases.iter().map(|p| p.match_amount.amount()).sum();
            prop_assert!(matched <= budget.min(cap));
            // Matching stops only where the budget or the cap ran out.
            let wanted: i64 = shares.iter().sum();
            prop_assert_eq!(matched, wanted.min(budget).min(cap));
        }
    }
}
