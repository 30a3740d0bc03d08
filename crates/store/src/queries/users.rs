//! Accounts: users, their API tokens, the spending caps they set themselves, and where
//! the provider pays them.

use live::{AccountKind, CountryCode};

use crate::columns::{Columns, corrupt};
use crate::rows::{User, UserId};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// A new user account, validated by the caller.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Handle, already parsed.
    pub handle: live::Handle,
    /// Kind.
    pub kind: AccountKind,
    /// Country.
    pub country: CountryCode,
    /// Birth date, if the platform gave one.
    pub birth_date: Option<time::Date>,
    /// Followers, if given.
    pub followers: Option<u64>,
}

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// The columns [`user_from_row`] reads.
macro_rules! user_columns {
    () => {
        "id, handle, kind, country, birth_date, followers, suspended, own_daily_limit, own_weekly_limit, payout_account, created_at"
    };
}

pub(crate) fn user_from_row(row: &impl Columns) -> Result<User, StoreError> {
    let id = row.text("id")?;
    let kind = row.text("kind")?;
    let country = row.text("country")?;
    let birth_date = row.opt_text("birth_date")?;
    let followers = row.opt_int("followers")?;
    let suspended = row.int("suspended")?;
    Ok(User {
        handle: row.text("handle")?,
        kind: AccountKind::parse(&kind).map_err(|e| corrupt(format!("user {id}: {e}")))?,
        country: CountryCode::parse(&country).map_err(|e| corrupt(format!("user {id}: {e}")))?,
        birth_date: birth_date
            .map(|d| time::Date::parse(&d, DATE_FORMAT))
            .transpose()
            .map_err(|e| corrupt(format!("user {id}: {e}")))?,
        followers: followers.map(|f| u64::try_from(f).unwrap_or(0)),
        suspended: suspended != 0,
        own_daily_limit: row.opt_int("own_daily_limit")?,
        own_weekly_limit: row.opt_int("own_weekly_limit")?,
        payout_account: row.opt_text("payout_account")?,
        created_at: from_micros(row.int("created_at")?),
        id: UserId::from_string(id),
    })
}

impl Store {
    /// Creates a user account; a taken handle is [`StoreError::HandleTaken`].
    pub async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        let user = User {
            id: UserId::generate(),
            handle: new.handle.as_str().to_owned(),
            kind: new.kind,
            country: new.country,
            birth_date: new.birth_date,
            followers: new.followers,
            suspended: false,
            own_daily_limit: None,
            own_weekly_limit: None,
            payout_account: None,
            created_at: crate::now(),
        };
        let birth = user
            .birth_date
            .map(|d| d.format(DATE_FORMAT))
            .transpose()
            .map_err(corrupt)?;
        let followers = user.followers.map(|f| i64::try_from(f).unwrap_or(i64::MAX));
        let result = with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO users (id, handle, kind, country, birth_date, followers, suspended, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .bind(user.id.as_str())
        .bind(&user.handle)
        .bind(user.kind.as_str())
        .bind(user.country.as_str())
        .bind(birth)
        .bind(followers)
        .bind(to_micros(user.created_at))
        .execute(pool)
        .await
        .map(|done| done.rows_affected()));
        match result {
            Ok(_) => Ok(user),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::HandleTaken)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A user by id.
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose())
    }

    /// A user by handle.
    pub async fn user_by_handle(&self, handle: &live::Handle) -> Result<Option<User>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE handle = $1"
        ))
        .bind(handle.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose())
    }

    /// Stores a token's hash for a user, under its public `id`, valid until `expires_at`
    /// (`None`: until revoked).
    pub async fn insert_token(
        &self,
        hash: &str,
        user: &UserId,
        id: &str,
        expires_at: Option<time::OffsetDateTime>,
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO tokens (hash, user_id, created_at, id, expires_at) VALUES ($1, $2, $3, $4, $5)"
        )
            .bind(hash)
            .bind(user.as_str())
            .bind(to_micros(crate::now()))
            .bind(id)
            .bind(expires_at.map(to_micros))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// The user a token hash belongs to, with the token's expiry, if the token is neither
    /// revoked nor expired at `now`.
    pub async fn user_by_token(
        &self,
        hash: &str,
        now: time::OffsetDateTime,
    ) -> Result<Option<(User, Option<time::OffsetDateTime>)>, StoreError> {
        let row = with_pool!(&self.db, pool => sqlx::query(
            "SELECT u.id, u.handle, u.kind, u.country, u.birth_date, u.followers, u.suspended, \
                    u.own_daily_limit, u.own_weekly_limit, u.payout_account, u.created_at, \
                    t.expires_at AS token_expires_at \
             FROM tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.hash = $1 AND t.revoked_at IS NULL \
               AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
            .bind(hash)
            .bind(to_micros(now))
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(|row| {
                let expires = row.opt_int("token_expires_at")?.map(from_micros);
                Ok::<_, StoreError>((user_from_row(row)?, expires))
            })
            .transpose())?;
        Ok(row)
    }

    /// Revokes `user`'s token `id` at `now`; returns its hash (so caches can forget it),
    /// or `None` when the user has no such token. Revoking twice changes nothing.
    pub async fn revoke_token(
        &self,
        user: &UserId,
        id: &str,
        now: time::OffsetDateTime,
    ) -> Result<Option<String>, StoreError> {
        with_pool!(&self.db, pool => {
            let hash: Option<String> = sqlx::query_scalar(
                "SELECT hash FROM tokens WHERE id = $1 AND user_id = $2",
            )
            .bind(id)
            .bind(user.as_str())
            .fetch_optional(pool)
            .await?;
            if hash.is_some() {
                sqlx::query(
                    "UPDATE tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(user.as_str())
                .bind(to_micros(now))
                .execute(pool)
                .await?;
            }
            Ok(hash)
        })
    }

    /// Sets the spending caps a user chose for themselves (`None` clears one).
    pub async fn set_own_limits(
        &self,
        user: &UserId,
        daily: Option<i64>,
        weekly: Option<i64>,
    ) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "UPDATE users SET own_daily_limit = $2, own_weekly_limit = $3 WHERE id = $1",
        )
        .bind(user.as_str())
        .bind(daily)
        .bind(weekly)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Sets where the provider pays a creator.
    pub async fn set_payout_account(
        &self,
        user: &UserId,
        account: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(with_pool!(&self.db, pool => sqlx::query(
            "UPDATE users SET payout_account = $2 WHERE id = $1",
        )
        .bind(user.as_str())
        .bind(account)
        .execute(pool)
        .await?
        .rows_affected())
            == 1)
    }
}
