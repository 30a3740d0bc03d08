//! What the shop's pages read beside the API's statistics (`shop`'s `creator_shop_stats`
//! and `brand_shop_stats`): the products a creator's links lead to, a creator's commission
//! by whether returns can still change it, and the handles of the creators who brought a
//! brand clicks or orders.

use std::collections::BTreeMap;

use money::{Currency, Money};
use time::OffsetDateTime;

use crate::columns::corrupt;
use crate::rows::UserId;
use crate::{Store, StoreError, to_micros, with_pool};

/// A creator's commission in one currency: pending while the orders' return windows are
/// open (`locks_at` in the future), locked after. An order that returns left without
/// commission (reversed, or none to begin with) is in neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommissionStatus {
    /// The currency of the orders.
    pub currency: Currency,
    /// Orders still open to returns.
    pub pending_orders: i64,
    /// Their commission now.
    pub pending: Money,
    /// The creator's share of it (the commission less the platform's fee).
    pub pending_share: Money,
    /// Orders past their return window.
    pub locked_orders: i64,
    /// Their commission.
    pub locked: Money,
    /// The creator's share of it.
    pub locked_share: Money,
}

impl Store {
    /// The title of the product each of `creator`'s links leads to, by link code.
    pub async fn link_titles(
        &self,
        creator: &UserId,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT l.code, p.title FROM shop_links l JOIN products p ON p.id = l.product_id \
             WHERE l.creator_id = $1"
        )
        .bind(creator.as_str())
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().collect())
    }

    /// `creator`'s commission per currency at `now`, pending and locked, in currency order.
    pub async fn creator_commission(
        &self,
        creator: &UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<CommissionStatus>, StoreError> {
        type Row = (String, i64, i64, i64, i64, i64, i64);
        let rows: Vec<Row> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT currency, \
                    CAST(SUM(CASE WHEN locks_at > $2 THEN 1 ELSE 0 END) AS BIGINT), \
                    CAST(SUM(CASE WHEN locks_at > $2 THEN commission ELSE 0 END) AS BIGINT), \
                    CAST(SUM(CASE WHEN locks_at > $2 THEN creator_share ELSE 0 END) AS BIGINT), \
                    CAST(SUM(CASE WHEN locks_at <= $2 THEN 1 ELSE 0 END) AS BIGINT), \
                    CAST(SUM(CASE WHEN locks_at <= $2 THEN commission ELSE 0 END) AS BIGINT), \
                    CAST(SUM(CASE WHEN locks_at <= $2 THEN creator_share ELSE 0 END) AS BIGINT) \
             FROM shop_orders WHERE creator_id = $1 AND commission > 0 \
             GROUP BY currency ORDER BY currency"
        )
        .bind(creator.as_str())
        .bind(to_micros(now))
        .fetch_all(pool)
        .await?);
        rows.into_iter()
            .map(
                |(
                    currency,
                    pending_orders,
                    pending,
                    pending_share,
                    locked_orders,
                    locked,
                    locked_share,
                )| {
                    let currency = Currency::parse(&currency)
                        .map_err(|e| corrupt(format!("commission of {creator}: {e}")))?;
                    Ok(CommissionStatus {
                        currency,
                        pending_orders,
                        pending: Money::new(pending, currency),
                        pending_share: Money::new(pending_share, currency),
                        locked_orders,
                        locked: Money::new(locked, currency),
                        locked_share: Money::new(locked_share, currency),
                    })
                },
            )
            .collect()
    }

    /// The handles of the creators with a link to one of `brand`'s products or an order
    /// attributed to them at `brand`, by id.
    pub async fn shop_creator_handles(
        &self,
        brand: &UserId,
    ) -> Result<BTreeMap<UserId, String>, StoreError> {
        let rows: Vec<(String, String)> = with_pool!(&self.db, pool => sqlx::query_as(
            "SELECT id, handle FROM users WHERE id IN ( \
                 SELECT creator_id FROM shop_links WHERE brand_id = $1 \
                 UNION SELECT creator_id FROM shop_orders \
                       WHERE brand_id = $1 AND creator_id IS NOT NULL)"
        )
        .bind(brand.as_str())
        .fetch_all(pool)
        .await?);
        Ok(rows
            .into_iter()
            .map(|(id, handle)| (UserId::from_string(id), handle))
            .collect())
    }
}
