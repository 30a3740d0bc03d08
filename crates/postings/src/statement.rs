//! The arithmetic of a creator's statement: every transfer on the creator's three accounts
//! (pending, available, paid out) with what it changed of each balance — the same
//! definitions as the earnings — between opening and closing balances computed from the same
//! transfers, so a statement reconciles to the ledger to the cent.

use std::collections::HashMap;

use ledger::{AccountId, Code, Purpose, Transfer, TransferKind};
use money::Currency;
use time::OffsetDateTime;

use crate::{IncomeSource, Purchase, UserId};

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
    /// The statement of `accounts` for the period from `from`, given every transfer on them
    /// booked before the period's end, in booking order.
    pub fn new(
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
    use ledger::TransferId;
    use time::macros::datetime;

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
        let s = Statement::new(
            &[pending, available, paid],
            &transfers,
            datetime!(2026-11-01 00:00 UTC),
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
        let s = Statement::new(&accounts, &transfers, datetime!(2026-11-01 00:00 UTC));
        let last = s.lines.last().expect("three lines");
        assert_eq!(last.kind, LineKind::PayoutReturned);
        assert_eq!(last.kind.as_str(), "payout_returned");
        assert_eq!(last.deltas, [0, 300, -300]);
        assert_eq!(s.closing, [0, 0, 0]);
        assert_eq!(s.totals.paid_out, 0);
    }
}
