//! Payouts: the creators' balances that can be paid out, each creator's payouts, the
//! ones the provider has not acknowledged (claimed by one run to be sent again), and the
//! latest of all.

use money::{Currency, Money};
use time::OffsetDateTime;

use super::Page;
use crate::balances::spendable_sql;
use crate::columns::{Columns, corrupt};
use crate::rows::{Payout, PayoutId, PayoutStatus, UserId};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// The columns [`payout_from_row`] reads.
macro_rules! payout_columns {
    () => {
        "id, creator_id, amount, currency, status, provider_id, failure, created_at, updated_at"
    };
}

fn payout_from_row(row: &impl Columns) -> Result<Payout, StoreError> {
    let id = row.text("id")?;
    let currency = Currency::parse(&row.text("currency")?)
        .map_err(|e| corrupt(format!("payout {id}: {e}")))?;
    let status = row.text("status")?;
    Ok(Payout {
        creator_id: UserId::from_string(row.text("creator_id")?),
        amount: Money::new(row.int("amount")?, currency),
        status: PayoutStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("payout {id}: status {status}")))?,
        provider_id: row.opt_text("provider_id")?,
        failure: row.opt_text("failure")?,
        created_at: from_micros(row.int("created_at")?),
        updated_at: from_micros(row.int("updated_at")?),
        id: PayoutId::from_string(id),
    })
}

impl Store {
    /// Creators' available accounts holding a positive spendable balance, by account id
    /// after `after`: (creator, currency, spendable).
    pub async fn payable(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, UserId, Currency, i64)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT id, owner, currency, ", spendable_sql!(), " AS spendable \
             FROM ledger_accounts \
             WHERE purpose = 'creator_available' AND id > $1 AND ", spendable_sql!(), " > 0 \
             ORDER BY id LIMIT $2",
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            let currency = Currency::parse(&row.text("currency")?).map_err(corrupt)?;
            Ok((
                row.text("id")?,
                UserId::from_string(row.text("owner")?),
                currency,
                row.int("spendable")?,
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>())
    }

    /// How many creators' available accounts hold a positive balance.
    pub async fn count_payable(&self) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(&self.db, pool => sqlx::query_scalar(concat!(
            "SELECT COUNT(*) FROM ledger_accounts \
             WHERE purpose = 'creator_available' AND ", spendable_sql!(), " > 0",
        ))
        .fetch_one(pool)
        .await?);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// A payout by id.
    pub async fn payout(&self, id: &PayoutId) -> Result<Option<Payout>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", payout_columns!(), " FROM payouts WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(payout_from_row)
        .transpose())
    }

    /// A creator's payouts, newest first.
    pub async fn payouts_of(
        &self,
        creator: &UserId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Payout>, StoreError> {
        let mut data = with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", payout_columns!(), " FROM payouts \
             WHERE creator_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(creator.as_str())
        .bind(cursor.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?
        .iter()
        .map(payout_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        let next_cursor = if data.len() > limit as usize {
            data.truncate(limit as usize);
            data.last().map(|p| p.id.to_string())
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }

    /// Claims, until `until`, at most `limit` pending payouts the provider has not
    /// acknowledged (the process stopped between the ledger and the provider, or the provider
    /// was unreachable) and nobody else claimed, oldest first. Two payout runs at once never
    /// both resend one: a provider forgets its idempotency keys after a day, so only the claim
    /// keeps an old payout from being paid twice. [`Store::release_payout_claim`] gives back
    /// one that could not be sent.
    pub async fn claim_unsent_payouts(
        &self,
        until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Payout>, StoreError> {
        let now = to_micros(crate::now());
        // The outer conditions repeat the inner ones: PostgreSQL re-checks them on a row
        // another run claimed meanwhile (the subquery's are not re-read), so it is skipped.
        let mut claimed = with_pool!(&self.db, pool => sqlx::query(concat!(
            "UPDATE payouts SET resend_claimed_until = $1 \
             WHERE status = 'pending' AND provider_id IS NULL \
               AND (resend_claimed_until IS NULL OR resend_claimed_until <= $2) \
               AND id IN (SELECT id FROM payouts \
                 WHERE status = 'pending' AND provider_id IS NULL \
                   AND (resend_claimed_until IS NULL OR resend_claimed_until <= $2) \
                 ORDER BY created_at, id LIMIT $3) \
             RETURNING ", payout_columns!()
        ))
        .bind(to_micros(until))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(payout_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
    }

    /// Gives back the claim of [`Store::claim_unsent_payouts`] on a payout that could not be
    /// sent, so the next run sends it at once.
    pub async fn release_payout_claim(&self, id: &PayoutId) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "UPDATE payouts SET resend_claimed_until = NULL WHERE id = $1"
        )
        .bind(id.as_str())
        .execute(pool)
        .await
        .map(drop)?);
        Ok(())
    }

    /// The latest payouts of every creator, newest first.
    pub async fn recent_payouts(&self, limit: u32) -> Result<Vec<Payout>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ", payout_columns!(), " FROM payouts ORDER BY id DESC LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(payout_from_row)
        .collect())
    }
}
