//! The creator shop: brands' products, creators' shops and tracked links, the clicks on
//! them (written in groups, never one commit per click), coupons, each brand's attribution
//! window, shop orders (booked by the ledger writer; read here) and the shop's statistics.

use std::collections::BTreeMap;

use money::{Bps, Currency, Money};
use time::OffsetDateTime;

use super::{Page, page_by_id};
use crate::columns::{Columns, corrupt};
use crate::rows::{OrderAttribution, ProductId, ShopOrder, ShopOrderId, UserId};
use crate::{Db, Store, StoreError, from_micros, to_micros, with_pool};

/// A brand's product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// The brand selling it.
    pub brand_id: UserId,
    /// Title.
    pub title: String,
    /// The product's page (a click is redirected there).
    pub url: String,
    /// Price.
    pub price: Money,
    /// Category.
    pub category: String,
    /// The commission rate on its sales.
    pub commission_bps: Bps,
    /// Days a buyer may return it.
    pub return_window_days: u16,
    /// Whether creators may add it to their shops.
    pub active: bool,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// What a brand may change on a product.
#[derive(Debug, Clone, Default)]
pub struct ProductChange {
    /// A new commission rate (orders already reported keep theirs).
    pub commission_bps: Option<Bps>,
    /// A new price.
    pub price: Option<Money>,
    /// Listed or not.
    pub active: Option<bool>,
}

/// A creator's tracked link to a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopLink {
    /// The code in `/r/{code}`.
    pub code: String,
    /// Whose link.
    pub creator_id: UserId,
    /// To which product.
    pub product_id: ProductId,
    /// The product's brand.
    pub brand_id: UserId,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A counted click.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    /// Its id (the `ovc` on the redirect).
    pub id: String,
    /// The link's code.
    pub code: String,
    /// The link's creator.
    pub creator_id: UserId,
    /// The brand of the link's product.
    pub brand_id: UserId,
    /// The keyed hash of the client's address.
    pub client_hash: String,
    /// The client's user agent (cut to 300 characters).
    pub user_agent: String,
    /// When.
    pub at: OffsetDateTime,
}

/// A creator's coupon code at a brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    /// The brand it is valid at.
    pub brand_id: UserId,
    /// The code.
    pub code: String,
    /// The creator it credits.
    pub creator_id: UserId,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A creator's link with what it brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStat {
    /// The link.
    pub code: String,
    /// Its product.
    pub product_id: ProductId,
    /// Counted clicks, ever.
    pub clicks: i64,
    /// Orders attributed to a click on it.
    pub orders: i64,
    /// Their commission now, per currency.
    pub commission: BTreeMap<Currency, i64>,
}

/// What one creator brought a brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrandStat {
    /// The creator.
    pub creator_id: UserId,
    /// Counted clicks on their links to the brand's products.
    pub clicks: i64,
    /// Orders attributed to them.
    pub orders: i64,
    /// What those orders sold (returns deducted), per currency.
    pub sales: BTreeMap<Currency, i64>,
    /// Their commission now, per currency.
    pub commission: BTreeMap<Currency, i64>,
}

macro_rules! product_columns {
    () => {
        "id, brand_id, title, url, price, currency, category, commission_bps, return_window_days, active, created_at, updated_at"
    };
}

macro_rules! order_columns {
    () => {
        "id, brand_id, order_id, creator_id, attribution, click_id, link, coupon, lines, currency, \
         sales, commission, platform_fee, creator_share, returns, hold_id, ordered_at, locks_at, \
         created_at, updated_at"
    };
}
pub(crate) use order_columns;

fn product_from_row(row: &impl Columns) -> Result<Product, StoreError> {
    let id = row.text("id")?;
    let bad = |what: &str| corrupt(format!("product {id}: {what}"));
    let currency = Currency::parse(&row.text("currency")?).map_err(|e| bad(&e.to_string()))?;
    let bps = u32::try_from(row.int("commission_bps")?).map_err(|e| bad(&e.to_string()))?;
    Ok(Product {
        brand_id: UserId::from_string(row.text("brand_id")?),
        title: row.text("title")?,
        url: row.text("url")?,
        price: Money::new(row.int("price")?, currency),
        category: row.text("category")?,
        commission_bps: Bps::new(bps).map_err(|e| bad(&e.to_string()))?,
        return_window_days: u16::try_from(row.int("return_window_days")?)
            .map_err(|e| bad(&e.to_string()))?,
        active: row.int("active")? != 0,
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        id: ProductId::from_string(id),
    })
}

/// A shop order's lines as stored (JSON).
pub(crate) fn lines_json(lines: &[shop::Line]) -> String {
    serde_json::Value::Array(
        lines
            .iter()
            .map(|l| {
                serde_json::json!({
                    "product_id": l.product_id,
                    "quantity": l.quantity,
                    "returned": l.returned,
                    "amount": l.amount.amount(),
                    "commission_bps": l.commission_bps.get(),
                    "return_window_days": l.return_window_days,
                })
            })
            .collect(),
    )
    .to_string()
}

fn lines_from_json(
    id: &str,
    json: &str,
    currency: Currency,
) -> Result<Vec<shop::Line>, StoreError> {
    let bad = || corrupt(format!("shop order {id}: lines"));
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| bad())?;
    value
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|l| {
            let int = |k: &str| l[k].as_i64().ok_or_else(bad);
            Ok(shop::Line {
                product_id: l["product_id"].as_str().ok_or_else(bad)?.to_owned(),
                quantity: u32::try_from(int("quantity")?).map_err(|_| bad())?,
                returned: u32::try_from(int("returned")?).map_err(|_| bad())?,
                amount: Money::new(int("amount")?, currency),
                commission_bps: u32::try_from(int("commission_bps")?)
                    .ok()
                    .and_then(|b| Bps::new(b).ok())
                    .ok_or_else(bad)?,
                return_window_days: u16::try_from(int("return_window_days")?).map_err(|_| bad())?,
            })
        })
        .collect()
}

pub(crate) fn order_from_row(row: &impl Columns) -> Result<ShopOrder, StoreError> {
    let id = row.text("id")?;
    let currency = Currency::parse(&row.text("currency")?)
        .map_err(|e| corrupt(format!("shop order {id}: {e}")))?;
    let attribution = row.text("attribution")?;
    let money =
        |name: &str| -> Result<Money, StoreError> { Ok(Money::new(row.int(name)?, currency)) };
    Ok(ShopOrder {
        brand_id: UserId::from_string(row.text("brand_id")?),
        order_id: row.text("order_id")?,
        creator_id: row.opt_text("creator_id")?.map(UserId::from_string),
        attribution: OrderAttribution::parse(&attribution)
            .ok_or_else(|| corrupt(format!("shop order {id}: attribution {attribution}")))?,
        click_id: row.opt_text("click_id")?,
        link: row.opt_text("link")?,
        coupon: row.opt_text("coupon")?,
        lines: lines_from_json(&id, &row.text("lines")?, currency)?,
        commission: money("commission")?,
        platform_fee: money("platform_fee")?,
        creator_share: money("creator_share")?,
        returns: u32::try_from(row.int("returns")?)
            .map_err(|e| corrupt(format!("shop order {id}: {e}")))?,
        hold_id: row.opt_text("hold_id")?,
        ordered_at: from_micros(row.int("ordered_at")?),
        locks_at: from_micros(row.int("locks_at")?),
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        id: ShopOrderId::from_string(id),
    })
}

/// What an order sold, returns deducted (its `sales` column).
pub(crate) fn order_sales(order: &ShopOrder) -> i64 {
    shop::commission::kept_sales(&order.lines).map_or(0, |m| m.amount())
}

fn link_from_row(row: &impl Columns) -> Result<ShopLink, StoreError> {
    Ok(ShopLink {
        code: row.text("code")?,
        creator_id: UserId::from_string(row.text("creator_id")?),
        product_id: ProductId::from_string(row.text("product_id")?),
        brand_id: UserId::from_string(row.text("brand_id")?),
        created_at: from_micros(row.int("created_at")?),
    })
}

fn click_from_row(row: &impl Columns) -> Result<Click, StoreError> {
    Ok(Click {
        id: row.text("id")?,
        code: row.text("code")?,
        creator_id: UserId::from_string(row.text("creator_id")?),
        brand_id: UserId::from_string(row.text("brand_id")?),
        client_hash: row.text("client_hash")?,
        user_agent: row.text("user_agent")?,
        at: from_micros(row.int("at")?),
    })
}

fn coupon_from_row(row: &impl Columns) -> Result<Coupon, StoreError> {
    Ok(Coupon {
        brand_id: UserId::from_string(row.text("brand_id")?),
        code: row.text("code")?,
        creator_id: UserId::from_string(row.text("creator_id")?),
        created_at: from_micros(row.int("created_at")?),
    })
}

fn add(map: &mut BTreeMap<Currency, i64>, currency: &str, amount: i64) -> Result<(), StoreError> {
    let currency = Currency::parse(currency).map_err(|e| corrupt(format!("shop stats: {e}")))?;
    *map.entry(currency).or_default() += amount;
    Ok(())
}

impl Store {
    /// Records a new product.
    pub async fn insert_product(&self, p: &Product) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "INSERT INTO products (", product_columns!(), ") \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(p.id.as_str())
        .bind(p.brand_id.as_str())
        .bind(&p.title)
        .bind(&p.url)
        .bind(p.price.amount())
        .bind(p.price.currency().code())
        .bind(&p.category)
        .bind(i64::from(p.commission_bps.get()))
        .bind(i64::from(p.return_window_days))
        .bind(i64::from(p.active))
        .bind(to_micros(p.created_at))
        .bind(to_micros(p.updated_at))
        .execute(pool)
        .await
        .map(drop)?);
        Ok(())
    }

    /// A product by id.
    pub async fn product(&self, id: &str) -> Result<Option<Product>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", product_columns!(), " FROM products WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(product_from_row)
        .transpose())
    }

    /// The products among `ids` that exist, in no particular order.
    pub async fn products_by_ids(&self, ids: &[String]) -> Result<Vec<Product>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(p) = self.product(id).await? {
                found.push(p);
            }
        }
        Ok(found)
    }

    /// Products by id after `after`, of `brand` and in `category` when given.
    pub async fn products(
        &self,
        brand: Option<&str>,
        category: Option<&str>,
        after: &str,
        limit: u32,
    ) -> Result<Page<Product>, StoreError> {
        let rows = with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", product_columns!(), " FROM products \
             WHERE id > $1 AND ($2 IS NULL OR brand_id = $2) AND ($3 IS NULL OR category = $3) \
             ORDER BY id LIMIT $4"
        ))
        .bind(after)
        .bind(brand)
        .bind(category)
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?
        .iter()
        .map(product_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        Ok(page_by_id(rows, limit, |p| p.id.to_string()))
    }

    /// Applies `change` to product `id`; `None` when there is no such product.
    pub async fn update_product(
        &self,
        id: &str,
        change: &ProductChange,
    ) -> Result<Option<Product>, StoreError> {
        let Some(before) = self.product(id).await? else {
            return Ok(None);
        };
        let price = change.price.unwrap_or(before.price);
        let bps = change.commission_bps.unwrap_or(before.commission_bps);
        let active = change.active.unwrap_or(before.active);
        with_pool!(&self.db, pool => sqlx::query(
            "UPDATE products SET price = $2, currency = $3, commission_bps = $4, active = $5, \
             updated_at = $6 WHERE id = $1"
        )
        .bind(id)
        .bind(price.amount())
        .bind(price.currency().code())
        .bind(i64::from(bps.get()))
        .bind(i64::from(active))
        .bind(to_micros(crate::now()))
        .execute(pool)
        .await
        .map(drop)?);
        self.product(id).await
    }

    /// Replaces `creator`'s shop with `products` (in display order) and creates the links
    /// they lack (`links`: one candidate per product, used where the creator has none), in one
    /// transaction.
    pub async fn set_shop(
        &self,
        creator: &UserId,
        products: &[ProductId],
        links: &[ShopLink],
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM shop_items WHERE creator_id = $1")
                .bind(creator.as_str())
                .execute(&mut *tx)
                .await?;
            for (position, product) in products.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO shop_items (creator_id, position, product_id) VALUES ($1, $2, $3)",
                )
                .bind(creator.as_str())
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(product.as_str())
                .execute(&mut *tx)
                .await?;
            }
            for link in links {
                sqlx::query(
                    "INSERT INTO shop_links (code, creator_id, product_id, brand_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(&link.code)
                .bind(link.creator_id.as_str())
                .bind(link.product_id.as_str())
                .bind(link.brand_id.as_str())
                .bind(to_micros(link.created_at))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<(), StoreError>(())
        })
    }

    /// `creator`'s shop: each product in display order with the creator's link to it (a
    /// product without one — its code collided when the shop was set — is left out).
    pub async fn shop(&self, creator: &UserId) -> Result<Vec<(Product, ShopLink)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT p.id, p.brand_id, p.title, p.url, p.price, p.currency, p.category, \
                    p.commission_bps, p.return_window_days, p.active, p.created_at, p.updated_at, \
                    l.code, l.creator_id, l.product_id, l.brand_id AS link_brand, \
                    l.created_at AS link_created_at \
             FROM shop_items s JOIN products p ON p.id = s.product_id \
             JOIN shop_links l ON l.creator_id = s.creator_id AND l.product_id = s.product_id \
             WHERE s.creator_id = $1 ORDER BY s.position"
        )
        .bind(creator.as_str())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let product = product_from_row(row)?;
            let link = ShopLink {
                code: row.text("code")?,
                creator_id: UserId::from_string(row.text("creator_id")?),
                product_id: ProductId::from_string(row.text("product_id")?),
                brand_id: UserId::from_string(row.text("link_brand")?),
                created_at: from_micros(row.int("link_created_at")?),
            };
            Ok((product, link))
        })
        .collect())
    }

    /// Creates `link` unless its creator has a link to its product; returns the link that
    /// stands and whether it is this one. `None` when its code is taken by another link.
    pub async fn create_link(
        &self,
        link: &ShopLink,
    ) -> Result<Option<(ShopLink, bool)>, StoreError> {
        let inserted = with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO shop_links (code, creator_id, product_id, brand_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
        )
        .bind(&link.code)
        .bind(link.creator_id.as_str())
        .bind(link.product_id.as_str())
        .bind(link.brand_id.as_str())
        .bind(to_micros(link.created_at))
        .execute(pool)
        .await?
        .rows_affected())
            == 1;
        let standing = self.link_of(&link.creator_id, &link.product_id).await?;
        Ok(standing.map(|s| (s, inserted)))
    }

    /// `creator`'s link to `product`.
    pub async fn link_of(
        &self,
        creator: &UserId,
        product: &ProductId,
    ) -> Result<Option<ShopLink>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT code, creator_id, product_id, brand_id, created_at FROM shop_links \
             WHERE creator_id = $1 AND product_id = $2"
        )
        .bind(creator.as_str())
        .bind(product.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(link_from_row)
        .transpose())
    }

    /// The link with `code` and its product's page.
    pub async fn link(&self, code: &str) -> Result<Option<(ShopLink, String)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT l.code, l.creator_id, l.product_id, l.brand_id, l.created_at, p.url \
             FROM shop_links l JOIN products p ON p.id = l.product_id WHERE l.code = $1"
        )
        .bind(code)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(|row| Ok((link_from_row(row)?, row.text("url")?)))
        .transpose())
    }

    /// Records counted clicks, all in one statement (SQLite: rows from one JSON array;
    /// PostgreSQL: arrays unnested). An id recorded already is skipped.
    pub async fn insert_clicks(&self, clicks: &[Click]) -> Result<(), StoreError> {
        if clicks.is_empty() {
            return Ok(());
        }
        match &self.db {
            Db::Sqlite(pool) => {
                let rows = serde_json::Value::Array(
                    clicks
                        .iter()
                        .map(|c| {
                            serde_json::json!([
                                c.id,
                                c.code,
                                c.creator_id.as_str(),
                                c.brand_id.as_str(),
                                c.client_hash,
                                c.user_agent,
                                to_micros(c.at)
                            ])
                        })
                        .collect(),
                )
                .to_string();
                sqlx::query(
                    "INSERT INTO shop_clicks (id, code, creator_id, brand_id, client_hash, user_agent, at) \
                     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
                            value ->> 6 FROM json_each($1) WHERE true ON CONFLICT DO NOTHING",
                )
                .bind(rows)
                .execute(pool)
                .await?;
            }
            Db::Postgres(pool) => {
                let col = |f: fn(&Click) -> &str| clicks.iter().map(f).collect::<Vec<&str>>();
                let at: Vec<i64> = clicks.iter().map(|c| to_micros(c.at)).collect();
                sqlx::query(
                    "INSERT INTO shop_clicks (id, code, creator_id, brand_id, client_hash, user_agent, at) \
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                          $6::text[], $7::bigint[]) ON CONFLICT DO NOTHING",
                )
                .bind(col(|c| &c.id))
                .bind(col(|c| &c.code))
                .bind(col(|c| c.creator_id.as_str()))
                .bind(col(|c| c.brand_id.as_str()))
                .bind(col(|c| &c.client_hash))
                .bind(col(|c| &c.user_agent))
                .bind(at)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// A counted click by id.
    pub async fn click(&self, id: &str) -> Result<Option<Click>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, code, creator_id, brand_id, client_hash, user_agent, at FROM shop_clicks \
             WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(click_from_row)
        .transpose())
    }

    /// The counted clicks of one client on links to `brand`'s products between `since` and
    /// `until`, latest first (at most 100).
    pub async fn clicks_of_client(
        &self,
        client_hash: &str,
        brand: &UserId,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Vec<Click>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, code, creator_id, brand_id, client_hash, user_agent, at FROM shop_clicks \
             WHERE client_hash = $1 AND brand_id = $2 AND at >= $3 AND at <= $4 \
             ORDER BY at DESC, id DESC LIMIT 100"
        )
        .bind(client_hash)
        .bind(brand.as_str())
        .bind(to_micros(since))
        .bind(to_micros(until))
        .fetch_all(pool)
        .await?
        .iter()
        .map(click_from_row)
        .collect())
    }

    /// Counts clicks older than `before` per link and day into `shop_click_days` and deletes
    /// them, at most `limit` at a time; returns how many were rolled up.
    pub async fn roll_up_clicks(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        const DAY: i64 = 86_400_000_000;
        with_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let ids: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT id, code, at FROM shop_clicks WHERE at < $1 ORDER BY at LIMIT $2",
            )
            .bind(to_micros(before))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            let mut days: BTreeMap<(String, i64), i64> = BTreeMap::new();
            for (id, code, at) in &ids {
                *days.entry((code.clone(), at.div_euclid(DAY) * DAY)).or_default() += 1;
                sqlx::query("DELETE FROM shop_clicks WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            for ((code, day), n) in days {
                sqlx::query(
                    "INSERT INTO shop_click_days (code, day, clicks) VALUES ($1, $2, $3) \
                     ON CONFLICT (code, day) DO UPDATE SET clicks = shop_click_days.clicks + excluded.clicks",
                )
                .bind(code)
                .bind(day)
                .bind(n)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<u64, StoreError>(ids.len() as u64)
        })
    }

    /// Records `coupon`; `false` when the brand has that code already.
    pub async fn insert_coupon(&self, coupon: &Coupon) -> Result<bool, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO coupons (brand_id, code, creator_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING"
        )
        .bind(coupon.brand_id.as_str())
        .bind(&coupon.code)
        .bind(coupon.creator_id.as_str())
        .bind(to_micros(coupon.created_at))
        .execute(pool)
        .await?
        .rows_affected())
            == 1)
    }

    /// `brand`'s coupon `code`.
    pub async fn coupon(&self, brand: &UserId, code: &str) -> Result<Option<Coupon>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT brand_id, code, creator_id, created_at FROM coupons WHERE brand_id = $1 AND code = $2"
        )
        .bind(brand.as_str())
        .bind(code)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(coupon_from_row)
        .transpose())
    }

    /// `brand`'s attribution window in days, if it set one.
    pub async fn attribution_window(&self, brand: &UserId) -> Result<Option<u16>, StoreError> {
        let days: Option<i64> = with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT attribution_window_days FROM shop_settings WHERE brand_id = $1"
        )
        .bind(brand.as_str())
        .fetch_optional(pool)
        .await?);
        days.map(|d| u16::try_from(d).map_err(|e| corrupt(format!("shop settings: {e}"))))
            .transpose()
    }

    /// Sets `brand`'s attribution window.
    pub async fn set_attribution_window(
        &self,
        brand: &UserId,
        days: u16,
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO shop_settings (brand_id, attribution_window_days) VALUES ($1, $2) \
             ON CONFLICT (brand_id) DO UPDATE SET attribution_window_days = excluded.attribution_window_days"
        )
        .bind(brand.as_str())
        .bind(i64::from(days))
        .execute(pool)
        .await
        .map(drop)?);
        Ok(())
    }

    /// A shop order by Ovation's id.
    pub async fn shop_order(&self, id: &str) -> Result<Option<ShopOrder>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", order_columns!(), " FROM shop_orders WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(order_from_row)
        .transpose())
    }

    /// `brand`'s order with its own id `order_id`.
    pub async fn shop_order_of(
        &self,
        brand: &UserId,
        order_id: &str,
    ) -> Result<Option<ShopOrder>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", order_columns!(), " FROM shop_orders WHERE brand_id = $1 AND order_id = $2"
        ))
        .bind(brand.as_str())
        .bind(order_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(order_from_row)
        .transpose())
    }

    /// A key of the server's, created (random) the first time it is asked for.
    pub async fn server_secret(&self, name: &str) -> Result<String, StoreError> {
        let fresh =
            uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string();
        with_pool!(&self.db, pool => {
            sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(name)
                .bind(&fresh)
                .execute(pool)
                .await?;
            Ok::<String, StoreError>(
                sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(pool)
                    .await?,
            )
        })
    }

    /// Each of `creator`'s links with its clicks, the orders attributed to clicks on it and
    /// their commission.
    pub async fn creator_shop_stats(&self, creator: &UserId) -> Result<Vec<LinkStat>, StoreError> {
        let links: Vec<(String, String, i64)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT l.code, l.product_id, \
                    CAST((SELECT COUNT(*) FROM shop_clicks c WHERE c.code = l.code) \
                    + COALESCE((SELECT SUM(d.clicks) FROM shop_click_days d WHERE d.code = l.code), 0) \
                    AS BIGINT) AS clicks \
             FROM shop_links l WHERE l.creator_id = $1 ORDER BY l.created_at, l.code"
        )
        .bind(creator.as_str())
        .fetch_all(pool)
        .await?);
        let orders: Vec<(String, String, i64, i64)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT link, currency, COUNT(*), CAST(SUM(commission) AS BIGINT) FROM shop_orders \
             WHERE creator_id = $1 AND link IS NOT NULL GROUP BY link, currency"
        )
        .bind(creator.as_str())
        .fetch_all(pool)
        .await?);
        let mut stats: Vec<LinkStat> = links
            .into_iter()
            .map(|(code, product, clicks)| LinkStat {
                code,
                product_id: ProductId::from_string(product),
                clicks,
                orders: 0,
                commission: BTreeMap::new(),
            })
            .collect();
        for (link, currency, n, commission) in orders {
            if let Some(s) = stats.iter_mut().find(|s| s.code == link) {
                s.orders += n;
                add(&mut s.commission, &currency, commission)?;
            }
        }
        Ok(stats)
    }

    /// Per creator who brought `brand` clicks or orders: clicks, orders, sales, commission.
    pub async fn brand_shop_stats(&self, brand: &UserId) -> Result<Vec<BrandStat>, StoreError> {
        let clicks: Vec<(String, i64)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT l.creator_id, \
                    CAST(SUM((SELECT COUNT(*) FROM shop_clicks c WHERE c.code = l.code) \
                    + COALESCE((SELECT SUM(d.clicks) FROM shop_click_days d WHERE d.code = l.code), 0)) \
                    AS BIGINT) \
             FROM shop_links l WHERE l.brand_id = $1 GROUP BY l.creator_id"
        )
        .bind(brand.as_str())
        .fetch_all(pool)
        .await?);
        let orders: Vec<(String, String, i64, i64, i64)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT creator_id, currency, COUNT(*), CAST(SUM(sales) AS BIGINT), \
                    CAST(SUM(commission) AS BIGINT) FROM shop_orders \
             WHERE brand_id = $1 AND creator_id IS NOT NULL GROUP BY creator_id, currency"
        )
        .bind(brand.as_str())
        .fetch_all(pool)
        .await?);
        let mut stats: BTreeMap<String, BrandStat> = BTreeMap::new();
        fn of<'a>(stats: &'a mut BTreeMap<String, BrandStat>, creator: &str) -> &'a mut BrandStat {
            stats
                .entry(creator.to_owned())
                .or_insert_with(|| BrandStat {
                    creator_id: UserId::from_string(creator.to_owned()),
                    clicks: 0,
                    orders: 0,
                    sales: BTreeMap::new(),
                    commission: BTreeMap::new(),
                })
        }
        for (creator, n) in clicks {
            of(&mut stats, &creator).clicks += n;
        }
        for (creator, currency, n, sales, commission) in orders {
            let s = of(&mut stats, &creator);
            s.orders += n;
            add(&mut s.sales, &currency, sales)?;
            add(&mut s.commission, &currency, commission)?;
        }
        Ok(stats.into_values().collect())
    }
}
