//! The OpenAPI document served at `/openapi.json`: its paths come from the handlers'
//! `#[utoipa::path]` entries as [`crate::router`] registers them; then [`complete`] adds the
//! answers that every operation of a kind can give, whatever its handler does.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

/// The OpenAPI document, generated from the handlers and DTOs. Its paths are added by
/// [`router`], which registers every API route through utoipa-axum's `routes!` from the
/// handler's own `#[utoipa::path]`: a route cannot be served without being documented, nor
/// documented at a path or method other than the one it is served at.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Ovation", description = "Creator monetization engine: Live Badges, earnings and the ledger, the creator shop. \
The same API is served under /app/v1 to Ovation's own pages: authenticated by their session cookie instead of a token, \
with the session's CSRF token in X-CSRF-Token on every request but GET and HEAD."),
    modifiers(&BearerAuth),
    tags(
        (name = "health"), (name = "accounts"), (name = "badges"), (name = "lives"), (name = "earnings"), (name = "webhooks"), (name = "wallet"), (name = "match"), (name = "payouts"), (name = "payments"), (name = "shop"), (name = "market"), (name = "insights"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers the edge and the extractors give on any operation of a kind, documented on
/// each (an operation's own description of the same status is kept):
/// - every operation: 503 `unavailable` (shed past the concurrency limit, past the request
///   timeout, or the database unreachable);
/// - with a bearer token: 401 `unauthenticated` and 429 `rate_limited` (too many unknown
///   tokens from one address);
/// - with an id in the path: 404 `not_found` (also for a malformed id);
/// - with a query or a body: 422 `invalid_request`;
/// - with a body: 413 `payload_too_large`.
struct CommonErrors;

impl CommonErrors {
    fn add(operation: &mut Operation) {
        let params = operation.parameters.as_deref().unwrap_or_default();
        let in_path = params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
        let in_query = params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
        let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let mut common = vec![(
            "503",
            "unavailable: the server is overloaded, the request outlasted its time limit, or \
             the database is unreachable; see Retry-After",
        )];
        if authenticated {
            common.push((
                "401",
                "unauthenticated: no token, or one that is unknown, expired or revoked",
            ));
            common.push((
                "429",
                "rate_limited: too many unknown tokens from this address (or the route's own \
                 rate); see Retry-After",
            ));
        }
        if in_path {
            common.push(("404", "not_found: no such resource, or a malformed id"));
        }
        if in_query || operation.request_body.is_some() {
            common.push((
                "422",
                "invalid_request: a malformed body, query or header; the message names the field",
            ));
        }
        if operation.request_body.is_some() {
            common.push(("413", "payload_too_large: the body is larger than 64 KiB"));
        }
        for (status, description) in common {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::T(error_response(description)));
        }
        // OpenAPI requires a description on every response: where a handler gave none,
        // the status's reason phrase.
        for (status, response) in &mut operation.responses.responses {
            if let RefOr::T(response) = response
                && response.description.is_empty()
            {
                response.description = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("answer")
                    .to_owned();
            }
        }
    }
}

/// `doc`, with its paths, given the answers common to every operation of a kind.
pub(crate) fn complete(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    CommonErrors.modify(&mut doc);
    doc
}

/// A response with the API's error body.
fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                CommonErrors::add(operation);
            }
        }
    }
}
