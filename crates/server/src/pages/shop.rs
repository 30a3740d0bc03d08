//! `/shop/{handle}`: a creator's public shop — the products they chose, in their order,
//! each with its price and the creator's tracked link (what `GET /v1/creators/{id}/shop`
//! answers). No sign-in.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout::{amount, page};
use super::{PageError, Visitor};
use crate::routes::shop::link_url;
use crate::state::AppState;

/// `GET /shop/{handle}`; a handle that is no creator's is the 404 page.
pub(crate) async fn shop_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(handle): Path<String>,
) -> Result<Response, PageError> {
    let Ok(handle) = live::Handle::parse(&handle) else {
        return Err(PageError::NotFound("shop"));
    };
    let creator = state
        .store
        .user_by_handle(&handle)
        .await?
        .filter(|u| u.kind == live::AccountKind::Creator)
        .ok_or(PageError::NotFound("shop"))?;
    let items = state.store.shop(&creator.id).await?;
    let title = format!("@{}'s shop", creator.handle);
    let body = html! {
        section.card.shop aria-labelledby="shop-title" {
            h1 #shop-title { (title) }
            p.muted {
                "What @" (creator.handle) " recommends. The links are theirs: when you buy, "
                "the brand pays them a commission, and you pay the same price."
            }
            @if items.is_empty() {
                p { "Nothing here yet." }
            } @else {
                ul.products {
                    @for (product, link) in &items {
                        li.product data-product=(product.id) {
                            h2 { (product.title) }
                            p.meta {
                                span.price { (amount(product.price)) }
                                " · "
                                span.category { (product.category) }
                            }
                            a.button.primary href=(link_url(&state, &link.code)) rel="sponsored" {
                                "View at the brand"
                                span.sr-only { ": " (product.title) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&visitor, &title, &body).into_response())
}
