//! A database made by the first release (schema version 1, with a purchase booked) migrates
//! to the current schema and still verifies: income booked before holds existed is held.

use std::borrow::Cow;

use store::{Store, StoreConfig};
use testkit::{Backend, TestDb, conformance};

/// A purchase of 1.99 with a 0.59 fee, as version 1 booked it.
const BOOKED_IN_V1: [&str; 6] = [
    "INSERT INTO users (id, handle, kind, country, created_at) VALUES ('acc_c', 'c', 'creator', 'US', 1)",
    "INSERT INTO purchases (id, live_id, viewer_id, creator_id, tier, amount, currency, creator_share, platform_fee, status, payment_id, created_at) \
     VALUES ('pur_1', 'live_1', 'acc_v', 'acc_c', 2, 199, 'USD', 140, 59, 'succeeded', 'pi_1', 1000000)",
    "INSERT INTO ledger_accounts (id, owner, purpose, currency, rule, debits_posted, created_at) \
     VALUES ('platform/processor_clearing/USD', 'platform', 'processor_clearing', 'USD', 'none', 199, 1)",
    "INSERT INTO ledger_accounts (id, owner, purpose, currency, rule, credits_posted, created_at) \
     VALUES ('acc_c/creator_pending/USD', 'acc_c', 'creator_pending', 'USD', 'none', 140, 1)",
    "INSERT INTO ledger_accounts (id, owner, purpose, currency, rule, credits_posted, created_at) \
     VALUES ('platform/platform_fees/USD', 'platform', 'platform_fees', 'USD', 'none', 59, 1)",
    "INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, code, reference, created_at) \
     VALUES ('pur_1/share', 'platform/processor_clearing/USD', 'acc_c/creator_pending/USD', 140, 'USD', 'posted', 1, 'pur_1', 1000000), \
            ('pur_1/fee', 'platform/processor_clearing/USD', 'platform/platform_fees/USD', 59, 'USD', 'posted', 2, 'pur_1', 1000000)",
];

#[conformance]
async fn a_version_1_database_migrates_and_its_pending_income_is_held() {
    let db = TestDb::fresh().await;
    match testkit::backend() {
        Backend::Sqlite => {
            let options =
                <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(db.url())
                    .expect("a sqlite url")
                    .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options)
                .await
                .expect("connects");
            let mut first = sqlx::migrate!("migrations/sqlite");
            first.migrations = Cow::Owned(first.migrations[..1].to_vec());
            first.run(&pool).await.expect("version 1 migrates");
            for sql in BOOKED_IN_V1 {
                sqlx::query(sql).execute(&pool).await.expect("inserts");
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.expect("connects");
            let mut first = sqlx::migrate!("migrations/postgres");
            first.migrations = Cow::Owned(first.migrations[..1].to_vec());
            first.run(&pool).await.expect("version 1 migrates");
            for sql in BOOKED_IN_V1 {
                sqlx::query(sql).execute(&pool).await.expect("inserts");
            }
            pool.close().await;
        }
    }
    let store = Store::open(&StoreConfig::new(db.url()))
        .await
        .expect("the current schema migrates over version 1");
    let report = store.verify_ledger().await.expect("verifies");
    assert!(report.ok, "{:?}", report.problems);
    let hold = store
        .hold("pur_1")
        .await
        .expect("reads")
        .expect("the old purchase is held");
    assert_eq!(hold.amount.amount(), 140);
    assert_eq!(hold.status, store::HoldStatus::Held);
    let purchase = store
        .purchase(&store::PurchaseId::from_string("pur_1".into()))
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(purchase.processor_fee.amount(), 0);
    assert_eq!(purchase.payment_method, store::PaymentMethod::Card);
    store.close().await;
}
