//! The shop's tables on both backends: clicks written in groups (an id twice is one click),
//! rolled up into daily counts that the statistics keep, and a brand's order id booked once
//! by concurrent batches.

use money::{Bps, Currency, Money};
use store::{
    Click, NewUser, OrderAttribution, Outcome, Product, ProductId, ShopLink, ShopOrder,
    ShopOrderId, Store, StoreConfig, UserId,
};
use testkit::{TestDb, conformance};

async fn open() -> (Store, TestDb) {
    let db = TestDb::fresh().await;
    let mut config = StoreConfig::new(db.url());
    config.writer.postgres_connections = 3;
    (Store::open(&config).await.expect("store opens"), db)
}

async fn user(store: &Store, handle: &str, kind: live::AccountKind) -> UserId {
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
        .id
}

/// A brand with a product and a creator with a link to it.
async fn shop(store: &Store) -> (UserId, UserId, ShopLink) {
    let brand = user(store, "acme", live::AccountKind::Brand).await;
    let creator = user(store, "ana", live::AccountKind::Creator).await;
    let now = store::now();
    let product = Product {
        id: ProductId::generate(),
        brand_id: brand.clone(),
        title: "Serum".into(),
        url: "https://b.example/p".into(),
        price: Money::new(3_000, Currency::USD),
        category: "beauty".into(),
        commission_bps: Bps::new(1_000).expect("bps"),
        return_window_days: 30,
        active: true,
        created_at: now,
        updated_at: now,
    };
    store.insert_product(&product).await.expect("inserts");
    let link = ShopLink {
        code: "abc123".into(),
        creator_id: creator.clone(),
        product_id: product.id.clone(),
        brand_id: brand.clone(),
        created_at: now,
    };
    let (made, new) = store
        .create_link(&link)
        .await
        .expect("inserts")
        .expect("free code");
    assert!(new);
    (brand, creator, made)
}

fn click(link: &ShopLink, id: &str, days_ago: i64) -> Click {
    Click {
        id: id.into(),
        code: link.code.clone(),
        creator_id: link.creator_id.clone(),
        brand_id: link.brand_id.clone(),
        client_hash: "h1".into(),
        user_agent: "Mozilla/5.0 \"quoted\" \\ agent".into(),
        at: store::now() - time::Duration::days(days_ago),
    }
}

#[conformance]
async fn clicks_are_written_once_and_rolled_up_without_losing_a_count() {
    let (store, _db) = open().await;
    let (_, creator, link) = shop(&store).await;
    let clicks: Vec<Click> = (0..250)
        .map(|i| click(&link, &format!("clk_{i:03}"), if i < 200 { 100 } else { 1 }))
        .collect();
    store.insert_clicks(&clicks).await.expect("inserts");
    // The same ids again are the same clicks.
    store.insert_clicks(&clicks[..10]).await.expect("inserts");
    let stored = store
        .click("clk_000")
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!(stored.user_agent, clicks[0].user_agent);
    let stats = store.creator_shop_stats(&creator).await.expect("reads");
    assert_eq!(stats[0].clicks, 250);
    let cutoff = store::now() - time::Duration::days(91);
    assert_eq!(store.roll_up_clicks(cutoff, 150).await.expect("rolls"), 150);
    assert_eq!(store.roll_up_clicks(cutoff, 150).await.expect("rolls"), 50);
    assert_eq!(store.roll_up_clicks(cutoff, 150).await.expect("rolls"), 0);
    assert!(store.click("clk_000").await.expect("reads").is_none());
    assert!(store.click("clk_249").await.expect("reads").is_some());
    let stats = store.creator_shop_stats(&creator).await.expect("reads");
    assert_eq!(stats[0].clicks, 250, "rolled-up clicks still count");
    let brand_stats = store.brand_shop_stats(&link.brand_id).await.expect("reads");
    assert_eq!(brand_stats[0].clicks, 250);
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_id_reported_by_concurrent_batches_is_booked_once() {
    let (store, _db) = open().await;
    let (brand, creator, _) = shop(&store).await;
    let order = |n: usize| {
        let now = store::now();
        let lines = vec![shop::Line {
            product_id: "prod_x".into(),
            quantity: 1,
            returned: 0,
            amount: Money::new(1_000, Currency::USD),
            commission_bps: Bps::new(1_000).expect("bps"),
            return_window_days: 30,
        }];
        ShopOrder {
            id: ShopOrderId::from_string(format!("ord_{n}")),
            order_id: "A-1".into(),
            brand_id: brand.clone(),
            creator_id: Some(creator.clone()),
            attribution: OrderAttribution::Coupon,
            click_id: None,
            link: None,
            coupon: Some("ANA10".into()),
            locks_at: shop::locks_at(now, &lines),
            lines,
            commission: Money::zero(Currency::USD),
            platform_fee: Money::zero(Currency::USD),
            creator_share: Money::zero(Currency::USD),
            returns: 0,
            hold_id: None,
            ordered_at: now,
            created_at: now,
            updated_at: now,
        }
    };
    let mut tasks = Vec::new();
    for n in 0..6 {
        let (writer, job) = (
            store.writer().clone(),
            postings::rules::order_job(&order(n), None),
        );
        tasks.push(tokio::spawn(async move { writer.submit(job).await }));
    }
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("the task").expect("submits") {
            Outcome::Applied => applied += 1,
            Outcome::Duplicate(record) => assert_eq!(record.key, "A-1"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(applied, 1);
    let stored = store
        .shop_order_of(&brand, "A-1")
        .await
        .expect("reads")
        .expect("stored");
    assert_eq!(stored.coupon.as_deref(), Some("ANA10"));
    assert!(store.verify_ledger().await.expect("verifies").ok);
}

#[conformance]
async fn a_creator_s_daily_income_counts_their_share_of_shop_orders() {
    let (store, _db) = open().await;
    let (brand, creator, _) = shop(&store).await;
    let now = store::now();
    let topup = store::Topup {
        id: store::TopupId::generate(),
        user_id: brand.clone(),
        amount: Money::new(1_000, Currency::USD),
        processor_fee: Money::zero(Currency::USD),
        payment_id: "pi_brand".into(),
        status: store::TopupStatus::Succeeded,
        created_at: now,
    };
    let applied = store
        .writer()
        .submit(postings::rules::topup_job(&topup, None))
        .await
        .expect("submits");
    assert_eq!(applied, Outcome::Applied);
    let lines = vec![shop::Line {
        product_id: "prod_x".into(),
        quantity: 1,
        returned: 0,
        amount: Money::new(3_000, Currency::USD),
        commission_bps: Bps::new(1_000).expect("bps"),
        return_window_days: 30,
    }];
    let order = ShopOrder {
        id: ShopOrderId::generate(),
        order_id: "A-1".into(),
        brand_id: brand,
        creator_id: Some(creator.clone()),
        attribution: OrderAttribution::Coupon,
        click_id: None,
        link: None,
        coupon: Some("ANA10".into()),
        locks_at: shop::locks_at(now, &lines),
        lines,
        commission: Money::new(300, Currency::USD),
        platform_fee: Money::new(60, Currency::USD),
        creator_share: Money::new(240, Currency::USD),
        returns: 0,
        hold_id: None,
        ordered_at: now,
        created_at: now,
        updated_at: now,
    };
    let booked = store
        .writer()
        .submit(postings::rules::order_job(&order, None))
        .await
        .expect("submits");
    assert_eq!(booked, Outcome::Applied);
    let days = store
        .daily_income(&creator, now - time::Duration::days(1))
        .await
        .expect("reads");
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].amount, Money::new(240, Currency::USD));
    assert!(store.verify_ledger().await.expect("verifies").ok);
}
