//! `/creator`: a creator's dashboard — balances, income by source and over time,
//! supporters, lives, the shop's links and commission, payouts and statements.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use insights::DailySeries;
use maud::{Markup, PreEscaped, html};
use money::{Currency, Money};
use std::collections::{BTreeMap, BTreeSet};

use super::layout::{amount, badge, conversion, page, when};
use super::{PageError, Visitor};
use crate::extract::Caller;
use crate::state::AppState;

/// Days the earnings chart covers.
const CHART_DAYS: u16 = 30;
/// Days of supporters shown.
const SUPPORTER_DAYS: i64 = 90;
/// Rows of each table.
const ROWS: u32 = 50;

/// `GET /creator` (a creator's session).
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let Some(session) = &visitor.0 else {
        return Err(PageError::SignIn {
            next: "/creator".into(),
        });
    };
    let user = match &session.caller {
        Caller::User(u) if u.kind == live::AccountKind::Creator => u.clone(),
        Caller::User(_) => {
            return Err(PageError::Forbidden(
                "The dashboard is for creators: it shows a creator's own earnings.".into(),
            ));
        }
        Caller::Admin => {
            return Err(PageError::Forbidden(
                "The dashboard is a creator's own; the operator's view is at /admin.".into(),
            ));
        }
    };
    let now = store::now();
    let earnings = state.store.earnings(&user.id).await?;
    let since = now - time::Duration::days(SUPPORTER_DAYS);
    let supporters = state
        .store
        .creator_supporters(&user.id, since, ROWS)
        .await?;
    let lives = state.store.creator_lives(&user.id, ROWS).await?;
    let deals = super::deals::creator_deals(&state, &user).await?;
    let payouts = state.store.payouts_of(&user.id, None, ROWS).await?.data;
    let chart_since = now - time::Duration::days(i64::from(CHART_DAYS));
    let daily = state.store.daily_income(&user.id, chart_since).await?;
    let currencies: BTreeSet<Currency> = daily
        .iter()
        .map(|d| d.amount.currency())
        .chain(earnings.balances.iter().map(|b| b.currency))
        .collect();
    let mut charts = Vec::new();
    for currency in currencies {
        let series = DailySeries::new(
            currency,
            now.date(),
            CHART_DAYS,
            daily.iter().map(|d| (d.day, d.amount)),
        );
        // A chart that cannot be drawn is left out, not the whole dashboard.
        let svg = insights::line_chart_svg(&series, 640, 240)
            .inspect_err(|e| tracing::warn!(error = %e, "earnings chart not drawn"))
            .ok();
        charts.push((series, svg));
    }
    let links = state.store.creator_shop_stats(&user.id).await?;
    let titles = state.store.link_titles(&user.id).await?;
    let commission = state.store.creator_commission(&user.id, now).await?;
    let live_now = lives.iter().find(|l| l.live.active);
    let months = statement_months(now.date());
    let body = html! {
        h1 { "@" (user.handle) " — dashboard" }
        section.card {
            @match live_now {
                Some(l) => {
                    p { "You are live: " a href={"/lives/" (l.live.id)} { (l.live.title) } "." }
                }
                None => {
                    h2 { "Go live" }
                    form.inline data-api="/app/v1/lives" data-method="POST" data-then="/lives/{id}" {
                        label for="live-title" { "Title" }
                        input #live-title name="title" type="text" maxlength="200" required;
                        label for="live-goal" { "Badge goal (hearts, optional)" }
                        input #live-goal name="goal_hearts" type="number" min="1" max="1000000";
                        button.primary type="submit" { "Go live" }
                    }
                    p.notice role="status" aria-live="polite" data-api-notice {}
                }
            }
        }
        section.card aria-labelledby="balances-title" {
            h2 #balances-title { "Balances" }
            @if earnings.balances.is_empty() {
                p { "No earnings yet." }
            } @else {
                table #balances {
                    thead { tr { th scope="col" { "Currency" } th.num scope="col" { "Pending" } th.num scope="col" { "Available" } th.num scope="col" { "Paid out" } } }
                    tbody {
                        @for b in &earnings.balances {
                            tr data-currency=(b.currency) {
                                th scope="row" { (b.currency) }
                                td.num.pending { (amount(b.pending)) }
                                td.num.available { (amount(b.available)) }
                                td.num.paid-out { (amount(b.paid_out)) }
                            }
                        }
                    }
                }
                p.muted {
                    "Badge income is pending for " (state.config.hold_period.as_secs() / 86_400)
                    " days, shop commissions until their order's return window closes; then it is available, and payouts pay the available balance once it reaches the minimum."
                }
            }
        }
        section.card aria-labelledby="sources-title" {
            h2 #sources-title { "Earnings by source" }
            @if earnings.by_source.is_empty() {
                p { "Nothing earned yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Source" } th.num scope="col" { "Total" } } }
                    tbody {
                        @for s in &earnings.by_source {
                            tr { th scope="row" { (source_name(s.source)) } td.num { (amount(s.total)) } }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="chart-title" {
            h2 #chart-title { "Earnings over the last " (CHART_DAYS) " days" }
            @if charts.is_empty() {
                p { "No income in the last " (CHART_DAYS) " days." }
            }
            @for (series, svg) in &charts {
                figure.chart {
                    @if let Some(svg) = svg {
                        div.svg role="img" aria-label={"Income per day in " (series.currency()) ", last " (CHART_DAYS) " days"} {
                            (PreEscaped(svg))
                        }
                    }
                    figcaption {
                        "Income per day in " (series.currency()) ": " (amount(series.total()))
                        " in " (CHART_DAYS) " days, best day " (amount(series.best_day())) "."
                    }
                }
            }
        }
        section.card aria-labelledby="supporters-title" {
            h2 #supporters-title { "Supporters, last " (SUPPORTER_DAYS) " days" }
            @if supporters.is_empty() {
                p { "No supporters yet." }
            } @else {
                table #supporters {
                    thead { tr { th scope="col" { "Viewer" } th scope="col" { "Top badge" } th.num scope="col" { "Badges" } th.num scope="col" { "Spent" } } }
                    tbody {
                        @for s in &supporters {
                            tr {
                                th scope="row" { "@" (s.viewer_handle) }
                                td { (badge(s.top_tier.hearts())) }
                                td.num { (s.purchases) }
                                td.num { (money_list(&s.totals)) }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="lives-title" {
            h2 #lives-title { "Lives" }
            @if lives.is_empty() {
                p { "No lives yet." }
            } @else {
                table #lives {
                    thead { tr { th scope="col" { "Live" } th scope="col" { "Started" } th.num scope="col" { "Hearts" } th.num scope="col" { "Badges" } th.num scope="col" { "Earned" } } }
                    tbody {
                        @for l in &lives {
                            tr {
                                th scope="row" {
                                    a href={"/lives/" (l.live.id)} { (l.live.title) }
                                    @if l.live.active { " " span.pill.on-air { "Live" } }
                                }
                                td { (when(l.live.started_at)) }
                                td.num {
                                    (l.hearts)
                                    @if let Some(goal) = l.live.goal_hearts { " / " (goal) }
                                }
                                td.num { (l.purchases) }
                                td.num { (money_list(&l.earned)) }
                            }
                        }
                    }
                }
            }
        }
        (shop_section(&user, &links, &titles, &commission))
        (deals)
        section.card aria-labelledby="payouts-title" {
            h2 #payouts-title { "Payouts" }
            @if payouts.is_empty() {
                p { "No payouts yet: they start once an available balance reaches the minimum of "
                    (state.config.payout_minimum_major) " in its currency." }
            } @else {
                table #payouts {
                    thead { tr { th scope="col" { "Requested" } th.num scope="col" { "Amount" } th scope="col" { "Status" } } }
                    tbody {
                        @for p in &payouts {
                            tr {
                                td { (when(p.created_at)) }
                                td.num { (amount(p.amount)) }
                                td { (p.status.as_str()) @if let Some(f) = &p.failure { " (" (f) ")" } }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="statements-title" {
            h2 #statements-title { "Statements" }
            ul.statements {
                @for month in &months {
                    li {
                        (month) ": "
                        a href={"/app/v1/creators/" (user.id) "/statements?month=" (month) "&format=csv"} { "CSV" }
                        " · "
                        a href={"/app/v1/creators/" (user.id) "/statements?month=" (month)} { "JSON" }
                    }
                }
            }
        }
    };
    Ok(page(&visitor, "Dashboard", &body).into_response())
}

/// The creator's shop: each tracked link with what it brought, and the commission pending
/// (returns still possible) and locked, per currency.
fn shop_section(
    user: &store::User,
    links: &[store::LinkStat],
    titles: &BTreeMap<String, String>,
    commission: &[store::CommissionStatus],
) -> Markup {
    // The share columns only when the platform takes a fee (else they repeat the commission).
    let fee_taken = commission
        .iter()
        .any(|c| c.pending_share != c.pending || c.locked_share != c.locked);
    html! {
        section.card aria-labelledby="shop-title" {
            h2 #shop-title { "Shop" }
            p { "Your public shop: " a href={"/shop/" (user.handle)} { "/shop/" (user.handle) } "." }
            @if links.is_empty() {
                p { "No tracked links yet: put brands' products in your shop ("
                    code { "PUT /v1/creators/{id}/shop" } ") and each gets one." }
            } @else {
                table #shop-links {
                    thead { tr {
                        th scope="col" { "Product" } th scope="col" { "Link" }
                        th.num scope="col" { "Clicks" } th.num scope="col" { "Orders" }
                        th.num scope="col" { "Conversion" } th.num scope="col" { "Commission" }
                        th.num scope="col" { "Per click" }
                    } }
                    tbody {
                        @for l in links {
                            @let earned: Vec<Money> = l.commission.iter().map(|(c, a)| Money::new(*a, *c)).collect();
                            @let per_click: Vec<Money> = earned.iter().filter_map(|m| shop::per_click(*m, l.clicks)).collect();
                            tr data-code=(l.code) {
                                th scope="row" { (titles.get(&l.code).map_or(l.product_id.as_str(), String::as_str)) }
                                td { code { (l.code) } }
                                td.num.clicks { (l.clicks) }
                                td.num.orders { (l.orders) }
                                td.num.conversion { (conversion(l.orders, l.clicks)) }
                                td.num.commission { (money_list(&earned)) }
                                td.num.per-click { (money_list(&per_click)) }
                            }
                        }
                    }
                }
            }
            h3 { "Commission" }
            @if commission.is_empty() {
                p { "No commission yet." }
            } @else {
                table #shop-commission {
                    thead { tr {
                        th scope="col" { "Currency" }
                        th.num scope="col" { "Pending" } th.num scope="col" { "Locked" }
                        @if fee_taken {
                            th.num scope="col" { "Your share, pending" } th.num scope="col" { "Your share, locked" }
                        }
                    } }
                    tbody {
                        @for c in commission {
                            tr data-currency=(c.currency) {
                                th scope="row" { (c.currency) }
                                td.num.pending { (amount(c.pending)) " (" (orders(c.pending_orders)) ")" }
                                td.num.locked { (amount(c.locked)) " (" (orders(c.locked_orders)) ")" }
                                @if fee_taken {
                                    td.num.pending-share { (amount(c.pending_share)) }
                                    td.num.locked-share { (amount(c.locked_share)) }
                                }
                            }
                        }
                    }
                }
                p.muted {
                    "Orders by your links and your coupon codes. A commission is pending while the buyer may "
                    "still return the order (the product's return window), and shrinks with what is returned; "
                    "then it is locked, and your share is released to your available balance."
                }
            }
        }
    }
}

/// `1 order`, `3 orders`.
fn orders(n: i64) -> String {
    if n == 1 {
        "1 order".to_owned()
    } else {
        format!("{n} orders")
    }
}

fn money_list(amounts: &[money::Money]) -> String {
    if amounts.is_empty() {
        return "—".to_owned();
    }
    amounts
        .iter()
        .map(|m| amount(*m))
        .collect::<Vec<_>>()
        .join(", ")
}

fn source_name(source: store::IncomeSource) -> &'static str {
    match source {
        store::IncomeSource::Badges => "Live Badges",
        store::IncomeSource::Match => "Earnings match",
        store::IncomeSource::Commissions => "Shop commissions",
        store::IncomeSource::BrandDeals => "Brand deals",
    }
}

/// This month and the two before it, as `YYYY-MM`, newest first.
fn statement_months(today: time::Date) -> Vec<String> {
    let (mut year, mut month) = (today.year(), u8::from(today.month()));
    let mut months = Vec::with_capacity(3);
    for _ in 0..3 {
        months.push(format!("{year:04}-{month:02}"));
        if month == 1 {
            year -= 1;
            month = 12;
        } else {
            month -= 1;
        }
    }
    months
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn statements_cover_this_month_and_the_two_before_across_a_new_year() {
        assert_eq!(
            statement_months(date!(2027 - 02 - 14)),
            ["2027-02", "2027-01", "2026-12"]
        );
    }

    #[test]
    fn an_empty_list_of_amounts_reads_as_a_dash() {
        assert_eq!(money_list(&[]), "—");
    }
}
