//! Idempotency keys. A POST that creates or moves something may carry an
//! `Idempotency-Key` (1–255 visible ASCII characters): its answer is stored under the caller
//! and the key, with a fingerprint of the request, in the same ledger batch as what it did.
//! The same request again is answered the stored answer (`Idempotent-Replayed: true`);
//! another request with the same key is 409 `idempotency_key_reused`.
//!
//! [`Keyed`] is the extractor such handlers take instead of the raw body: it holds the body,
//! the key and the path, and runs the handler at most once per key ([`Keyed::once`]).

use std::convert::Infallible;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use store::IdempotencyRecord;

use crate::error::{ApiError, invalid};
use crate::extract::json_response;
use crate::state::AppState;

/// The request's idempotency: key, fingerprint and the account it is scoped to.
#[derive(Debug, Clone)]
pub(crate) struct Idempotency {
    scope: String,
    key: String,
    fingerprint: String,
}

impl Idempotency {
    /// The request's fingerprint.
    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The caller's `Idempotency-Key`.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// The record storing `body` answered with `status` under the key.
    pub(crate) fn record(&self, status: StatusCode, body: String) -> IdempotencyRecord {
        IdempotencyRecord {
            account_id: self.scope.clone(),
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            status: status.as_u16(),
            body,
        }
    }
}

/// Method, path and the body in canonical form (keys sorted, no spaces), hashed: two
/// requests with the same meaning have the same fingerprint.
pub(crate) fn fingerprint(path: &str, body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| body.to_vec());
    let mut hash = Sha256::new();
    hash.update(b"POST ");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(&canonical);
    hex::encode(hash.finalize())
}

/// The stored answer if the fingerprint matches, 409 otherwise.
pub(crate) fn replay(record: &IdempotencyRecord, fingerprint: &str) -> Response {
    if record.fingerprint != fingerprint {
        return ApiError::IdempotencyKeyReused.into_response();
    }
    let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
    let mut response = json_response(status, record.body.clone());
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// A POST's body with its `Idempotency-Key`. Extracting it never fails: a body that could
/// not be read and a malformed key are refused when the handler asks for them (after it
/// checked who is calling), with 422 `invalid_request` in the API's format.
#[derive(Debug)]
pub(crate) struct Keyed {
    key: Option<HeaderValue>,
    path: String,
    body: Result<Bytes, BytesRejection>,
}

impl<S: Send + Sync> FromRequest<S> for Keyed {
    type Rejection = Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Infallible> {
        let key = req.headers().get("idempotency-key").cloned();
        let path = req.uri().path().to_owned();
        let body = Bytes::from_request(req, state).await;
        Ok(Keyed { key, path, body })
    }
}

impl Keyed {
    /// The raw body, or 413 past the size limit, else 422.
    pub(crate) fn body(&self) -> Result<&Bytes, ApiError> {
        self.body.as_ref().map_err(crate::extract::body_rejected)
    }

    fn key(&self) -> Result<Option<String>, ApiError> {
        let Some(value) = &self.key else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .map_err(|_| invalid("Idempotency-Key must be visible ASCII"))?;
        if key.is_empty() || key.len() > 255 {
            return Err(invalid("Idempotency-Key must be 1–255 characters"));
        }
        Ok(Some(key.to_owned()))
    }

    fn idempotency(&self, scope: &str) -> Result<Option<Idempotency>, ApiError> {
        let body = self.body()?;
        Ok(self.key()?.map(|key| Idempotency {
            scope: scope.to_owned(),
            key,
            fingerprint: fingerprint(&self.path, body),
        }))
    }

    /// Runs `handle` at most once per key of `scope` (the caller): a stored answer is
    /// replayed, and concurrent requests with one key on this node wait for the first.
    pub(crate) async fn once<F, Fut>(
        &self,
        state: &AppState,
        scope: &str,
        handle: F,
    ) -> Result<Response, ApiError>
    where
        F: FnOnce(Option<Idempotency>) -> Fut,
        Fut: Future<Output = Result<Response, ApiError>>,
    {
        let Some(idem) = self.idempotency(scope)? else {
            return handle(None).await;
        };
        let _guard = state.key_locks.lock(scope, &idem.key).await;
        if let Some(record) = state.store.idempotency(scope, &idem.key).await? {
            return Ok(replay(&record, &idem.fingerprint));
        }
        handle(Some(idem)).await
    }

    /// Like [`Keyed::once`], for a request whose only effect is its ledger job (a wallet
    /// payment: no card to charge). The job carries the key, and the batch answers a key
    /// used before with its stored answer, so there is no read first and no per-node lock:
    /// the hot path of wallet purchases saves a database round trip. A request refused
    /// before its job (the live ended since, a cap reached) may be the retry of one that
    /// succeeded: its stored answer is looked up then, and replayed if there is one.
    pub(crate) async fn once_in_batch<F, Fut>(
        &self,
        state: &AppState,
        scope: &str,
        handle: F,
    ) -> Result<Response, ApiError>
    where
        F: FnOnce(Option<Idempotency>) -> Fut,
        Fut: Future<Output = Result<Response, ApiError>>,
    {
        let Some(idem) = self.idempotency(scope)? else {
            return handle(None).await;
        };
        let (key, fingerprint) = (idem.key.clone(), idem.fingerprint.clone());
        match handle(Some(idem)).await {
            Err(error) => match state.store.idempotency(scope, &key).await? {
                Some(record) => Ok(replay(&record, &fingerprint)),
                None => Err(error),
            },
            answered => answered,
        }
    }

    /// Like [`Keyed::once_in_batch`], for a card payment ([`crate::flows::checkout`]): no
    /// read first either — its ledger job claims the key, and its payment attempt, keyed by
    /// the caller's key, finds an earlier request's charge and answer — but the key's lock
    /// on this node is held while it runs, so that a retry sent while the first is still
    /// charging waits for it instead of asking the provider at the same moment.
    pub(crate) async fn once_charging<F, Fut>(
        &self,
        state: &AppState,
        scope: &str,
        handle: F,
    ) -> Result<Response, ApiError>
    where
        F: FnOnce(Option<Idempotency>) -> Fut,
        Fut: Future<Output = Result<Response, ApiError>>,
    {
        let _guard = match self.key() {
            Ok(Some(key)) => Some(state.key_locks.lock(scope, &key).await),
            // No key, or a malformed one that `once_in_batch` refuses.
            _ => None,
        };
        self.once_in_batch(state, scope, handle).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_ignores_key_order_and_spaces() {
        let a = fingerprint(
            "/v1/lives/l/badges",
            br#"{"tier": 2, "payment_method": "pm_card_visa"}"#,
        );
        let b = fingerprint(
            "/v1/lives/l/badges",
            br#"{"payment_method":"pm_card_visa","tier":2}"#,
        );
        let c = fingerprint(
            "/v1/lives/l/badges",
            br#"{"payment_method":"pm_card_visa","tier":3}"#,
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
