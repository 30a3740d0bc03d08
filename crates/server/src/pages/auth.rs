//! Sign-in (a user token, or the admin token, exchanged for a session cookie) and sign-out.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use maud::{Markup, html};
use rand::RngExt;
use serde::Deserialize;

use super::layout::{csrf_field, page};
use super::{
    PageError, SESSION_COOKIE, SIGNIN_COOKIE, Visitor, cookie_value, same_secret, set_cookie,
};
use crate::extract::{Caller, query_map, token_hash};
use crate::state::AppState;

/// Random hex with a prefix that says what it is.
fn secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// `next` if it is a path of this site (never another site: `//host` or `/\host`).
pub(crate) fn local_path(next: Option<&str>) -> Option<String> {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\"))
        .filter(|n| n.len() <= 512)
        .map(str::to_owned)
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
/// token starts a session (cookie `ovation_session`) and goes on to `next` or the visitor's
/// own page.
pub(crate) async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
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
    let caller = if token.is_empty() {
        None
    } else {
        Caller::from_token(&state, token).await?
    };
    let Some(caller) = caller else {
        return Ok(refuse(
            StatusCode::UNAUTHORIZED,
            "That token is not one Ovation knows. Check it and try again.",
        ));
    };
    let session = secret("ovs_");
    let session_csrf = secret("csrf_");
    let ttl =
        time::Duration::try_from(state.config.session_ttl).unwrap_or(time::Duration::hours(12));
    let (user_id, admin_token_hash) = match &caller {
        Caller::Admin => (None, Some(state.admin_token_hash.clone())),
        Caller::User(u) => (Some(u.id.clone()), None),
    };
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
    let target = next.unwrap_or_else(|| {
        match &caller {
            Caller::Admin => "/admin",
            Caller::User(u) if u.kind == live::AccountKind::Creator => "/creator",
            Caller::User(u) if u.kind == live::AccountKind::Brand => "/brand",
            Caller::User(_) => "/",
        }
        .to_owned()
    });
    let mut response = Redirect::to(&target).into_response();
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
