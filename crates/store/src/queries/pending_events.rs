//! Provider events kept until what they change exists.

use time::OffsetDateTime;

use crate::columns::Columns;
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// A kept provider event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    /// The provider's name.
    pub provider: String,
    /// The event's id.
    pub id: String,
    /// The payment it is about.
    pub payment_id: String,
    /// The event as received (JSON).
    pub body: String,
    /// When it was first received.
    pub received_at: OffsetDateTime,
}

fn pending_from_row(row: &impl Columns) -> Result<PendingEvent, StoreError> {
    Ok(PendingEvent {
        provider: row.text("provider")?,
        id: row.text("id")?,
        payment_id: row.text("payment_id")?,
        body: row.text("body")?,
        received_at: from_micros(row.int("received_at")?),
    })
}

impl Store {
    /// Keeps a provider event for later (once per event id).
    pub async fn keep_event(&self, event: &PendingEvent) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO provider_events_pending (provider, id, payment_id, body, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider, id) DO NOTHING",
        )
        .bind(&event.provider)
        .bind(&event.id)
        .bind(&event.payment_id)
        .bind(&event.body)
        .bind(to_micros(event.received_at))
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Kept events, oldest first, after the (received, id) `after`; only those about
    /// `payment_id` when given.
    pub async fn pending_events(
        &self,
        payment_id: Option<&str>,
        after: Option<(OffsetDateTime, &str)>,
        limit: u32,
    ) -> Result<Vec<PendingEvent>, StoreError> {
        let (after_at, after_id) = after.map_or((i64::MIN, ""), |(at, id)| (to_micros(at), id));
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT provider, id, payment_id, body, received_at FROM provider_events_pending \
             WHERE ($1 = '' OR payment_id = $1) \
               AND (received_at > $2 OR (received_at = $2 AND id > $3)) \
             ORDER BY received_at, id LIMIT $4",
        )
        .bind(payment_id.unwrap_or(""))
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(pending_from_row)
        .collect())
    }

    /// Forgets a kept event (applied, or given up).
    pub async fn forget_event(&self, provider: &str, id: &str) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "DELETE FROM provider_events_pending WHERE provider = $1 AND id = $2",
        )
        .bind(provider)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }
}
