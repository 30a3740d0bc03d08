//! The batching writer against a real database, each test on SQLite and on PostgreSQL
//! (`#[conformance]`): batches commit atomically per job, idempotency keys and transfer ids
//! make retries harmless, guards see earlier jobs of the same batch, and the ledger
//! verifies after all of it.

use ledger::{Account, AccountId, Code, LedgerError, Purpose, Transfer, TransferId, TransferKind};
use money::{Currency, Money};
use store::{
    Effect, Guard, IdempotencyRecord, NewUser, Outcome, PaymentMethod, Purchase, PurchaseId,
    PurchaseStatus, Refusal, RowRef, Store, StoreConfig, UserId, WriteJob,
};
use testkit::{TestDb, conformance};

async fn open() -> (Store, TestDb) {
    open_with_wait(std::time::Duration::ZERO).await
}

fn accounts(creator: &str) -> Vec<Account> {
    vec![
        Account::of("platform", Purpose::ProcessorClearing, Currency::USD),
        Account::of(creator, Purpose::CreatorAvailable, Currency::USD),
    ]
}

fn share(id: &str, creator: &str, amount: i64) -> Transfer {
    Transfer {
        id: TransferId::new(id),
        debit: AccountId::of("platform", Purpose::ProcessorClearing, Currency::USD),
        credit: AccountId::of(creator, Purpose::CreatorAvailable, Currency::USD),
        amount,
        currency: Currency::USD,
        kind: TransferKind::Posted,
        code: Code::BADGE_SHARE,
        reference: id.into(),
    }
}

fn job(id: &str, creator: &str, amount: i64) -> WriteJob {
    WriteJob {
        accounts: accounts(creator),
        transfers: vec![share(id, creator, amount)],
        ..WriteJob::default()
    }
}

fn record(key: &str, body: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        account_id: "acc_v".into(),
        key: key.into(),
        fingerprint: "fp".into(),
        status: 201,
        body: body.into(),
    }
}

async fn earned_of(store: &Store, creator: &str) -> i64 {
    store
        .ledger_balance(&AccountId::of(
            creator,
            Purpose::CreatorAvailable,
            Currency::USD,
        ))
        .await
        .expect("reads")
        .map(|b| b.credits_posted - b.debits_posted)
        .unwrap_or(0)
}

#[conformance]
async fn concurrent_jobs_commit_and_the_ledger_verifies() {
    let (store, _dir) = open().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let writer = store.writer().clone();
        tasks.push(tokio::spawn(async move {
            writer
                .submit(job(&format!("t{i}"), &format!("c{}", i % 7), 99))
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("committed"), Outcome::Applied);
    }
    let total: i64 = {
        let mut sum = 0;
        for c in 0..7 {
            sum += earned_of(&store, &format!("c{c}")).await;
        }
        sum
    };
    assert_eq!(total, 200 * 99);
    let report = store.verify_ledger().await.expect("verifies");
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.transfers, 200);
}

#[conformance]
async fn resubmitting_the_same_transfers_is_a_replay_and_moves_nothing() {
    let (store, _dir) = open().await;
    assert_eq!(
        store
            .writer()
            .submit(job("same", "c", 500))
            .await
            .expect("ok"),
        Outcome::Applied
    );
    assert_eq!(
        store
            .writer()
            .submit(job("same", "c", 500))
            .await
            .expect("ok"),
        Outcome::Replayed
    );
    let conflict = store
        .writer()
        .submit(job("same", "c", 501))
        .await
        .expect("ok");
    assert_eq!(
        conflict,
        Outcome::Refused(Refusal::Ledger(LedgerError::ExistsWithDifferentFields(
            TransferId::new("same")
        )))
    );
    assert_eq!(earned_of(&store, "c").await, 500);
}

#[conformance]
async fn an_idempotency_key_is_used_once_even_within_one_batch() {
    let (store, _dir) = open().await;
    let first = WriteJob {
        idempotency: Some(record("k", "first")),
        ..job("a", "c", 100)
    };
    let second = WriteJob {
        idempotency: Some(record("k", "second")),
        ..job("b", "c", 100)
    };
    let (w1, w2) = (store.writer().clone(), store.writer().clone());
    let (r1, r2) = tokio::join!(w1.submit(first), w2.submit(second));
    let outcomes = [r1.expect("ok"), r2.expect("ok")];
    let applied = outcomes.iter().filter(|o| **o == Outcome::Applied).count();
    assert_eq!(applied, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Duplicate(r) if r.key == "k")),
        "{outcomes:?}"
    );
    assert_eq!(earned_of(&store, "c").await, 100);
    assert!(
        store
            .idempotency("acc_v", "k")
            .await
            .expect("reads")
            .is_some()
    );
}

#[conformance]
async fn a_refused_job_writes_nothing_and_does_not_stop_its_batch() {
    let (store, _dir) = open().await;
    let bad = WriteJob {
        transfers: vec![share("neg", "c", -5)],
        ..job("x", "c", 1)
    };
    let (w1, w2) = (store.writer().clone(), store.writer().clone());
    let (r1, r2) = tokio::join!(w1.submit(bad), w2.submit(job("good", "c", 7)));
    assert!(matches!(
        r1.expect("ok"),
        Outcome::Refused(Refusal::Ledger(LedgerError::AmountNotPositive(_)))
    ));
    assert_eq!(r2.expect("ok"), Outcome::Applied);
    assert_eq!(earned_of(&store, "c").await, 7);
}

#[conformance]
async fn a_spending_guard_counts_committed_purchases_and_earlier_jobs_of_the_batch() {
    let (store, _dir) = open().await;
    let viewer = store
        .create_user(NewUser {
            handle: live::Handle::parse("minor").expect("handle"),
            kind: live::AccountKind::Viewer,
            country: live::CountryCode::parse("US").expect("country"),
            birth_date: None,
            followers: None,
        })
        .await
        .expect("user");
    let since = store::now() - time::Duration::hours(1);
    let purchase_job = |n: usize| {
        capped_purchase(
            &viewer.id,
            vec![Guard::SpendLimit {
                viewer_id: viewer.id.clone(),
                currency: Currency::USD,
                since,
                amount: 99,
                limit: 250,
            }],
            n,
        )
    };
    // Two fit under 250; the third does not, whether it shares their batch or comes later.
    let (a, b, c) = (
        store.writer().clone(),
        store.writer().clone(),
        store.writer().clone(),
    );
    let (r1, r2, r3) = tokio::join!(
        a.submit(purchase_job(1)),
        b.submit(purchase_job(2)),
        c.submit(purchase_job(3))
    );
    let outcomes = [r1.expect("ok"), r2.expect("ok"), r3.expect("ok")];
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Applied).count(),
        2,
        "{outcomes:?}"
    );
    assert_eq!(
        store.writer().submit(purchase_job(4)).await.expect("ok"),
        Outcome::Refused(Refusal::SpendingLimit)
    );
    assert_eq!(
        store
            .spent_since(&viewer.id, Currency::USD, since)
            .await
            .expect("reads"),
        198
    );
    assert!(store.verify_ledger().await.expect("verifies").ok);
}

/// A purchase of 99 US cents by `viewer` on a card, its share posted, within `guards`.
fn capped_purchase(viewer: &UserId, guards: Vec<Guard>, n: usize) -> WriteJob {
    let id = PurchaseId::generate();
    let purchase = Purchase {
        viewer_id: viewer.clone(),
        payment_id: format!("pi_{n}"),
        ..purchase(&id, &store::LiveId::from_string("live_x".into()), n)
    };
    WriteJob {
        guards,
        effects: vec![Effect::InsertPurchase(Box::new(purchase))],
        ..job(&format!("{id}/share"), "c", 99)
    }
}

#[conformance]
async fn on_a_monday_a_buyer_with_both_caps_set_is_held_to_each_once() {
    // On a Monday the day and the week start at the same instant: each purchase carries a
    // daily and a weekly guard on one period, and a batch must count an earlier job of the
    // batch once against each, not twice (a spurious `spending_limit`).
    let (store, _db) = open_with_wait(std::time::Duration::from_millis(200)).await;
    let viewer = user(&store, "both_caps", live::AccountKind::Viewer).await;
    let monday = time::macros::datetime!(2026-11-30 12:00 UTC);
    assert_eq!(monday.weekday(), time::Weekday::Monday);
    let caps = postings::caps::Caps {
        daily: Some(4 * 99),
        weekly: Some(4 * 99),
        minor: false,
    };
    let periods = caps.periods(monday);
    assert_eq!(periods.len(), 2);
    assert_eq!(periods[0].1, periods[1].1, "one period start on a Monday");
    let purchase_job = |n: usize| {
        let guards = periods
            .iter()
            .map(|(_, since, limit)| {
                postings::caps::cap_guard(&viewer.id, Money::new(99, Currency::USD), *since, *limit)
            })
            .collect();
        capped_purchase(&viewer.id, guards, n)
    };
    // One committed before, then three in one batch: 4 × 99 is both caps to the cent.
    assert_eq!(
        store.writer().submit(purchase_job(0)).await.expect("ok"),
        Outcome::Applied
    );
    let (a, b, c) = (
        store.writer().clone(),
        store.writer().clone(),
        store.writer().clone(),
    );
    let (r1, r2, r3) = tokio::join!(
        a.submit(purchase_job(1)),
        b.submit(purchase_job(2)),
        c.submit(purchase_job(3))
    );
    let outcomes = [r1.expect("ok"), r2.expect("ok"), r3.expect("ok")];
    assert_eq!(
        outcomes,
        [Outcome::Applied, Outcome::Applied, Outcome::Applied]
    );
    assert_eq!(
        store.writer().submit(purchase_job(4)).await.expect("ok"),
        Outcome::Refused(Refusal::SpendingLimit)
    );
    assert_eq!(
        store
            .spent_since(&viewer.id, Currency::USD, periods[0].1)
            .await
            .expect("reads"),
        4 * 99
    );
    assert!(store.verify_ledger().await.expect("verifies").ok);
}

/// A store on a fresh database whose writer waits `wait` for more jobs before each batch.
async fn open_with_wait(wait: std::time::Duration) -> (Store, TestDb) {
    let db = TestDb::fresh().await;
    let mut config = StoreConfig::new(db.url());
    config.writer.batch_wait = wait;
    // On PostgreSQL, batches overlap: they must still never deadlock or double-apply.
    config.writer.postgres_connections = 3;
    (Store::open(&config).await.expect("store opens"), db)
}

async fn user(store: &Store, handle: &str, kind: live::AccountKind) -> store::User {
    store
        .create_user(NewUser {
            handle: live::Handle::parse(handle).expect("handle"),
            kind,
            country: live::CountryCode::parse("US").expect("country"),
            birth_date: None,
            followers: None,
        })
        .await
        .expect("user")
}

fn purchase(id: &PurchaseId, live_id: &store::LiveId, n: usize) -> Purchase {
    Purchase {
        id: id.clone(),
        live_id: live_id.clone(),
        viewer_id: UserId::from_string("v".into()),
        creator_id: UserId::from_string("c".into()),
        tier: live::Tier::new(1).expect("tier"),
        price: Money::new(99, Currency::USD),
        creator_share: Money::new(99, Currency::USD),
        platform_fee: Money::zero(Currency::USD),
        processor_fee: Money::zero(Currency::USD),
        match_amount: Money::zero(Currency::USD),
        match_program: None,
        payment_method: PaymentMethod::Card,
        status: PurchaseStatus::Succeeded,
        payment_id: format!("pi_{n}"),
        created_at: store::now(),
        refunded_at: None,
    }
}

#[conformance]
async fn a_live_guard_refuses_missing_and_ended_lives_within_the_same_batch() {
    // A batch window long enough that the jobs submitted together share one batch.
    let (store, _dir) = open_with_wait(std::time::Duration::from_millis(100)).await;
    let creator = user(&store, "streamer", live::AccountKind::Creator).await;
    let on_air = store
        .create_live(&creator.id, "on air", None)
        .await
        .expect("live");
    let ended = store
        .create_live(&creator.id, "over", None)
        .await
        .expect("live");
    store.end_live(&ended.id).await.expect("ends");
    let missing = store::LiveId::from_string("live_missing".into());
    let guarded = |id: &str, live_id: &store::LiveId| WriteJob {
        guards: vec![Guard::live_active(live_id)],
        ..job(id, "c", 10)
    };
    let (a, b, c, d) = (
        store.writer().clone(),
        store.writer().clone(),
        store.writer().clone(),
        store.writer().clone(),
    );
    let (r1, r2, r3, r4) = tokio::join!(
        a.submit(guarded("on1", &on_air.id)),
        b.submit(guarded("ended", &ended.id)),
        c.submit(guarded("missing", &missing)),
        d.submit(guarded("on2", &on_air.id)),
    );
    assert_eq!(r1.expect("ok"), Outcome::Applied);
    assert_eq!(
        r2.expect("ok"),
        Outcome::Refused(Refusal::Status(RowRef::Live(ended.id.clone())))
    );
    assert_eq!(
        r3.expect("ok"),
        Outcome::Refused(Refusal::Status(RowRef::Live(missing.clone())))
    );
    assert_eq!(r4.expect("ok"), Outcome::Applied);
    assert_eq!(earned_of(&store, "c").await, 20);
    // Ended after the fact: later jobs are refused.
    store.end_live(&on_air.id).await.expect("ends");
    assert_eq!(
        store
            .writer()
            .submit(guarded("on3", &on_air.id))
            .await
            .expect("ok"),
        Outcome::Refused(Refusal::Status(RowRef::Live(on_air.id.clone())))
    );
    assert_eq!(earned_of(&store, "c").await, 20);
    assert!(store.verify_ledger().await.expect("verifies").ok);
}

#[conformance]
async fn a_refused_job_opens_no_account_and_one_an_applied_job_shares_is_kept() {
    // One batch: a refused job naming an account of its own and the platform's, and an
    // applied one naming the platform's too.
    let (store, _dir) = open_with_wait(std::time::Duration::from_millis(100)).await;
    let missing = store::LiveId::from_string("live_missing".into());
    let refused = WriteJob {
        guards: vec![Guard::live_active(&missing)],
        ..job("refused", "lonely", 10)
    };
    let (a, b) = (store.writer().clone(), store.writer().clone());
    let (r1, r2) = tokio::join!(a.submit(refused), b.submit(job("applied", "c", 7)));
    assert_eq!(
        r1.expect("ok"),
        Outcome::Refused(Refusal::Status(RowRef::Live(missing.clone())))
    );
    assert_eq!(r2.expect("ok"), Outcome::Applied);
    let balance = |owner: &str, purpose| {
        let id = AccountId::of(owner, purpose, Currency::USD);
        let store = &store;
        async move { store.ledger_balance(&id).await }
    };
    assert!(
        balance("lonely", Purpose::CreatorAvailable)
            .await
            .expect("reads")
            .is_none(),
        "the refused job's own account was not opened"
    );
    assert!(
        balance("platform", Purpose::ProcessorClearing)
            .await
            .expect("reads")
            .is_some()
    );
    assert_eq!(earned_of(&store, "c").await, 7);
    // Alone in its batch, likewise.
    let alone = WriteJob {
        guards: vec![Guard::live_active(&missing)],
        ..job("alone", "lonelier", 10)
    };
    assert!(matches!(
        store.writer().submit(alone).await.expect("ok"),
        Outcome::Refused(_)
    ));
    assert!(
        balance("lonelier", Purpose::CreatorAvailable)
            .await
            .expect("reads")
            .is_none()
    );
    assert!(store.verify_ledger().await.expect("verifies").ok);
}

#[conformance]
async fn an_account_another_process_opened_while_a_refused_job_waited_on_it_is_kept() {
    // Two processes on one database: one applies jobs that open a new creator's accounts
    // while the other's jobs, naming the same accounts, are refused. On PostgreSQL the
    // second one's insert of the account waits for the first one's and then finds it
    // there: the account is the first one's, and stays with its money.
    let (one, db) = open_with_wait(std::time::Duration::ZERO).await;
    let two = Store::open(&StoreConfig::new(db.url()))
        .await
        .expect("a second store opens");
    let missing = store::LiveId::from_string("live_missing".into());
    for round in 0..40 {
        let creator = format!("c{round}");
        let refused = WriteJob {
            guards: vec![Guard::live_active(&missing)],
            ..job(&format!("refused{round}"), &creator, 5)
        };
        let (applied, refused) = tokio::join!(
            one.writer()
                .submit(job(&format!("applied{round}"), &creator, 7)),
            two.writer().submit(refused)
        );
        assert_eq!(applied.expect("ok"), Outcome::Applied);
        assert!(
            matches!(refused.expect("ok"), Outcome::Refused(Refusal::Status(_))),
            "round {round}"
        );
        assert_eq!(earned_of(&one, &creator).await, 7, "round {round}");
    }
    assert!(one.verify_ledger().await.expect("verifies").ok);
    two.close().await;
}

#[conformance]
async fn a_batch_that_fails_as_a_whole_writes_nothing_answers_unavailable_and_the_next_commits() {
    let (store, _dir) = open_with_wait(std::time::Duration::from_millis(100)).await;
    let live_id = store::LiveId::from_string("live_x".into());
    let id = PurchaseId::generate();
    let first = WriteJob {
        effects: vec![Effect::InsertPurchase(Box::new(purchase(&id, &live_id, 1)))],
        ..job("p1", "c", 99)
    };
    assert_eq!(
        store.writer().submit(first).await.expect("ok"),
        Outcome::Applied
    );
    // Same purchase id under new transfers: the ledger accepts it, the purchases table's
    // primary key does not, and the whole batch (with the innocent job) rolls back.
    let clash = WriteJob {
        idempotency: Some(record("clash", "x")),
        effects: vec![Effect::InsertPurchase(Box::new(purchase(&id, &live_id, 2)))],
        ..job("p2", "c", 99)
    };
    let (w1, w2) = (store.writer().clone(), store.writer().clone());
    let (r1, r2) = tokio::join!(w1.submit(job("innocent", "c", 7)), w2.submit(clash));
    assert!(
        matches!(r1, Err(store::StoreError::Unavailable(_))),
        "{r1:?}"
    );
    assert!(
        matches!(r2, Err(store::StoreError::Unavailable(_))),
        "{r2:?}"
    );
    assert_eq!(earned_of(&store, "c").await, 99);
    assert!(
        store
            .idempotency("acc_v", "clash")
            .await
            .expect("reads")
            .is_none()
    );
    // The writer goes on (on a fresh connection): a retry of the innocent job commits.
    assert_eq!(
        store
            .writer()
            .submit(job("innocent", "c", 7))
            .await
            .expect("ok"),
        Outcome::Applied
    );
    assert_eq!(earned_of(&store, "c").await, 106);
    let report = store.verify_ledger().await.expect("verifies");
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.transfers, 2);
}

#[conformance]
async fn a_batch_of_more_transfers_than_one_insert_chunk_commits_and_replays() {
    let (store, _dir) = open().await;
    // 600 transfers: two full 256-row chunks and a remainder written row at a time.
    let many = WriteJob {
        accounts: accounts("c"),
        transfers: (0..600).map(|i| share(&format!("m{i}"), "c", 3)).collect(),
        ..WriteJob::default()
    };
    assert_eq!(
        store.writer().submit(many.clone()).await.expect("ok"),
        Outcome::Applied
    );
    assert_eq!(
        store.writer().submit(many).await.expect("ok"),
        Outcome::Replayed
    );
    assert_eq!(earned_of(&store, "c").await, 1800);
    let report = store.verify_ledger().await.expect("verifies");
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.transfers, 600);
}

#[conformance]
async fn the_audit_names_income_in_pending_that_no_hold_accounts_for() {
    let (store, _db) = open().await;
    let held = |id: &str, amount: i64| store::Hold {
        id: id.into(),
        owner: UserId::from_string("c".into()),
        amount: Money::new(amount, Currency::USD),
        source: store::IncomeSource::Badges,
        status: store::HoldStatus::Held,
        release_at: store::now(),
        created_at: store::now(),
    };
    let pending = |id: &str, amount: i64| WriteJob {
        accounts: vec![
            Account::of("platform", Purpose::ProcessorClearing, Currency::USD),
            Account::of("c", Purpose::CreatorPending, Currency::USD),
        ],
        transfers: vec![Transfer {
            credit: AccountId::of("c", Purpose::CreatorPending, Currency::USD),
            ..share(id, "c", amount)
        }],
        ..WriteJob::default()
    };
    // Income booked with its hold: the audit passes.
    let with_hold = WriteJob {
        effects: vec![Effect::InsertHold(Box::new(held("p1", 100)))],
        ..pending("p1", 100)
    };
    assert_eq!(
        store.writer().submit(with_hold).await.expect("ok"),
        Outcome::Applied
    );
    assert!(store.verify_ledger().await.expect("verifies").ok);
    // Income in pending that no hold accounts for: named, with the account and amounts.
    store.writer().submit(pending("p2", 50)).await.expect("ok");
    let report = store.verify_ledger().await.expect("verifies");
    assert!(!report.ok);
    assert_eq!(
        report.problems,
        ["account c/creator_pending/USD: its balance is 150 but its held income sums to 100"]
    );
}

async fn open_with(configure: impl FnOnce(&mut store::WriterConfig)) -> (Store, TestDb) {
    let db = TestDb::fresh().await;
    let mut config = StoreConfig::new(db.url());
    config.writer.postgres_connections = 3;
    configure(&mut config.writer);
    (Store::open(&config).await.expect("store opens"), db)
}

/// A card purchase of `tier` by `viewer` in `live_id`, standing or refunded, its share posted.
fn badge_purchase(
    viewer: &UserId,
    live_id: &store::LiveId,
    tier: i64,
    status: PurchaseStatus,
) -> WriteJob {
    let id = PurchaseId::generate();
    let purchase = Purchase {
        viewer_id: viewer.clone(),
        tier: live::Tier::new(tier).expect("tier"),
        status,
        refunded_at: (status == PurchaseStatus::Refunded).then(store::now),
        payment_id: format!("pi_{id}"),
        ..purchase(&id, live_id, 0)
    };
    WriteJob {
        effects: vec![Effect::InsertPurchase(Box::new(purchase))],
        ..job(&format!("{id}/share"), "c", 99)
    }
}

/// Every comment of a live, page after page.
async fn all_comments(store: &Store, live_id: &store::LiveId) -> Vec<store::Comment> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .comments(live_id, cursor.as_deref(), 7)
            .await
            .expect("reads");
        all.extend(page.data);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

#[conformance]
async fn comments_from_many_accounts_are_each_stored_once_with_their_badge_in_few_transactions() {
    // A batch window long enough that comments sent together share a batch.
    let (store, _dir) = open_with(|w| w.batch_wait = std::time::Duration::from_millis(50)).await;
    let creator = user(&store, "streamer", live::AccountKind::Creator).await;
    let on_air = store
        .create_live(&creator.id, "on air", None)
        .await
        .expect("live");
    let mut viewers = Vec::new();
    for n in 0..24 {
        let viewer = user(&store, &format!("viewer{n}"), live::AccountKind::Viewer).await;
        // Viewer n holds tier n % 4 (none for 0); a refunded tier 3 above it never counts.
        let tier = n % 4;
        if tier > 0 {
            let bought = badge_purchase(&viewer.id, &on_air.id, tier, PurchaseStatus::Succeeded);
            assert_eq!(
                store.writer().submit(bought).await.expect("ok"),
                Outcome::Applied
            );
            let refunded = badge_purchase(&viewer.id, &on_air.id, 3, PurchaseStatus::Refunded);
            assert_eq!(
                store.writer().submit(refunded).await.expect("ok"),
                Outcome::Applied
            );
        }
        viewers.push((viewer, (tier > 0).then_some(tier)));
    }
    let before = store.writer().stats();
    let sends: Vec<_> = viewers
        .iter()
        .flat_map(|(viewer, tier)| (0..2).map(move |k| (viewer, *tier, k)))
        .collect();
    let sent = sends.into_iter().map(|(viewer, tier, k)| {
        let (store, live_id) = (store.clone(), on_air.id.clone());
        async move {
            let text = format!("{} says {k}", viewer.handle);
            let comment = store
                .insert_comment(&live_id, viewer, &text)
                .await
                .expect("stored")
                .expect("the live is on");
            assert_eq!(comment.text, text);
            assert_eq!(comment.badge_tier.map(|t| i64::from(t.get())), tier);
            comment
        }
    });
    let written = futures_util::future::join_all(sent).await;
    let after = store.writer().stats();
    assert_eq!(after.comments - before.comments, 48);
    assert!(
        after.comment_batches - before.comment_batches < 48,
        "{before:?} → {after:?}"
    );
    // Each comment is stored once, as answered, and the cursor walks over every one.
    let stored = all_comments(&store, &on_air.id).await;
    assert_eq!(stored.len(), 48);
    let mut ids: Vec<_> = stored.iter().map(|c| c.id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 48, "ids are listed in order, each once");
    for comment in &written {
        let found = stored
            .iter()
            .find(|c| c.id == comment.id)
            .expect("stored under its id");
        assert_eq!(
            (&found.text, found.badge_tier, &found.author_id),
            (&comment.text, comment.badge_tier, &comment.author_id)
        );
    }
    assert!(store.verify_ledger().await.expect("verifies").ok);
}

#[conformance]
async fn a_comment_and_a_purchase_sent_together_commit_in_one_transaction_badge_included() {
    let (store, _dir) = open_with(|w| w.batch_wait = std::time::Duration::from_millis(100)).await;
    let creator = user(&store, "streamer", live::AccountKind::Creator).await;
    let viewer = user(&store, "fan", live::AccountKind::Viewer).await;
    let on_air = store
        .create_live(&creator.id, "on air", None)
        .await
        .expect("live");
    let before = store.writer().stats();
    let bought = badge_purchase(&viewer.id, &on_air.id, 2, PurchaseStatus::Succeeded);
    let (outcome, comment) = tokio::join!(
        store.writer().submit(bought),
        store.insert_comment(&on_air.id, &viewer, "hi")
    );
    assert_eq!(outcome.expect("ok"), Outcome::Applied);
    let comment = comment.expect("stored").expect("the live is on");
    let after = store.writer().stats();
    assert_eq!(after.batches - before.batches, 1, "{before:?} → {after:?}");
    // Written after the batch's purchases, the comment carries the badge bought with it.
    assert_eq!(comment.badge_tier.map(|t| t.get()), Some(2));
}

#[conformance]
async fn a_top_tier_counts_the_buyers_purchases_in_that_live_only_even_dated_a_little_before_it() {
    let (store, _dir) = open_with(|_| {}).await;
    let creator = user(&store, "streamer", live::AccountKind::Creator).await;
    let viewer = user(&store, "fan", live::AccountKind::Viewer).await;
    let other = user(&store, "other", live::AccountKind::Viewer).await;
    let earlier = store
        .create_live(&creator.id, "earlier", None)
        .await
        .expect("live");
    let on_air = store
        .create_live(&creator.id, "on air", None)
        .await
        .expect("live");
    let buy = |viewer: &UserId, live: &store::LiveId, tier, at| {
        let mut job = badge_purchase(viewer, live, tier, PurchaseStatus::Succeeded);
        if let Some(Effect::InsertPurchase(p)) = job.effects.first_mut() {
            p.created_at = at;
        }
        job
    };
    // Tier 3 in another live and by another buyer in this one; tier 2 in this one, dated a
    // minute before it started (the selling node's clock behind the starting node's).
    let minute_early = on_air.started_at - time::Duration::minutes(1);
    for job in [
        buy(&viewer.id, &earlier.id, 3, store::now()),
        buy(&other.id, &on_air.id, 3, store::now()),
        buy(&viewer.id, &on_air.id, 2, minute_early),
        buy(&viewer.id, &on_air.id, 1, store::now()),
    ] {
        assert_eq!(
            store.writer().submit(job).await.expect("ok"),
            Outcome::Applied
        );
    }
    let tier = store.top_tier(&on_air.id, &viewer.id).await.expect("reads");
    assert_eq!(tier.map(|t| t.get()), Some(2));
    let comment = store
        .insert_comment(&on_air.id, &viewer, "hi")
        .await
        .expect("stored")
        .expect("the live is on");
    assert_eq!(comment.badge_tier.map(|t| t.get()), Some(2));
    let none = store.top_tier(&earlier.id, &other.id).await.expect("reads");
    assert_eq!(none, None);
}

#[conformance]
async fn a_comment_on_an_ended_or_missing_live_is_refused_and_its_batch_commits() {
    let (store, _dir) = open_with(|w| w.batch_wait = std::time::Duration::from_millis(100)).await;
    let creator = user(&store, "streamer", live::AccountKind::Creator).await;
    let viewer = user(&store, "fan", live::AccountKind::Viewer).await;
    let on_air = store
        .create_live(&creator.id, "on air", None)
        .await
        .expect("live");
    let ended = store
        .create_live(&creator.id, "over", None)
        .await
        .expect("live");
    store.end_live(&ended.id).await.expect("ends");
    let missing = store::LiveId::from_string("live_missing".into());
    let (on, over, nowhere, paid) = tokio::join!(
        store.insert_comment(&on_air.id, &viewer, "on"),
        store.insert_comment(&ended.id, &viewer, "over"),
        store.insert_comment(&missing, &viewer, "nowhere"),
        store.writer().submit(job("paid", "c", 10)),
    );
    assert!(on.expect("stored").is_some());
    assert!(over.expect("answered").is_none());
    assert!(nowhere.expect("answered").is_none());
    assert_eq!(paid.expect("ok"), Outcome::Applied);
    assert_eq!(all_comments(&store, &ended.id).await.len(), 0);
    assert_eq!(all_comments(&store, &on_air.id).await.len(), 1);
    assert_eq!(earned_of(&store, "c").await, 10);
}

#[conformance]
async fn a_batch_carries_at_most_comment_batch_max_comments() {
    let (store, _dir) = open_with(|w| {
        w.batch_wait = std::time::Duration::from_millis(20);
        w.comment_batch_max = 3;
    })
    .await;
    let creator = user(&store, "streamer", live::AccountKind::Creator).await;
    let viewer = user(&store, "fan", live::AccountKind::Viewer).await;
    let on_air = store
        .create_live(&creator.id, "on air", None)
        .await
        .expect("live");
    let sent = (0..9).map(|n| {
        let (store, live_id, viewer) = (store.clone(), on_air.id.clone(), viewer.clone());
        async move {
            store
                .insert_comment(&live_id, &viewer, &format!("{n}"))
                .await
                .expect("stored")
                .expect("the live is on")
        }
    });
    futures_util::future::join_all(sent).await;
    let stats = store.writer().stats();
    assert_eq!(stats.comments, 9);
    assert!(stats.comment_batches >= 3, "{stats:?}");
}

#[conformance]
async fn a_comment_beyond_a_full_queue_is_refused_at_once_as_busy() {
    // One comment may wait, one is committed per batch, and each batch waits 100 ms first:
    // of 50 comments sent at once, nearly all find the queue full.
    let (store, _dir) = open_with(|w| {
        w.batch_wait = std::time::Duration::from_millis(100);
        w.comment_batch_max = 1;
        w.comment_queue_max = 1;
    })
    .await;
    let creator = user(&store, "streamer", live::AccountKind::Creator).await;
    let viewer = user(&store, "fan", live::AccountKind::Viewer).await;
    let on_air = store
        .create_live(&creator.id, "on air", None)
        .await
        .expect("live");
    let sent = (0..50).map(|n| {
        let (store, live_id, viewer) = (store.clone(), on_air.id.clone(), viewer.clone());
        async move {
            store
                .insert_comment(&live_id, &viewer, &format!("{n}"))
                .await
        }
    });
    let answers = futures_util::future::join_all(sent).await;
    let busy = answers
        .iter()
        .filter(|a| matches!(a, Err(store::StoreError::Busy)))
        .count();
    let stored = answers.iter().filter(|a| matches!(a, Ok(Some(_)))).count();
    assert!(busy > 0, "{answers:?}");
    assert_eq!(busy + stored, 50, "{answers:?}");
    assert_eq!(all_comments(&store, &on_air.id).await.len(), stored);
    // The queue drains: the next comment is stored.
    assert!(
        store
            .insert_comment(&on_air.id, &viewer, "later")
            .await
            .expect("stored")
            .is_some()
    );
}

/// On SQLite no commit checkpoints (every connection has `wal_autocheckpoint=0`); the
/// writer's checkpointer copies the WAL into the database file soon after, so the file holds
/// what was committed and the WAL does not grow without end.
#[tokio::test]
async fn the_wal_is_checkpointed_off_the_commit_path() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ovation.db");
    let store = Store::open(&StoreConfig::new(format!("sqlite://{}", path.display())))
        .await
        .expect("store opens");
    let file_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let before = file_size();
    let mut tasks = Vec::new();
    for i in 0..2_000 {
        let writer = store.writer().clone();
        tasks.push(tokio::spawn(async move {
            writer
                .submit(job(&format!("w{i}"), &format!("c{}", i % 50), 1))
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("committed"), Outcome::Applied);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while file_size() < before + 100_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        file_size() >= before + 100_000,
        "the database file did not take the committed pages: {before} → {} bytes",
        file_size()
    );
    let report = store.verify_ledger().await.expect("verifies");
    assert!(report.ok, "{:?}", report.problems);
}

/// The sandbox's charges (on SQLite through the writer's batches, on PostgreSQL through the
/// pool): each key is stored once, whoever comes first, and every caller gets what is
/// stored under its key, concurrent callers and repeated keys included.
#[conformance]
async fn sandbox_charges_are_stored_once_per_key_whoever_comes_first() {
    let (store, _dir) = open().await;
    let charge = |n: usize, id: &str| store::SandboxCharge {
        id: id.to_owned(),
        idempotency_key: format!("key-{n}"),
        amount: Money::new(99, Currency::USD),
        payment_method: "pm_card_visa".into(),
        status: "succeeded".into(),
        reference: format!("pur_{n}"),
        answered: true,
        created_at: store::now(),
        updated_at: store::now(),
    };
    let mut tasks = Vec::new();
    for i in 0..60 {
        let (store, first, again) = (
            store.clone(),
            charge(i % 20, &format!("pi_{i}")),
            charge(i % 20, &format!("pi_again_{i}")),
        );
        tasks.push(tokio::spawn(async move {
            store.sandbox_charges_insert(&[first, again]).await
        }));
    }
    let mut winners = std::collections::HashMap::new();
    for t in tasks {
        let stored = t.await.expect("task").expect("stored");
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].id, stored[1].id, "one charge per key");
        let winner = winners
            .entry(stored[0].idempotency_key.clone())
            .or_insert_with(|| stored[0].id.clone());
        assert_eq!(*winner, stored[0].id, "every caller sees the same charge");
    }
    assert_eq!(winners.len(), 20);
    let page = store.sandbox_charges(None, 100).await.expect("reads");
    assert_eq!(page.data.len(), 20, "one row per key");
}

/// The reads a purchase makes on its way (its key's stored answer, the buyer's spending, a
/// purchase by its payment; on a SQLite file they run on the store's own connections, in
/// place) see each commit as soon as the writer has answered it: no reader is left on an
/// older snapshot.
#[conformance]
async fn the_hot_reads_see_each_commit_as_soon_as_the_writer_answers() {
    let (store, _dir) = open().await;
    let viewer = user(&store, "reader", live::AccountKind::Viewer).await;
    let since = store::now() - time::Duration::hours(1);
    for n in 1..=20_i64 {
        let key = format!("hot-{n}");
        let payment = format!("pi_{n}");
        assert!(
            store
                .idempotency("acc_v", &key)
                .await
                .expect("reads")
                .is_none()
        );
        assert!(
            store
                .purchase_by_payment(&payment)
                .await
                .expect("reads")
                .is_none()
        );
        let job = WriteJob {
            idempotency: Some(record(&key, &format!("answer {n}"))),
            ..capped_purchase(&viewer.id, Vec::new(), usize::try_from(n).expect("small"))
        };
        assert_eq!(
            store.writer().submit(job).await.expect("ok"),
            Outcome::Applied
        );
        let stored = store.idempotency("acc_v", &key).await.expect("reads");
        assert_eq!(stored.map(|r| r.body), Some(format!("answer {n}")));
        assert_eq!(
            store
                .spent_since(&viewer.id, Currency::USD, since)
                .await
                .expect("reads"),
            99 * n
        );
        let bought = store.purchase_by_payment(&payment).await.expect("reads");
        assert_eq!(bought.map(|p| p.viewer_id), Some(viewer.id.clone()));
    }
}

/// A pending payment attempt under `key` (with an idempotency key of its own when `key` is
/// `a`), to book `reference`.
fn attempt(key: &str, reference: &str) -> store::PaymentAttempt {
    store::PaymentAttempt {
        key: key.to_owned(),
        kind: store::AttemptKind::Purchase,
        reference: reference.to_owned(),
        account_id: "acc_v".into(),
        idempotency_key: (key == "a").then(|| "k-a".to_owned()),
        fingerprint: format!("fp-{reference}"),
        order: "{}".into(),
        amount: Money::new(99, Currency::USD),
        status: store::AttemptStatus::Pending,
        payment_id: None,
        created_at: store::now(),
        updated_at: store::now(),
    }
}

/// The sandbox's charge `id` of `a`, succeeded, under the attempt's key.
fn charge_of(a: &store::PaymentAttempt, id: &str) -> store::SandboxCharge {
    store::SandboxCharge {
        id: id.to_owned(),
        idempotency_key: a.key.clone(),
        amount: a.amount,
        payment_method: "pm_card_visa".into(),
        status: "succeeded".into(),
        reference: a.reference.clone(),
        answered: true,
        created_at: a.created_at,
        updated_at: a.created_at,
    }
}

/// Payment attempts recorded and moved in one batch (on PostgreSQL each kind is one
/// statement): a key recorded twice keeps the first, and an attempt moved twice ends as the
/// moves applied in turn leave it — the last status, the last payment id given.
#[conformance]
async fn attempts_recorded_and_moved_in_one_batch_end_as_applied_in_turn() {
    let (store, _dir) = open().await;
    let set = |key: &str, status, payment: Option<&str>| Effect::SetAttempt {
        key: key.to_owned(),
        status,
        payment_id: payment.map(str::to_owned),
        at: store::now(),
    };
    let recorded = WriteJob {
        effects: vec![
            Effect::InsertAttempt(Box::new(attempt("b", "pur_b"))),
            Effect::InsertAttempt(Box::new(attempt("a", "pur_a"))),
            Effect::InsertAttempt(Box::new(attempt("c", "pur_c"))),
        ],
        ..WriteJob::default()
    };
    assert_eq!(
        store.writer().submit(recorded).await.expect("ok"),
        Outcome::Applied
    );
    let again = WriteJob {
        effects: vec![Effect::InsertAttempt(Box::new(store::PaymentAttempt {
            fingerprint: "another".into(),
            ..attempt("a", "pur_a")
        }))],
        ..WriteJob::default()
    };
    assert_eq!(
        store.writer().submit(again).await.expect("ok"),
        Outcome::Applied
    );
    let moved = WriteJob {
        effects: vec![
            set("a", store::AttemptStatus::Processing, Some("pi_a")),
            set("b", store::AttemptStatus::Declined, None),
            set("a", store::AttemptStatus::Booked, None),
        ],
        ..WriteJob::default()
    };
    assert_eq!(
        store.writer().submit(moved).await.expect("ok"),
        Outcome::Applied
    );
    let read = |key: &'static str| {
        let store = store.clone();
        async move { store.attempt(key).await.expect("reads").expect("stored") }
    };
    let a = read("a").await;
    assert_eq!(
        a.fingerprint, "fp-pur_a",
        "the first record of a key stands"
    );
    assert_eq!(a.idempotency_key.as_deref(), Some("k-a"));
    assert_eq!(a.status, store::AttemptStatus::Booked);
    assert_eq!(a.payment_id.as_deref(), Some("pi_a"));
    let b = read("b").await;
    assert_eq!(
        (b.status, b.payment_id),
        (store::AttemptStatus::Declined, None)
    );
    let c = read("c").await;
    assert_eq!(
        (c.status, c.reference.as_str()),
        (store::AttemptStatus::Pending, "pur_c")
    );
}

/// The sandbox's card payment in one job: the attempt, new, written booked with its charge
/// and the booking. Of two such jobs with one key (in one batch or two), one is applied and
/// the other refused by its guard, leaving one attempt and one charge; a key whose attempt
/// was recorded the long way is refused too, and charges nothing.
#[conformance]
async fn a_new_attempt_is_written_with_its_charge_once_per_key() {
    let (store, _dir) = open().await;
    let charged = |key: &str, id: &str, transfer: &str| {
        let a = attempt(key, &format!("pur_{id}"));
        postings::rules::charged_with(job(transfer, "c", 99), &a, &charge_of(&a, id), store::now())
    };
    let (w1, w2) = (store.writer().clone(), store.writer().clone());
    let (r1, r2) = tokio::join!(
        w1.submit(charged("n", "pi_1", "t1")),
        w2.submit(charged("n", "pi_2", "t2"))
    );
    let outcomes = [r1.expect("ok"), r2.expect("ok")];
    let refused = Outcome::Refused(Refusal::Status(RowRef::Attempt("n".into())));
    assert!(
        outcomes.contains(&Outcome::Applied) && outcomes.contains(&refused),
        "{outcomes:?}"
    );
    let paid = if outcomes[0] == Outcome::Applied {
        "pi_1"
    } else {
        "pi_2"
    };
    assert_eq!(earned_of(&store, "c").await, 99);
    let stored = store.attempt("n").await.expect("reads").expect("stored");
    assert_eq!(
        (stored.status, stored.payment_id.as_deref()),
        (store::AttemptStatus::Booked, Some(paid))
    );
    let charge = store.sandbox_charge_by_key("n").await.expect("reads");
    assert_eq!(charge.map(|c| c.id).as_deref(), Some(paid));

    let long_way = postings::rules::attempt_job(&attempt("p", "pur_p"));
    assert_eq!(
        store.writer().submit(long_way).await.expect("ok"),
        Outcome::Applied
    );
    assert_eq!(
        store
            .writer()
            .submit(charged("p", "pi_3", "t3"))
            .await
            .expect("ok"),
        Outcome::Refused(Refusal::Status(RowRef::Attempt("p".into())))
    );
    assert!(
        store
            .sandbox_charge_by_key("p")
            .await
            .expect("reads")
            .is_none()
    );
    assert_eq!(earned_of(&store, "c").await, 99);
    assert!(store.verify_ledger().await.expect("verifies").ok);
}

/// A card purchase booked with its charge stores its answer under the caller's key (on
/// SQLite in its attempt's row, on PostgreSQL in `idempotency`): the key has that one
/// answer for every later read and job — a wallet purchase under the same key, in another
/// batch or in the same one, is answered with it and moves nothing.
#[conformance]
async fn a_card_purchase_booked_with_its_charge_keeps_its_key_from_any_other_request() {
    let (store, _dir) = open().await;
    let card = |idem: &str, id: &str, transfer: &str| {
        let key = store::provider_key("acc_v", Some(idem));
        let a = store::PaymentAttempt {
            idempotency_key: Some(idem.to_owned()),
            fingerprint: "fp-card".into(),
            ..attempt(&key, &format!("pur_{id}"))
        };
        let booking = WriteJob {
            idempotency: Some(IdempotencyRecord {
                fingerprint: "fp-card".into(),
                ..record(idem, &format!("card {id}"))
            }),
            ..job(transfer, "c", 99)
        };
        postings::rules::charged_with(booking, &a, &charge_of(&a, id), store::now())
    };
    let wallet = |idem: &str, transfer: &str| WriteJob {
        idempotency: Some(record(idem, "wallet")),
        ..job(transfer, "c", 50)
    };

    assert_eq!(
        store
            .writer()
            .submit(card("k-1", "pi_1", "t1"))
            .await
            .expect("ok"),
        Outcome::Applied
    );
    let answer = store
        .idempotency("acc_v", "k-1")
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!(
        (
            answer.key.as_str(),
            answer.fingerprint.as_str(),
            answer.status,
            answer.body.as_str()
        ),
        ("k-1", "fp-card", 201, "card pi_1")
    );
    assert_eq!(
        store
            .writer()
            .submit(wallet("k-1", "t2"))
            .await
            .expect("ok"),
        Outcome::Duplicate(answer.clone()),
        "a later job under the key gets the card purchase's answer"
    );
    assert!(
        store
            .idempotency("acc_v", "k-2")
            .await
            .expect("reads")
            .is_none()
    );

    let (w1, w2) = (store.writer().clone(), store.writer().clone());
    let (r1, r2) = tokio::join!(
        w1.submit(card("k-2", "pi_2", "t3")),
        w2.submit(wallet("k-2", "t4"))
    );
    let (r1, r2) = (r1.expect("ok"), r2.expect("ok"));
    let stored = store
        .idempotency("acc_v", "k-2")
        .await
        .expect("reads")
        .expect("stored");
    let earned = earned_of(&store, "c").await;
    match (&r1, &r2) {
        (Outcome::Applied, Outcome::Duplicate(first)) => {
            assert_eq!(
                (first, stored.body.as_str(), earned),
                (&stored, "card pi_2", 198)
            );
        }
        (Outcome::Duplicate(first), Outcome::Applied) => {
            assert_eq!(
                (first, stored.body.as_str(), earned),
                (&stored, "wallet", 149)
            );
            assert!(
                store
                    .sandbox_charge_by_key(&store::provider_key("acc_v", Some("k-2")))
                    .await
                    .expect("reads")
                    .is_none(),
                "the card job answered from the key charged nothing"
            );
        }
        other => panic!("one of two jobs under one key applies: {other:?}"),
    }
    assert!(store.verify_ledger().await.expect("verifies").ok);
}
