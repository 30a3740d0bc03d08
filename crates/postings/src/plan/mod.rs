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
    Hold, HoldStatus, IdempotencyRecord, Payout, Purchase, PurchaseStatus, ShopOrder, Topup,
    TopupStatus,
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
        // The many (accounts, transfer ids) are gathered first and sorted once: a sorted
        // set built in bulk, not thousands of ordered inserts comparing long ids.
        let mut accounts: Vec<&'a str> = Vec::with_capacity(jobs.len() * 4);
        let mut transfer_ids: Vec<&'a str> = Vec::with_capacity(jobs.len() * 3);
        let mut pending_ids: Vec<&'a str> = Vec::new();
        for job in jobs {
            for a in &job.accounts {
                accounts.push(a.id.as_str());
                needs.opened.entry(a.id.as_str()).or_insert(a);
            }
            for t in &job.transfers {
                accounts.push(t.debit.as_str());
                accounts.push(t.credit.as_str());
                transfer_ids.push(t.id.as_str());
                if let Some(p) = t.kind.pending_id() {
                    pending_ids.push(p.as_str());
                    transfer_ids.push(p.as_str());
                }
            }
            if let Some(c) = &job.computed {
                let decides = c.decides().as_str();
                accounts.push(decides);
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
                        accounts.push(budget.as_str());
                        accounts.push(to.as_str());
                        transfer_ids.push(id.as_str());
                        needs
                            .match_usage
                            .insert((program.as_str(), creator.as_str(), *currency));
                    }
                    Computed::PayOut { from, to, id, .. } => {
                        accounts.push(from.as_str());
                        accounts.push(to.as_str());
                        transfer_ids.push(id.as_str());
                    }
                    Computed::Drain {
                        from,
                        fallback,
                        to,
                        legs,
                        ..
                    } => {
                        accounts.push(from.as_str());
                        accounts.push(fallback.as_str());
                        accounts.push(to.as_str());
                        for (id, _) in legs {
                            transfer_ids.push(id.as_str());
                        }
                    }
                    Computed::Repay { from, debt, id, .. } => {
                        accounts.push(from.as_str());
                        accounts.push(debt.as_str());
                        transfer_ids.push(id.as_str());
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
            for r in job.idempotency.iter().chain(&job.claim) {
                needs
                    .keys
                    .entry((r.account_id.as_str(), r.key.as_str()))
                    .or_insert(r);
            }
            for guard in &job.guards {
                match guard {
                    Guard::Status(row, _) | Guard::Absent(row) => {
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
        needs.accounts = sorted(accounts);
        needs.transfer_ids = sorted(transfer_ids);
        needs.pending_ids = sorted(pending_ids);
        needs
    }
}

/// `ids` as a set: sorted (unstably: equal ids are the same) and deduplicated first, so that
/// building the set finds them in order and has only the distinct ones left to take.
fn sorted(mut ids: Vec<&str>) -> BTreeSet<&str> {
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().collect()
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
    /// Payment attempts to insert where their key is not stored yet.
    pub attempts: Vec<&'a crate::PaymentAttempt>,
    /// Payment attempts to insert that must be new: their job was planned on their key's
    /// absence ([`Guard::Absent`]), so a row found in their place fails the batch (on
    /// PostgreSQL, another node's batch that inserted it meanwhile: the batch is retried).
    pub new_attempts: Vec<&'a crate::PaymentAttempt>,
    /// The sandbox provider's charges written with their bookings.
    pub charges: Vec<&'a crate::SandboxCharge>,
    /// Payment attempts whose status changes ([`Effect::SetAttempt`]s).
    pub attempt_statuses: Vec<&'a Effect>,
    /// Match usage to add, per (program, creator, currency).
    pub match_usage: Vec<(String, String, Currency, i64)>,
    /// Purchases whose status changes.
    pub purchase_statuses: Vec<(&'a PurchaseId, PurchaseStatus, OffsetDateTime)>,
    /// Holds whose status changes, with the release that released them.
    pub hold_statuses: Vec<(&'a str, HoldStatus, Option<&'a str>, OffsetDateTime)>,
    /// Shop orders to insert where the brand's order id is not stored yet.
    pub shop_orders: Vec<&'a ShopOrder>,
    /// Shop orders a return changed.
    pub shop_order_changes: Vec<&'a ShopOrder>,
    /// Offers made or changed, in job order (written whole: inserted or replaced).
    pub offers: Vec<&'a crate::Offer>,
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
    let mut attempts = Vec::new();
    let mut new_attempts = Vec::new();
    let mut charges = Vec::new();
    let mut attempt_statuses = Vec::new();
    let mut purchase_statuses = Vec::new();
    let mut hold_statuses = Vec::new();
    let mut shop_orders = Vec::new();
    let mut shop_order_changes = Vec::new();
    let mut offers = Vec::new();

    for job in jobs {
        if let Some(stored) = job
            .idempotency
            .iter()
            .chain(&job.claim)
            .find_map(|r| answers.get(&(r.account_id.clone(), r.key.clone())))
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
        // The job is in: later jobs of the batch see what it did. Its spending counts once
        // per period start: on a Monday its daily and weekly guards share one.
        let mut counted: Vec<(&str, Currency, i64)> = Vec::new();
        for guard in &job.guards {
            if let Guard::SpendLimit {
                viewer_id,
                currency,
                since,
                amount,
                ..
            } = guard
            {
                let key = (viewer_id.as_str(), *currency, crate::to_micros(*since));
                if !counted.contains(&key) {
                    counted.push(key);
                    *spent.entry(key).or_default() += amount;
                }
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
                Effect::InsertAttempt(a) => {
                    let row = RowRef::Attempt(a.key.clone());
                    if job.guards.contains(&Guard::Absent(row.clone())) {
                        new_attempts.push(&**a);
                    } else {
                        attempts.push(&**a);
                    }
                    // Inserted unless one is there: later jobs see the one that stays.
                    statuses
                        .entry(row)
                        .or_insert_with(|| a.status.as_str().to_owned());
                }
                Effect::InsertCharge(c) => charges.push(&**c),
                Effect::InsertShopOrder(o) => shop_orders.push(&**o),
                Effect::SetShopOrder(o) => shop_order_changes.push(&**o),
                Effect::InsertOffer(o) | Effect::SetOffer(o) => offers.push(&**o),
                Effect::SetAttempt { .. } => attempt_statuses.push(effect),
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
        for record in job.idempotency.iter().chain(&job.claim) {
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
        attempts,
        new_attempts,
        charges,
        attempt_statuses,
        match_usage,
        purchase_statuses,
        hold_statuses,
        shop_orders,
        shop_order_changes,
        offers,
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
        Computed::Repay {
            from,
            debt,
            currency,
            up_to,
            id,
            reference,
        } => {
            // A debt account's spendable balance is minus what is owed.
            let owed = balance(debt).saturating_neg().max(0);
            let amount = (*up_to).min(owed);
            let transfers = if amount > 0 {
                vec![posted(
                    id,
                    from,
                    debt,
                    amount,
                    *currency,
                    Code::WALLET_DEBT_REPAID,
                    reference,
                )]
            } else {
                Vec::new()
            };
            Ok((transfers, amount))
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
            Guard::Absent(row) => {
                if statuses.contains_key(row) {
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
mod tests;
