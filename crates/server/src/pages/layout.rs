//! The frame every page shares: header, navigation, sign-in state, and small pieces.

use maud::{DOCTYPE, Markup, html};
use money::Money;
use time::OffsetDateTime;

use super::{SignedIn, Visitor};
use crate::extract::Caller;

/// A whole page: `title` in the tab and the header, `body` in `<main>`.
pub(crate) fn page(visitor: &Visitor, title: &str, body: &Markup) -> Markup {
    let session = visitor.0.as_ref();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = session {
                    meta name="csrf-token" content=(s.csrf);
                }
                title { (title) " · Ovation" }
                link rel="stylesheet" href="/assets/ovation.css";
                script src="/assets/ovation.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/" { span aria-hidden="true" { "♥" } " Ovation" }
                        a href="/" { "Lives" }
                        @if let Some(s) = session {
                            @match &s.caller {
                                Caller::Admin => { a href="/admin" { "Operator" } }
                                Caller::User(u) if u.kind == live::AccountKind::Creator => {
                                    a href="/creator" { "Dashboard" }
                                }
                                Caller::User(_) => {}
                            }
                        }
                    }
                    (account(session))
                }
                main #main { (body) }
                footer.bottom {
                    p {
                        "Ovation, an open-source creator monetization engine. "
                        a href="/docs" { "API" }
                    }
                }
            }
        }
    }
}

fn account(session: Option<&SignedIn>) -> Markup {
    html! {
        div.account {
            @match session {
                None => { a.button href="/signin" { "Sign in" } }
                Some(s) => {
                    span.who {
                        @match &s.caller {
                            Caller::Admin => { "Operator" }
                            Caller::User(u) => { "@" (u.handle) }
                        }
                    }
                    form method="post" action="/signout" {
                        (csrf_field(&s.csrf))
                        button.link type="submit" { "Sign out" }
                    }
                }
            }
        }
    }
}

/// The hidden field every form of a session carries.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// The body of an error page.
pub(crate) fn error_body(title: &str, message: &str) -> Markup {
    html! {
        section.card.error-page {
            h1 { (title) }
            p { (message) }
            p { a href="/" { "Back to the lives" } }
        }
    }
}

/// An amount as people read it: `1.99 USD`, `120 JPY`.
pub(crate) fn amount(m: Money) -> String {
    m.to_string()
}

/// A time as `2026-12-02 06:15 UTC`.
pub(crate) fn when(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A badge as the chat shows it beside a name: hearts, with words for screen readers.
pub(crate) fn badge(hearts: u8) -> Markup {
    let hearts = hearts.clamp(1, 3);
    html! {
        span.badge.{"badge-" (hearts)} data-hearts=(hearts) title={(hearts) "-heart badge"} {
            span aria-hidden="true" { @for _ in 0..hearts { "♥" } }
            span.sr-only { (hearts) "-heart badge" }
        }
    }
}
