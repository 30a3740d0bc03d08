//! Extractors that speak the API's error format: JSON bodies, query strings, list
//! parameters, and the caller (from the bearer token or the page session; who a token is,
//! is `auth`'s).

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use crate::auth::SessionCaller;
pub use crate::auth::{Caller, token_hash};
use crate::error::{ApiError, invalid};
use crate::state::AppState;

/// Largest JSON body accepted.
pub const BODY_MAX_BYTES: usize = 64 * 1024;

/// A JSON body whose rejections are 422 `invalid_request` naming what is wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| body_rejected(&e))?;
        parse_json(&bytes).map(Json)
    }
}

/// Why a body could not be read, in the API's terms: 413 `payload_too_large` past
/// [`BODY_MAX_BYTES`], else 422 (axum's own rejection is plain text).
pub(crate) fn body_rejected(e: &axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        invalid(format!("cannot read body: {e}"))
    }
}

/// Parses a JSON body with the API's error messages.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > BODY_MAX_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let value = match typed(bytes) {
        Ok(value) => value,
        // JSON has one number type: `3.0` is the integer 3 to JSON Schema and to many
        // encoders. Read again with integral numbers written as integers (only on this path,
        // so that well-formed bodies are read once).
        Err(e) if e.to_string().contains("invalid type: floating point") => {
            let mut tree: serde_json::Value = serde_json::from_slice(bytes)
                .map_err(|e| invalid(format!("invalid JSON body: {e}")))?;
            integral_floats_as_integers(&mut tree);
            let text = serde_json::to_vec(&tree)
                .map_err(|e| invalid(format!("invalid JSON body: {e}")))?;
            typed(&text)?
        }
        Err(e) => return Err(e),
    };
    // JSON can carry NUL only as the escape `\u0000`: look closer only when it is there.
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        let tree: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("invalid JSON body: {e}")))?;
        if let Some(path) = nul_in(&tree, "") {
            return Err(invalid(format!(
                "{}: text must not contain the NUL character",
                if path.is_empty() { "." } else { &path }
            )));
        }
    }
    Ok(value)
}

/// `bytes` read as `T`, with errors that name the field.
fn typed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            invalid(format!("invalid JSON body: {}", e.inner()))
        } else {
            invalid(format!("{path}: {}", e.inner()))
        }
    })?;
    de.end()
        .map_err(|e| invalid(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// Rewrites every number of `value` that is a float with no fraction (`3.0`, `-26297.0`)
/// as that integer. Floats print as `<digits>.0` exactly when they are whole and below
/// 10^16, so every such one is an integer an `i64` holds exactly.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let text = n.to_string();
            if let Some(i) = text
                .strip_suffix(".0")
                .and_then(|whole| whole.parse::<i64>().ok())
            {
                *value = serde_json::Value::from(i);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(integral_floats_as_integers);
        }
        _ => {}
    }
}

/// Where a NUL character is in a JSON value (a key or a string), as `a.b[2]`.
fn nul_in(value: &serde_json::Value, at: &str) -> Option<String> {
    match value {
        serde_json::Value::String(s) => s.contains('\0').then(|| at.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in(v, &format!("{at}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let here = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(here)
            } else {
                nul_in(v, &here)
            }
        }),
        _ => None,
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A JSON text answered as it is (a stored answer, or one encoded once for the store).
pub fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// A JSON answer with a status other than 200.
pub fn created<T: Serialize>(body: T) -> Response {
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

fn bearer(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        return Some(token.trim().to_owned());
    }
    // Browsers cannot set headers on a WebSocket: `?token=` is accepted there, and only
    // there (a token in a URL ends up in proxies' logs).
    let is_events = parts
        .extensions
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|p| p.as_str() == WEBSOCKET_ROUTE);
    if !is_events {
        return None;
    }
    query_map(&parts.uri).ok()?.remove("token")
}

/// The one route that takes its token as `?token=`.
const WEBSOCKET_ROUTE: &str = "/v1/lives/{id}/events";

/// Where a client's address comes from: the configured proxy header (its first address),
/// else the connection's peer; `unknown` for a request that came through no socket.
pub(crate) fn client_address(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
) -> String {
    if let Some(name) = &state.config.client_ip_header
        && let Some(value) = headers.get(name.as_str())
        && let Ok(value) = value.to_str()
        && let Some(first) = value
            .split(',')
            .next()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    {
        return first.to_owned();
    }
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// Decodes a query string into pairs (later duplicates win). A NUL character (`%00`) in a
/// name or value is 422: no text the API stores or looks up may hold one.
pub fn query_map(uri: &axum::http::Uri) -> Result<HashMap<String, String>, ApiError> {
    let pairs = axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| invalid(format!("invalid query string: {e}")))?;
    if let Some((name, _)) = pairs
        .iter()
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(invalid(format!(
            "query parameter {name:?} must not contain the NUL character"
        )));
    }
    Ok(pairs)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(SessionCaller(caller)) = parts.extensions.get::<SessionCaller>() {
            return Ok(caller.clone());
        }
        let token = bearer(parts).ok_or(ApiError::Unauthenticated("missing bearer token"))?;
        if token.is_empty() {
            return Err(ApiError::Unauthenticated("missing bearer token"));
        }
        let address = client_address(state, &parts.headers, &parts.extensions);
        Caller::from_token_at(state, &token, &address)
            .await?
            .ok_or(ApiError::Unauthenticated(
                "unknown, expired or revoked token",
            ))
    }
}

impl Caller {
    /// Who `token`, presented from `address`, acts as: the admin token, a user's token, or
    /// nobody (`None`). A token that needs the store is looked up only while `address` is
    /// within its rate of unknown tokens (429 beyond); an unknown one counts against it.
    pub async fn from_token_at(
        state: &AppState,
        token: &str,
        address: &str,
    ) -> Result<Option<Caller>, ApiError> {
        if let Some(caller) =
            crate::auth::resolve_cached(&state.admin_token_hashes, &state.tokens, token)
        {
            return Ok(Some(caller));
        }
        state.limits.token_lookup(address)?;
        let caller = crate::auth::resolve(
            &state.admin_token_hashes,
            &state.tokens,
            &state.store,
            token,
        )
        .await?;
        if caller.is_none() {
            state.limits.token_unknown(address)?;
        }
        Ok(caller)
    }
}

/// An id from a path, a query or a body: printable ASCII, at most 100 bytes; anything else
/// names nothing (and never reaches the database).
pub fn plain_id(id: &str) -> Option<&str> {
    (!id.is_empty() && id.len() <= 100 && id.bytes().all(|b| b.is_ascii_graphic())).then_some(id)
}

/// Path parameters (axum's `Path`), each of which must be a [`plain_id`] first: a segment
/// that is not one (a NUL, a control character, non-ASCII, over 100 bytes) names nothing
/// and is 404 before anything reaches the database.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("resource"))?;
        if raw.iter().any(|(_, value)| plain_id(value).is_none()) {
            return Err(ApiError::NotFound("resource"));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|e| invalid(e.body_text()))
    }
}

/// Longest cursor accepted (the lists' own are far shorter).
const CURSOR_MAX_BYTES: usize = 200;

/// `?limit=&cursor=` of lists.
#[derive(Debug, Clone)]
pub struct ListParams {
    /// 1..=500, default 50.
    pub limit: u32,
    /// Where to start.
    pub cursor: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut params = ListParams {
            limit: 50,
            cursor: None,
        };
        for (k, v) in query_map(&parts.uri)? {
            match k.as_str() {
                "limit" => {
                    params.limit = v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=500).contains(n))
                        .ok_or_else(|| invalid("limit must be an integer from 1 to 500"))?;
                }
                "cursor" if !v.is_empty() => {
                    // Cursors are printable ASCII (ids, times, offsets): anything else is
                    // not one a list gave.
                    if v.len() > CURSOR_MAX_BYTES || !v.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(invalid("cursor is not one this list gave"));
                    }
                    params.cursor = Some(v);
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_percent_decoded() {
        let uri: axum::http::Uri = "/x?a=1%202&b=x+y&c".parse().expect("valid uri");
        let map = query_map(&uri).expect("decodes");
        assert_eq!(map.get("a").map(String::as_str), Some("1 2"));
        assert_eq!(map.get("b").map(String::as_str), Some("x y"));
        assert_eq!(map.get("c").map(String::as_str), Some(""));
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Counts {
        tier: i64,
        hearts: Option<u32>,
    }

    #[test]
    fn a_whole_number_written_as_a_float_is_an_integer_and_a_fraction_is_not() {
        let read = |body: &str| parse_json::<Counts>(body.as_bytes());
        for body in [
            r#"{"tier": 3, "hearts": 7}"#,
            r#"{"tier": 3.0, "hearts": 7.0}"#,
            r#"{"tier": 3e0, "hearts": 70e-1}"#,
        ] {
            assert_eq!(
                read(body).ok(),
                Some(Counts {
                    tier: 3,
                    hearts: Some(7)
                }),
                "{body}"
            );
        }
        for body in [
            r#"{"tier": 3.5}"#,
            r#"{"tier": 1e300}"#,
            r#"{"tier": 1, "hearts": -1.0}"#,
        ] {
            let err = read(body).expect_err(body);
            assert!(matches!(err, ApiError::Invalid(_)), "{body}: {err:?}");
        }
    }
}
