//! `/brand`: a brand's page — its wallet, its products, and what each creator brought it
//! (the figures of `GET /v1/brands/{id}/shop/stats`) with the commission paid in all.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use money::{Currency, Money};

use super::layout::{amount, page, rate};
use super::{PageError, Visitor};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

/// Products listed.
const PRODUCTS_SHOWN: u32 = 200;

/// `GET /brand` (a brand's session).
pub(crate) async fn brand_page(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let Some(session) = &visitor.0 else {
        return Err(PageError::SignIn {
            next: "/brand".into(),
        });
    };
    let brand = match &session.caller {
        Caller::User(u) if u.kind == live::AccountKind::Brand => u.clone(),
        Caller::User(_) => {
            return Err(PageError::Forbidden(
                "This page is for brands: it shows a brand's own sales and wallet.".into(),
            ));
        }
        Caller::Admin => {
            return Err(PageError::Forbidden(
                "This page is a brand's own; the operator's view is at /admin.".into(),
            ));
        }
    };
    let wallet = state.store.wallets(&brand.id).await?;
    let products = state
        .store
        .products(Some(brand.id.as_str()), None, "", PRODUCTS_SHOWN)
        .await?;
    let mut sales = state.store.brand_shop_stats(&brand.id).await?;
    // Who brought the most first.
    sales.sort_by_key(|s| std::cmp::Reverse((s.orders, s.clicks)));
    let handles = state.store.shop_creator_handles(&brand.id).await?;
    let paid = total(sales.iter().map(|s| &s.commission))?;
    let campaigns = super::deals::brand_campaigns(&state, &brand).await?;
    let body = html! {
        h1 { "@" (brand.handle) " — brand" }
        section.card aria-labelledby="wallet-title" {
            h2 #wallet-title { "Wallet" }
            @if wallet.is_empty() {
                p { "Nothing in the wallet yet: commissions are paid from it, so top it up ("
                    code { "POST /v1/wallet/topups" } ") in the currencies you sell in." }
            } @else {
                table #wallet {
                    thead { tr {
                        th scope="col" { "Currency" }
                        th.num scope="col" { "Balance" }
                        th.num scope="col" { "Held by offers" }
                    } }
                    tbody {
                        @for w in &wallet {
                            tr data-currency=(w.spendable.currency()) {
                                th scope="row" { (w.spendable.currency()) }
                                td.num.balance { (amount(w.spendable)) }
                                td.num.held { (amount(w.held)) }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="products-title" {
            h2 #products-title { "Products" }
            @if products.data.is_empty() {
                p { "No products yet: list one with " code { "POST /v1/products" } "." }
            } @else {
                table #products {
                    thead { tr {
                        th scope="col" { "Product" } th scope="col" { "Category" }
                        th.num scope="col" { "Price" } th.num scope="col" { "Commission" }
                        th.num scope="col" { "Return window" } th scope="col" { "Listed" }
                    } }
                    tbody {
                        @for p in &products.data {
                            tr data-product=(p.id) {
                                th scope="row" { (p.title) }
                                td { (p.category) }
                                td.num.price { (amount(p.price)) }
                                td.num.rate { (rate(p.commission_bps)) }
                                td.num { (p.return_window_days) " days" }
                                td.active { @if p.active { "Yes" } @else { "No" } }
                            }
                        }
                    }
                }
                @if products.next_cursor.is_some() {
                    p.muted { "The first " (PRODUCTS_SHOWN) " products; " code { "GET /v1/products?brand_id=" (brand.id) } " lists them all." }
                }
            }
        }
        (campaigns)
        section.card aria-labelledby="sales-title" {
            h2 #sales-title { "Sales by creator" }
            @if sales.is_empty() {
                p { "No creator has brought a click or an order yet." }
            } @else {
                table #sales {
                    thead { tr {
                        th scope="col" { "Creator" } th.num scope="col" { "Clicks" } th.num scope="col" { "Orders" }
                        th.num scope="col" { "Sales" } th.num scope="col" { "Commission" }
                    } }
                    tbody {
                        @for s in &sales {
                            @let handle = handles.get(&s.creator_id);
                            tr data-creator=(handle.map_or(s.creator_id.as_str(), String::as_str)) {
                                th scope="row" {
                                    @match handle {
                                        Some(h) => { a href={"/shop/" (h)} { "@" (h) } }
                                        None => { code { (s.creator_id) } }
                                    }
                                }
                                td.num.clicks { (s.clicks) }
                                td.num.orders { (s.orders) }
                                td.num.sales { (money_list(&s.sales)) }
                                td.num.commission { (money_list(&s.commission)) }
                            }
                        }
                    }
                }
            }
            p #commission-paid {
                "Commission paid to creators: "
                @if paid.is_empty() { "none yet" } @else { strong { (join(&paid)) } }
                "."
            }
            p.muted {
                "Sales and commission count returns: a return gives back its share of the commission "
                "to the wallet until the order locks."
            }
        }
    };
    Ok(page(&visitor, "Brand", &body).into_response())
}

/// Amounts per currency as a list of money.
fn money_list(map: &BTreeMap<Currency, i64>) -> String {
    let amounts: Vec<Money> = map.iter().map(|(c, a)| Money::new(*a, *c)).collect();
    if amounts.is_empty() {
        "—".to_owned()
    } else {
        join(&amounts)
    }
}

fn join(amounts: &[Money]) -> String {
    amounts
        .iter()
        .map(|m| amount(*m))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sum per currency of several maps of amounts, checked.
fn total<'a>(
    maps: impl Iterator<Item = &'a BTreeMap<Currency, i64>>,
) -> Result<Vec<Money>, PageError> {
    let mut sums: BTreeMap<Currency, Money> = BTreeMap::new();
    for (currency, amount) in maps.flatten() {
        let sum = sums.entry(*currency).or_insert(Money::zero(*currency));
        *sum = sum
            .checked_add(Money::new(*amount, *currency))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("commission paid: {e}")))?;
    }
    Ok(sums.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commission_is_totalled_per_currency() {
        let a = BTreeMap::from([(Currency::USD, 599), (Currency::JPY, 120)]);
        let b = BTreeMap::from([(Currency::USD, 1)]);
        let paid = total([&a, &b].into_iter()).expect("no overflow");
        assert_eq!(paid.len(), 2, "{paid:?}");
        assert!(paid.contains(&Money::new(600, Currency::USD)), "{paid:?}");
        assert!(paid.contains(&Money::new(120, Currency::JPY)), "{paid:?}");
    }

    #[test]
    fn an_overflowing_total_is_an_error_not_a_wrapped_number() {
        let a = BTreeMap::from([(Currency::USD, i64::MAX)]);
        let b = BTreeMap::from([(Currency::USD, 1)]);
        assert!(total([&a, &b].into_iter()).is_err());
    }
}
