//! Wallet top-ups, by id and by the provider's payment.

use money::{Currency, Money};

use crate::columns::{Columns, corrupt};
use crate::rows::{Topup, TopupId, TopupStatus, UserId};
use crate::{Store, StoreError, from_micros, with_pool};

fn topup_from_row(row: &impl Columns) -> Result<Topup, StoreError> {
    let id = row.text("id")?;
    let currency = Currency::parse(&row.text("currency")?)
        .map_err(|e| corrupt(format!("top-up {id}: {e}")))?;
    let status = row.text("status")?;
    Ok(Topup {
        user_id: UserId::from_string(row.text("user_id")?),
        amount: Money::new(row.int("amount")?, currency),
        processor_fee: Money::new(row.int("processor_fee")?, currency),
        payment_id: row.text("payment_id")?,
        status: TopupStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("top-up {id}: status {status}")))?,
        created_at: from_micros(row.int("created_at")?),
        id: TopupId::from_string(id),
    })
}

impl Store {
    /// A top-up by id.
    pub async fn topup(&self, id: &TopupId) -> Result<Option<Topup>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, user_id, amount, currency, processor_fee, payment_id, status, created_at \
             FROM topups WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(topup_from_row)
        .transpose())
    }

    /// The top-up paid by the provider's payment `payment_id`.
    pub async fn topup_by_payment(&self, payment_id: &str) -> Result<Option<Topup>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT id, user_id, amount, currency, processor_fee, payment_id, status, created_at \
             FROM topups WHERE payment_id = $1",
        )
        .bind(payment_id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(topup_from_row)
        .transpose())
    }
}
