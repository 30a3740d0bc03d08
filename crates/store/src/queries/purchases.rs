//! Badge purchases: by id and by the provider's payment, what a viewer spent, and
//! supporters (viewers with their top tier, purchases and totals) of a live or a creator.

use std::collections::BTreeMap;

use money::{Currency, Money};
use time::OffsetDateTime;

use super::{Page, offset_of, tier_from};
use crate::columns::{Columns, corrupt};
use crate::rows::{LiveId, PaymentMethod, Purchase, PurchaseId, PurchaseStatus, Supporter, UserId};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// The columns [`purchase_from_row`] reads.
macro_rules! purchase_columns {
    () => {
        "id, live_id, viewer_id, creator_id, tier, amount, currency, creator_share, platform_fee, processor_fee, match_amount, match_program, payment_method, status, payment_id, created_at, refunded_at"
    };
}

fn purchase_from_row(row: &impl Columns) -> Result<Purchase, StoreError> {
    let id = row.text("id")?;
    let currency = row.text("currency")?;
    let currency =
        Currency::parse(&currency).map_err(|e| corrupt(format!("purchase {id}: {e}")))?;
    let status = row.text("status")?;
    let refunded_at = row.opt_int("refunded_at")?;
    Ok(Purchase {
        live_id: LiveId::from_string(row.text("live_id")?),
        viewer_id: UserId::from_string(row.text("viewer_id")?),
        creator_id: UserId::from_string(row.text("creator_id")?),
        tier: tier_from(row.int("tier")?)?,
        price: Money::new(row.int("amount")?, currency),
        creator_share: Money::new(row.int("creator_share")?, currency),
        platform_fee: Money::new(row.int("platform_fee")?, currency),
        processor_fee: Money::new(row.int("processor_fee")?, currency),
        match_amount: Money::new(row.int("match_amount")?, currency),
        match_program: row.opt_text("match_program")?,
        payment_method: {
            let method = row.text("payment_method")?;
            PaymentMethod::parse(&method)
                .ok_or_else(|| corrupt(format!("purchase {id}: payment method {method}")))?
        },
        status: PurchaseStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("purchase {id}: status {status}")))?,
        payment_id: row.text("payment_id")?,
        created_at: from_micros(row.int("created_at")?),
        refunded_at: refunded_at.map(from_micros),
        id: PurchaseId::from_string(id),
    })
}

fn supporter_from_row(row: &impl Columns) -> Result<Supporter, StoreError> {
    Ok(Supporter {
        viewer_handle: row.text("handle")?,
        top_tier: tier_from(row.int("top_tier")?)?,
        totals: Vec::new(),
        purchases: u64::try_from(row.int("n")?).unwrap_or(0),
        viewer_id: UserId::from_string(row.text("viewer_id")?),
    })
}

/// Which purchases a supporter's totals sum.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    /// Those of one live.
    Live(&'a LiveId),
    /// Those of one creator since a time (microseconds).
    CreatorSince(&'a UserId, i64),
}

impl Store {
    /// A purchase by id.
    pub async fn purchase(&self, id: &PurchaseId) -> Result<Option<Purchase>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            purchase_columns!(),
            " FROM purchases WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(purchase_from_row)
        .transpose())
    }

    /// The purchase paid by the provider's payment `payment_id`.
    pub async fn purchase_by_payment(
        &self,
        payment_id: &str,
    ) -> Result<Option<Purchase>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            purchase_columns!(),
            " FROM purchases WHERE payment_id = $1"
        );
        if let Some(readers) = &self.readers {
            return readers.optional(SQL, [payment_id], |row| purchase_from_row(row));
        }
        with_pool!(&self.db, pool => sqlx::query(SQL)
        .bind(payment_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(purchase_from_row)
        .transpose())
    }

    /// Purchases by id.
    pub async fn purchases(&self, ids: &[String]) -> Result<Vec<Purchase>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(super::IDS_PER_READ) {
            let sql = format!(
                "SELECT {} FROM purchases WHERE id IN ({})",
                purchase_columns!(),
                super::placeholders(1, chunk.len())
            );
            let rows = with_pool!(&self.db, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id.as_str());
                }
                query
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(purchase_from_row)
                    .collect::<Result<Vec<_>, StoreError>>()
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// What `viewer` spent in `currency` since `since` (succeeded purchases).
    pub async fn spent_since(
        &self,
        viewer: &UserId,
        currency: Currency,
        since: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM purchases \
             WHERE viewer_id = $1 AND currency = $2 AND status = 'succeeded' AND created_at >= $3";
        if let Some(readers) = &self.readers {
            let params = rusqlite::params![viewer.as_str(), currency.code(), to_micros(since)];
            let spent = readers.optional(SQL, params, |row| Ok(row.get::<_, i64>(0)?))?;
            return Ok(spent.unwrap_or(0));
        }
        Ok(with_pool!(&self.db, pool => sqlx::query_scalar(SQL)
        .bind(viewer.as_str())
        .bind(currency.code())
        .bind(to_micros(since))
        .fetch_one(pool)
        .await?))
    }

    /// Supporters of a live: by top tier, then number of purchases, both descending.
    pub async fn supporters(
        &self,
        live: &LiveId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Supporter>, StoreError> {
        let offset = offset_of(cursor);
        let rows = with_pool!(&self.db, pool => sqlx::query(
            "SELECT p.viewer_id, u.handle, MAX(p.tier) AS top_tier, COUNT(*) AS n \
             FROM purchases p JOIN users u ON u.id = p.viewer_id \
             WHERE p.live_id = $1 AND p.status = 'succeeded' \
             GROUP BY p.viewer_id, u.handle \
             ORDER BY top_tier DESC, n DESC, p.viewer_id \
             LIMIT $2 OFFSET $3",
        )
        .bind(live.as_str())
        .bind(i64::from(limit) + 1)
        .bind(offset)
        .fetch_all(pool)
        .await?
        .iter()
        .map(supporter_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        let mut data = rows;
        let next_cursor = if data.len() > limit as usize {
            data.truncate(limit as usize);
            Some(format!("o{}", offset + i64::from(limit)))
        } else {
            None
        };
        self.fill_supporter_totals(Scope::Live(live), &mut data)
            .await?;
        Ok(Page { data, next_cursor })
    }

    /// A creator's supporters since `since`, across their lives: by top tier, then number
    /// of purchases, both descending.
    pub async fn creator_supporters(
        &self,
        creator: &UserId,
        since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Supporter>, StoreError> {
        let since = to_micros(since);
        let mut data = with_pool!(&self.db, pool => sqlx::query(
            // Aggregated first, joined after: only the page's supporters look up a handle.
            "SELECT s.viewer_id, u.handle, s.top_tier, s.n FROM ( \
                 SELECT viewer_id, MAX(tier) AS top_tier, COUNT(*) AS n FROM purchases \
                 WHERE creator_id = $1 AND status = 'succeeded' AND created_at >= $2 \
                 GROUP BY viewer_id ORDER BY top_tier DESC, n DESC, viewer_id LIMIT $3 \
             ) s JOIN users u ON u.id = s.viewer_id \
             ORDER BY s.top_tier DESC, s.n DESC, s.viewer_id",
        )
        .bind(creator.as_str())
        .bind(since)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(supporter_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        self.fill_supporter_totals(Scope::CreatorSince(creator, since), &mut data)
            .await?;
        Ok(data)
    }

    /// Sets each supporter's totals per currency over the purchases of `scope`.
    async fn fill_supporter_totals(
        &self,
        scope: Scope<'_>,
        data: &mut [Supporter],
    ) -> Result<(), StoreError> {
        if data.is_empty() {
            return Ok(());
        }
        let (filter, first) = match scope {
            Scope::Live(_) => ("live_id = $1", 2),
            Scope::CreatorSince(..) => ("creator_id = $1 AND created_at >= $2", 3),
        };
        // `viewer_id IN ($n, …)`: one placeholder per supporter of the page, the same SQL
        // on both backends; only placeholders are formatted in, nothing of the input.
        let sql = format!(
            "SELECT viewer_id, currency, CAST(SUM(amount) AS BIGINT) AS total FROM purchases \
             WHERE {filter} AND status = 'succeeded' AND viewer_id IN ({}) \
             GROUP BY viewer_id, currency ORDER BY viewer_id, currency",
            super::placeholders(first, data.len())
        );
        let totals = with_pool!(&self.db, pool => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            query = match scope {
                Scope::Live(live) => query.bind(live.as_str()),
                Scope::CreatorSince(creator, since) => query.bind(creator.as_str()).bind(since),
            };
            for s in data.iter() {
                query = query.bind(s.viewer_id.as_str());
            }
            query
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| {
                    let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
                    Ok((row.text("viewer_id")?, Money::new(row.int("total")?, currency)))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        let mut by_viewer: BTreeMap<String, Vec<Money>> = BTreeMap::new();
        for (viewer, total) in totals {
            by_viewer.entry(viewer).or_default().push(total);
        }
        for s in data {
            s.totals = by_viewer.remove(s.viewer_id.as_str()).unwrap_or_default();
        }
        Ok(())
    }
}
