//! Card payment attempts (written by the ledger writer, read here): by provider key, by the
//! purchase or top-up they pay for, and the unsettled ones the reconciler walks.

use money::{Currency, Money};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::columns::{Columns, corrupt};
use crate::rows::{AttemptKind, AttemptStatus, PaymentAttempt};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// The provider idempotency key of a card payment: derived from the caller's scope and
/// `Idempotency-Key`, so that every retry of a request reaches the same charge; without a
/// key, the request's own (each request is then a payment of its own).
pub fn provider_key(scope: &str, idempotency_key: Option<&str>) -> String {
    match idempotency_key {
        Some(key) => {
            let mut hash = Sha256::new();
            // The scope's length first: no scope and key can be shifted into another pair.
            hash.update((scope.len() as u64).to_be_bytes());
            hash.update(scope.as_bytes());
            hash.update(key.as_bytes());
            format!("ovation-{}", hex::encode(&hash.finalize()[..20]))
        }
        None => format!("ovation-req-{}", uuid::Uuid::now_v7().simple()),
    }
}

macro_rules! attempt_columns {
    () => {
        "key, kind, reference, account_id, idempotency_key, fingerprint, \"order\", \
     amount, currency, status, payment_id, created_at, updated_at"
    };
}

fn attempt_from_row(row: &impl Columns) -> Result<PaymentAttempt, StoreError> {
    let key = row.text("key")?;
    let currency = Currency::parse(&row.text("currency")?)
        .map_err(|e| corrupt(format!("attempt {key}: {e}")))?;
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    Ok(PaymentAttempt {
        kind: AttemptKind::parse(&kind)
            .ok_or_else(|| corrupt(format!("attempt {key}: kind {kind}")))?,
        status: AttemptStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("attempt {key}: status {status}")))?,
        reference: row.text("reference")?,
        account_id: row.text("account_id")?,
        idempotency_key: row.opt_text("idempotency_key")?,
        fingerprint: row.text("fingerprint")?,
        order: row.text("order")?,
        amount: Money::new(row.int("amount")?, currency),
        payment_id: row.opt_text("payment_id")?,
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        key,
    })
}

impl Store {
    /// The attempt recorded under a provider idempotency key.
    pub async fn attempt(&self, key: &str) -> Result<Option<PaymentAttempt>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM payment_attempts WHERE key = $1"
        );
        if let Some(readers) = &self.readers {
            return readers.optional(SQL, [key], |row| attempt_from_row(row));
        }
        with_pool!(&self.db, pool => sqlx::query(SQL)
            .bind(key)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(attempt_from_row)
            .transpose())
    }

    /// The attempt paying for the purchase or top-up `reference`.
    pub async fn attempt_by_reference(
        &self,
        reference: &str,
    ) -> Result<Option<PaymentAttempt>, StoreError> {
        let sql = concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM payment_attempts WHERE reference = $1"
        );
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(reference)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(attempt_from_row)
            .transpose())
    }

    /// Attempts still pending or processing that were recorded before `before`, oldest first,
    /// after the (created, key) `after`.
    pub async fn unsettled_attempts(
        &self,
        before: OffsetDateTime,
        after: Option<(OffsetDateTime, &str)>,
        limit: u32,
    ) -> Result<Vec<PaymentAttempt>, StoreError> {
        let (after_at, after_key) = after.map_or((i64::MIN, ""), |(at, key)| (to_micros(at), key));
        let sql = concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM payment_attempts \
             WHERE status IN ('pending', 'processing') AND created_at < $1 \
               AND (created_at > $2 OR (created_at = $2 AND key > $3)) \
             ORDER BY created_at, key LIMIT $4"
        );
        with_pool!(&self.db, pool => sqlx::query(sql)
            .bind(to_micros(before))
            .bind(after_at)
            .bind(after_key)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(attempt_from_row)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::provider_key;

    #[test]
    fn the_provider_key_is_the_same_for_a_retry_and_differs_between_callers_and_keys() {
        let a = provider_key("usr_1", Some("k1"));
        assert_eq!(a, provider_key("usr_1", Some("k1")));
        assert_ne!(a, provider_key("usr_2", Some("k1")));
        assert_ne!(a, provider_key("usr_1", Some("k2")));
        // The scope and the key cannot be shifted into one another.
        assert_ne!(
            provider_key("a", Some("b\nc")),
            provider_key("a\nb", Some("c"))
        );
        assert!(a.len() <= 255);
        // Without a key, each request is its own payment.
        assert_ne!(provider_key("usr_1", None), provider_key("usr_1", None));
    }
}
