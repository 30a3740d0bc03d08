//! `/`: the lives that are on now, and how to sign in (with the demo's accounts, and a
//! link to the demo creator's shop, in a demo).

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::auth::signin_csrf;
use super::layout::{csrf_field, page, when};
use super::{PageError, Visitor};
use crate::dto::rfc3339;
use crate::state::AppState;

/// Most lives listed.
const LIVES_SHOWN: u32 = 50;

/// `GET /`.
pub(crate) async fn home(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let lives = state.store.active_lives(LIVES_SHOWN).await?;
    let demo = state.demo.get();
    // The demo's one-click sign-in forms need the sign-in form's CSRF cookie.
    let (csrf, cookie) = match (&visitor.0, demo) {
        (None, Some(_)) => {
            let (csrf, cookie) = signin_csrf(&state, &headers);
            (Some(csrf), cookie)
        }
        _ => (None, None),
    };
    let body = html! {
        section.card {
            h1 { "Live now" }
            @if lives.is_empty() {
                p { "Nobody is live right now. A creator goes live from their dashboard, or a platform with "
                    code { "POST /v1/lives" } "." }
            } @else {
                ul.lives {
                    @for (live, creator) in &lives {
                        li {
                            a href={"/lives/" (live.id)} { (live.title) }
                            " "
                            span.muted {
                                "by @" (creator)
                                ", since " time datetime=(rfc3339(live.started_at)) { (when(live.started_at)) }
                            }
                            @if let Some(goal) = live.goal_hearts {
                                " " span.pill { "goal " (goal) " ♥" }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(demo) = demo {
            section.card {
                h2 { "Shops" }
                p {
                    "A creator's shop is public: "
                    a #demo-shop href={"/shop/" (demo.creator_handle)} { "@" (demo.creator_handle) "'s shop" }
                    " shows the products of @" (demo.brand_handle) " with the creator's tracked links. "
                    "The brand sees what each creator sold on its page, "
                    a href="/brand" { "/brand" } " (signed in as the brand)."
                }
            }
        }
        @if visitor.0.is_none() {
            section.card {
                h2 { "Sign in" }
                p {
                    "Ovation runs beside a platform's app: the platform creates your account and gives you a token "
                    "(" code { "POST /v1/accounts/{id}/tokens" } "). "
                    a href="/signin" { "Sign in with it" } " to watch a live, buy badges and comment; "
                    "a creator sees their dashboard, a brand its page; the operator signs in with the admin token."
                }
                @if let (Some(demo), Some(csrf)) = (demo, &csrf) {
                    h3 { "Demo accounts" }
                    p { "This server runs the demo: sign in as one of its accounts in one click." }
                    div.demo {
                        @for (handle, _, token) in &demo.viewers {
                            (demo_signin(csrf, token, &format!("Viewer @{handle}"), &format!("/lives/{}", demo.live_id)))
                        }
                        (demo_signin(csrf, &demo.creator.1, &format!("Creator @{}", demo.creator_handle), "/creator"))
                        (demo_signin(csrf, &demo.brand.1, &format!("Brand @{}", demo.brand_handle), "/brand"))
                        @if let Some(admin_token) = &demo.admin_token {
                            (demo_signin(csrf, admin_token, "Operator", "/admin"))
                        }
                    }
                }
            }
        }
    };
    let mut response = page(&visitor, "Live now", &body).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

fn demo_signin(csrf: &str, token: &str, label: &str, next: &str) -> Markup {
    html! {
        form method="post" action="/signin" {
            (csrf_field(csrf))
            input type="hidden" name="token" value=(token);
            input type="hidden" name="next" value=(next);
            button type="submit" { "Sign in as " (label) }
        }
    }
}
