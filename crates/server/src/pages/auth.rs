//! Sign-in (a user token, or the admin token, exchanged for a session cookie) and sign-out.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use maud::{Markup, html};
use rand::RngExt;
use serde::Deserialize;

use super::layout::{csrf_field, page};
use super::{
    PageError, SESSION_COOKIE, SIGNIN_COOKIE, Visitor, cookie_value, same_secret, set_cookie,
};
use crate::error::ApiError;
use crate::extract::{Caller, client_address, query_map, token_hash};
use crate::state::AppState;

/// Random hex with a prefix that says what it is.
fn secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// Longest `next` kept.
const NEXT_MAX_BYTES: usize = 512;

/// `next` if it is a path of this site, as the browser will read it: never another site.
///
/// Browsers forgive a lot in a `Location`: they drop tabs and line breaks anywhere, read
/// `\` as `/`, and a server or proxy behind them may decode `%2F` or `%5C` once more. So
/// `next` must be printable ASCII (non-ASCII percent-encoded), hold no backslash, and no
/// decoding of it (repeated, for `%252F`) may give a control character, a backslash, or a
/// path that starts with `//`. What passes is parsed as the WHATWG URL standard does,
/// against this site, and must stay on it; the normalised path and query are returned, so
/// the header written is exactly what was checked.
pub(crate) fn local_path(next: Option<&str>) -> Option<String> {
    let next = next?;
    if next.len() > NEXT_MAX_BYTES
        || !next.starts_with('/')
        || !next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
    {
        return None;
    }
    let mut decoded = std::borrow::Cow::Borrowed(next);
    for _ in 0..4 {
        if decoded.starts_with("//") || decoded.bytes().any(|b| b.is_ascii_control() || b == b'\\')
        {
            return None;
        }
        let once = percent_encoding::percent_decode_str(&decoded)
            .decode_utf8_lossy()
            .into_owned();
        if once == decoded {
            break;
        }
        // The path alone may not start with `//` once decoded (`/%2F/evil.example`).
        decoded = std::borrow::Cow::Owned(once);
    }
    let base = url::Url::parse("https://ovation.invalid/").expect("a valid base URL");
    let url = base.join(next).ok()?;
    if url.origin() != base.origin() || url.path().starts_with("//") {
        return None;
    }
    Some(url[url::Position::BeforePath..url::Position::AfterQuery].to_owned())
}

/// The sign-in form's CSRF value: the cookie's, or a new one (with the cookie to set).
pub(crate) fn signin_csrf(
    state: &AppState,
    headers: &HeaderMap,
) -> (String, Option<axum::http::HeaderValue>) {
    match cookie_value(headers, SIGNIN_COOKIE).filter(|v| v.len() == 68) {
        Some(value) => (value, None),
        None => {
            let value = secret("csf_");
            let cookie = set_cookie(
                state,
                headers,
                SIGNIN_COOKIE,
                value.clone(),
                Some(time::Duration::hours(2)),
            );
            (value, Some(cookie))
        }
    }
}

fn signin_page(visitor: &Visitor, csrf: &str, next: Option<&str>, problem: Option<&str>) -> Markup {
    page(
        visitor,
        "Sign in",
        &html! {
            section.card.narrow {
                h1 { "Sign in" }
                p {
                    "Paste the token your platform issued for your account "
                    "(" code { "POST /v1/accounts/{id}/tokens" } "), or the operator's admin token."
                }
                @if let Some(problem) = problem {
                    p.notice.error role="alert" { (problem) }
                }
                form method="post" action="/signin" {
                    (csrf_field(csrf))
                    @if let Some(next) = next {
                        input type="hidden" name="next" value=(next);
                    }
                    label for="token" { "Token" }
                    input #token type="password" name="token" required autocomplete="off" spellcheck="false";
                    button.primary type="submit" { "Sign in" }
                }
            }
        },
    )
}

/// `GET /signin`.
pub(crate) async fn signin_form(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let next = local_path(query_map(&uri)?.get("next").map(String::as_str));
    let (csrf, cookie) = signin_csrf(&state, &headers);
    let mut response = signin_page(&visitor, &csrf, next.as_deref(), None).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// A form body (`application/x-www-form-urlencoded`), or 422 saying what is wrong.
fn parse_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, PageError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| crate::error::invalid(format!("invalid form: {e}")).into())
}

#[derive(Debug, Deserialize)]
struct SigninForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /signin`: checks the form's CSRF value against its cookie, then the token; a good
/// token starts a session (cookie `__Host-ovation_session`) and goes on to `next` or the visitor's
/// own page.
pub(crate) async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: SigninForm = parse_form(&body)?;
    let next = local_path(form.next.as_deref());
    let expected = cookie_value(&headers, SIGNIN_COOKIE).unwrap_or_default();
    let (csrf, cookie) = signin_csrf(&state, &headers);
    let refuse = |status: StatusCode, problem: &str| {
        let mut response = (
            status,
            signin_page(&Visitor(None), &csrf, next.as_deref(), Some(problem)),
        )
            .into_response();
        if let Some(cookie) = cookie.clone() {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    };
    if !same_secret(&form.csrf, &expected) {
        return Ok(refuse(
            StatusCode::FORBIDDEN,
            "This form expired or did not come from this site; please sign in again.",
        ));
    }
    let token = form.token.trim();
    let address = client_address(&state, &headers, &extensions);
    let caller = if token.is_empty() {
        None
    } else {
        match Caller::from_token_at(&state, token, &address).await {
            Ok(caller) => caller,
            Err(ApiError::RateLimited { retry_after_secs }) => {
                let mut response = refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many sign-in attempts from here; please wait a minute and try again.",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                return Ok(response);
            }
            Err(e) => return Err(e.into()),
        }
    };
    let Some(caller) = caller else {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "That token is not one Ovation knows. Check it and try again.",
        ));
    };
    // Decided before the session is written: nothing after the write can fail.
    let target = next.unwrap_or_else(|| {
        match &caller {
            Caller::Admin => "/admin",
            Caller::User(u) if u.kind == live::AccountKind::Creator => "/creator",
            Caller::User(u) if u.kind == live::AccountKind::Brand => "/brand",
            Caller::User(_) => "/",
        }
        .to_owned()
    });
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, &target)]).into_response();
    let session = secret("ovs_");
    let session_csrf = secret("csrf_");
    let ttl =
        time::Duration::try_from(state.config.session_ttl).unwrap_or(time::Duration::hours(12));
    // An operator's session keeps a salted mark of the admin token, not its hash.
    let (user_id, admin_token_hash) = match &caller {
        Caller::Admin => (None, Some(state.operator_key.mark())),
        Caller::User(u) => (Some(u.id.clone()), None),
    };
    // Signing in again replaces this browser's session: the old cookie is worthless
    // wherever a copy of it is.
    if let Some(old) = cookie_value(&headers, SESSION_COOKIE).filter(|s| !s.is_empty()) {
        state.store.delete_session(&token_hash(&old)).await?;
    }
    // Expired sessions are forgotten as new ones start: the table stays small.
    state.store.delete_expired_sessions().await?;
    state
        .store
        .create_session(
            &token_hash(&session),
            &store::Session {
                user_id,
                admin_token_hash,
                csrf: session_csrf,
                expires_at: store::now() + ttl,
            },
        )
        .await?;
    let headers_out = response.headers_mut();
    headers_out.append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SESSION_COOKIE, session, Some(ttl)),
    );
    headers_out.append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SIGNIN_COOKIE, String::new(), None),
    );
    Ok(response)
}

/// `POST /signout`: ends the session (in the store: the cookie is worthless afterwards,
/// wherever a copy of it is).
pub(crate) async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form: CsrfForm = parse_form(&body)?;
    if let Some(session) = &visitor.0 {
        if !same_secret(&form.csrf, &session.csrf) {
            return Err(PageError::Forbidden(
                "This sign-out form did not come from this site.".into(),
            ));
        }
        state.store.delete_session(&session.hash).await?;
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SESSION_COOKIE, String::new(), None),
    );
    Ok(response)
}
