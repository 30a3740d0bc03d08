//! The frame every page shares: header, navigation, sign-in state, and small pieces.

use maud::{DOCTYPE, Markup, html};
use money::{Bps, Money};
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
                                Caller::User(u) if u.kind == live::AccountKind::Brand => {
                                    a href="/brand" { "Brand" }
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

/// A rate as people read it: 1,000 bps is `10 %`, 1,250 `12.5 %`, 5 `0.05 %`.
pub(crate) fn rate(bps: Bps) -> String {
    let (whole, hundredths) = (bps.get() / 100, bps.get() % 100);
    match hundredths {
        0 => format!("{whole} %"),
        h if h % 10 == 0 => format!("{whole}.{} %", h / 10),
        h => format!("{whole}.{h:02} %"),
    }
}

/// Orders per click as a percentage to a tenth, rounded half up (`33.3 %`, `50 %`); `—`
/// without a click.
pub(crate) fn conversion(orders: i64, clicks: i64) -> String {
    if clicks <= 0 {
        return "—".to_owned();
    }
    let (orders, clicks) = (i128::from(orders.max(0)), i128::from(clicks));
    let tenths = (orders * 2_000 + clicks) / (2 * clicks);
    match tenths % 10 {
        0 => format!("{} %", tenths / 10),
        t => format!("{}.{t} %", tenths / 10),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_percentages_without_trailing_zeros() {
        let rate_of = |bps| rate(Bps::new(bps).expect("a rate"));
        assert_eq!(rate_of(1_000), "10 %");
        assert_eq!(rate_of(1_250), "12.5 %");
        assert_eq!(rate_of(5), "0.05 %");
        assert_eq!(rate_of(9_000), "90 %");
    }

    #[test]
    fn conversion_is_to_a_tenth_and_a_dash_without_clicks() {
        assert_eq!(conversion(1, 3), "33.3 %");
        assert_eq!(conversion(2, 3), "66.7 %");
        assert_eq!(conversion(1, 2), "50 %");
        assert_eq!(conversion(3, 2), "150 %");
        assert_eq!(conversion(0, 5), "0 %");
        assert_eq!(conversion(0, 0), "—");
    }
}
