//! Who is calling: the [`Caller`] a token acts as (the platform's admin token, or a user's
//! token looked up by its SHA-256 and cached for 30 s), and the caller a page session put
//! on its request. It knows the store and the API's refusals, not HTTP requests (reading
//! the token from a request is `extract`'s) nor the server's state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use store::{Store, StoreError, User};

use crate::error::ApiError;

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The platform's admin token.
    Admin,
    /// A user token.
    User(Arc<User>),
}

impl Caller {
    /// The user, or 403 for the admin token.
    pub fn user(&self) -> Result<&Arc<User>, ApiError> {
        match self {
            Caller::User(u) => Ok(u),
            Caller::Admin => Err(ApiError::Forbidden(
                "this needs a user token; the admin token acts as no account".into(),
            )),
        }
    }

    /// The user, or 403 unless they are a brand.
    pub fn brand(&self) -> Result<Arc<User>, ApiError> {
        self.of_kind(live::AccountKind::Brand, "a brand's")
    }

    /// The user, or 403 unless they are a creator.
    pub fn creator(&self) -> Result<Arc<User>, ApiError> {
        self.of_kind(live::AccountKind::Creator, "a creator's")
    }

    fn of_kind(&self, kind: live::AccountKind, whose: &str) -> Result<Arc<User>, ApiError> {
        let user = self.user()?;
        if user.kind != kind {
            return Err(ApiError::Forbidden(format!("this needs {whose} token")));
        }
        Ok(user.clone())
    }

    /// Ok for the admin token, 403 otherwise.
    pub fn admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::User(_) => Err(ApiError::Forbidden("this needs the admin token".into())),
        }
    }

    /// Ok for the admin token or the user `id`.
    pub fn admin_or(&self, id: &store::UserId) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::User(u) if &u.id == id => Ok(()),
            Caller::User(_) => Err(ApiError::Forbidden("not yours".into())),
        }
    }

    /// The id idempotency keys are scoped to.
    pub fn scope(&self) -> &str {
        match self {
            Caller::Admin => "admin",
            Caller::User(u) => u.id.as_str(),
        }
    }
}

/// The caller of a request that came through a page session (`/app/v1/…`): put in the
/// request's extensions by the session middleware after it checked the cookie (and, for a
/// request that changes anything, the CSRF token). Clients cannot set extensions.
#[derive(Debug, Clone)]
pub(crate) struct SessionCaller(pub(crate) Caller);

/// SHA-256 of a token, hex: what the store keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Caches token look-ups: tokens are random and never change owner.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Arc<User>, Instant)>>,
}

const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);
const TOKEN_CACHE_MAX: usize = 100_000;

impl TokenCache {
    fn get(&self, hash: &str) -> Option<Arc<User>> {
        let entries = self
            .entries
            .lock()
            .expect("token cache lock is never poisoned");
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(u, _)| u.clone())
    }

    fn put(&self, hash: String, user: Arc<User>) {
        let mut entries = self
            .entries
            .lock()
            .expect("token cache lock is never poisoned");
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.clear();
        }
        entries.insert(hash, (user, Instant::now()));
    }

    /// Forgets every cached token of `user` (whose account just changed), so that this
    /// node's next request reads it again; other nodes see the change within the TTL.
    pub fn forget_user(&self, user: &store::UserId) {
        self.entries
            .lock()
            .expect("token cache lock is never poisoned")
            .retain(|_, (u, _)| &u.id != user);
    }
}

/// Who `token` acts as: the admin token (by its hash), a user's token (from `tokens`, or
/// read from the store and cached), or nobody (`None`).
pub async fn resolve(
    admin_token_hash: &str,
    tokens: &TokenCache,
    store: &Store,
    token: &str,
) -> Result<Option<Caller>, StoreError> {
    let hash = token_hash(token);
    if hash == admin_token_hash {
        return Ok(Some(Caller::Admin));
    }
    if let Some(user) = tokens.get(&hash) {
        return Ok(Some(Caller::User(user)));
    }
    let Some(user) = store.user_by_token(&hash).await? else {
        return Ok(None);
    };
    let user = Arc::new(user);
    tokens.put(hash, user.clone());
    Ok(Some(Caller::User(user)))
}
