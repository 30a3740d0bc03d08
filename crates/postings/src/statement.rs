//! The arithmetic of a creator's statement: every transfer of a month on the creator's three
//! accounts (pending, available, paid out) with what it changed of each balance — the same
//! definitions as the earnings — between an opening balance (the accounts' ledger balances at
//! the month's start, [`opening`]) and a closing one, so a statement reconciles to the ledger
//! to the cent without reading the creator's earlier history.

use std::collections::{HashMap, HashSet};

use ledger::{AccountId, Balances, Code, Purpose, Transfer, TransferId, TransferKind};
use money::Currency;
use time::OffsetDateTime;

use crate::{IncomeSource, Purchase, UserId, spendable};

/// What a statement line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// A badge's share.
    Badge,
    /// A match.
    Match,
    /// Income refunded.
    Refund,
    /// Income charged back.
    Chargeback,
    /// Held income released.
    Release,
    /// A payout booked (pending until the provider confirms).
    Payout,
    /// A payout the provider paid.
    PayoutPaid,
    /// A payout the provider could not pay (the money is available again).
    PayoutFailed,
    /// A paid payout the creator's bank returned (the money is available again).
    PayoutReturned,
    /// Anything else on the creator's accounts.
    Other,
}

impl LineKind {
    /// The public name.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Badge => "badge",
            LineKind::Match => "match",
            LineKind::Refund => "refund",
            LineKind::Chargeback => "chargeback",
            LineKind::Release => "release",
            LineKind::Payout => "payout",
            LineKind::PayoutPaid => "payout_paid",
            LineKind::PayoutFailed => "payout_failed",
            LineKind::PayoutReturned => "payout_returned",
            LineKind::Other => "other",
        }
    }

    /// What a transfer is, and the income source it counts for.
    pub fn of(t: &Transfer) -> (LineKind, Option<IncomeSource>) {
        let source = IncomeSource::of_code(t.code).map(|(s, _)| s);
        let kind = match (t.code, &t.kind) {
            (Code::BADGE_SHARE, _) => LineKind::Badge,
            (Code::MATCH, _) => LineKind::Match,
            (Code::BADGE_SHARE_REFUND | Code::MATCH_REFUND, _) => LineKind::Refund,
            (Code::BADGE_SHARE_CHARGEBACK | Code::MATCH_CHARGEBACK, _) => LineKind::Chargeback,
            (Code::HOLD_RELEASE, _) => LineKind::Release,
            (Code::PAYOUT, TransferKind::Pending) => LineKind::Payout,
            (Code::PAYOUT, TransferKind::PostPending(_)) => LineKind::PayoutPaid,
            (Code::PAYOUT, TransferKind::VoidPending(_)) => LineKind::PayoutFailed,
            (Code::PAYOUT_RETURN, _) => LineKind::PayoutReturned,
            _ => LineKind::Other,
        };
        (kind, source)
    }
}

/// A creator's pending, available and paid-out accounts in `currency`, in that order.
pub fn creator_accounts(creator: &UserId, currency: Currency) -> [AccountId; 3] {
    [
        AccountId::of(creator.as_str(), Purpose::CreatorPending, currency),
        AccountId::of(creator.as_str(), Purpose::CreatorAvailable, currency),
        AccountId::of(creator.as_str(), Purpose::CreatorPaidOut, currency),
    ]
}

/// What `t` changes of (pending, available, paid out), as the earnings define them: posted
/// credits minus posted debits, and for available also minus pending debits (a payout
/// waiting for the provider is out of it). `pendings` holds the amounts of the pending
/// transfers seen so far, by id.
pub fn deltas(
    t: &Transfer,
    accounts: &[AccountId; 3],
    pendings: &HashMap<String, i64>,
) -> [i64; 3] {
    let mut d = [0; 3];
    for (i, account) in accounts.iter().enumerate() {
        let counts_pending = i == 1;
        let pending_amount = || {
            t.kind
                .pending_id()
                .and_then(|p| pendings.get(p.as_str()))
                .copied()
                .unwrap_or(0)
        };
        match &t.kind {
            TransferKind::Posted => {
                if &t.credit == account {
                    d[i] += t.amount;
                }
                if &t.debit == account {
                    d[i] -= t.amount;
                }
            }
            TransferKind::Pending => {
                if &t.debit == account && counts_pending {
                    d[i] -= t.amount;
                }
            }
            TransferKind::PostPending(_) => {
                if &t.credit == account {
                    d[i] += t.amount;
                }
                if &t.debit == account {
                    d[i] -= t.amount;
                    if counts_pending {
                        d[i] += pending_amount();
                    }
                }
            }
            TransferKind::VoidPending(_) => {
                if &t.debit == account && counts_pending {
                    d[i] += pending_amount();
                }
            }
        }
    }
    d
}

/// The balances (pending, available, paid out) of a creator's three accounts from their
/// ledger balances at one moment (built from the transfers booked before it): posted credits
/// minus posted debits, and for available what it can still give ([`spendable`]: a payout
/// waiting for the provider is out of it). Folding [`deltas`] over those transfers gives the
/// same, which is what lets a statement open without them.
pub fn opening(balances: &[Balances; 3]) -> [i64; 3] {
    let [pending, available, paid_out] = balances;
    [
        pending.credits_posted - pending.debits_posted,
        spendable(available),
        paid_out.credits_posted - paid_out.debits_posted,
    ]
}

/// The pending transfers that `transfers` (a period's, in booking order) post or void but do
/// not hold: those booked before the period, whose amounts [`Statement::new`] needs.
pub fn earlier_pendings(transfers: &[(Transfer, OffsetDateTime)]) -> Vec<&TransferId> {
    let held: HashSet<&TransferId> = transfers.iter().map(|(t, _)| &t.id).collect();
    let mut ids: Vec<&TransferId> = transfers
        .iter()
        .filter_map(|(t, _)| t.kind.pending_id())
        .filter(|p| !held.contains(p))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// One line of a statement.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// The transfer.
    pub transfer: &'a Transfer,
    /// When it was booked.
    pub at: OffsetDateTime,
    /// What it changed of (pending, available, paid out).
    pub deltas: [i64; 3],
    /// What it is.
    pub kind: LineKind,
    /// The income source it counts for.
    pub source: Option<IncomeSource>,
}

/// Totals of a statement's lines, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Badge income.
    pub badges: i64,
    /// Match income.
    pub matched: i64,
    /// Income refunded (negative).
    pub refunds: i64,
    /// Income charged back (negative).
    pub chargebacks: i64,
    /// Released to available.
    pub released: i64,
    /// Paid out (less what the banks returned).
    pub paid_out: i64,
    /// The platform's fees on the month's badges.
    pub platform_fees: i64,
    /// The processor's fees on them.
    pub processor_fees: i64,
}

/// A statement in one currency.
#[derive(Debug, Clone)]
pub struct Statement<'a> {
    /// Balances (pending, available, paid out) before the period.
    pub opening: [i64; 3],
    /// Balances at its end.
    pub closing: [i64; 3],
    /// The period's lines, in booking order.
    pub lines: Vec<Line<'a>>,
    /// Their totals.
    pub totals: Totals,
}

impl<'a> Statement<'a> {
    /// The statement of `accounts` for a period: its balances at the start (`opening`), the
    /// pending transfers booked before it that the period's transfers post or void
    /// (`pendings`: a resolution gives back their amount), and every transfer on the
    /// accounts booked in the period, in booking order.
    pub fn new(
        accounts: &[AccountId; 3],
        opening: [i64; 3],
        pendings: &[Transfer],
        transfers: &'a [(Transfer, OffsetDateTime)],
    ) -> Statement<'a> {
        let mut pendings: HashMap<String, i64> = pendings
            .iter()
            .filter(|t| t.kind == TransferKind::Pending)
            .map(|t| (t.id.to_string(), t.amount))
            .collect();
        let mut closing = opening;
        let mut lines = Vec::with_capacity(transfers.len());
        let mut totals = Totals::default();
        for (t, at) in transfers {
            if t.kind == TransferKind::Pending {
                pendings.insert(t.id.to_string(), t.amount);
            }
            let d = deltas(t, accounts, &pendings);
            for (balance, delta) in closing.iter_mut().zip(d) {
                *balance += delta;
            }
            let (kind, source) = LineKind::of(t);
            let income = d[0] + d[1];
            match kind {
                LineKind::Badge => totals.badges += income,
                LineKind::Match => totals.matched += income,
                LineKind::Refund => totals.refunds += income,
                LineKind::Chargeback => totals.chargebacks += income,
                LineKind::Release => totals.released += d[1],
                LineKind::PayoutPaid | LineKind::PayoutReturned => totals.paid_out += d[2],
                _ => {}
            }
            lines.push(Line {
                transfer: t,
                at: *at,
                deltas: d,
                kind,
                source,
            });
        }
        Statement {
            opening,
            closing,
            lines,
            totals,
        }
    }

    /// The purchases whose badge lines the statement shows (to look up their fees).
    pub fn badge_purchases(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| l.kind == LineKind::Badge)
            .map(|l| l.transfer.reference.clone())
            .collect()
    }

    /// Adds the fees of the month's badges to the totals.
    pub fn add_fees<'p>(&mut self, purchases: impl IntoIterator<Item = &'p Purchase>) {
        for p in purchases {
            self.totals.platform_fees += p.platform_fee.amount();
            self.totals.processor_fees += p.processor_fee.amount();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;
    use time::{Date, Duration, Month};

    fn t(
        id: &str,
        debit: &AccountId,
        credit: &AccountId,
        amount: i64,
        kind: TransferKind,
        code: Code,
    ) -> Transfer {
        Transfer {
            id: TransferId::new(id),
            debit: debit.clone(),
            credit: credit.clone(),
            amount,
            currency: Currency::USD,
            kind,
            code,
            reference: id.to_owned(),
        }
    }

    /// `account`'s ledger balances from the transfers of `history` booked before `before`,
    /// summed as the store sums them: posted credits and debits (posts of pendings
    /// included), and pending ones less the pendings' amounts once posted or voided.
    fn balances_before(
        history: &[(Transfer, OffsetDateTime)],
        account: &AccountId,
        before: OffsetDateTime,
    ) -> Balances {
        let amount_of = |id: &TransferId| {
            history
                .iter()
                .find(|(p, _)| &p.id == id && p.kind == TransferKind::Pending)
                .map_or(0, |(p, _)| p.amount)
        };
        let mut b = Balances::default();
        for (t, _) in history.iter().filter(|(_, at)| *at < before) {
            let (debits, credits) = (&t.debit == account, &t.credit == account);
            match &t.kind {
                TransferKind::Posted => {}
                TransferKind::Pending => {
                    if debits {
                        b.debits_pending += t.amount;
                    }
                    if credits {
                        b.credits_pending += t.amount;
                    }
                    continue;
                }
                TransferKind::PostPending(p) | TransferKind::VoidPending(p) => {
                    if debits {
                        b.debits_pending -= amount_of(p);
                    }
                    if credits {
                        b.credits_pending -= amount_of(p);
                    }
                    if matches!(t.kind, TransferKind::VoidPending(_)) {
                        continue;
                    }
                }
            }
            if debits {
                b.debits_posted += t.amount;
            }
            if credits {
                b.credits_posted += t.amount;
            }
        }
        b
    }

    /// The statement of `[from, to)` as the server builds it: opening balances from the
    /// ledger balances at `from`, the earlier pendings the period resolves, and only the
    /// period's transfers. `history` is in booking order, its times never decreasing.
    fn statement_of<'a>(
        accounts: &[AccountId; 3],
        history: &'a [(Transfer, OffsetDateTime)],
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Statement<'a> {
        let balances = accounts.clone().map(|a| balances_before(history, &a, from));
        let start = history.partition_point(|(_, at)| *at < from);
        let end = history.partition_point(|(_, at)| *at < to);
        let month = &history[start..end];
        let earlier = earlier_pendings(month);
        let pendings: Vec<Transfer> = history
            .iter()
            .filter(|(p, _)| earlier.contains(&&p.id))
            .map(|(p, _)| p.clone())
            .collect();
        Statement::new(accounts, opening(&balances), &pendings, month)
    }

    /// The statement of the period from `from` the way it used to be made, from every
    /// transfer booked before the period's end: the reference the one above must equal.
    fn from_whole_history<'a>(
        accounts: &[AccountId; 3],
        transfers: &'a [(Transfer, OffsetDateTime)],
        from: OffsetDateTime,
    ) -> Statement<'a> {
        let mut pendings: HashMap<String, i64> = HashMap::new();
        let mut opening = [0_i64; 3];
        let mut month = [0_i64; 3];
        let mut lines = Vec::new();
        let mut totals = Totals::default();
        for (t, at) in transfers {
            if t.kind == TransferKind::Pending {
                pendings.insert(t.id.to_string(), t.amount);
            }
            let d = deltas(t, accounts, &pendings);
            if *at < from {
                for i in 0..3 {
                    opening[i] += d[i];
                }
                continue;
            }
            for i in 0..3 {
                month[i] += d[i];
            }
            let (kind, source) = LineKind::of(t);
            let income = d[0] + d[1];
            match kind {
                LineKind::Badge => totals.badges += income,
                LineKind::Match => totals.matched += income,
                LineKind::Refund => totals.refunds += income,
                LineKind::Chargeback => totals.chargebacks += income,
                LineKind::Release => totals.released += d[1],
                LineKind::PayoutPaid | LineKind::PayoutReturned => totals.paid_out += d[2],
                _ => {}
            }
            lines.push(Line {
                transfer: t,
                at: *at,
                deltas: d,
                kind,
                source,
            });
        }
        Statement {
            opening,
            closing: [0, 1, 2].map(|i| opening[i] + month[i]),
            lines,
            totals,
        }
    }

    /// A statement's balances, totals and lines (transfer, deltas, kind), comparable.
    type Shown = (
        [i64; 3],
        [i64; 3],
        Totals,
        Vec<(String, [i64; 3], &'static str)>,
    );

    /// What a statement shows, comparable.
    fn shown(s: &Statement<'_>) -> Shown {
        let lines = s
            .lines
            .iter()
            .map(|l| (l.transfer.id.to_string(), l.deltas, l.kind.as_str()))
            .collect();
        (s.opening, s.closing, s.totals, lines)
    }

    #[test]
    fn a_statement_opens_where_the_last_closed_and_its_lines_sum_to_the_change() {
        let creator = UserId::generate();
        let [pending, available, paid] = creator_accounts(&creator, Currency::USD);
        let clearing = AccountId::of("platform", Purpose::ProcessorClearing, Currency::USD);
        let transfers = vec![
            (
                t(
                    "p1/share",
                    &clearing,
                    &pending,
                    425,
                    TransferKind::Posted,
                    Code::BADGE_SHARE,
                ),
                datetime!(2026-10-20 00:00 UTC),
            ),
            (
                t(
                    "r1",
                    &pending,
                    &available,
                    425,
                    TransferKind::Posted,
                    Code::HOLD_RELEASE,
                ),
                datetime!(2026-11-01 00:00 UTC),
            ),
            (
                t(
                    "p2/share",
                    &clearing,
                    &pending,
                    850,
                    TransferKind::Posted,
                    Code::BADGE_SHARE,
                ),
                datetime!(2026-11-02 00:00 UTC),
            ),
            (
                t(
                    "pay/pending",
                    &available,
                    &paid,
                    425,
                    TransferKind::Pending,
                    Code::PAYOUT,
                ),
                datetime!(2026-11-03 00:00 UTC),
            ),
            (
                t(
                    "pay/paid",
                    &available,
                    &paid,
                    425,
                    TransferKind::PostPending(TransferId::new("pay/pending")),
                    Code::PAYOUT,
                ),
                datetime!(2026-11-04 00:00 UTC),
            ),
            (
                t(
                    "p2/share/refund",
                    &pending,
                    &clearing,
                    850,
                    TransferKind::Posted,
                    Code::BADGE_SHARE_REFUND,
                ),
                datetime!(2026-11-05 00:00 UTC),
            ),
        ];
        let accounts = [pending, available, paid];
        let (from, to) = (
            datetime!(2026-11-01 00:00 UTC),
            datetime!(2026-12-01 00:00 UTC),
        );
        let s = statement_of(&accounts, &transfers, from, to);
        assert_eq!(
            shown(&s),
            shown(&from_whole_history(&accounts, &transfers, from))
        );
        assert_eq!(s.opening, [425, 0, 0]);
        assert_eq!(s.closing, [0, 0, 425]);
        assert_eq!(s.lines.len(), 5);
        let mut sum = s.opening;
        for l in &s.lines {
            for (total, d) in sum.iter_mut().zip(l.deltas) {
                *total += d;
            }
        }
        assert_eq!(sum, s.closing);
        let kinds: Vec<&str> = s.lines.iter().map(|l| l.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["release", "badge", "payout", "payout_paid", "refund"]
        );
        assert_eq!(s.totals.badges, 850);
        assert_eq!(s.totals.refunds, -850);
        assert_eq!(s.totals.released, 425);
        assert_eq!(s.totals.paid_out, 425);
        assert_eq!(s.badge_purchases(), ["p2/share"]);
        assert_eq!(s.lines[4].source, Some(IncomeSource::Badges));
    }

    #[test]
    fn a_failed_payout_gives_the_money_back_to_available() {
        let creator = UserId::generate();
        let accounts = creator_accounts(&creator, Currency::USD);
        let [_, available, paid] = accounts.clone();
        let pending = t(
            "pay/pending",
            &available,
            &paid,
            300,
            TransferKind::Pending,
            Code::PAYOUT,
        );
        let void = t(
            "pay/void",
            &available,
            &paid,
            300,
            TransferKind::VoidPending(TransferId::new("pay/pending")),
            Code::PAYOUT,
        );
        let mut seen = HashMap::new();
        assert_eq!(deltas(&pending, &accounts, &seen), [0, -300, 0]);
        seen.insert("pay/pending".to_owned(), 300);
        assert_eq!(deltas(&void, &accounts, &seen), [0, 300, 0]);
        assert_eq!(LineKind::of(&void).0, LineKind::PayoutFailed);
    }

    #[test]
    fn a_returned_payout_leaves_paid_out_for_available_and_nets_out_of_the_month_s_payouts() {
        let creator = UserId::generate();
        let accounts = creator_accounts(&creator, Currency::USD);
        let [_, available, paid] = accounts.clone();
        let at = datetime!(2026-11-02 00:00 UTC);
        let transfers = vec![
            (
                t(
                    "pay/pending",
                    &available,
                    &paid,
                    300,
                    TransferKind::Pending,
                    Code::PAYOUT,
                ),
                at,
            ),
            (
                t(
                    "pay/paid",
                    &available,
                    &paid,
                    300,
                    TransferKind::PostPending(TransferId::new("pay/pending")),
                    Code::PAYOUT,
                ),
                at,
            ),
            (
                t(
                    "pay/returned",
                    &paid,
                    &available,
                    300,
                    TransferKind::Posted,
                    Code::PAYOUT_RETURN,
                ),
                at,
            ),
        ];
        let s = statement_of(
            &accounts,
            &transfers,
            datetime!(2026-11-01 00:00 UTC),
            datetime!(2026-12-01 00:00 UTC),
        );
        let last = s.lines.last().expect("three lines");
        assert_eq!(last.kind, LineKind::PayoutReturned);
        assert_eq!(last.kind.as_str(), "payout_returned");
        assert_eq!(last.deltas, [0, 300, -300]);
        assert_eq!(s.closing, [0, 0, 0]);
        assert_eq!(s.totals.paid_out, 0);
    }

    /// One step of a creator's history: what happens, an amount, which waiting payout it
    /// concerns, and how many hours after the step before.
    fn step() -> impl Strategy<Value = (u8, i64, usize, i64)> {
        (0_u8..8, 1_i64..1_000, 0_usize..8, 0_i64..400)
    }

    /// A history of income, refunds, releases and payouts booked, paid (in part or whole),
    /// failed and returned, from 2026-01-01 on, in booking order.
    fn history(
        steps: &[(u8, i64, usize, i64)],
        accounts: &[AccountId; 3],
    ) -> Vec<(Transfer, OffsetDateTime)> {
        let [pending, available, paid] = accounts;
        let clearing = AccountId::of("platform", Purpose::ProcessorClearing, Currency::USD);
        let mut at = datetime!(2026-01-01 00:00 UTC);
        let mut waiting: Vec<Transfer> = Vec::new();
        let mut out = Vec::new();
        for (n, &(what, amount, pick, hours)) in steps.iter().enumerate() {
            at += Duration::hours(hours);
            let id = format!("t{n}");
            let posted = TransferKind::Posted;
            let transfer = match what {
                1 => t(&id, &clearing, pending, amount, posted, Code::MATCH),
                2 => t(
                    &id,
                    pending,
                    &clearing,
                    amount,
                    posted,
                    Code::BADGE_SHARE_REFUND,
                ),
                3 => t(&id, pending, available, amount, posted, Code::HOLD_RELEASE),
                4 => {
                    let p = t(
                        &id,
                        available,
                        paid,
                        amount,
                        TransferKind::Pending,
                        Code::PAYOUT,
                    );
                    waiting.push(p.clone());
                    p
                }
                5 | 6 if !waiting.is_empty() => {
                    let p = waiting.remove(pick % waiting.len());
                    let (kind, amount) = if what == 5 {
                        (
                            TransferKind::PostPending(p.id.clone()),
                            amount.min(p.amount),
                        )
                    } else {
                        (TransferKind::VoidPending(p.id.clone()), p.amount)
                    };
                    t(&id, available, paid, amount, kind, Code::PAYOUT)
                }
                7 => t(&id, paid, available, amount, posted, Code::PAYOUT_RETURN),
                _ => t(&id, &clearing, pending, amount, posted, Code::BADGE_SHARE),
            };
            out.push((transfer, at));
        }
        out
    }

    proptest! {
        #[test]
        fn every_month_s_statement_is_the_one_made_from_the_whole_history(
            steps in proptest::collection::vec(step(), 1..60),
        ) {
            let accounts = creator_accounts(&UserId::generate(), Currency::USD);
            let history = history(&steps, &accounts);
            let mut first = Date::from_calendar_date(2026, Month::January, 1).expect("a date");
            for _ in 0..24 {
                let next = first.replace_day(28).expect("a day") + Duration::days(4);
                let next = next.replace_day(1).expect("a day");
                let (from, to) = (first.midnight().assume_utc(), next.midnight().assume_utc());
                let until = history.partition_point(|(_, at)| *at < to);
                let s = statement_of(&accounts, &history, from, to);
                prop_assert_eq!(
                    shown(&s),
                    shown(&from_whole_history(&accounts, &history[..until], from))
                );
                let at_end = accounts.clone().map(|a| balances_before(&history, &a, to));
                prop_assert_eq!(s.closing, opening(&at_end));
                first = next;
            }
        }
    }
}
