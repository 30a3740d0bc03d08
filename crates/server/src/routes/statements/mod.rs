//! Monthly statements: every transfer on a creator's accounts in a month, with what it
//! changed of each balance, from the accounts' ledger balances at the month's start — so a
//! statement reconciles to the ledger to the cent, in JSON or CSV, and costs the month's
//! transfers, not the creator's whole history.

mod types;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use money::{Currency, Money};
use postings::statement::{self, LineKind, Statement};
use time::OffsetDateTime;

use crate::dto::{MoneyBody, rfc3339};
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, Path, query_map};
use crate::state::AppState;

pub(crate) use self::types::{
    StatementBalances, StatementBody, StatementCurrency, StatementLine, StatementTotals,
};

/// `YYYY-MM` → its first instant and the next month's.
fn month_bounds(month: &str) -> Result<(OffsetDateTime, OffsetDateTime), ApiError> {
    let bad = || invalid("month must be YYYY-MM (e.g. 2026-11)");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    let first = time::Date::from_calendar_date(year, month, 1).map_err(|_| bad())?;
    let next = if month == time::Month::December {
        time::Date::from_calendar_date(year + 1, time::Month::January, 1)
    } else {
        time::Date::from_calendar_date(year, month.next(), 1)
    }
    .map_err(|_| bad())?;
    Ok((first.midnight().assume_utc(), next.midnight().assume_utc()))
}

fn balances(b: [i64; 3], c: Currency) -> StatementBalances {
    StatementBalances {
        pending: Money::new(b[0], c).into(),
        available: Money::new(b[1], c).into(),
        paid_out: Money::new(b[2], c).into(),
    }
}

/// A creator's statement for a month (that creator, or admin): JSON, or CSV with
/// `?format=csv` or `Accept: text/csv`.
#[utoipa::path(get, path = "/v1/creators/{id}/statements", tag = "earnings",
    params(("id" = String, Path), ("month" = String, Query, description = "YYYY-MM"),
        ("format" = Option<String>, Query, description = "json (default) or csv")),
    responses((status = 200, description = "the statement: JSON, or the same lines as CSV with `?format=csv` or `Accept: text/csv`",
            content((StatementBody = "application/json"), (String = "text/csv"))),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn statement(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = crate::routes::ops::creator_for(&state, &caller, id, "statements").await?;
    let query = query_map(&uri)?;
    let month = query
        .iter()
        .find(|(k, _)| k.as_str() == "month")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| invalid("month is required (YYYY-MM)"))?;
    let csv = match query
        .iter()
        .find(|(k, _)| k.as_str() == "format")
        .map(|(_, v)| v.as_str())
    {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(invalid("format must be json or csv")),
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    let (from, to) = month_bounds(&month)?;
    let body = build(&state, &id, &month, from, to).await?;
    if csv {
        let mut response = (StatusCode::OK, to_csv(&body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!(
            "attachment; filename=\"statement-{id}-{month}.csv\""
        )) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        return Ok(response);
    }
    Ok(crate::extract::Json(body).into_response())
}

async fn build(
    state: &AppState,
    creator: &store::UserId,
    month: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<StatementBody, ApiError> {
    let earnings = state.store.earnings(creator).await?;
    let mut currencies = Vec::new();
    for c in earnings.balances.iter().map(|b| b.currency) {
        // The balances at the month's start are summed by the database, so that a month
        // reads the month's transfers only (and the earlier payouts they settle, by id),
        // however long the creator's history.
        let accounts = statement::creator_accounts(creator, c);
        let opening = statement::opening(&state.store.ledger_balances_at(&accounts, from).await?);
        let transfers = state.store.account_transfers(&accounts, from, to).await?;
        let pendings = state
            .store
            .transfers_by_id(&statement::earlier_pendings(&transfers))
            .await?;
        let mut month = Statement::new(&accounts, opening, &pendings, &transfers);
        let purchases: BTreeMap<String, store::Purchase> = state
            .store
            .purchases(&month.badge_purchases())
            .await?
            .into_iter()
            .map(|p| (p.id.to_string(), p))
            .collect();
        let badge_purchase = |l: &statement::Line<'_>| {
            (l.kind == LineKind::Badge)
                .then(|| purchases.get(&l.transfer.reference))
                .flatten()
        };
        month.add_fees(
            month
                .lines
                .iter()
                .filter_map(badge_purchase)
                .collect::<Vec<_>>(),
        );
        let lines = month
            .lines
            .iter()
            .map(|l| {
                let purchase = badge_purchase(l);
                StatementLine {
                    at: rfc3339(l.at),
                    kind: l.kind.as_str().to_owned(),
                    source: l.source.map(|s| s.as_str().to_owned()),
                    reference: l.transfer.reference.clone(),
                    transfer_id: l.transfer.id.to_string(),
                    gross: purchase.map(|p| p.price.into()),
                    platform_fee: purchase.map(|p| p.platform_fee.into()),
                    processor_fee: purchase.map(|p| p.processor_fee.into()),
                    pending: Money::new(l.deltas[0], c).into(),
                    available: Money::new(l.deltas[1], c).into(),
                    paid_out: Money::new(l.deltas[2], c).into(),
                }
            })
            .collect();
        let t = month.totals;
        let m = |amount| MoneyBody::from(Money::new(amount, c));
        currencies.push(StatementCurrency {
            currency: c.code().to_owned(),
            opening: balances(month.opening, c),
            closing: balances(month.closing, c),
            totals: StatementTotals {
                badges: m(t.badges),
                matched: m(t.matched),
                refunds: m(t.refunds),
                chargebacks: m(t.chargebacks),
                released: m(t.released),
                paid_out: m(t.paid_out),
                platform_fees: m(t.platform_fees),
                processor_fees: m(t.processor_fees),
            },
            lines,
        });
    }
    Ok(StatementBody {
        creator_id: creator.to_string(),
        month: month.to_owned(),
        from: rfc3339(from),
        to: rfc3339(to),
        currencies,
    })
}

/// One row per line, and an opening and a closing row per currency; amounts in minor units.
fn to_csv(s: &StatementBody) -> String {
    let mut out = String::from(
        "date,currency,type,source,reference,transfer_id,gross,platform_fee,processor_fee,pending,available,paid_out\n",
    );
    let amount =
        |m: &Option<MoneyBody>| m.as_ref().map(|m| m.amount.to_string()).unwrap_or_default();
    for c in &s.currencies {
        let _ = writeln!(
            out,
            "{},{},opening,,,,,,,{},{},{}",
            s.from,
            c.currency,
            c.opening.pending.amount,
            c.opening.available.amount,
            c.opening.paid_out.amount
        );
        for l in &c.lines {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{}",
                l.at,
                c.currency,
                l.kind,
                l.source.as_deref().unwrap_or(""),
                l.reference,
                l.transfer_id,
                amount(&l.gross),
                amount(&l.platform_fee),
                amount(&l.processor_fee),
                l.pending.amount,
                l.available.amount,
                l.paid_out.amount
            );
        }
        let _ = writeln!(
            out,
            "{},{},closing,,,,,,,{},{},{}",
            s.to,
            c.currency,
            c.closing.pending.amount,
            c.closing.available.amount,
            c.closing.paid_out.amount
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_bounded_in_utc_and_bad_months_are_refused() {
        let (from, to) = month_bounds("2026-12").expect("valid");
        assert_eq!(rfc3339(from), "2026-12-01T00:00:00Z");
        assert_eq!(rfc3339(to), "2027-01-01T00:00:00Z");
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-00"] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
    }
}
