//! `ovation serve --demo`: seeds a creator, viewers, a running live, comments and some
//! purchases, and a brand whose products fill the creator's shop, with clicks on its links
//! and orders by click and by coupon — through the API itself (the same handlers a platform
//! calls), so a newcomer sees it working at once.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::router;
use crate::state::AppState;

pub use crate::state::Demo;

async fn call(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let request = request.body(match body {
        Some(b) => Body::from(b.to_string()),
        None => Body::empty(),
    })?;
    let response = router(state.clone()).oneshot(request).await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)?
    };
    Ok((status, value))
}

async fn expect(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> anyhow::Result<Value> {
    let (status, value) = call(state, token, method, path, body, key).await?;
    anyhow::ensure!(
        status.is_success(),
        "demo: {method} {path} answered {status}: {value}"
    );
    Ok(value)
}

/// The user agent of the demo's clicks: a browser's (bots' clicks are not counted).
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                       Chrome/124.0 Safari/537.36";

/// A browser following the tracked link `code`, from `address` when the server reads
/// client addresses from a header (`client_ip_header`; without it every demo click comes
/// from one unknown client): the click's id from the redirect.
async fn follow(state: &AppState, code: &str, address: &str) -> anyhow::Result<String> {
    let mut request = Request::builder()
        .method("GET")
        .uri(format!("/r/{code}"))
        .header(header::USER_AGENT, BROWSER);
    if let Some(name) = &state.config.client_ip_header {
        request = request.header(name.as_str(), address);
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::empty())?)
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::FOUND,
        "demo: GET /r/{code} answered {}",
        response.status()
    );
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| l.split("ovc=").nth(1))
        .map(|v| v.split(['&', '#']).next().unwrap_or_default().to_owned())
        .ok_or_else(|| anyhow::anyhow!("demo: the redirect of {code} has no ovc"))
}

/// A new account (`body` as `POST /v1/accounts` takes it) and a token for it: its id and
/// the token.
async fn account(
    state: &AppState,
    admin_token: &str,
    body: Value,
) -> anyhow::Result<(String, String)> {
    let id = field(
        &expect(state, admin_token, "POST", "/v1/accounts", Some(body), None).await?,
        "id",
    )?;
    let token = field(
        &expect(
            state,
            admin_token,
            "POST",
            &format!("/v1/accounts/{id}/tokens"),
            None,
            None,
        )
        .await?,
        "token",
    )?;
    Ok((id, token))
}

/// A product of the demo's brand, priced in US dollars.
struct DemoProduct {
    title: &'static str,
    url: &'static str,
    price_cents: i64,
    category: &'static str,
    commission_bps: u32,
    return_window_days: u32,
}

const PRODUCTS: [DemoProduct; 4] = [
    DemoProduct {
        title: "Linen sketchbook, A5",
        url: "https://example.com/lumen/sketchbook",
        price_cents: 2_400,
        category: "stationery",
        commission_bps: 1_200,
        return_window_days: 30,
    },
    DemoProduct {
        title: "Brush pens, set of 12",
        url: "https://example.com/lumen/brush-pens",
        price_cents: 1_850,
        category: "art supplies",
        commission_bps: 1_500,
        return_window_days: 30,
    },
    DemoProduct {
        title: "Watercolour travel kit",
        url: "https://example.com/lumen/watercolour-kit",
        price_cents: 4_200,
        category: "art supplies",
        commission_bps: 1_000,
        return_window_days: 30,
    },
    DemoProduct {
        title: "Daylight desk lamp",
        url: "https://example.com/lumen/desk-lamp",
        price_cents: 6_500,
        category: "home",
        commission_bps: 800,
        return_window_days: 14,
    },
];

/// A brand with a funded wallet and four products, the creator's shop of them with its
/// links and a coupon, counted clicks on the links, and orders: two by click, one by
/// coupon. Returns the brand's handle, id and token.
async fn seed_shop(
    state: &AppState,
    admin_token: &str,
    suffix: &str,
    creator: &(String, String),
) -> anyhow::Result<(String, String, String)> {
    let (creator_id, creator_token) = creator;
    let handle = format!("lumen.studio_{suffix}");
    let (brand_id, brand_token) = account(
        state,
        admin_token,
        json!({"handle": handle, "kind": "brand", "country": "US"}),
    )
    .await?;
    expect(
        state,
        &brand_token,
        "POST",
        "/v1/wallet/topups",
        Some(json!({"amount": {"amount": 50_000, "currency": "USD"}, "payment_method": "pm_card_visa"})),
        Some(&format!("demo-{suffix}-brand-topup")),
    )
    .await?;
    let mut products = Vec::new();
    for p in &PRODUCTS {
        let product = expect(
            state,
            &brand_token,
            "POST",
            "/v1/products",
            Some(json!({"title": p.title, "url": p.url,
                        "price": {"amount": p.price_cents, "currency": "USD"},
                        "category": p.category, "commission_bps": p.commission_bps,
                        "return_window_days": p.return_window_days})),
            None,
        )
        .await?;
        products.push((field(&product, "id")?, p.price_cents));
    }
    let shop = expect(
        state,
        creator_token,
        "PUT",
        &format!("/v1/creators/{creator_id}/shop"),
        Some(json!({"products": products.iter().map(|(id, _)| id).collect::<Vec<_>>()})),
        None,
    )
    .await?;
    let codes = shop["products"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["link"]["code"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        codes.len() == PRODUCTS.len(),
        "demo: the shop has no link for each product: {shop}"
    );
    let coupon = format!("ANA{}", suffix.to_ascii_uppercase());
    expect(
        state,
        creator_token,
        "POST",
        "/v1/coupons",
        Some(json!({"brand_id": brand_id, "code": coupon})),
        None,
    )
    .await?;
    // Clicks on each link (from several addresses when the server can tell them apart; one
    // client's repeats within 30 s are not counted), and an order after the first click of
    // the first two links: it is attributed to that click's link, the client's last click.
    let distinct = state.config.client_ip_header.is_some();
    for (i, code) in codes.iter().enumerate() {
        let clicks = if distinct { [6, 4, 3, 1][i % 4] } else { 1 };
        let mut first = None;
        for n in 0..clicks {
            let click = follow(state, code, &format!("198.51.100.{}", i * 10 + n + 1)).await?;
            first.get_or_insert(click);
        }
        if i < 2 {
            let (product, price) = &products[i];
            let quantity = i64::try_from(i + 1)?;
            expect(
                state,
                &brand_token,
                "POST",
                "/v1/shop/orders",
                Some(json!({"order_id": format!("LUMEN-{}", 1001 + i), "click_id": first,
                            "items": [{"product_id": product, "quantity": quantity,
                                       "amount": {"amount": price * quantity, "currency": "USD"}}]})),
                None,
            )
            .await?;
        }
    }
    let (product, price) = &products[2];
    expect(
        state,
        &brand_token,
        "POST",
        "/v1/shop/orders",
        Some(json!({"order_id": "LUMEN-1003", "coupon": coupon,
                    "items": [{"product_id": product, "quantity": 1,
                               "amount": {"amount": price, "currency": "USD"}}]})),
        None,
    )
    .await?;
    Ok((handle, brand_id, brand_token))
}

fn field(v: &Value, name: &str) -> anyhow::Result<String> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("demo: answer has no {name}: {v}"))
}

/// The marketplace: metrics and a profile for the demo's creator, a creator of every tier
/// (nano to mega, art or cooking), a campaign of the demo's brand, and its offer to the
/// demo's creator, waiting for an answer. Returns the campaign's id.
async fn seed_market(
    state: &AppState,
    admin_token: &str,
    suffix: &str,
    creator: &(String, String),
    brand_token: &str,
) -> anyhow::Result<String> {
    let metrics = |followers: u64, engagement_bps: u32, us: u32| {
        json!({"followers": followers, "avg_views": followers / 5, "engagement_bps": engagement_bps,
               "audience_countries": {"US": us, "GB": 1_500}, "audience_ages": {"18-24": 4_000, "25-34": 3_500}})
    };
    let mut creators = vec![(creator.clone(), metrics(48_000, 620, 6_000), "art")];
    for (name, followers, engagement, us, niche) in [
        ("nia.nano", 6_500, 900, 7_000, "art"),
        ("milo.micro", 62_000, 480, 5_500, "art"),
        ("dara.mid", 240_000, 520, 6_500, "art"),
        ("mac.macro", 720_000, 150, 4_000, "art"),
        ("mega.maya", 3_400_000, 70, 3_000, "art"),
        ("chef.ivo", 180_000, 400, 6_000, "cooking"),
    ] {
        let handle = format!("{name}_{suffix}");
        let made = account(state, admin_token,
            json!({"handle": handle, "kind": "creator", "country": "US", "birth_date": "1992-03-02", "followers": followers})).await?;
        creators.push((made, metrics(followers, engagement, us), niche));
    }
    for ((id, token), m, niche) in &creators {
        let path = format!("/v1/creators/{id}/metrics");
        expect(state, admin_token, "PUT", &path, Some(m.clone()), None).await?;
        // A rate rising with size: a fifth of a cent per follower, at least 20.00 USD.
        let rate = (m["followers"].as_i64().unwrap_or(0) / 5).max(2_000);
        let profile = json!({"niches": [niche, "lifestyle"], "bio": "Making things on camera", "open_to_deals": true,
                             "rate": {"amount": rate, "currency": "USD"}});
        let path = format!("/v1/creators/{id}/profile");
        expect(state, token, "PUT", &path, Some(profile), None).await?;
    }
    let deadline = (time::OffsetDateTime::now_utc() + time::Duration::days(21))
        .format(&time::format_description::well_known::Rfc3339)?;
    let campaign = expect(
        state,
        brand_token,
        "POST",
        "/v1/campaigns",
        Some(json!({"title": "Back-to-school sketchbooks", "brief": "Show a sketch from blank page to finish with our sketchbook; one video, linked in the description.",
                    "niches": ["art"], "countries": ["US"], "fee": {"amount": 25_000, "currency": "USD"},
                    "slots": 3, "deadline": deadline})),
        None,
    )
    .await?;
    let campaign_id = field(&campaign, "id")?;
    expect(
        state,
        brand_token,
        "POST",
        &format!("/v1/campaigns/{campaign_id}/offers"),
        Some(json!({"creator_id": creator.0, "fee": {"amount": 25_000, "currency": "USD"}})),
        Some(&format!("demo-{suffix}-offer")),
    )
    .await?;
    Ok(campaign_id)
}

/// Why `serve --demo` refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The demo's home page hands out its accounts' tokens to every visitor.
    #[error(
        "--demo puts its accounts' tokens on the home page for anyone who can reach {0}: \
         bind a loopback address (OVATION_BIND=127.0.0.1:8080) or pass --demo-public"
    )]
    PublicBind(std::net::SocketAddr),
}

/// Whether the demo may run on `bind`: a loopback address, or anywhere when the operator
/// said so (`public`).
pub fn check_bind(bind: std::net::SocketAddr, public: bool) -> Result<(), DemoError> {
    if public || bind.ip().is_loopback() {
        Ok(())
    } else {
        Err(DemoError::PublicBind(bind))
    }
}

/// The admin token the home page may offer for a one-click operator sign-in: one generated
/// for this run (a throwaway) on a loopback bind; never a configured one, which outlives
/// the demo, and never on a public bind.
fn operator_sign_in(config: &crate::Config, admin_token: &str) -> Option<String> {
    (config.admin_token.is_none() && config.bind.ip().is_loopback()).then(|| admin_token.to_owned())
}

/// Seeds the demo; handles get a random suffix so a demo can run twice on one database.
pub async fn seed(state: &AppState, admin_token: &str) -> anyhow::Result<Demo> {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let creator_handle = format!("ana.live_{suffix}");
    let (creator_id, creator_token) = account(state, admin_token,
        json!({"handle": creator_handle, "kind": "creator", "country": "US", "birth_date": "1994-05-17", "followers": 48000})).await?;
    let live = expect(
        state,
        &creator_token,
        "POST",
        "/v1/lives",
        Some(json!({"title": "Sunday sketching, live", "goal_hearts": 50})),
        None,
    )
    .await?;
    let live_id = field(&live, "id")?;
    let mut viewers = Vec::new();
    for (i, (name, country)) in [("bruno", "BR"), ("chloe", "FR"), ("kenji", "JP")]
        .into_iter()
        .enumerate()
    {
        let handle = format!("{name}_{suffix}");
        let (id, token) = account(state, admin_token,
            json!({"handle": handle, "kind": "viewer", "country": country, "birth_date": "1990-01-01"})).await?;
        let tier = i + 1;
        expect(
            state,
            &token,
            "POST",
            &format!("/v1/lives/{live_id}/badges"),
            Some(json!({"tier": tier, "payment_method": "pm_card_visa"})),
            Some(&format!("demo-{suffix}-{i}")),
        )
        .await?;
        expect(
            state,
            &token,
            "POST",
            &format!("/v1/lives/{live_id}/comments"),
            Some(json!({"text": format!("hello from {country}!")})),
            None,
        )
        .await?;
        viewers.push((handle, id, token));
    }
    let creator = (creator_id, creator_token);
    let (brand_handle, brand_id, brand_token) =
        seed_shop(state, admin_token, suffix, &creator).await?;
    let campaign_id = seed_market(state, admin_token, suffix, &creator, &brand_token).await?;
    let demo = Demo {
        campaign_id,
        creator,
        creator_handle,
        brand: (brand_id, brand_token),
        brand_handle,
        admin_token: operator_sign_in(&state.config, admin_token),
        viewers,
        live_id,
    };
    // The home page offers the demo's accounts (only ever set by `serve --demo`).
    let _ = state.demo.set(demo.clone());
    Ok(demo)
}
