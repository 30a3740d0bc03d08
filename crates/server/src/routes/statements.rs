//! Monthly statements: every transfer on a creator's accounts in a month, with what it
//! changed of each balance, between opening and closing balances computed from the same
//! ledger — so a statement reconciles to the ledger to the cent, in JSON or CSV.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use ledger::{AccountId, Code, Purpose, Transfer, TransferKind};
use money::{Currency, Money};
use time::OffsetDateTime;

use crate::dto::{
    MoneyBody, StatementBalances, StatementBody, StatementCurrency, StatementLine, StatementTotals,
    rfc3339,
};
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, query_map};
use crate::state::AppState;

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

/// What a line is, from its code and kind.
fn kind_of(t: &Transfer) -> (&'static str, Option<&'static str>) {
    match (t.code, &t.kind) {
        (Code::BADGE_SHARE, _) => ("badge", Some("badges")),
        (Code::MATCH, _) => ("match", Some("match")),
        (Code::BADGE_SHARE_REFUND, _) => ("refund", Some("badges")),
        (Code::MATCH_REFUND, _) => ("refund", Some("match")),
        (Code::BADGE_SHARE_CHARGEBACK, _) => ("chargeback", Some("badges")),
        (Code::MATCH_CHARGEBACK, _) => ("chargeback", Some("match")),
        (Code::HOLD_RELEASE, _) => ("release", None),
        (Code::PAYOUT, TransferKind::Pending) => ("payout", None),
        (Code::PAYOUT, TransferKind::PostPending(_)) => ("payout_paid", None),
        (Code::PAYOUT, TransferKind::VoidPending(_)) => ("payout_failed", None),
        _ => ("other", None),
    }
}

/// What `t` changes of (pending, available, paid out), as the earnings define them: posted
/// credits minus posted debits, and for available also minus pending debits (a payout
/// waiting for the provider is out of it).
fn deltas(t: &Transfer, accounts: &[AccountId; 3], pendings: &HashMap<String, i64>) -> [i64; 3] {
    let mut d = [0; 3];
    for (i, account) in accounts.iter().enumerate() {
        let counts_pending = i == 1;
        let pending_amount = || {
            t.kind
                .pending_id()
                .and_then(|p| pendings.get(p.as_str()))
                .copied()
                .unwrap_or(0)
        };
        match &t.kind {
            TransferKind::Posted => {
                if &t.credit == account {
                    d[i] += t.amount;
                }
                if &t.debit == account {
                    d[i] -= t.amount;
                }
            }
            TransferKind::Pending => {
                if &t.debit == account && counts_pending {
                    d[i] -= t.amount;
                }
            }
            TransferKind::PostPending(_) => {
                if &t.credit == account {
                    d[i] += t.amount;
                }
                if &t.debit == account {
                    d[i] -= t.amount;
                    if counts_pending {
                        d[i] += pending_amount();
                    }
                }
            }
            TransferKind::VoidPending(_) => {
                if &t.debit == account && counts_pending {
                    d[i] += pending_amount();
                }
            }
        }
    }
    d
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
    responses((status = 200, body = StatementBody),
        (status = 200, content_type = "text/csv", body = String, description = "the same lines as CSV"),
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
        let accounts = [
            AccountId::of(creator.as_str(), Purpose::CreatorPending, c),
            AccountId::of(creator.as_str(), Purpose::CreatorAvailable, c),
            AccountId::of(creator.as_str(), Purpose::CreatorPaidOut, c),
        ];
        let ids: Vec<String> = accounts.iter().map(ToString::to_string).collect();
        let transfers = state.store.account_transfers(&ids, to).await?;
        let mut pendings: HashMap<String, i64> = HashMap::new();
        let mut opening = [0_i64; 3];
        let mut month_lines = Vec::new();
        for (t, at) in &transfers {
            if t.kind == TransferKind::Pending {
                pendings.insert(t.id.to_string(), t.amount);
            }
            let d = deltas(t, &accounts, &pendings);
            if *at < from {
                for i in 0..3 {
                    opening[i] += d[i];
                }
            } else {
                month_lines.push((t, *at, d));
            }
        }
        let purchase_ids: Vec<String> = month_lines
            .iter()
            .filter(|(t, _, _)| t.code == Code::BADGE_SHARE)
            .map(|(t, _, _)| t.reference.clone())
            .collect();
        let purchases: BTreeMap<String, store::Purchase> = state
            .store
            .purchases(&purchase_ids)
            .await?
            .into_iter()
            .map(|p| (p.id.to_string(), p))
            .collect();
        let zero = || MoneyBody::from(Money::zero(c));
        let mut totals = StatementTotals {
            badges: zero(),
            matched: zero(),
            refunds: zero(),
            chargebacks: zero(),
            released: zero(),
            paid_out: zero(),
            platform_fees: zero(),
            processor_fees: zero(),
        };
        let mut closing = opening;
        let mut lines = Vec::with_capacity(month_lines.len());
        for (t, at, d) in month_lines {
            for i in 0..3 {
                closing[i] += d[i];
            }
            let (kind, source) = kind_of(t);
            let income = d[0] + d[1];
            match kind {
                "badge" => totals.badges.amount += income,
                "match" => totals.matched.amount += income,
                "refund" => totals.refunds.amount += income,
                "chargeback" => totals.chargebacks.amount += income,
                "release" => totals.released.amount += d[1],
                "payout_paid" => totals.paid_out.amount += d[2],
                _ => {}
            }
            let purchase = (kind == "badge")
                .then(|| purchases.get(&t.reference))
                .flatten();
            if let Some(p) = purchase {
                totals.platform_fees.amount += p.platform_fee.amount();
                totals.processor_fees.amount += p.processor_fee.amount();
            }
            lines.push(StatementLine {
                at: rfc3339(at),
                kind: kind.to_owned(),
                source: source.map(str::to_owned),
                reference: t.reference.clone(),
                transfer_id: t.id.to_string(),
                gross: purchase.map(|p| p.price.into()),
                platform_fee: purchase.map(|p| p.platform_fee.into()),
                processor_fee: purchase.map(|p| p.processor_fee.into()),
                pending: Money::new(d[0], c).into(),
                available: Money::new(d[1], c).into(),
                paid_out: Money::new(d[2], c).into(),
            });
        }
        currencies.push(StatementCurrency {
            currency: c.code().to_owned(),
            opening: balances(opening, c),
            closing: balances(closing, c),
            totals,
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
