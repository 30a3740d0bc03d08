//! Platform earnings-match programs (admin): the platform adds a share of its own money to
//! creators' income from badges, up to a cap per creator, from a budget that never goes
//! below zero. The match itself is decided inside each purchase's ledger batch.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use money::{Bps, Money};
use postings::rules::funding_job;
use postings::{MatchProgram, MatchProgramId, Outcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{MoneyBody, rfc3339, time_field};
use crate::error::{ApiError, invalid};
use crate::extract::{Caller, Json, Path, json_response, parse_json};
use crate::idempotency::{Idempotency, Keyed, replay};
use crate::state::AppState;

// ---- The JSON bodies of this section, with their OpenAPI schemas ----

/// `POST /v1/match-programs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MatchProgramRequest {
    /// For people.
    pub(crate) name: String,
    /// Match rate in basis points of the creator's share (10000 doubles it).
    pub(crate) rate_bps: u32,
    /// Most matched per creator, one per currency matched.
    pub(crate) caps: Vec<MoneyBody>,
    /// Creators' countries that are eligible (absent or empty: every country).
    #[serde(default)]
    pub(crate) countries: Vec<String>,
    /// RFC 3339, in the years 1–9999 once in UTC; absent: now.
    #[serde(default)]
    pub(crate) starts_at: Option<String>,
    /// RFC 3339, in the years 1–9999 once in UTC, after `starts_at`.
    pub(crate) ends_at: String,
    /// Money put in the budget now, per currency (more can be added later).
    #[serde(default)]
    pub(crate) budget: Vec<MoneyBody>,
}

/// A page of match programs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MatchProgramList {
    /// Oldest first.
    pub(crate) data: Vec<MatchProgramBody>,
    /// Always null: every program is on the one page.
    pub(crate) next_cursor: Option<String>,
}

/// `POST /v1/match-programs/{id}/budget`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FundRequest {
    /// Added to the budget of its currency.
    pub(crate) amount: MoneyBody,
}

/// A match program's budget in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BudgetBody {
    /// ISO 4217.
    pub(crate) currency: String,
    /// Put in so far: matched plus remaining.
    pub(crate) funded: MoneyBody,
    /// Matched so far, net of matches that refunds and chargebacks took back.
    pub(crate) matched: MoneyBody,
    /// What is left to match with.
    pub(crate) remaining: MoneyBody,
}

/// A match program.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MatchProgramBody {
    /// `mp_…`.
    pub(crate) id: String,
    /// For people.
    pub(crate) name: String,
    /// Basis points of the creator's share.
    pub(crate) rate_bps: u32,
    /// Per-creator caps.
    pub(crate) caps: Vec<MoneyBody>,
    /// Eligible creators' countries (empty: all).
    pub(crate) countries: Vec<String>,
    /// RFC 3339.
    pub(crate) starts_at: String,
    /// RFC 3339.
    pub(crate) ends_at: String,
    /// Budgets per currency.
    pub(crate) budgets: Vec<BudgetBody>,
    /// RFC 3339.
    pub(crate) created_at: String,
}

// ---- Handlers and their helpers ----

/// Largest budget added at once, in minor units.
pub(crate) const FUND_MAX: i64 = 1_000_000_000_000;

/// A program's budget in one currency: funded, matched so far, remaining.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) funded: Money,
    pub(crate) matched: Money,
    pub(crate) remaining: Money,
}

/// Each currency's budget of a program (those it has a cap in).
pub(crate) async fn program_budgets(
    state: &AppState,
    p: &MatchProgram,
) -> Result<Vec<Budget>, ApiError> {
    let mut budgets = Vec::new();
    for cap in &p.caps {
        let c = cap.currency();
        let remaining = state.store.budget_remaining(&p.id, c).await?.amount();
        let matched = state.store.matched_total(&p.id, c).await?;
        budgets.push(Budget {
            funded: Money::new(remaining + matched, c),
            matched: Money::new(matched, c),
            remaining: Money::new(remaining, c),
        });
    }
    Ok(budgets)
}

async fn program_body(state: &AppState, p: &MatchProgram) -> Result<MatchProgramBody, ApiError> {
    let budgets = program_budgets(state, p)
        .await?
        .into_iter()
        .map(|b| BudgetBody {
            currency: b.funded.currency().code().to_owned(),
            funded: b.funded.into(),
            matched: b.matched.into(),
            remaining: b.remaining.into(),
        })
        .collect();
    Ok(MatchProgramBody {
        id: p.id.to_string(),
        name: p.name.clone(),
        rate_bps: p.rate.get(),
        caps: p.caps.iter().map(|m| MoneyBody::from(*m)).collect(),
        countries: p.countries.iter().map(|c| c.as_str().to_owned()).collect(),
        starts_at: rfc3339(p.starts_at),
        ends_at: rfc3339(p.ends_at),
        budgets,
        created_at: rfc3339(p.created_at),
    })
}

/// Creates a match program, funding its budget (admin).
#[utoipa::path(post, path = "/v1/match-programs", tag = "match",
    request_body = MatchProgramRequest,
    responses((status = 201, body = MatchProgramBody), (status = 403, body = crate::error::ErrorBody),
        (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_program(
    State(state): State<AppState>,
    caller: Caller,
    body: Keyed,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let request: MatchProgramRequest = parse_json(body.body()?)?;
    let name = freetext::trimmed(&request.name, 100, freetext::Lines::One)
        .map_err(|e| invalid(format!("name must be 1–100 characters on one line: {e}")))?;
    if request.rate_bps == 0 {
        return Err(invalid("rate_bps must be 1..=10000"));
    }
    let rate = Bps::new(request.rate_bps).map_err(|_| invalid("rate_bps must be 1..=10000"))?;
    if request.caps.is_empty() {
        return Err(invalid("caps must name at least one currency"));
    }
    let mut caps: Vec<Money> = Vec::new();
    for (i, cap) in request.caps.iter().enumerate() {
        let cap = cap.to_money(&format!("caps[{i}]"), FUND_MAX)?;
        if caps.iter().any(|c| c.currency() == cap.currency()) {
            return Err(invalid(format!("caps[{i}]: one cap per currency")));
        }
        caps.push(cap);
    }
    let mut countries = Vec::new();
    for (i, c) in request.countries.iter().enumerate() {
        countries.push(
            live::CountryCode::parse(c).map_err(|e| invalid(format!("countries[{i}]: {e}")))?,
        );
    }
    let now = store::now();
    let starts_at = match &request.starts_at {
        Some(t) => time_field("starts_at", t)?,
        None => now,
    };
    let ends_at = time_field("ends_at", &request.ends_at)?;
    if ends_at <= starts_at {
        return Err(invalid("ends_at must be after starts_at"));
    }
    let mut budget = Vec::new();
    for (i, b) in request.budget.iter().enumerate() {
        let b = b.to_money(&format!("budget[{i}]"), FUND_MAX)?;
        if !caps.iter().any(|c| c.currency() == b.currency()) {
            return Err(invalid(format!(
                "budget[{i}]: {} has no cap, so it would never be matched",
                b.currency()
            )));
        }
        budget.push(b);
    }
    let program = MatchProgram {
        id: MatchProgramId::generate(),
        name: name.to_owned(),
        rate,
        caps,
        countries,
        starts_at,
        ends_at,
        created_at: now,
    };
    state.store.insert_match_program(&program).await?;
    for (i, amount) in budget.into_iter().enumerate() {
        let job = funding_job(&program.id, amount, &format!("initial-{i}"));
        state.store.writer().submit(job).await?;
    }
    state.programs.invalidate();
    let body = program_body(&state, &program).await?;
    Ok(json_response(
        StatusCode::CREATED,
        serde_json::to_string(&body).map_err(|e| ApiError::Internal(e.into()))?,
    ))
}

/// Every match program with what is left of its budgets (admin).
#[utoipa::path(get, path = "/v1/match-programs", tag = "match",
    responses((status = 200, body = MatchProgramList), (status = 403, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_programs(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<MatchProgramList>, ApiError> {
    caller.admin()?;
    let mut data = Vec::new();
    for p in state.store.match_programs().await? {
        data.push(program_body(&state, &p).await?);
    }
    Ok(Json(MatchProgramList {
        data,
        next_cursor: None,
    }))
}

/// Adds money to a program's budget (admin).
#[utoipa::path(post, path = "/v1/match-programs/{id}/budget", tag = "match",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "1–255 characters")),
    request_body = FundRequest,
    responses((status = 200, body = MatchProgramBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, description = "invalid_request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn fund_program(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    request: Keyed,
) -> Result<Response, ApiError> {
    caller.admin()?;
    let body = request.body()?;
    request
        .once(&state, caller.scope(), |idem| fund(&state, id, body, idem))
        .await
}

async fn fund(
    state: &AppState,
    id: String,
    body: &Bytes,
    idem: Option<Idempotency>,
) -> Result<Response, ApiError> {
    let request: FundRequest = parse_json(body)?;
    let programs = state.store.match_programs().await?;
    let program = programs
        .iter()
        .find(|p| p.id.as_str() == id)
        .ok_or(ApiError::NotFound("match program"))?;
    let amount = request.amount.to_money("amount", FUND_MAX)?;
    if !program
        .caps
        .iter()
        .any(|c| c.currency() == amount.currency())
    {
        return Err(invalid(format!(
            "amount.currency: the program has no cap in {}",
            amount.currency()
        )));
    }
    let key = uuid::Uuid::now_v7().simple().to_string();
    let mut job = funding_job(&program.id, amount, &key);
    // The answer is stored with the money: a retry with the key replays it.
    let mut answer = program_body(state, program).await?;
    for b in &mut answer.budgets {
        if b.currency == amount.currency().code() {
            b.funded.amount += amount.amount();
            b.remaining.amount += amount.amount();
        }
    }
    let answer = serde_json::to_string(&answer).map_err(|e| ApiError::Internal(e.into()))?;
    job.idempotency = idem
        .as_ref()
        .map(|i| i.record(StatusCode::OK, answer.clone()));
    match state.store.writer().submit(job).await? {
        Outcome::Applied => Ok(json_response(StatusCode::OK, answer)),
        Outcome::Duplicate(record) => Ok(replay(
            &record,
            idem.as_ref().map_or("", |i| i.fingerprint()),
        )),
        other => Err(ApiError::Internal(anyhow::anyhow!(
            "funding of {} refused: {other:?}",
            program.id
        ))),
    }
}
