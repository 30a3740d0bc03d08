//! A monthly statement as the server reads it — the accounts' balances at the month's start
//! summed by the database, the month's transfers, and the earlier pending payouts they post
//! or void — equals the statement made from the creator's whole history, the way it used to
//! be, for random histories of income, refunds, releases and payouts booked, paid (in part
//! or whole), failed and returned across month boundaries. On SQLite and on PostgreSQL
//! (`#[conformance]`), each on a fresh database.

use std::collections::HashMap;

use ledger::{Account, AccountId, Code, Purpose, Transfer, TransferId, TransferKind};
use money::Currency;
use postings::statement::{self, Line, LineKind, Statement, Totals};
use store::{Outcome, Store, StoreConfig, UserId, WriteJob};
use testkit::{TestDb, conformance};
use time::macros::datetime;
use time::{Date, Duration, Month, OffsetDateTime};

/// xorshift64*: a reproducible stream of numbers for a seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    fn amount(&mut self) -> i64 {
        i64::try_from(self.below(1_000)).expect("small") + 1
    }
}

fn transfer(
    id: String,
    debit: &AccountId,
    credit: &AccountId,
    amount: i64,
    kind: TransferKind,
    code: Code,
) -> Transfer {
    Transfer {
        reference: id.clone(),
        id: TransferId::new(id),
        debit: debit.clone(),
        credit: credit.clone(),
        amount,
        currency: Currency::USD,
        kind,
        code,
    }
}

/// Books a random history of `steps` transfers on `creator`'s accounts through the writer,
/// and returns each applied transfer's id with the time it is to have been booked at: from
/// 2026-01-01 on, never decreasing, some on the same instant and some on the first instant
/// of a month.
async fn book_history(
    store: &Store,
    creator: &UserId,
    seed: u64,
    steps: usize,
) -> Vec<(TransferId, OffsetDateTime)> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let [pending, available, paid] = statement::creator_accounts(creator, Currency::USD);
    let clearing = AccountId::of("platform", Purpose::ProcessorClearing, Currency::USD);
    let accounts = vec![
        Account::of("platform", Purpose::ProcessorClearing, Currency::USD),
        Account::of(creator.as_str(), Purpose::CreatorPending, Currency::USD),
        Account::of(creator.as_str(), Purpose::CreatorAvailable, Currency::USD),
        Account::of(creator.as_str(), Purpose::CreatorPaidOut, Currency::USD),
    ];
    let mut at = datetime!(2026-01-01 00:00 UTC);
    let mut waiting: Vec<Transfer> = Vec::new();
    let mut paid_out = 0_i64;
    let mut booked = Vec::new();
    for n in 0..steps {
        at = match rng.below(10) {
            0 => at,
            1 => {
                let next = at.date().replace_day(28).expect("a day") + Duration::days(4);
                next.replace_day(1).expect("a day").midnight().assume_utc()
            }
            _ => at + Duration::minutes(i64::try_from(rng.below(20_000)).expect("small")),
        };
        let id = format!("{}/t{n}", creator.as_str());
        let posted = TransferKind::Posted;
        let t = match rng.below(10) {
            0..=2 => transfer(
                id,
                &clearing,
                &pending,
                rng.amount(),
                posted,
                Code::BADGE_SHARE,
            ),
            3 => transfer(id, &clearing, &pending, rng.amount(), posted, Code::MATCH),
            4 => transfer(
                id,
                &pending,
                &clearing,
                rng.amount(),
                posted,
                Code::BADGE_SHARE_REFUND,
            ),
            5 => transfer(
                id,
                &pending,
                &available,
                rng.amount(),
                posted,
                Code::HOLD_RELEASE,
            ),
            6 => transfer(
                id,
                &available,
                &paid,
                rng.amount(),
                TransferKind::Pending,
                Code::PAYOUT,
            ),
            7 | 8 if !waiting.is_empty() => {
                let i = usize::try_from(rng.below(waiting.len() as u64)).expect("small");
                let p = &waiting[i];
                if rng.below(3) == 0 {
                    let kind = TransferKind::VoidPending(p.id.clone());
                    transfer(id, &available, &paid, p.amount, kind, Code::PAYOUT)
                } else {
                    let amount = rng.amount().min(p.amount);
                    let kind = TransferKind::PostPending(p.id.clone());
                    transfer(id, &available, &paid, amount, kind, Code::PAYOUT)
                }
            }
            9 if paid_out > 0 => {
                let amount = rng.amount().min(paid_out);
                transfer(id, &paid, &available, amount, posted, Code::PAYOUT_RETURN)
            }
            _ => transfer(
                id,
                &clearing,
                &pending,
                rng.amount(),
                posted,
                Code::BADGE_SHARE,
            ),
        };
        let job = WriteJob {
            accounts: accounts.clone(),
            transfers: vec![t.clone()],
            ..WriteJob::default()
        };
        let outcome = store
            .writer()
            .submit(job)
            .await
            .expect("the writer answers");
        assert_eq!(outcome, Outcome::Applied, "{t:?}");
        match &t.kind {
            TransferKind::Pending => waiting.push(t.clone()),
            TransferKind::PostPending(p) | TransferKind::VoidPending(p) => {
                waiting.retain(|w| &w.id != p);
                if matches!(t.kind, TransferKind::PostPending(_)) {
                    paid_out += t.amount;
                }
            }
            TransferKind::Posted if t.code == Code::PAYOUT_RETURN => paid_out -= t.amount,
            TransferKind::Posted => {}
        }
        booked.push((t.id, at));
    }
    booked
}

/// Moves each transfer to the time it is to have been booked at (the writer books at now).
async fn backdate(db: &TestDb, times: &[(TransferId, OffsetDateTime)]) {
    const SQL: &str = "UPDATE transfers SET created_at = $1 WHERE id = $2";
    if db.url().starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(db.url()).await.expect("connects");
        for (id, at) in times {
            let done = sqlx::query(SQL)
                .bind(store::to_micros(*at))
                .bind(id.as_str())
                .execute(&pool)
                .await
                .expect("updates");
            assert_eq!(done.rows_affected(), 1);
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(db.url()).await.expect("connects");
        for (id, at) in times {
            let done = sqlx::query(SQL)
                .bind(store::to_micros(*at))
                .bind(id.as_str())
                .execute(&pool)
                .await
                .expect("updates");
            assert_eq!(done.rows_affected(), 1);
        }
        pool.close().await;
    }
}

/// The statement of the period from `from`, made from every transfer booked before its end
/// the way statements used to be made: the reference the server's must equal.
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
        let d = statement::deltas(t, accounts, &pendings);
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

type Shown = (
    [i64; 3],
    [i64; 3],
    Totals,
    Vec<(String, OffsetDateTime, [i64; 3], &'static str)>,
);

/// What a statement shows, comparable.
fn shown(s: &Statement<'_>) -> Shown {
    let lines = s
        .lines
        .iter()
        .map(|l| (l.transfer.id.to_string(), l.at, l.deltas, l.kind.as_str()))
        .collect();
    (s.opening, s.closing, s.totals, lines)
}

/// The first instants of the months from December 2025 to a month after `last`.
fn months_until(last: OffsetDateTime) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let mut first = Date::from_calendar_date(2025, Month::December, 1).expect("a date");
    let mut months = Vec::new();
    while first.midnight().assume_utc() <= last + Duration::days(31) {
        let next = (first.replace_day(28).expect("a day") + Duration::days(4))
            .replace_day(1)
            .expect("a day");
        months.push((first.midnight().assume_utc(), next.midnight().assume_utc()));
        first = next;
    }
    months
}

#[conformance]
async fn every_month_s_statement_equals_the_one_made_from_the_whole_history() {
    let db = TestDb::fresh().await;
    let store = Store::open(&StoreConfig::new(db.url()))
        .await
        .expect("store opens");
    let mut creators = Vec::new();
    let mut times = Vec::new();
    for seed in 1..=6 {
        let creator = UserId::from_string(format!("acc_s{seed}"));
        times.extend(book_history(&store, &creator, seed, 70).await);
        creators.push(creator);
    }
    backdate(&db, &times).await;
    let last = times.iter().map(|(_, at)| *at).max().expect("a history");
    let beginning = OffsetDateTime::UNIX_EPOCH;
    let mut straddling = 0;
    for creator in &creators {
        let accounts = statement::creator_accounts(creator, Currency::USD);
        for (from, to) in months_until(last) {
            let opening = statement::opening(
                &store
                    .ledger_balances_at(&accounts, from)
                    .await
                    .expect("reads"),
            );
            let transfers = store
                .account_transfers(&accounts, from, to)
                .await
                .expect("reads");
            let earlier = statement::earlier_pendings(&transfers);
            let pendings = store.transfers_by_id(&earlier).await.expect("reads");
            assert_eq!(pendings.len(), earlier.len(), "{earlier:?}");
            straddling += pendings.len();
            let month = Statement::new(&accounts, opening, &pendings, &transfers);

            let history = store
                .account_transfers(&accounts, beginning, to)
                .await
                .expect("reads");
            let reference = from_whole_history(&accounts, &history, from);
            assert_eq!(
                shown(&month),
                shown(&reference),
                "{creator} from {from}: {transfers:?}"
            );
        }
        // Balances summed up to now are the ledger's running sums, to the pending ones.
        let now = store
            .ledger_balances_at(&accounts, last + Duration::seconds(1))
            .await
            .expect("reads");
        for (account, at_now) in accounts.iter().zip(now) {
            let stored = store
                .ledger_balance(account)
                .await
                .expect("reads")
                .unwrap_or_default();
            assert_eq!(at_now, stored, "{account}");
        }
    }
    // The histories did test what they are for: payouts booked in one month and paid or
    // failed in a later one.
    assert!(straddling > 0, "no payout straddled a month boundary");
}

#[conformance]
async fn transfers_are_found_by_id_however_many_and_unknown_ids_are_left_out() {
    let db = TestDb::fresh().await;
    let store = Store::open(&StoreConfig::new(db.url()))
        .await
        .expect("store opens");
    let creator = UserId::from_string("acc_i".to_owned());
    let times = book_history(&store, &creator, 8, 1_100).await;
    let unknown = TransferId::new("acc_i/unknown");
    let mut ids: Vec<&TransferId> = times.iter().map(|(id, _)| id).collect();
    ids.push(&unknown);
    let mut found: Vec<String> = store
        .transfers_by_id(&ids)
        .await
        .expect("reads")
        .into_iter()
        .map(|t| t.id.to_string())
        .collect();
    found.sort();
    let mut booked: Vec<String> = times.iter().map(|(id, _)| id.to_string()).collect();
    booked.sort();
    assert_eq!(found, booked);
}

#[conformance]
async fn a_platform_account_and_an_empty_list_read_as_nothing() {
    let db = TestDb::fresh().await;
    let store = Store::open(&StoreConfig::new(db.url()))
        .await
        .expect("store opens");
    let creator = UserId::from_string("acc_p".to_owned());
    let times = book_history(&store, &creator, 7, 5).await;
    backdate(&db, &times).await;
    let clearing = AccountId::of("platform", Purpose::ProcessorClearing, Currency::USD);
    let far = datetime!(2100-01-01 00:00 UTC);
    let [b] = store
        .ledger_balances_at(&[clearing], far)
        .await
        .expect("reads");
    assert_eq!(b, ledger::Balances::default());
    let none: [AccountId; 0] = [];
    assert_eq!(
        store.ledger_balances_at(&none, far).await.expect("reads"),
        []
    );
    let transfers = store
        .account_transfers(&[], OffsetDateTime::UNIX_EPOCH, far)
        .await
        .expect("reads");
    assert!(transfers.is_empty());
    assert!(store.transfers_by_id(&[]).await.expect("reads").is_empty());
}
