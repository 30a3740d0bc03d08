//! Holds: income waiting out its hold period before it becomes available.

use money::{Currency, Money};
use time::OffsetDateTime;

use crate::columns::{Columns, corrupt};
use crate::rows::{Hold, HoldStatus, UserId};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// The columns [`hold_from_row`] reads.
macro_rules! hold_columns {
    () => {
        "id, owner, currency, amount, source, status, release_at, created_at"
    };
}

fn hold_from_row(row: &impl Columns) -> Result<Hold, StoreError> {
    let id = row.text("id")?;
    let currency =
        Currency::parse(&row.text("currency")?).map_err(|e| corrupt(format!("hold {id}: {e}")))?;
    let source = row.text("source")?;
    let status = row.text("status")?;
    Ok(Hold {
        owner: UserId::from_string(row.text("owner")?),
        amount: Money::new(row.int("amount")?, currency),
        source: crate::IncomeSource::parse(&source)
            .ok_or_else(|| corrupt(format!("hold {id}: source {source}")))?,
        status: HoldStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("hold {id}: status {status}")))?,
        release_at: from_micros(row.int("release_at")?),
        created_at: from_micros(row.int("created_at")?),
        id,
    })
}

impl Store {
    /// A hold by id (the income event's id).
    pub async fn hold(&self, id: &str) -> Result<Option<Hold>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(hold_from_row)
        .transpose())
    }

    /// Holds whose period ended by `now`, oldest first, after `after` (the last hold of
    /// the previous page: its release time and id).
    pub async fn due_holds(
        &self,
        now: OffsetDateTime,
        after: Option<(OffsetDateTime, &str)>,
        limit: u32,
    ) -> Result<Vec<Hold>, StoreError> {
        let (after_at, after_id) = after.map_or((i64::MIN, ""), |(at, id)| (to_micros(at), id));
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            hold_columns!(),
            " FROM holds WHERE status = 'held' AND release_at <= $1 \
               AND (release_at > $2 OR (release_at = $2 AND id > $3)) \
             ORDER BY release_at, id LIMIT $4"
        ))
        .bind(to_micros(now))
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(hold_from_row)
        .collect::<Result<Vec<_>, _>>())
    }
}
