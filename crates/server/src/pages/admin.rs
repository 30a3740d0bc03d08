//! `/admin`: the operator's view — ledger verification, totals by currency, how income is
//! spread across creators (Lorenz curve, Gini, top 1 %), match-program budgets, payouts, and
//! the release and payout runs.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use maud::{PreEscaped, html};
use money::Bps;

use super::layout::{amount, page, rate, when};
use super::{PageError, Visitor};
use crate::extract::{Caller, query_map};
use crate::routes::insights::{DAYS_DEFAULT, distributions, window_start};
use crate::routes::matching::program_budgets;
use crate::state::AppState;

/// Payouts listed.
const PAYOUTS_SHOWN: u32 = 50;

/// The Lorenz charts' width in pixels.
const LORENZ_SIZE: u32 = 360;

/// Basis points as a percentage (`26.66 %`).
fn share(bps: u32) -> String {
    Bps::new(bps).map_or_else(|_| "—".to_owned(), rate)
}

/// What an account purpose is, for the operator; and whether it is debit-normal (its
/// balance is debits minus credits).
fn purpose_name(purpose: &str) -> (&str, bool) {
    match purpose {
        "processor_clearing" => ("Received from the processor", true),
        "creator_pending" => ("Creators: pending", false),
        "creator_available" => ("Creators: available", false),
        "creator_paid_out" => ("Creators: paid out", false),
        "platform_fees" => ("Platform fees", false),
        "processor_fees" => ("Processor fees", false),
        "platform_funds" => ("Platform funds put in", true),
        "match_budget" => ("Match budgets", false),
        "wallet" => ("Viewer wallets", false),
        "platform_losses" => ("Platform losses", false),
        other => (other, false),
    }
}

/// `GET /admin` (the operator's session); `?verify=1` verifies the ledger first.
pub(crate) async fn admin(
    State(state): State<AppState>,
    visitor: Visitor,
    uri: Uri,
) -> Result<Response, PageError> {
    let Some(session) = &visitor.0 else {
        return Err(PageError::SignIn {
            next: "/admin".into(),
        });
    };
    if !matches!(session.caller, Caller::Admin) {
        return Err(PageError::Forbidden(
            "The operator's view needs the operator's session (sign in with the admin token)."
                .into(),
        ));
    }
    let verify = query_map(&uri)?.get("verify").is_some_and(|v| v == "1");
    let report = if verify {
        Some(state.store.verify_ledger().await?)
    } else {
        None
    };
    let totals = state.store.ledger_totals().await?;
    let mut programs = Vec::new();
    for p in state.store.match_programs().await? {
        let budgets = program_budgets(&state, &p).await?;
        programs.push((p, budgets));
    }
    let payouts = state.store.recent_payouts(PAYOUTS_SHOWN).await?;
    // Every currency with income in the window, from every source: the API's defaults.
    let income: Vec<_> = distributions(&state, window_start(DAYS_DEFAULT), None, None)
        .await?
        .into_iter()
        .filter(|d| d.creators() > 0)
        .map(|d| {
            let label = format!(
                "Lorenz curve of creators' income in {}, last {DAYS_DEFAULT} days",
                d.currency()
            );
            let svg = insights::lorenz_svg(&d.lorenz(), LORENZ_SIZE, &label);
            (d, svg)
        })
        .collect();
    let body = html! {
        h1 { "Operator" }
        section.card aria-labelledby="verify-title" {
            h2 #verify-title { "Ledger verification" }
            @match &report {
                None => {
                    p { "Recomputes every balance from the transfers and checks every rule (as "
                        code { "ovation ledger verify" } " does)." }
                    p { a.button href="/admin?verify=1" { "Verify the ledger now" } }
                }
                Some(r) => {
                    @if r.ok {
                        p #verify-result.notice.success role="status" {
                            "The ledger verifies: " (r.transfers) " transfers, " (r.accounts) " accounts, no problem."
                        }
                    } @else {
                        div #verify-result.notice.error role="alert" {
                            p { (r.problems.len()) " problems in " (r.transfers) " transfers and " (r.accounts) " accounts:" }
                            ul { @for problem in &r.problems { li { (problem) } } }
                        }
                    }
                    p { a href="/admin?verify=1" { "Verify again" } }
                }
            }
        }
        section.card aria-labelledby="totals-title" {
            h2 #totals-title { "Totals by currency" }
            @if totals.is_empty() {
                p { "No money has moved yet." }
            } @else {
                table #totals {
                    thead { tr {
                        th scope="col" { "Currency" } th scope="col" { "Accounts of" } th.num scope="col" { "Count" }
                        th.num scope="col" { "Balance" } th.num scope="col" { "Pending out" }
                    } }
                    tbody {
                        @for t in &totals {
                            @let (name, debit_normal) = purpose_name(&t.purpose);
                            @let balance = if debit_normal { t.net_posted.checked_neg().unwrap_or(t.net_posted) } else { t.net_posted };
                            tr {
                                th scope="row" { (t.currency) }
                                td { (name) }
                                td.num { (t.accounts) }
                                td.num { (amount(balance)) }
                                td.num { @if t.debits_pending.is_zero() { "—" } @else { (amount(t.debits_pending)) } }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="income-title" {
            h2 #income-title { "Income across creators, last " (DAYS_DEFAULT) " days" }
            p { "How the income creators earned (every source, net of refunds, chargebacks and returns) is spread among those who earned some, per currency: as "
                code { "GET /v1/insights/income" } " reports it. A Gini coefficient of 0 % means everyone earns the same." }
            @if income.is_empty() {
                p #income-none { "No creator has earned anything in the last " (DAYS_DEFAULT) " days." }
            } @else {
                table #income {
                    thead { tr {
                        th scope="col" { "Currency" } th.num scope="col" { "Creators" } th.num scope="col" { "Total" }
                        th.num scope="col" { "Median" } th.num scope="col" { "Gini" } th.num scope="col" { "Top 1 % share" }
                    } }
                    tbody {
                        @for (d, _) in &income {
                            tr {
                                th scope="row" { (d.currency()) }
                                td.num { (d.creators()) }
                                td.num { (amount(d.total())) }
                                td.num { (amount(d.median())) }
                                td.num.gini { (share(d.gini_bps())) }
                                td.num.top { (share(d.top_1_percent_share_bps())) }
                            }
                        }
                    }
                }
                table #income-tiers {
                    caption { "Share of income by tier (creators)" }
                    thead { tr {
                        th scope="col" { "Currency" }
                        @for t in market::Tier::ALL { th.num scope="col" { (t.as_str()) } }
                    } }
                    tbody {
                        @for (d, _) in &income {
                            tr {
                                th scope="row" { (d.currency()) }
                                @for t in d.by_tier() { td.num { (share(t.share_bps)) " (" (t.creators) ")" } }
                            }
                        }
                    }
                }
                div.lorenz-charts {
                    @for (d, svg) in &income {
                        figure.chart.lorenz id={"lorenz-" (d.currency())} {
                            div.svg { (PreEscaped(svg)) }
                            figcaption {
                                "Income in " (d.currency()) ": the dashed line is equal income; the further the curve sags below it, the more unequal. Gini "
                                (share(d.gini_bps())) ", top 1 % earn " (share(d.top_1_percent_share_bps())) "."
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="runs-title" {
            h2 #runs-title { "Holds and payouts" }
            p { "Income is released when its hold period ends (every "
                @match state.config.release_interval {
                    Some(every) => { (every.as_secs()) " s" }
                    None => { "time it is run: no schedule is set" }
                }
                "); a payout run pays every available balance of at least the minimum." }
            div.actions {
                form data-api="/app/v1/holds/release" data-method="POST" data-then="reload" {
                    button type="submit" { "Release due holds" }
                }
                form data-api="/app/v1/payouts/run" data-method="POST" data-then="reload" {
                    button.primary type="submit" { "Run payouts" }
                }
            }
            p.notice role="status" aria-live="polite" data-api-notice {}
        }
        section.card aria-labelledby="programs-title" {
            h2 #programs-title { "Match programs" }
            @if programs.is_empty() {
                p { "No match program. Create one with " code { "POST /v1/match-programs" } "." }
            } @else {
                table #programs {
                    thead { tr {
                        th scope="col" { "Program" } th scope="col" { "Rate" } th scope="col" { "Runs" }
                        th.num scope="col" { "Funded" } th.num scope="col" { "Matched" } th.num scope="col" { "Remaining" }
                    } }
                    tbody {
                        @for (p, budgets) in &programs {
                            @for (i, b) in budgets.iter().enumerate() {
                                tr {
                                    @if i == 0 {
                                        th scope="row" rowspan=(budgets.len()) { (p.name) }
                                        td rowspan=(budgets.len()) { (p.rate) }
                                        td rowspan=(budgets.len()) { (when(p.starts_at)) " – " (when(p.ends_at)) }
                                    }
                                    td.num { (amount(b.funded)) }
                                    td.num { (amount(b.matched)) }
                                    td.num { (amount(b.remaining)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card aria-labelledby="payouts-title" {
            h2 #payouts-title { "Latest payouts" }
            @if payouts.is_empty() {
                p { "No payouts yet." }
            } @else {
                table #payouts {
                    thead { tr { th scope="col" { "Requested" } th scope="col" { "Creator" } th.num scope="col" { "Amount" } th scope="col" { "Status" } } }
                    tbody {
                        @for p in &payouts {
                            tr {
                                td { (when(p.created_at)) }
                                td { code { (p.creator_id) } }
                                td.num { (amount(p.amount)) }
                                td { (p.status.as_str()) @if let Some(f) = &p.failure { " (" (f) ")" } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&visitor, "Operator", &body).into_response())
}
