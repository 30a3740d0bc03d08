//! `ovation bench redirects` and `ovation bench orders`: the creator shop's hot paths over
//! HTTP against the real server.
//!
//! Redirects are measured three ways in one run, side by side: `GET /healthz` (the floor of a
//! request), plain redirects (a crawler's user agent: looked up and redirected, not counted)
//! and counted clicks (a browser from a new address each time: looked up, filtered, hashed,
//! queued and written in groups). The difference between the last two is the cost of click
//! logging.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates and averages of a benchmark report"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::http::{Conn, field};
use super::load::{Run, describe, drive};
use super::report::{Block, machine, per_sec, thousands};
use super::{BenchDb, Common, InProcess, temp_dir};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const CRAWLER: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// Options of `ovation bench redirects`.
#[derive(Debug, Args)]
pub(crate) struct RedirectsArgs {
    /// Requests in each timed run.
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// Concurrent clients, one keep-alive connection each.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Tracked links to spread the clicks over.
    #[arg(long, default_value_t = 100)]
    links: usize,
    /// Untimed requests first.
    #[arg(long, default_value_t = 5_000)]
    warmup: u64,
    /// Run the server on a fresh PostgreSQL database created on this server (any database
    /// URL of it) and dropped afterwards, instead of a fresh SQLite file.
    #[arg(long)]
    postgres: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// Options of `ovation bench orders`.
#[derive(Debug, Args)]
pub(crate) struct OrdersArgs {
    /// Orders in the timed run.
    #[arg(long, default_value_t = 50_000)]
    orders: u64,
    /// Concurrent clients (the brand's order feed), one keep-alive connection each.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Untimed orders first.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Run the server on a fresh PostgreSQL database, as for `bench redirects`.
    #[arg(long)]
    postgres: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// An in-process server on a fresh database (SQLite in a temporary directory, or a fresh
/// PostgreSQL database), trusting `x-forwarded-for` so a load generator can be many clients.
struct Fresh {
    server: InProcess,
    db: Option<BenchDb>,
    _dir: Option<tempfile::TempDir>,
    store: &'static str,
}

impl Fresh {
    async fn start(
        mut config: server::Config,
        postgres: Option<&str>,
        common: &Common,
        name: &str,
    ) -> anyhow::Result<Fresh> {
        config.client_ip_header = Some("x-forwarded-for".into());
        let (db, dir, store) = match postgres {
            Some(server) => {
                let db = BenchDb::create(server, "ovation_bench").await?;
                config.database_url.clone_from(&db.url);
                (Some(db), None, "fresh PostgreSQL database")
            }
            None => {
                let dir = temp_dir(common)?;
                config.database_url = format!("sqlite://{}", dir.path().join(name).display());
                (None, Some(dir), "fresh SQLite file (WAL, synchronous=FULL)")
            }
        };
        let server = InProcess::start(config).await?;
        Ok(Fresh {
            server,
            db,
            _dir: dir,
            store,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let stopped = self.server.stop().await;
        if let Some(db) = self.db {
            db.drop_now().await;
        }
        stopped
    }
}

/// An account of `kind` made by the admin, with a token.
async fn account(
    conn: &mut Conn,
    admin: &str,
    handle: &str,
    kind: &str,
) -> anyhow::Result<(String, String)> {
    let made = conn
        .expect(
            Method::POST,
            "/v1/accounts",
            admin,
            Some(json!({"handle": handle, "kind": kind, "country": "US", "birth_date": "1990-01-01"})),
        )
        .await?;
    let id = field(&made, "id")?;
    let token = field(
        &conn
            .expect(
                Method::POST,
                &format!("/v1/accounts/{id}/tokens"),
                admin,
                None,
            )
            .await?,
        "token",
    )?;
    Ok((id, token))
}

/// A brand with `products` products at 10 % and `wallet` US cents in its wallet, and a
/// creator with a link to each and the coupon `BENCH10`: (brand token, product ids, codes).
async fn shop(
    addr: &str,
    admin: &str,
    products: usize,
    wallet: i64,
) -> anyhow::Result<(String, Vec<String>, Vec<String>)> {
    let mut conn = Conn::connect(addr).await?;
    let (brand, brand_token) = account(&mut conn, admin, "bench.brand", "brand").await?;
    let (_, creator_token) = account(&mut conn, admin, "bench.creator", "creator").await?;
    if wallet > 0 {
        conn.expect(
            Method::POST,
            "/v1/wallet/topups",
            &brand_token,
            Some(json!({"amount": {"amount": wallet, "currency": "USD"}, "payment_method": "pm_card_visa"})),
        )
        .await?;
    }
    let (mut ids, mut codes) = (Vec::new(), Vec::new());
    for i in 0..products {
        let product = conn
            .expect(
                Method::POST,
                "/v1/products",
                &brand_token,
                Some(json!({"title": format!("Product {i}"), "url": format!("https://brand.example/p/{i}?ref=ovation"),
                            "price": {"amount": 3_000, "currency": "USD"}, "category": "bench", "commission_bps": 1_000})),
            )
            .await?;
        let id = field(&product, "id")?;
        let link = conn
            .expect(
                Method::POST,
                "/v1/links",
                &creator_token,
                Some(json!({"product_id": id})),
            )
            .await?;
        codes.push(field(&link, "code")?);
        ids.push(id);
    }
    conn.expect(
        Method::POST,
        "/v1/coupons",
        &creator_token,
        Some(json!({"brand_id": brand, "code": "BENCH10"})),
    )
    .await?;
    Ok((brand_token, ids, codes))
}

/// A distinct client address for request `n`.
fn address(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

/// `ovation_shop_clicks_*_total` from `/metrics`.
async fn click_counter(addr: &str, admin: &str, name: &str) -> u64 {
    let Ok(mut conn) = Conn::connect(addr).await else {
        return 0;
    };
    let Ok((_, bytes)) = conn.send(Method::GET, "/metrics", admin, None, None).await else {
        return 0;
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .map(|v| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a counter read back from a float"
            )]
            let v = v as u64;
            v
        })
        .sum()
}

pub(crate) async fn redirects(args: RedirectsArgs, config: server::Config) -> anyhow::Result<()> {
    let fresh = Fresh::start(
        config,
        args.postgres.as_deref(),
        &args.common,
        "redirects.db",
    )
    .await?;
    let result = measure_redirects(&args, &fresh).await;
    fresh.stop().await?;
    result
}

async fn measure_redirects(args: &RedirectsArgs, fresh: &Fresh) -> anyhow::Result<()> {
    let addr = fresh.server.addr.to_string();
    let admin = fresh.server.admin.clone();
    let (_, _, codes) = shop(&addr, &admin, args.links.max(1), 0).await?;
    let paths: Arc<Vec<String>> = Arc::new(codes.iter().map(|c| format!("/r/{c}")).collect());
    let health = |conn: Conn, _n: u64| async move {
        let mut conn = conn;
        let answer = conn
            .get_with("/healthz", &[])
            .await
            .map(|(s, _)| (s, Bytes::new()));
        (conn, answer)
    };
    let plain = {
        let paths = paths.clone();
        move |conn: Conn, n: u64| {
            let path = paths[usize::try_from(n).unwrap_or(0) % paths.len()].clone();
            async move {
                let mut conn = conn;
                let answer = conn
                    .get_with(
                        &path,
                        &[("user-agent", CRAWLER), ("x-forwarded-for", "192.0.2.1")],
                    )
                    .await
                    .map(|(s, _)| (s, Bytes::new()));
                (conn, answer)
            }
        }
    };
    let counted = {
        let paths = paths.clone();
        move |conn: Conn, n: u64| {
            let path = paths[usize::try_from(n).unwrap_or(0) % paths.len()].clone();
            async move {
                let mut conn = conn;
                let client = address(n);
                let answer = conn
                    .get_with(
                        &path,
                        &[("user-agent", BROWSER), ("x-forwarded-for", &client)],
                    )
                    .await
                    .map(|(s, _)| (s, Bytes::new()));
                (conn, answer)
            }
        }
    };
    let c = args.concurrency;
    // Warm up each path, then time each, in the same minute.
    drive(&addr, 0, args.warmup, c, StatusCode::OK, health).await?;
    drive(&addr, 0, args.warmup, c, StatusCode::FOUND, plain.clone()).await?;
    let recorded_before = click_counter(&addr, &admin, "ovation_shop_clicks_recorded_total").await;
    let base = 1_000_000;
    drive(
        &addr,
        base,
        args.warmup,
        c,
        StatusCode::FOUND,
        counted.clone(),
    )
    .await?;
    let h = drive(&addr, 0, args.requests, c, StatusCode::OK, health).await?;
    let p = drive(&addr, 0, args.requests, c, StatusCode::FOUND, plain).await?;
    let k = drive(
        &addr,
        2 * base,
        args.requests,
        c,
        StatusCode::FOUND,
        counted,
    )
    .await?;
    // Every counted click is written within a moment.
    let wanted = recorded_before + args.warmup + args.requests;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut recorded = 0;
    while Instant::now() < deadline {
        recorded = click_counter(&addr, &admin, "ovation_shop_clicks_recorded_total").await;
        if recorded >= wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dropped = click_counter(&addr, &admin, "ovation_shop_clicks_dropped_total").await;
    let rate = |r: &Run| per_sec(args.requests, r.elapsed);
    let mut block = Block::new(
        "ovation bench redirects — GET /r/{code} over HTTP/1.1 keep-alive, click recording on",
    );
    block
        .line("GET /healthz", describe(&h, args.requests))
        .line(
            "plain redirects",
            format!("{} (crawler: not counted)", describe(&p, args.requests)),
        )
        .line(
            "counted clicks",
            format!("{} (a new client each)", describe(&k, args.requests)),
        )
        .line(
            "ratios",
            format!(
                "counted / healthz {:.2}, counted / plain {:.2}",
                rate(&k) / rate(&h).max(1e-9),
                rate(&k) / rate(&p).max(1e-9)
            ),
        )
        .line(
            "clicks recorded",
            format!(
                "{} of {} counted ({} dropped)",
                thousands(recorded.saturating_sub(recorded_before) as f64),
                thousands((args.warmup + args.requests) as f64),
                dropped
            ),
        )
        .line(
            "parameters",
            format!(
                "{} requests per way, concurrency {} (one connection each), {} links, warm-up {}",
                args.requests,
                args.concurrency,
                paths.len(),
                args.warmup
            ),
        )
        .line("server", format!("in-process, {}", fresh.store))
        .line("machine", machine());
    block.print();
    anyhow::ensure!(h.errors + p.errors + k.errors == 0, "some requests failed");
    anyhow::ensure!(
        recorded >= wanted,
        "only {recorded} of {wanted} clicks were recorded"
    );
    Ok(())
}

pub(crate) async fn orders(args: OrdersArgs, config: server::Config) -> anyhow::Result<()> {
    let fresh = Fresh::start(config, args.postgres.as_deref(), &args.common, "orders.db").await?;
    let result = measure_orders(&args, &fresh).await;
    fresh.stop().await?;
    result
}

async fn measure_orders(args: &OrdersArgs, fresh: &Fresh) -> anyhow::Result<()> {
    let addr = fresh.server.addr.to_string();
    let admin = fresh.server.admin.clone();
    // Commission 300 per order (3,000 at 10 %); the wallet covers every one of them.
    let total = args.warmup + args.orders;
    let wallet = i64::try_from(total * 300 + 1_000)
        .unwrap_or(i64::MAX)
        .min(100_000_000);
    let mut tops = i64::try_from(total * 300 + 1_000).unwrap_or(i64::MAX);
    let (brand_token, products, _) = shop(&addr, &admin, 10, wallet).await?;
    tops -= wallet;
    {
        let mut conn = Conn::connect(&addr).await?;
        while tops > 0 {
            let amount = tops.min(100_000_000);
            conn.expect(
                Method::POST,
                "/v1/wallet/topups",
                &brand_token,
                Some(json!({"amount": {"amount": amount, "currency": "USD"}, "payment_method": "pm_card_visa"})),
            )
            .await?;
            tops -= amount;
        }
    }
    let (token, products) = (Arc::new(brand_token), Arc::new(products));
    let order = move |conn: Conn, n: u64| {
        let token = token.clone();
        let product = products[usize::try_from(n).unwrap_or(0) % products.len()].clone();
        async move {
            let mut conn = conn;
            let body = Bytes::from(
                json!({"order_id": format!("bench-{n}"), "coupon": "BENCH10",
                       "items": [{"product_id": product, "quantity": 1, "amount": {"amount": 3_000, "currency": "USD"}}]})
                .to_string(),
            );
            let answer = conn
                .send(Method::POST, "/v1/shop/orders", &token, None, Some(body))
                .await;
            (conn, answer)
        }
    };
    drive(
        &addr,
        0,
        args.warmup,
        args.concurrency,
        StatusCode::CREATED,
        order.clone(),
    )
    .await?;
    let run = drive(
        &addr,
        args.warmup,
        args.orders,
        args.concurrency,
        StatusCode::CREATED,
        order,
    )
    .await?;
    let mut conn = Conn::connect(&addr).await?;
    let verify: Value = conn
        .expect(Method::GET, "/v1/ledger/verify", &admin, None)
        .await?;
    let verified = verify.get("ok").and_then(Value::as_bool) == Some(true);
    let mut block =
        Block::new("ovation bench orders — POST /v1/shop/orders over HTTP/1.1 keep-alive, durable");
    block
        .line("orders", describe(&run, args.orders))
        .line(
            "parameters",
            format!(
                "{} orders, concurrency {} (one connection each), one line each, attributed by coupon, commission from the brand's wallet, warm-up {}",
                args.orders, args.concurrency, args.warmup
            ),
        )
        .line("server", format!("in-process, {}", fresh.store))
        .line(
            "ledger verify",
            format!(
                "{} ({} transfers)",
                if verified { "ok" } else { "FAILED" },
                verify.get("transfers").map(Value::to_string).unwrap_or_default()
            ),
        )
        .line("machine", machine());
    block.print();
    anyhow::ensure!(verified, "GET /v1/ledger/verify is not ok: {verify}");
    anyhow::ensure!(run.errors == 0, "{} orders failed", run.errors);
    Ok(())
}
