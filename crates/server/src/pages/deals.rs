//! The marketplace in the pages: a brand's campaigns (on `/brand`), a campaign's page with
//! its ranked matches, why each, and the offers sent (`/brand/campaigns/{id}`), and a
//! creator's offers and recommended campaigns (on `/creator`). Every step is a form calling
//! the API under `/app/v1`, so the pages take no step the API does not.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use postings::{Offer, OfferStatus};
use store::{Campaign, User};

use super::layout::{amount, page, when};
use super::{PageError, Visitor};
use crate::error::ApiError;
use crate::extract::{Caller, plain_id};
use crate::routes::market::{brief_of, recommend};
use crate::state::AppState;

/// Rows of each table.
const ROWS: u32 = 50;
/// Matches shown on a campaign's page.
const MATCHES_SHOWN: usize = 25;

/// The status of an offer as people read it.
fn status_text(s: OfferStatus) -> &'static str {
    match s {
        OfferStatus::Offered => "Offered",
        OfferStatus::Accepted => "Accepted",
        OfferStatus::Declined => "Declined",
        OfferStatus::Expired => "Expired",
        OfferStatus::Cancelled => "Cancelled",
        OfferStatus::Delivered => "Delivered",
        OfferStatus::ChangesRequested => "Changes requested",
        OfferStatus::Approved => "Approved",
    }
}

/// A form that takes one step of an offer.
fn step_form(offer: &Offer, step: &str, label: &str) -> Markup {
    html! {
        form.inline data-api={"/app/v1/offers/" (offer.id) "/" (step)} data-method="POST" data-then="reload" {
            button type="submit" data-step=(step) { (label) }
        }
    }
}

/// `/brand`'s campaigns section.
pub(crate) async fn brand_campaigns(state: &AppState, brand: &User) -> Result<Markup, PageError> {
    let campaigns = state
        .store
        .campaigns(Some(brand.id.as_str()), None, "", ROWS)
        .await?;
    let now = store::now();
    Ok(html! {
        section.card aria-labelledby="campaigns-title" {
            h2 #campaigns-title { "Campaigns" }
            @if campaigns.data.is_empty() {
                p { "No campaign yet: post one with " code { "POST /v1/campaigns" } "; its page ranks the creators who fit it." }
            } @else {
                table #campaigns {
                    thead { tr {
                        th scope="col" { "Campaign" } th.num scope="col" { "Fee" }
                        th.num scope="col" { "Slots" } th scope="col" { "Deadline" } th scope="col" { "Status" }
                    } }
                    tbody {
                        @for c in &campaigns.data {
                            tr data-campaign=(c.id) {
                                th scope="row" { a href={"/brand/campaigns/" (c.id)} { (c.title) } }
                                td.num { (amount(c.fee)) }
                                td.num { (c.slots) }
                                td { (when(c.deadline)) }
                                td { (c.status_at(now)) }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /brand/campaigns/{id}` (the campaign's brand): the brief, the ranked matches with
/// why and an offer form each, and the offers sent with the brand's steps.
pub(crate) async fn campaign_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Some(session) = &visitor.0 else {
        return Err(PageError::SignIn {
            next: format!("/brand/campaigns/{}", super::urlencode(&id)),
        });
    };
    let campaign: Campaign = match plain_id(&id) {
        Some(id) => state.store.campaign(id).await?,
        None => None,
    }
    .ok_or(ApiError::NotFound("campaign"))?;
    match &session.caller {
        Caller::User(u) if u.id == campaign.brand_id => {}
        Caller::Admin => {}
        Caller::User(_) => {
            return Err(PageError::Forbidden(
                "A campaign's page is its brand's own.".into(),
            ));
        }
    }
    let found = state
        .matchmaker
        .top(&state.store, &brief_of(&campaign), MATCHES_SHOWN)
        .await?;
    let offers = state
        .store
        .offers(Some(campaign.id.as_str()), None, "", ROWS)
        .await?
        .data;
    let mut handles = BTreeMap::new();
    for o in &offers {
        if !handles.contains_key(&o.creator_id) {
            let handle = state.store.user(&o.creator_id).await?.map(|u| u.handle);
            handles.insert(o.creator_id.clone(), handle);
        }
    }
    let now = store::now();
    let open = campaign.status_at(now) == "open";
    let body = html! {
        h1 { (campaign.title) }
        section.card aria-labelledby="brief-title" {
            h2 #brief-title { "The brief" }
            p #brief { (campaign.brief) }
            p.muted {
                "Niches: " @if campaign.niches.is_empty() { "any" } @else { (campaign.niches.join(", ")) }
                ". Audience: " @if campaign.countries.is_empty() { "anywhere" } @else { (campaign.countries.join(", ")) }
                ". Fee " (amount(campaign.fee)) " per creator, " (campaign.slots) " slots, due " (when(campaign.deadline)) " (" (campaign.status_at(now)) ")."
            }
        }
        section.card aria-labelledby="matches-title" {
            h2 #matches-title { "Best matches" }
            p.muted { "Ranked by fit, quality judged among creators of the same size and reliability (2 : 2 : 1); every size of creator keeps its fair share of the top places." }
            @if found.is_empty() {
                p { "No creator matches yet: creators are matched once the platform has their metrics and they are open to deals." }
            } @else {
                table #matches {
                    thead { tr {
                        th scope="col" { "Creator" } th scope="col" { "Size" } th.num scope="col" { "Score" }
                        th scope="col" { "Why" } th scope="col" { "Offer" }
                    } }
                    tbody {
                        @for f in &found {
                            tr data-creator=(f.handle) {
                                th scope="row" { "@" (f.handle) }
                                td.tier { (f.matched.tier.as_str()) }
                                td.num.score { (f.matched.score) }
                                td.why { (f.matched.why) }
                                td {
                                    @if open {
                                        form.inline data-api={"/app/v1/campaigns/" (campaign.id) "/offers"} data-method="POST" data-then="reload" {
                                            input type="hidden" name="creator_id" value=(f.matched.creator_id);
                                            input type="hidden" name="fee.currency" value=(campaign.fee.currency().code());
                                            label { "Fee (minor units) "
                                                input type="number" name="fee.amount" min="1" value=(campaign.fee.amount()) required;
                                            }
                                            button type="submit" { "Send offer" }
                                        }
                                    } @else { "closed" }
                                }
                            }
                        }
                    }
                }
            }
            p.notice role="status" aria-live="polite" data-api-notice {}
        }
        section.card aria-labelledby="offers-title" {
            h2 #offers-title { "Offers" }
            @if offers.is_empty() {
                p { "No offer sent yet. An offer holds its fee from your wallet until it is approved (paid) or ends (given back)." }
            } @else {
                table #offers {
                    thead { tr {
                        th scope="col" { "Creator" } th.num scope="col" { "Fee" } th scope="col" { "Status" }
                        th scope="col" { "Delivery" } th scope="col" { "" }
                    } }
                    tbody {
                        @for o in &offers {
                            tr data-offer=(o.id) data-status=(o.status.as_str()) {
                                th scope="row" {
                                    @match handles.get(&o.creator_id).cloned().flatten() {
                                        Some(h) => { "@" (h) }
                                        None => { code { (o.creator_id) } }
                                    }
                                }
                                td.num { (amount(o.fee)) }
                                td.status { (status_text(o.status)) @if o.auto_approved { " (automatically)" } }
                                td { @if let Some(url) = &o.delivery_url { a href=(url) rel="noopener noreferrer nofollow" { "the work" } } @else { "—" } }
                                td {
                                    @match o.status {
                                        OfferStatus::Offered | OfferStatus::Accepted => { (step_form(o, "cancel", "Cancel")) }
                                        OfferStatus::Delivered => {
                                            (step_form(o, "approve", "Approve and pay"))
                                            form.inline data-api={"/app/v1/offers/" (o.id) "/request-changes"} data-method="POST" data-then="reload" {
                                                label { "Changes " input type="text" name="note" required maxlength="2000"; }
                                                button type="submit" { "Ask for changes" }
                                            }
                                        }
                                        _ => {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.notice role="status" aria-live="polite" data-api-notice {}
        }
    };
    Ok(page(&visitor, &campaign.title, &body).into_response())
}

/// `/creator`'s brand deals: the creator's offers with their steps, and open campaigns that
/// fit them.
pub(crate) async fn creator_deals(state: &AppState, creator: &User) -> Result<Markup, PageError> {
    let offers = state
        .store
        .offers(None, Some(creator.id.as_str()), "", ROWS)
        .await?
        .data;
    let recommended = recommend(state, creator, 10).await?;
    let mut titles = BTreeMap::new();
    for o in &offers {
        if !titles.contains_key(&o.campaign_id) {
            let title = state
                .store
                .campaign(o.campaign_id.as_str())
                .await?
                .map(|c| c.title);
            titles.insert(o.campaign_id.clone(), title);
        }
    }
    Ok(html! {
        section.card aria-labelledby="deals-title" {
            h2 #deals-title { "Brand deals" }
            @if offers.is_empty() {
                p { "No offer yet. Brands find you through your metrics and profile (" code { "PUT /v1/creators/" (creator.id) "/profile" } ")." }
            } @else {
                table #deals {
                    thead { tr {
                        th scope="col" { "Campaign" } th.num scope="col" { "Fee" } th scope="col" { "Status" } th scope="col" { "" }
                    } }
                    tbody {
                        @for o in &offers {
                            tr data-offer=(o.id) data-status=(o.status.as_str()) {
                                th scope="row" {
                                    @match titles.get(&o.campaign_id).cloned().flatten() {
                                        Some(t) => { (t) }
                                        None => { code { (o.campaign_id) } }
                                    }
                                }
                                td.num { (amount(o.fee)) }
                                td.status { (status_text(o.status)) }
                                td {
                                    @match o.status {
                                        OfferStatus::Offered => {
                                            (step_form(o, "accept", "Accept"))
                                            (step_form(o, "decline", "Decline"))
                                            " until " (when(o.expires_at))
                                        }
                                        OfferStatus::Accepted | OfferStatus::ChangesRequested => {
                                            @if let Some(note) = &o.note { p.muted { "Asked: " (note) } }
                                            form.inline data-api={"/app/v1/offers/" (o.id) "/deliver"} data-method="POST" data-then="reload" {
                                                label { "Link to the work " input type="url" name="url" required maxlength="2000"; }
                                                button type="submit" data-step="deliver" { "Deliver" }
                                            }
                                        }
                                        OfferStatus::Delivered => {
                                            @if let Some(by) = o.approve_by { "Approved by " (when(by)) " unless the brand answers" }
                                        }
                                        _ => {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.notice role="status" aria-live="polite" data-api-notice {}
            h3 { "Campaigns for you" }
            @if recommended.is_empty() {
                p.muted { "No open campaign right now." }
            } @else {
                ul #recommended {
                    @for (fit, c) in &recommended {
                        li data-campaign=(c.id) {
                            strong { (c.title) } " — " (amount(c.fee))
                            " per creator, due " (when(c.deadline)) ". Fit " (fit / 100) " %."
                            p.muted { (c.brief) }
                        }
                    }
                }
            }
        }
    })
}
