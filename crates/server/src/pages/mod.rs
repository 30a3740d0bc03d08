//! Ovation's own pages: the lives on now, a live's page (chat, badges, the goal), the
//! creator's dashboard, a creator's public shop, a brand's page and the operator's view,
//! with sign-in by session cookie.
//!
//! Pages are rendered on the server (maud) from the same store reads as the API. What a
//! page changes goes through the API itself: its script calls `/app/v1/…`, the API's routes
//! behind [`session_api`], which authenticates the session cookie, requires the session's
//! CSRF token on every request that changes anything, and hands the handlers the session's
//! [`Caller`] — so a page can do exactly what its user's token could, no more.

mod admin;
mod auth;
mod brand;
mod creator;
mod deals;
mod home;
mod layout;
mod live;
mod shop;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::{Caller, SessionCaller, token_hash};
use crate::state::AppState;

/// The session cookie: a random secret; the store keeps its SHA-256. `__Host-`: browsers
/// accept it only `Secure`, for the whole site and from this host itself, so a sibling
/// subdomain or a plain-http page cannot plant one.
pub(crate) const SESSION_COOKIE: &str = "__Host-ovation_session";
/// The sign-in form's CSRF cookie (double submit: no session exists yet), `__Host-` too.
pub(crate) const SIGNIN_COOKIE: &str = "__Host-ovation_signin";
/// The header the pages' script sends the session's CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The pages and their assets.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home::home))
        .route("/signin", get(auth::signin_form).post(auth::signin))
        .route("/signout", post(auth::signout))
        .route("/lives/{id}", get(live::live_page))
        .route("/creator", get(creator::dashboard))
        .route("/admin", get(admin::admin))
        .route("/shop/{handle}", get(shop::shop_page))
        .route("/brand", get(brand::brand_page))
        .route("/brand/campaigns/{id}", get(deals::campaign_page))
        .route("/assets/ovation.css", get(stylesheet))
        .route("/assets/ovation.js", get(script))
        .with_state(state)
}

const CSS: &str = include_str!("assets/ovation.css");
const JS: &str = include_str!("assets/ovation.js");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

/// A browser signed in: who it acts as, and the session's CSRF token.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// SHA-256 of the cookie.
    pub(crate) hash: String,
    /// The account, or the operator.
    pub(crate) caller: Caller,
    /// The token forms and scripts of this session carry.
    pub(crate) csrf: String,
}

/// The visitor of a page: signed in or not.
#[derive(Debug, Clone)]
pub(crate) struct Visitor(pub(crate) Option<SignedIn>);

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The session of the request's cookie, if it is one the store knows and has not expired.
async fn signed_in(headers: &HeaderMap, state: &AppState) -> Result<Option<SignedIn>, ApiError> {
    let Some(secret) = cookie_value(headers, SESSION_COOKIE).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let hash = token_hash(&secret);
    let Some((session, user)) = state.store.session(&hash).await? else {
        return Ok(None);
    };
    let caller = match user {
        Some(user) => Caller::User(std::sync::Arc::new(user)),
        // An operator's session ends when the admin token changes.
        None if session
            .admin_token_hash
            .as_deref()
            .is_some_and(|mark| state.operator_key.verifies(mark)) =>
        {
            Caller::Admin
        }
        None => return Ok(None),
    };
    Ok(Some(SignedIn {
        hash,
        caller,
        csrf: session.csrf,
    }))
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        Ok(Visitor(signed_in(&parts.headers, state).await?))
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    !a.is_empty() && Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// A cookie as the pages set it: `__Host-` named, so always `Secure` (browsers keep Secure
/// cookies over https, and from `http://localhost` and `http://127.0.0.1`, which they treat
/// as secure contexts: the pages need one of them), HttpOnly, SameSite=Lax, for the whole
/// site; `max_age` `None` removes it.
pub(crate) fn set_cookie(
    _state: &AppState,
    _headers: &HeaderMap,
    name: &'static str,
    value: String,
    max_age: Option<time::Duration>,
) -> HeaderValue {
    let mut cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(true);
    cookie = match max_age {
        Some(age) => cookie.max_age(age),
        None => cookie.max_age(time::Duration::ZERO),
    };
    HeaderValue::from_str(&cookie.build().encoded().to_string())
        .expect("a cookie of hex and fixed names is a valid header value")
}

/// A page's failure, shown as a page (or, for a visitor not signed in, the sign-in form).
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in: off to the sign-in form, then back to `next`.
    SignIn { next: String },
    /// Signed in as someone who may not see this.
    Forbidden(String),
    /// Nothing there.
    NotFound(&'static str),
    /// The API's own error (a store outage, say).
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError::Api(e)
    }
}

impl From<store::StoreError> for PageError {
    fn from(e: store::StoreError) -> PageError {
        PageError::Api(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::SignIn { next } => {
                let target = format!("/signin?next={}", urlencode(&next));
                return Redirect::to(&target).into_response();
            }
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not for you", why),
            PageError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("There is no such {what}."),
            ),
            PageError::Api(e) => {
                let (status, _) = e.status_and_code();
                if status.is_server_error() {
                    // Logged once, with its cause, as the API logs its own.
                    let _ = e.into_response();
                    (
                        status,
                        "Something went wrong",
                        "Ovation could not answer just now; please try again in a moment."
                            .to_owned(),
                    )
                } else {
                    (status, "That did not work", e.to_string())
                }
            }
        };
        let page = layout::page(&Visitor(None), title, &layout::error_body(title, &message));
        (status, page).into_response()
    }
}

/// `s` percent-encoded for a query string.
pub(crate) fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)])
        .map(|pair| pair.trim_start_matches("x=").to_owned())
        .unwrap_or_default()
}

/// Security headers on every page: scripts, styles and connections from this server only.
pub(crate) fn page_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Adds [`page_headers`] to every page response.
pub(crate) async fn with_page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        page_headers(&mut response);
    }
    response
}

/// In front of the API's routes under `/app`: the session cookie stands for the token. A
/// request without a valid session is 401; one that may change something (any method but
/// GET and HEAD) must carry the session's CSRF token in `X-CSRF-Token`, and a WebSocket must
/// come from a page of this server (its `Origin`), else 403.
pub(crate) async fn session_api(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let session = match signed_in(request.headers(), &state).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return ApiError::Unauthenticated("sign in first: no valid session cookie")
                .into_response();
        }
        Err(e) => return e.into_response(),
    };
    let method = request.method().clone();
    let headers = request.headers();
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        let sent = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same_secret(sent, &session.csrf) {
            return ApiError::Forbidden("missing or wrong X-CSRF-Token".into()).into_response();
        }
    }
    if headers.contains_key(header::UPGRADE) && !same_origin(headers) {
        return ApiError::Forbidden("a WebSocket must come from this server's pages".into())
            .into_response();
    }
    request
        .extensions_mut()
        .insert(SessionCaller(session.caller));
    next.run(request).await
}

/// Whether the request's `Origin` names the host it was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value_and_empty_never_matches() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn a_websocket_origin_must_name_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(!same_origin(&headers), "no origin");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&headers));
    }

    #[test]
    fn next_paths_are_percent_encoded() {
        assert_eq!(urlencode("/lives/a b?x=1&y"), "%2Flives%2Fa+b%3Fx%3D1%26y");
    }
}
