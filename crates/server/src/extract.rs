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
            .map_err(|e| invalid(format!("cannot read body: {e}")))?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body with the API's error messages.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.len() > BODY_MAX_BYTES {
        return Err(invalid(format!(
            "body is larger than {BODY_MAX_BYTES} bytes"
        )));
    }
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
    // Browsers cannot set headers on a WebSocket: `?token=` is accepted too.
    query_map(&parts.uri).ok()?.remove("token")
}

/// Decodes a query string into pairs (later duplicates win).
pub fn query_map(uri: &axum::http::Uri) -> Result<HashMap<String, String>, ApiError> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| invalid(format!("invalid query string: {e}")))
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
        Caller::from_token(state, &token)
            .await?
            .ok_or(ApiError::Unauthenticated("unknown token"))
    }
}

impl Caller {
    /// Who `token` acts as: the admin token, a user's token, or nobody (`None`).
    pub async fn from_token(state: &AppState, token: &str) -> Result<Option<Caller>, ApiError> {
        Ok(
            crate::auth::resolve(&state.admin_token_hash, &state.tokens, &state.store, token)
                .await?,
        )
    }
}

/// An id from a path, a query or a body: printable ASCII, at most 100 bytes; anything else
/// names nothing (and never reaches the database).
pub fn plain_id(id: &str) -> Option<&str> {
    (!id.is_empty() && id.len() <= 100 && id.bytes().all(|b| b.is_ascii_graphic())).then_some(id)
}

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
                "cursor" if !v.is_empty() => params.cursor = Some(v),
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
}
