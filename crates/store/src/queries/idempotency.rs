//! Stored answers of idempotent requests (the ledger writer stores them).

use crate::columns::{idempotency_columns, idempotency_from};
use crate::rows::IdempotencyRecord;
use crate::{Store, StoreError, with_pool};

impl Store {
    /// The stored answer for an idempotency key.
    pub async fn idempotency(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            idempotency_columns!(),
            " FROM idempotency WHERE account_id = $1 AND key = $2"
        ))
        .bind(account)
        .bind(key)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(idempotency_from)
        .transpose())
    }
}
