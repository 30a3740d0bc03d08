//! Browser sessions of the pages: a cookie's hash, the account it acts as (or the
//! operator), its CSRF token and when it expires.

use time::OffsetDateTime;

use super::users::user_from_row;
use crate::columns::Columns;
use crate::rows::{User, UserId};
use crate::{Store, StoreError, from_micros, to_micros, with_pool};

/// A signed-in browser: the account it acts as, or the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The account; `None` for the operator (signed in with the admin token).
    pub user_id: Option<UserId>,
    /// For the operator: the SHA-256 of the admin token signed in with.
    pub admin_token_hash: Option<String>,
    /// The token every form of the session carries.
    pub csrf: String,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

impl Store {
    /// Records a session by the hash of its cookie.
    pub async fn create_session(&self, hash: &str, session: &Session) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO sessions (hash, user_id, admin_token_hash, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash)
        .bind(session.user_id.as_ref().map(UserId::as_str))
        .bind(session.admin_token_hash.as_deref())
        .bind(&session.csrf)
        .bind(to_micros(crate::now()))
        .bind(to_micros(session.expires_at))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    /// The session with this hash, unless it has expired, with its account (read in the
    /// same statement; `None` for the operator's sessions).
    pub async fn session(&self, hash: &str) -> Result<Option<(Session, Option<User>)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT s.user_id, s.admin_token_hash, s.csrf, s.expires_at, \
                    u.id, u.handle, u.kind, u.country, u.birth_date, u.followers, u.suspended, \
                    u.own_daily_limit, u.own_weekly_limit, u.payout_account, u.created_at \
             FROM sessions s LEFT JOIN users u ON u.id = s.user_id \
             WHERE s.hash = $1 AND s.expires_at > $2",
        )
        .bind(hash)
        .bind(to_micros(crate::now()))
        .fetch_optional(pool)
        .await?
        .map(|row| {
            let session = Session {
                user_id: row.opt_text("user_id")?.map(UserId::from_string),
                admin_token_hash: row.opt_text("admin_token_hash")?,
                csrf: row.text("csrf")?,
                expires_at: from_micros(row.int("expires_at")?),
            };
            let user = match session.user_id {
                Some(_) => Some(user_from_row(&row)?),
                None => None,
            };
            Ok((session, user))
        })
        .transpose())
    }

    /// Ends a session (signing out); ending one that is gone is not an error.
    pub async fn delete_session(&self, hash: &str) -> Result<(), StoreError> {
        with_pool!(&self.db, pool => sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(hash)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Forgets expired sessions; returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64, StoreError> {
        Ok(
            with_pool!(&self.db, pool => sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(to_micros(crate::now()))
            .execute(pool)
            .await?
            .rows_affected()),
        )
    }
}
