//! The creator shop: brands' products, creators' shops, tracked links and coupons, the
//! redirect that counts clicks, orders with their attribution and commission, returns, the
//! brand's attribution window and each side's statistics. Money moves only in
//! [`crate::flows::shop`], through the postings home.

use std::collections::{BTreeMap, HashSet};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use money::{Currency, Money};
use serde::{Deserialize, Serialize};
use store::{Product, ProductChange, ProductId, ShopLink, ShopOrder, User, UserId};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::dto::{MoneyBody, rfc3339, to_json};
use crate::error::{ApiError, invalid};
use crate::extract::{
    Caller, Json, ListParams, Path, json_response, parse_json, plain_id, query_map,
};
use crate::flows::shop::{Booked, NewLine, NewOrder, shop_invalid};
use crate::idempotency::{Idempotency, Keyed, replay};
use crate::state::AppState;
use shop::ProductRules;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// `POST /v1/products`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductRequest {
    /// 1–200 characters.
    pub(crate) title: String,
    /// The product's page, `http` or `https`.
    pub(crate) url: String,
    /// Price.
    pub(crate) price: MoneyBody,
    /// 1–50 characters.
    pub(crate) category: String,
    /// The creator's commission on a sale, 1–9,000 basis points.
    pub(crate) commission_bps: i64,
    /// Days a buyer may return it, 0–365 (default 30); the commission locks after them.
    #[serde(default)]
    pub(crate) return_window_days: Option<i64>,
}

/// `PATCH /v1/products/{id}`: what changes (orders already reported keep their rate).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductPatch {
    /// New rate, 1–9,000 basis points.
    #[serde(default)]
    pub(crate) commission_bps: Option<i64>,
    /// New price.
    #[serde(default)]
    pub(crate) price: Option<MoneyBody>,
    /// Listed (creators may add it) or not.
    #[serde(default)]
    pub(crate) active: Option<bool>,
}

/// A product.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductBody {
    /// `prod_…`.
    pub(crate) id: String,
    /// The brand selling it.
    pub(crate) brand_id: String,
    pub(crate) title: String,
    pub(crate) url: String,
    pub(crate) price: MoneyBody,
    pub(crate) category: String,
    pub(crate) commission_bps: u32,
    pub(crate) return_window_days: u16,
    pub(crate) active: bool,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// A page of products.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductList {
    pub(crate) data: Vec<ProductBody>,
    pub(crate) next_cursor: Option<String>,
}

/// `PUT /v1/creators/{id}/shop`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShopRequest {
    /// Product ids in display order, at most 200, each once, each an active product.
    pub(crate) products: Vec<String>,
}

/// A tracked link as a shop shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkRef {
    /// The code in `/r/{code}`.
    pub(crate) code: String,
    /// The full tracked URL.
    pub(crate) url: String,
}

/// A product in a shop, with the creator's link to it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShopProductBody {
    #[serde(flatten)]
    pub(crate) product: ProductBody,
    pub(crate) link: LinkRef,
}

/// A creator's shop.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShopBody {
    pub(crate) creator_id: String,
    pub(crate) handle: String,
    pub(crate) products: Vec<ShopProductBody>,
}

/// `POST /v1/links`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkRequest {
    pub(crate) product_id: String,
}

/// A tracked link.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkBody {
    pub(crate) code: String,
    /// The full tracked URL (`<public url>/r/<code>`).
    pub(crate) url: String,
    pub(crate) product_id: String,
    pub(crate) creator_id: String,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// `POST /v1/coupons`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CouponRequest {
    /// The brand it is valid at.
    pub(crate) brand_id: String,
    /// 4–20 of `A-Z0-9`.
    pub(crate) code: String,
}

/// A creator's coupon code at a brand.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CouponBody {
    pub(crate) code: String,
    pub(crate) brand_id: String,
    pub(crate) creator_id: String,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// A line of `POST /v1/shop/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderItemRequest {
    /// One of the brand's products.
    pub(crate) product_id: String,
    /// 1–10,000.
    pub(crate) quantity: i64,
    /// What the buyer paid for the line (all its units).
    pub(crate) amount: MoneyBody,
}

/// `POST /v1/shop/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderRequest {
    /// The brand's own order id (1–100 printable characters): reported again, it is the
    /// same order.
    pub(crate) order_id: String,
    /// The `ovc` the product page received.
    #[serde(default)]
    pub(crate) click_id: Option<String>,
    /// A coupon code the buyer used.
    #[serde(default)]
    pub(crate) coupon: Option<String>,
    /// RFC 3339, not in the future (default now).
    #[serde(default)]
    pub(crate) ordered_at: Option<String>,
    /// 1–100 lines, in one currency.
    pub(crate) items: Vec<OrderItemRequest>,
}

/// A line of an order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderItemBody {
    pub(crate) product_id: String,
    pub(crate) quantity: u32,
    /// Units returned so far.
    pub(crate) returned: u32,
    pub(crate) amount: MoneyBody,
    /// The product's rate when the order was reported.
    pub(crate) commission_bps: u32,
}

/// A shop order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderBody {
    /// `ord_…`.
    pub(crate) id: String,
    /// The brand's id of it.
    pub(crate) order_id: String,
    pub(crate) brand_id: String,
    /// The creator credited.
    pub(crate) creator_id: Option<String>,
    /// `coupon`, `click` or `none`.
    pub(crate) attribution: String,
    /// The commission now (after returns); null when no creator is credited.
    pub(crate) commission: Option<MoneyBody>,
    /// `pending` (returns possible), `locked` (the commission is the creator's) or
    /// `reversed` (returns took all of it back).
    pub(crate) status: String,
    /// When returns stop: the order's time plus its longest return window.
    pub(crate) locks_at: String,
    /// When it was placed.
    pub(crate) ordered_at: String,
    pub(crate) click_id: Option<String>,
    pub(crate) coupon: Option<String>,
    pub(crate) items: Vec<OrderItemBody>,
    /// RFC 3339.
    pub(crate) created_at: String,
}

/// A line of `POST /v1/shop/orders/{id}/returns`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReturnItemRequest {
    pub(crate) product_id: String,
    /// Units returned, 1–10,000 (at most what is left of the product in the order).
    pub(crate) quantity: i64,
}

/// `POST /v1/shop/orders/{id}/returns`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReturnRequest {
    /// 1–100 lines.
    pub(crate) items: Vec<ReturnItemRequest>,
}

/// `PUT /v1/brands/{id}/shop-settings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShopSettingsRequest {
    /// How long after a click an order is attributed to it, 1–90 days (default 7).
    pub(crate) attribution_window_days: i64,
}

/// A brand's shop settings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShopSettingsBody {
    pub(crate) brand_id: String,
    pub(crate) attribution_window_days: u16,
}

/// A creator's link with what it brought.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LinkStatBody {
    pub(crate) code: String,
    pub(crate) product_id: String,
    /// Counted clicks (bots and repeats are not counted).
    pub(crate) clicks: i64,
    /// Orders attributed to a click on it.
    pub(crate) orders: i64,
    /// Their commission now, per currency.
    pub(crate) commission: Vec<MoneyBody>,
    /// Commission per counted click, per currency, rounded toward zero.
    pub(crate) earnings_per_click: Vec<MoneyBody>,
}

/// `GET /v1/creators/{id}/shop/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatorStatsBody {
    pub(crate) creator_id: String,
    pub(crate) data: Vec<LinkStatBody>,
}

/// What a creator brought a brand.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BrandStatBody {
    pub(crate) creator_id: String,
    pub(crate) clicks: i64,
    pub(crate) orders: i64,
    /// What their orders sold (returns deducted), per currency.
    pub(crate) sales: Vec<MoneyBody>,
    /// Their commission now, per currency.
    pub(crate) commission: Vec<MoneyBody>,
}

/// `GET /v1/brands/{id}/shop/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BrandStatsBody {
    pub(crate) brand_id: String,
    pub(crate) data: Vec<BrandStatBody>,
}

// ---- Helpers ----

pub(crate) fn product_body(p: &Product) -> ProductBody {
    ProductBody {
        id: p.id.to_string(),
        brand_id: p.brand_id.to_string(),
        title: p.title.clone(),
        url: p.url.clone(),
        price: p.price.into(),
        category: p.category.clone(),
        commission_bps: p.commission_bps.get(),
        return_window_days: p.return_window_days,
        active: p.active,
        created_at: rfc3339(p.created_at),
    }
}

/// A link's full tracked URL, `<public url>/r/<code>` (the pages show the same).
pub(crate) fn link_url(state: &AppState, code: &str) -> String {
    format!("{}/r/{code}", state.config.public_url)
}

fn link_body(state: &AppState, l: &ShopLink) -> LinkBody {
    LinkBody {
        code: l.code.clone(),
        url: link_url(state, &l.code),
        product_id: l.product_id.to_string(),
        creator_id: l.creator_id.to_string(),
        created_at: rfc3339(l.created_at),
    }
}

/// A fresh link code: 10 characters of `A-Za-z0-9`.
fn new_code() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn money_list(map: &BTreeMap<Currency, i64>) -> Vec<MoneyBody> {
    map.iter()
        .map(|(c, a)| MoneyBody::from(Money::new(*a, *c)))
        .collect()
}

pub(crate) fn order_body(o: &ShopOrder) -> OrderBody {
    OrderBody {
        id: o.id.to_string(),
        order_id: o.order_id.clone(),
        brand_id: o.brand_id.to_string(),
        creator_id: o.creator_id.as_ref().map(ToString::to_string),
        attribution: o.attribution.as_str().to_owned(),
        commission: o.creator_id.as_ref().map(|_| o.commission.into()),
        status: o.status(store::now()).to_owned(),
        locks_at: rfc3339(o.locks_at),
        ordered_at: rfc3339(o.ordered_at),
        click_id: o.click_id.clone(),
        coupon: o.coupon.clone(),
        items: o
            .lines
            .iter()
            .map(|l| OrderItemBody {
                product_id: l.product_id.clone(),
                quantity: l.quantity,
                returned: l.returned,
                amount: l.amount.into(),
                commission_bps: l.commission_bps.get(),
            })
            .collect(),
        created_at: rfc3339(o.created_at),
    }
}

// ---- Products ----

/// Lists a product (brand).
#[utoipa::path(post, path = "/v1/products", tag = "shop",
    request_body = ProductRequest,
    responses((status = 201, body = ProductBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not a brand", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    request: Keyed,
) -> Result<Response, ApiError> {
    let brand = caller.brand()?;
    let body = request.body()?;
    request
        .once(&state, brand.id.as_str(), |_| {
            insert_product(&state, &brand, body)
        })
        .await
}

async fn insert_product(state: &AppState, brand: &User, body: &[u8]) -> Result<Response, ApiError> {
    let r: ProductRequest = parse_json(body)?;
    let now = store::now();
    let product = Product {
        id: ProductId::generate(),
        brand_id: brand.id.clone(),
        title: ProductRules::title(&r.title).map_err(shop_invalid)?,
        url: ProductRules::url(&r.url).map_err(shop_invalid)?,
        price: ProductRules::price(r.price.to_money("price", i64::MAX)?).map_err(shop_invalid)?,
        category: ProductRules::category(&r.category).map_err(shop_invalid)?,
        commission_bps: ProductRules::commission_bps(r.commission_bps).map_err(shop_invalid)?,
        return_window_days: ProductRules::return_window_days(
            r.return_window_days
                .unwrap_or(i64::from(ProductRules::RETURN_WINDOW_DEFAULT)),
        )
        .map_err(shop_invalid)?,
        active: true,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_product(&product).await?;
    Ok(json_response(
        StatusCode::CREATED,
        to_json(&product_body(&product))?,
    ))
}

/// Changes a product's rate, price or listing (its brand).
#[utoipa::path(patch, path = "/v1/products/{id}", tag = "shop",
    params(("id" = String, Path)),
    request_body = ProductPatch,
    responses((status = 200, body = ProductBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: another brand's", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn update_product(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Json<ProductBody>, ApiError> {
    let brand = caller.brand()?;
    let id = plain_id(&id).ok_or(ApiError::NotFound("product"))?;
    let product = state
        .store
        .product(id)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    if product.brand_id != brand.id {
        return Err(ApiError::Forbidden("another brand's product".into()));
    }
    let patch: ProductPatch = parse_json(request.body()?)?;
    let change = ProductChange {
        commission_bps: patch
            .commission_bps
            .map(ProductRules::commission_bps)
            .transpose()
            .map_err(shop_invalid)?,
        price: patch
            .price
            .map(|p| ProductRules::price(p.to_money("price", i64::MAX)?).map_err(shop_invalid))
            .transpose()?,
        active: patch.active,
    };
    let product = state
        .store
        .update_product(id, &change)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    Ok(Json(product_body(&product)))
}

/// The catalog, by id, of one brand and in one category when asked (any token).
#[utoipa::path(get, path = "/v1/products", tag = "shop",
    params(("brand_id" = Option<String>, Query), ("category" = Option<String>, Query),
        ("limit" = Option<u32>, Query, description = "1–500, default 50"),
        ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ProductList),
        (status = 401, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_products(
    State(state): State<AppState>,
    _caller: Caller,
    list: ListParams,
    uri: axum::http::Uri,
) -> Result<Json<ProductList>, ApiError> {
    let query = query_map(&uri)?;
    let filter = |key: &str| -> Result<Option<String>, ApiError> {
        match query.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) if v.chars().count() <= 100 && !v.chars().any(char::is_control) => {
                Ok(Some(v.clone()))
            }
            Some(_) => Err(invalid(format!("{key} is not a valid filter"))),
        }
    };
    let after = match &list.cursor {
        Some(c) => plain_id(c).ok_or_else(|| invalid("cursor is not valid"))?,
        None => "",
    };
    let page = state
        .store
        .products(
            filter("brand_id")?.as_deref(),
            filter("category")?.as_deref(),
            after,
            list.limit,
        )
        .await?;
    Ok(Json(ProductList {
        data: page.data.iter().map(product_body).collect(),
        next_cursor: page.next_cursor,
    }))
}

// ---- Shops and links ----

/// Sets a creator's shop (that creator): its products in display order; a link is made for
/// each product that has none.
#[utoipa::path(put, path = "/v1/creators/{id}/shop", tag = "shop",
    params(("id" = String, Path)),
    request_body = ShopRequest,
    responses((status = 200, body = ShopBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_shop(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Json<ShopBody>, ApiError> {
    let creator = caller.creator()?;
    if creator.id.as_str() != id {
        return Err(ApiError::Forbidden("another creator's shop".into()));
    }
    let r: ShopRequest = parse_json(request.body()?)?;
    let wanted = ProductRules::shop(&r.products).map_err(shop_invalid)?;
    let found = state.store.products_by_ids(wanted).await?;
    let mut products = Vec::with_capacity(wanted.len());
    let mut links = Vec::new();
    for id in wanted {
        let product = found
            .iter()
            .find(|p| p.id.as_str() == id)
            .ok_or_else(|| invalid(format!("products: no such product {id}")))?;
        if !product.active {
            return Err(invalid(format!(
                "products: {id} is not listed by its brand"
            )));
        }
        products.push(product.id.clone());
        if state
            .store
            .link_of(&creator.id, &product.id)
            .await?
            .is_none()
        {
            links.push(ShopLink {
                code: new_code(),
                creator_id: creator.id.clone(),
                product_id: product.id.clone(),
                brand_id: product.brand_id.clone(),
                created_at: store::now(),
            });
        }
    }
    state.store.set_shop(&creator.id, &products, &links).await?;
    shop_body(&state, &creator).await.map(Json)
}

async fn shop_body(state: &AppState, creator: &User) -> Result<ShopBody, ApiError> {
    let items = state.store.shop(&creator.id).await?;
    Ok(ShopBody {
        creator_id: creator.id.to_string(),
        handle: creator.handle.clone(),
        products: items
            .iter()
            .map(|(p, l)| ShopProductBody {
                product: product_body(p),
                link: LinkRef {
                    code: l.code.clone(),
                    url: link_url(state, &l.code),
                },
            })
            .collect(),
    })
}

/// A creator's shop (public: no token).
#[utoipa::path(get, path = "/v1/creators/{id}/shop", tag = "shop",
    params(("id" = String, Path)),
    responses((status = 200, body = ShopBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_shop(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ShopBody>, ApiError> {
    let id = plain_id(&id).ok_or(ApiError::NotFound("creator"))?;
    let creator = state
        .store
        .user(&UserId::from_string(id.to_owned()))
        .await?
        .filter(|u| u.kind == live::AccountKind::Creator)
        .ok_or(ApiError::NotFound("creator"))?;
    shop_body(&state, &creator).await.map(Json)
}

/// A tracked link to a product (creator): 201 new, 200 the one the creator has.
#[utoipa::path(post, path = "/v1/links", tag = "shop",
    request_body = LinkRequest,
    responses((status = 201, body = LinkBody), (status = 200, body = LinkBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not a creator", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_link(
    State(state): State<AppState>,
    caller: Caller,
    request: Keyed,
) -> Result<Response, ApiError> {
    let creator = caller.creator()?;
    let r: LinkRequest = parse_json(request.body()?)?;
    let product = match plain_id(&r.product_id) {
        Some(id) => state.store.product(id).await?,
        None => None,
    }
    .ok_or_else(|| invalid(format!("product_id: no such product {}", r.product_id)))?;
    for _ in 0..4 {
        let link = ShopLink {
            code: new_code(),
            creator_id: creator.id.clone(),
            product_id: product.id.clone(),
            brand_id: product.brand_id.clone(),
            created_at: store::now(),
        };
        if let Some((standing, new)) = state.store.create_link(&link).await? {
            let status = if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            return Ok(json_response(
                status,
                to_json(&link_body(&state, &standing))?,
            ));
        }
    }
    Err(ApiError::Unavailable)
}

/// Where a client's address comes from: the configured proxy header, else the peer.
fn client_address(state: &AppState, request: &Request) -> String {
    crate::extract::client_address(state, request.headers(), request.extensions())
}

/// Follows a tracked link (public): 302 to the product's page with `ovc=<click id>`; the
/// click is counted unless it is a bot's or a repeat within 30 s.
#[utoipa::path(get, path = "/r/{code}", tag = "shop",
    params(("code" = String, Path)),
    responses((status = 302, description = "to the product's page, `ovc` added"),
        (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn redirect(
    State(state): State<AppState>,
    Path(code): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let code = plain_id(&code).ok_or(ApiError::NotFound("link"))?;
    let link = state
        .clicks
        .link(&state.store, code)
        .await?
        .ok_or(ApiError::NotFound("link"))?;
    let address = client_address(&state, &request);
    let agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let redirect = state.clicks.click(&link, &address, agent);
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, redirect.location),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::REFERRER_POLICY,
                "no-referrer-when-downgrade".to_owned(),
            ),
        ],
    )
        .into_response())
}

// ---- Coupons ----

/// A coupon code crediting the calling creator at a brand (creator).
#[utoipa::path(post, path = "/v1/coupons", tag = "shop",
    request_body = CouponRequest,
    responses((status = 201, body = CouponBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not a creator", body = crate::error::ErrorBody),
        (status = 409, description = "coupon_taken", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_coupon(
    State(state): State<AppState>,
    caller: Caller,
    request: Keyed,
) -> Result<Response, ApiError> {
    let creator = caller.creator()?;
    let r: CouponRequest = parse_json(request.body()?)?;
    let code = shop::CouponCode::parse(&r.code).map_err(shop_invalid)?;
    let brand = match plain_id(&r.brand_id) {
        Some(id) => {
            state
                .store
                .user(&UserId::from_string(id.to_owned()))
                .await?
        }
        None => None,
    }
    .filter(|u| u.kind == live::AccountKind::Brand)
    .ok_or_else(|| invalid(format!("brand_id: no such brand {}", r.brand_id)))?;
    let coupon = store::Coupon {
        brand_id: brand.id.clone(),
        code: code.as_str().to_owned(),
        creator_id: creator.id.clone(),
        created_at: store::now(),
    };
    if !state.store.insert_coupon(&coupon).await? {
        return Err(ApiError::CouponTaken);
    }
    Ok(json_response(
        StatusCode::CREATED,
        to_json(&CouponBody {
            code: coupon.code,
            brand_id: coupon.brand_id.to_string(),
            creator_id: coupon.creator_id.to_string(),
            created_at: rfc3339(coupon.created_at),
        })?,
    ))
}

// ---- Orders and returns ----

/// How far in the future an order's time may be (clocks differ).
const ORDERED_AT_SKEW: time::Duration = time::Duration::minutes(5);

/// Reports an order (brand): attributed, its commission paid from the brand's wallet into
/// the creator's pending balance. The same `order_id` again → 200 the stored order.
#[utoipa::path(post, path = "/v1/shop/orders", tag = "shop",
    params(("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
    request_body = OrderRequest,
    responses((status = 201, body = OrderBody), (status = 200, description = "the order id was reported before", body = OrderBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 402, description = "insufficient_funds", body = crate::error::ErrorBody),
        (status = 403, description = "forbidden: not a brand", body = crate::error::ErrorBody),
        (status = 409, description = "idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_order(
    State(state): State<AppState>,
    caller: Caller,
    request: Keyed,
) -> Result<Response, ApiError> {
    let brand = caller.brand()?;
    let body = request.body()?;
    request
        .once(&state, brand.id.as_str(), |idem| {
            book_order(&state, &brand, body, idem)
        })
        .await
}

/// The most an order line may be, in minor units.
pub(crate) const ORDER_LINE_AMOUNT_MAX: i64 = 1_000_000_000_000;

async fn book_order(
    state: &AppState,
    brand: &User,
    body: &[u8],
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let r: OrderRequest = parse_json(body)?;
    let order_id = ProductRules::order_id(&r.order_id).map_err(shop_invalid)?;
    if r.items.is_empty() || r.items.len() > ProductRules::ORDER_LINES_MAX {
        return Err(invalid("items: 1 to 100 lines"));
    }
    let now = store::now();
    let ordered_at = match &r.ordered_at {
        Some(t) => OffsetDateTime::parse(t, &Rfc3339)
            .map_err(|_| invalid("ordered_at must be an RFC 3339 time"))?,
        None => now,
    };
    if ordered_at > now + ORDERED_AT_SKEW {
        return Err(invalid("ordered_at must not be in the future"));
    }
    if ordered_at.year() < 2000 {
        return Err(invalid("ordered_at is too far in the past"));
    }
    if let Some(stored) = state.store.shop_order_of(&brand.id, &order_id).await? {
        return Ok(json_response(
            StatusCode::OK,
            to_json(&order_body(&stored))?,
        ));
    }
    let ids: Vec<String> = r.items.iter().map(|i| i.product_id.clone()).collect();
    let unique: HashSet<&String> = ids.iter().collect();
    let wanted: Vec<String> = unique.into_iter().cloned().collect();
    let found = state.store.products_by_ids(&wanted).await?;
    let mut lines = Vec::with_capacity(r.items.len());
    for (i, item) in r.items.iter().enumerate() {
        let product = found
            .iter()
            .find(|p| p.id.as_str() == item.product_id)
            .filter(|p| p.brand_id == brand.id)
            .ok_or_else(|| {
                invalid(format!(
                    "items[{i}].product_id: {} is not one of this brand's products",
                    item.product_id
                ))
            })?;
        lines.push(NewLine {
            product: product.clone(),
            quantity: ProductRules::quantity("quantity", item.quantity).map_err(shop_invalid)?,
            amount: item
                .amount
                .to_money(&format!("items[{i}].amount"), ORDER_LINE_AMOUNT_MAX)?,
        });
    }
    let new = NewOrder {
        brand: brand.id.clone(),
        order_id,
        click_id: r.click_id.clone(),
        coupon: r.coupon.clone(),
        ordered_at,
        lines,
    };
    let orders = state.orders();
    let order = orders.decide(&new).await?;
    let answer = match &idem {
        Some(idem) => Some(idem.record(StatusCode::CREATED, to_json(&order_body(&order))?)),
        None => None,
    };
    match orders.book(&order, answer).await? {
        Booked::New(order) => Ok(json_response(
            StatusCode::CREATED,
            to_json(&order_body(&order))?,
        )),
        Booked::Existing(order) => Ok(json_response(StatusCode::OK, to_json(&order_body(&order))?)),
        Booked::Answered(record) => Ok(replay(
            &record,
            idem.as_ref().map_or("", |i| i.fingerprint()),
        )),
    }
}

/// An order (its brand, its creator, or admin).
#[utoipa::path(get, path = "/v1/shop/orders/{id}", tag = "shop",
    params(("id" = String, Path)),
    responses((status = 200, body = OrderBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OrderBody>, ApiError> {
    let id = plain_id(&id).ok_or(ApiError::NotFound("order"))?;
    let order = state
        .store
        .shop_order(id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    if let Caller::User(u) = &caller
        && u.id != order.brand_id
        && order.creator_id.as_ref() != Some(&u.id)
    {
        return Err(ApiError::Forbidden("not an order of yours".into()));
    }
    Ok(Json(order_body(&order)))
}

/// Records a return (the order's brand): the commission shrinks in proportion and the
/// difference goes back to the brand's wallet; after `locks_at`, 409 `order_locked`.
#[utoipa::path(post, path = "/v1/shop/orders/{id}/returns", tag = "shop",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
    request_body = ReturnRequest,
    responses((status = 200, body = OrderBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "order_locked, idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn return_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Response, ApiError> {
    let brand = caller.brand()?;
    let id = plain_id(&id).ok_or(ApiError::NotFound("order"))?;
    let body = request.body()?;
    request
        .once(&state, brand.id.as_str(), |idem| {
            record_return(&state, &brand, id, body, idem)
        })
        .await
}

async fn record_return(
    state: &AppState,
    brand: &User,
    id: &str,
    body: &[u8],
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let r: ReturnRequest = parse_json(body)?;
    if r.items.is_empty() || r.items.len() > ProductRules::ORDER_LINES_MAX {
        return Err(invalid("items: 1 to 100 lines"));
    }
    let mut items = Vec::with_capacity(r.items.len());
    for (i, item) in r.items.iter().enumerate() {
        let field = if i == 0 {
            "items[0].quantity"
        } else {
            "items[].quantity"
        };
        items.push((
            item.product_id.clone(),
            ProductRules::quantity(field, item.quantity).map_err(shop_invalid)?,
        ));
    }
    let answer = |after: &ShopOrder| {
        let body = to_json(&order_body(after)).ok()?;
        idem.as_ref().map(|i| i.record(StatusCode::OK, body))
    };
    match state
        .orders()
        .return_items(id, Some(&brand.id), &items, answer)
        .await?
    {
        Ok(after) => Ok(json_response(StatusCode::OK, to_json(&order_body(&after))?)),
        Err(record) => Ok(replay(
            &record,
            idem.as_ref().map_or("", |i| i.fingerprint()),
        )),
    }
}

// ---- Settings and statistics ----

/// Sets a brand's attribution window (that brand).
#[utoipa::path(put, path = "/v1/brands/{id}/shop-settings", tag = "shop",
    params(("id" = String, Path)),
    request_body = ShopSettingsRequest,
    responses((status = 200, body = ShopSettingsBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_shop_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Json<ShopSettingsBody>, ApiError> {
    let brand = caller.brand()?;
    if brand.id.as_str() != id {
        return Err(ApiError::Forbidden("another brand's settings".into()));
    }
    let r: ShopSettingsRequest = parse_json(request.body()?)?;
    let days =
        ProductRules::attribution_window_days(r.attribution_window_days).map_err(shop_invalid)?;
    state.store.set_attribution_window(&brand.id, days).await?;
    Ok(Json(ShopSettingsBody {
        brand_id: brand.id.to_string(),
        attribution_window_days: days,
    }))
}

/// A brand's shop settings (that brand, or admin).
#[utoipa::path(get, path = "/v1/brands/{id}/shop-settings", tag = "shop",
    params(("id" = String, Path)),
    responses((status = 200, body = ShopSettingsBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_shop_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ShopSettingsBody>, ApiError> {
    let id = UserId::from_string(
        plain_id(&id)
            .ok_or(ApiError::NotFound("account"))?
            .to_owned(),
    );
    caller.admin_or(&id)?;
    let days = state
        .store
        .attribution_window(&id)
        .await?
        .unwrap_or(ProductRules::WINDOW_DEFAULT);
    Ok(Json(ShopSettingsBody {
        brand_id: id.to_string(),
        attribution_window_days: days,
    }))
}

/// A creator's links with their clicks, orders and commission (that creator, or admin).
#[utoipa::path(get, path = "/v1/creators/{id}/shop/stats", tag = "shop",
    params(("id" = String, Path)),
    responses((status = 200, body = CreatorStatsBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn creator_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CreatorStatsBody>, ApiError> {
    let id = UserId::from_string(
        plain_id(&id)
            .ok_or(ApiError::NotFound("account"))?
            .to_owned(),
    );
    caller.admin_or(&id)?;
    let stats = state.store.creator_shop_stats(&id).await?;
    Ok(Json(CreatorStatsBody {
        creator_id: id.to_string(),
        data: stats
            .iter()
            .map(|s| LinkStatBody {
                code: s.code.clone(),
                product_id: s.product_id.to_string(),
                clicks: s.clicks,
                orders: s.orders,
                commission: money_list(&s.commission),
                earnings_per_click: s
                    .commission
                    .iter()
                    .map(|(c, a)| {
                        let per_click = shop::per_click(Money::new(*a, *c), s.clicks);
                        MoneyBody::from(per_click.unwrap_or(Money::zero(*c)))
                    })
                    .collect(),
            })
            .collect(),
    }))
}

/// What each creator brought a brand (that brand, or admin).
#[utoipa::path(get, path = "/v1/brands/{id}/shop/stats", tag = "shop",
    params(("id" = String, Path)),
    responses((status = 200, body = BrandStatsBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn brand_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BrandStatsBody>, ApiError> {
    let id = UserId::from_string(
        plain_id(&id)
            .ok_or(ApiError::NotFound("account"))?
            .to_owned(),
    );
    caller.admin_or(&id)?;
    let stats = state.store.brand_shop_stats(&id).await?;
    Ok(Json(BrandStatsBody {
        brand_id: id.to_string(),
        data: stats
            .iter()
            .map(|s| BrandStatBody {
                creator_id: s.creator_id.to_string(),
                clicks: s.clicks,
                orders: s.orders,
                sales: money_list(&s.sales),
                commission: money_list(&s.commission),
            })
            .collect(),
    }))
}
