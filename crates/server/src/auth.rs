//! Who is calling: the [`Caller`] a token acts as (the platform's admin token, or a user's
//! token looked up by its SHA-256 — unless expired or revoked — and cached for 30 s), and the caller a page session put
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

/// Caches token look-ups: tokens are random and never change owner. An entry lasts 30 s,
/// and never past its token's expiry; a token revoked on this node is forgotten at once
/// (another node's copy lasts its 30 s).
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug)]
struct Cached {
    user: Arc<User>,
    at: Instant,
    expires_at: Option<time::OffsetDateTime>,
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
            .filter(|c| c.at.elapsed() < TOKEN_CACHE_TTL)
            .filter(|c| c.expires_at.is_none_or(|at| at > store::now()))
            .map(|c| c.user.clone())
    }

    fn put(&self, hash: String, user: Arc<User>, expires_at: Option<time::OffsetDateTime>) {
        let mut entries = self
            .entries
            .lock()
            .expect("token cache lock is never poisoned");
        if entries.len() >= TOKEN_CACHE_MAX {
            entries.clear();
        }
        entries.insert(
            hash,
            Cached {
                user,
                at: Instant::now(),
                expires_at,
            },
        );
    }

    /// Forgets every cached token of `user` (whose account just changed), so that this
    /// node's next request reads it again; other nodes see the change within the TTL.
    pub fn forget_user(&self, user: &store::UserId) {
        self.entries
            .lock()
            .expect("token cache lock is never poisoned")
            .retain(|_, c| &c.user.id != user);
    }

    /// Forgets the token whose hash is `hash` (it was revoked).
    pub fn forget(&self, hash: &str) {
        self.entries
            .lock()
            .expect("token cache lock is never poisoned")
            .remove(hash);
    }
}

/// Who `token` acts as without asking the store: the admin token (by the hashes of the
/// current one and of one being rotated out), or a cached user token.
pub fn resolve_cached(
    admin_token_hashes: &[String],
    tokens: &TokenCache,
    token: &str,
) -> Option<Caller> {
    let hash = token_hash(token);
    if admin_token_hashes.contains(&hash) {
        return Some(Caller::Admin);
    }
    tokens.get(&hash).map(Caller::User)
}

/// Who `token` acts as: the admin token (by its hashes), a user's token that is neither
/// expired nor revoked (from `tokens`, or read from the store and cached), or nobody
/// (`None`).
pub async fn resolve(
    admin_token_hashes: &[String],
    tokens: &TokenCache,
    store: &Store,
    token: &str,
) -> Result<Option<Caller>, StoreError> {
    if let Some(caller) = resolve_cached(admin_token_hashes, tokens, token) {
        return Ok(Some(caller));
    }
    let hash = token_hash(token);
    let Some((user, expires_at)) = store.user_by_token(&hash, store::now()).await? else {
        return Ok(None);
    };
    let user = Arc::new(user);
    tokens.put(hash, user.clone(), expires_at);
    Ok(Some(Caller::User(user)))
}

type HmacSha256 = hmac::Hmac<Sha256>;

/// What an operator's session keeps of the admin token: not its hash (the same on every
/// row, and a plain SHA-256 of a secret a person may have chosen), but a random salt and
/// HMAC-SHA256 keyed by the admin token over it. Every node holds the admin token, so every
/// node can check a session another made, a restart keeps sessions, and changing the admin
/// token ends every operator session, as before.
#[derive(Debug)]
pub struct OperatorKey {
    key: secrecy::SecretSlice<u8>,
}

/// The version prefix of an operator session's mark.
const OPERATOR_MARK_V1: &str = "hmac1";

impl OperatorKey {
    /// The key of `admin_token`.
    pub fn new(admin_token: &str) -> OperatorKey {
        OperatorKey {
            key: secrecy::SecretSlice::from(admin_token.as_bytes().to_vec()),
        }
    }

    fn mac(&self, salt: &str) -> HmacSha256 {
        use hmac::{KeyInit, Mac};
        use secrecy::ExposeSecret;
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(b"ovation operator session\n");
        mac.update(salt.as_bytes());
        mac
    }

    /// A new mark for a session: `hmac1$<salt>$<hex mac>`.
    pub fn mark(&self) -> String {
        use hmac::Mac;
        use rand::RngExt;
        let salt: [u8; 16] = rand::rng().random();
        let salt = hex::encode(salt);
        let tag = hex::encode(self.mac(&salt).finalize().into_bytes());
        format!("{OPERATOR_MARK_V1}${salt}${tag}")
    }

    /// Whether `mark` was made with this admin token (in constant time).
    pub fn verifies(&self, mark: &str) -> bool {
        use hmac::Mac;
        let mut parts = mark.split('$');
        let (Some(OPERATOR_MARK_V1), Some(salt), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        self.mac(salt).verify_slice(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_mark_is_salted_and_verifies_only_with_its_admin_token() {
        let key = OperatorKey::new("admin-token-of-at-least-32-characters");
        let (a, b) = (key.mark(), key.mark());
        assert_ne!(a, b, "each session has its own salt");
        assert!(key.verifies(&a) && key.verifies(&b));
        assert!(!a.contains(&token_hash("admin-token-of-at-least-32-characters")));
        let other = OperatorKey::new("another-admin-token-of-32-characters!");
        assert!(!other.verifies(&a));
        assert!(!key.verifies("hmac1$00$00"));
        assert!(!key.verifies(&token_hash("admin-token-of-at-least-32-characters")));
    }
}
