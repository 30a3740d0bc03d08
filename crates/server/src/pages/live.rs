//! `/lives/{id}`: the chat as it happens, the badge buttons at the viewer's local prices,
//! the creator's badge goal, and a message for every refusal.
//!
//! The page is rendered with the latest comments; its script then follows the live's
//! WebSocket (`/app/v1/lives/{id}/events`, the API's events) and posts comments and badge
//! purchases to the API through the session.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use store::{Comment, Live, LiveId};

use super::layout::{badge, page, when};
use super::{PageError, Visitor};
use crate::dto::rfc3339;
use crate::extract::Caller;
use crate::payments::SANDBOX_METHODS;
use crate::routes::wallet::wallet_spendable;
use crate::state::AppState;

/// Comments rendered with the page; later ones arrive over the WebSocket.
const COMMENTS_SHOWN: u32 = 100;

/// `GET /lives/{id}` (signed in).
pub(crate) async fn live_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    // An id that is no plain id names no live (and never reaches the database).
    if crate::extract::plain_id(&id).is_none() {
        return Err(PageError::NotFound("live"));
    }
    let Some(session) = &visitor.0 else {
        return Err(PageError::SignIn {
            next: format!("/lives/{id}"),
        });
    };
    let live = state
        .store
        .live(&LiveId::from_string(id))
        .await?
        .ok_or(PageError::NotFound("live"))?;
    let creator = state
        .store
        .user(&live.creator_id)
        .await?
        .map_or_else(|| "?".to_owned(), |u| u.handle);
    let comments = state
        .store
        .recent_comments(&live.id, COMMENTS_SHOWN)
        .await?;
    let hearts = state.hearts.get(&state.store, &live.id).await?;
    let support = support_panel(&state, &session.caller, &live, &creator).await?;
    // The operator's token acts as no account: it watches, it does not chat.
    let can_comment = live.active && matches!(session.caller, Caller::User(_));
    let body = html! {
        section.live data-live-id=(live.id) data-active=(live.active)
            data-last-comment=(comments.last().map_or("", |c| c.id.as_str())) {
            header.live-head {
                h1 { (live.title) }
                p.muted {
                    "@" (creator) " · "
                    @if live.active {
                        span.pill.on-air { "Live" } " since " time datetime=(rfc3339(live.started_at)) { (when(live.started_at)) }
                    } @else {
                        span.pill { "Ended" }
                    }
                }
                (goal(&live, hearts))
            }
            p #ended.notice role="status" hidden[live.active] { "This live has ended: the chat is closed and badges can no longer be bought." }
            div.live-grid {
                section.card.chat aria-labelledby="chat-title" {
                    h2 #chat-title { "Chat" }
                    ol #chat aria-live="polite" aria-relevant="additions" {
                        @for c in &comments { (comment(c)) }
                    }
                    form #comment-form.inline autocomplete="off" {
                        label for="comment-text" { "Comment" }
                        input #comment-text name="text" type="text" maxlength="300" required
                            placeholder="Say something nice" disabled[!can_comment];
                        button type="submit" disabled[!can_comment] { "Send" }
                    }
                    p #comment-notice.notice role="status" aria-live="polite" {}
                }
                (support)
            }
        }
    };
    Ok(page(&visitor, &live.title, &body).into_response())
}

fn goal(live: &Live, hearts: u64) -> Markup {
    let goal = live.goal_hearts.unwrap_or(0);
    html! {
        div #goal.goal data-goal=(goal) data-hearts=(hearts) hidden[live.goal_hearts.is_none()] {
            label for="goal-meter" { "Badge goal" }
            meter #goal-meter min="0" max=(goal.max(1)) value=(hearts.min(u64::from(goal))) {}
            span #goal-text { (hearts) " of " (goal) " hearts" }
        }
    }
}

/// A chat line: the author, their badge beside the name, the text. The script draws the
/// same markup for comments that arrive over the WebSocket.
fn comment(c: &Comment) -> Markup {
    html! {
        li.comment data-id=(c.id) {
            span.author { "@" (c.author_handle) }
            @if let Some(tier) = c.badge_tier { " " (badge(tier.hearts())) }
            " "
            span.text { (c.text) }
        }
    }
}

/// The badge buttons at the viewer's prices, or what the live's creator can do instead.
async fn support_panel(
    state: &AppState,
    caller: &Caller,
    live: &Live,
    creator: &str,
) -> Result<Markup, PageError> {
    let user = match caller {
        Caller::User(u) => u.clone(),
        Caller::Admin => {
            return Ok(html! {
                aside.card.support {
                    h2 { "Operator" }
                    p { "The operator watches; badges are bought by viewers." }
                }
            });
        }
    };
    if user.id == live.creator_id {
        return Ok(html! {
            aside.card.support {
                h2 { "Your live" }
                @if live.active {
                    form data-api={"/app/v1/lives/" (live.id) "/goal"} data-method="PUT" data-then="reload" {
                        label for="goal-hearts" { "Badge goal (hearts)" }
                        input #goal-hearts name="goal_hearts" type="number" min="1" max="1000000"
                            value=[live.goal_hearts];
                        button type="submit" { "Set goal" }
                    }
                    form data-api={"/app/v1/lives/" (live.id) "/end"} data-method="POST" data-then="reload" {
                        button.danger type="submit" { "End live" }
                    }
                } @else {
                    p { "This live has ended." }
                }
                p { a href="/creator" { "Your dashboard" } }
                p.notice role="status" aria-live="polite" data-api-notice {}
            }
        });
    }
    if user.kind == live::AccountKind::Brand {
        return Ok(html! {
            aside.card.support {
                h2 { "Support @" (creator) }
                p.notice { "Badges are bought by viewers and creators; a brand account watches." }
            }
        });
    }
    let Some(prices) = state.config.prices.for_country(user.country) else {
        return Ok(html! {
            aside.card.support {
                h2 { "Support @" (creator) }
                p #badge-notice.notice.error role="status" {
                    "Badges are not offered in your country (" (user.country) ") yet."
                }
            }
        });
    };
    let currency = prices.currency;
    let wallet = wallet_spendable(state, &user.id, currency).await?;
    let card_methods = state.payments.name() == "sandbox";
    Ok(html! {
        aside.card.support {
            h2 { "Support @" (creator) }
            p.muted { "Buy a badge: it shows beside your name in this live's chat." }
            label for="payment" { "Pay with" }
            select #payment name="payment_method" disabled[!live.active] {
                @if card_methods {
                    @for (method, label) in SANDBOX_METHODS {
                        option value=(method) { (label) }
                    }
                }
                option value="wallet" { "Wallet (" (wallet) ")" }
            }
            div.tiers role="group" aria-label="Badges" {
                @for t in live::Tier::ALL {
                    @let price = prices.tiers[usize::from(t.get() - 1)];
                    button.tier type="button" data-tier=(t.get()) disabled[!live.active]
                        aria-label={"Buy a " (t.hearts()) "-heart badge for " (price)} {
                        span.hearts aria-hidden="true" { @for _ in 0..t.hearts() { "♥" } }
                        span { (t.hearts()) @if t.hearts() == 1 { " heart" } @else { " hearts" } }
                        span.price { (price) }
                    }
                }
            }
            p #badge-notice.notice role="status" aria-live="polite" {}
        }
    })
}
