//! The OpenAPI document served at `/openapi.json`: its paths come from the handlers'
//! `#[utoipa::path]` entries as [`crate::router`] registers them; then [`complete`] adds the
//! answers that every operation of a kind can give, whatever its handler does.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ArrayItems, KnownFormat, SchemaFormat};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, Schema};

/// The OpenAPI document, generated from the handlers and DTOs. Its paths are added by
/// [`router`], which registers every API route through utoipa-axum's `routes!` from the
/// handler's own `#[utoipa::path]`: a route cannot be served without being documented, nor
/// documented at a path or method other than the one it is served at.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Ovation", description = "Creator monetization engine: Live Badges, earnings and the ledger, the creator shop. \
The same API is served under /app/v1 to Ovation's own pages: authenticated by their session cookie instead of a token, \
with the session's CSRF token in X-CSRF-Token on every request but GET and HEAD."),
    modifiers(&BearerAuth),
    tags(
        (name = "health"), (name = "accounts"), (name = "badges"), (name = "lives"), (name = "earnings"), (name = "webhooks"), (name = "wallet"), (name = "match"), (name = "payouts"), (name = "payments"), (name = "shop"), (name = "market"), (name = "insights"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answers the edge and the extractors give on any operation of a kind, documented on
/// each (an operation's own description of the same status is kept):
/// - every operation: 503 `unavailable` (shed past the concurrency limit, past the request
///   timeout, or the database unreachable);
/// - with a bearer token: 401 `unauthenticated` and 429 `rate_limited` (too many unknown
///   tokens from one address);
/// - with an id in the path: 404 `not_found` (also for a malformed id);
/// - with a query or a body: 422 `invalid_request`;
/// - with a body: 413 `payload_too_large`.
struct CommonErrors;

impl CommonErrors {
    fn add(operation: &mut Operation) {
        let params = operation.parameters.as_deref().unwrap_or_default();
        let in_path = params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
        let in_query = params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query));
        let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let mut common = vec![(
            "503",
            "unavailable: the server is overloaded, the request outlasted its time limit, or \
             the database is unreachable; see Retry-After",
        )];
        if authenticated {
            common.push((
                "401",
                "unauthenticated: no token, or one that is unknown, expired or revoked",
            ));
            common.push((
                "429",
                "rate_limited: too many unknown tokens from this address (or the route's own \
                 rate); see Retry-After",
            ));
        }
        if in_path {
            common.push(("404", "not_found: no such resource, or a malformed id"));
        }
        if in_query || operation.request_body.is_some() {
            common.push((
                "422",
                "invalid_request: a malformed body, query or header; the message names the field",
            ));
        }
        if operation.request_body.is_some() {
            common.push(("413", "payload_too_large: the body is larger than 64 KiB"));
        }
        for (status, description) in common {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::T(error_response(description)));
        }
        // OpenAPI requires a description on every response: where a handler gave none,
        // the status's reason phrase.
        for (status, response) in &mut operation.responses.responses {
            if let RefOr::T(response) = response
                && response.description.is_empty()
            {
                response.description = status
                    .parse::<u16>()
                    .ok()
                    .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("answer")
                    .to_owned();
            }
        }
    }
}

/// `doc`, with its paths, given the answers common to every operation of a kind and the
/// input rules of [`InputRules`] (the payment methods those of `payments`).
pub(crate) fn complete(
    mut doc: utoipa::openapi::OpenApi,
    payments: &crate::settings::PaymentsConfig,
) -> utoipa::openapi::OpenApi {
    CommonErrors.modify(&mut doc);
    InputRules {
        sandbox: matches!(payments, crate::settings::PaymentsConfig::Sandbox),
    }
    .modify(&mut doc);
    doc
}

/// No NUL in a string: the server refuses it anywhere in a body, a query or a path.
const NO_NUL: &str = "^[^\\u0000]*$";

/// The name of the schema of any JSON without NUL in its strings or keys: what a request
/// body may carry besides the fields the server reads (it ignores them).
const JSON_WITHOUT_NUL: &str = "JsonWithoutNul";

/// A rule the server enforces on an input, as JSON Schema says it.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// A string matching this (ECMA-262) pattern.
    Pattern(&'static str),
    /// A string of this many characters.
    Length(usize, usize),
    /// An integer in this range.
    Range(i64, i64),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// An officially assigned ISO 3166-1 alpha-2 code.
    Country,
    /// An array of at most this many items.
    MaxItems(usize),
    /// An array whose every item follows these rules.
    Each(&'static [Rule]),
    /// A `YYYY-MM-DD` date not in the future: a date, and a pattern admitting the days 1–28
    /// of the years from 1900 to last year (stricter than the server, which takes any past
    /// date: JSON Schema cannot say "not after today").
    PastDate,
}

/// The rules of the request bodies' fields, by schema and property: what the handlers check,
/// so that a schema-driven client generates requests the server takes.
const BODY_RULES: &[(&str, &str, &[Rule])] = &[
    (
        "CreateAccount",
        "handle",
        &[Rule::Pattern("^[a-z0-9_.]{1,30}$"), Rule::Length(1, 30)],
    ),
    (
        "CreateAccount",
        "kind",
        &[Rule::OneOf(&["creator", "viewer", "brand"])],
    ),
    ("CreateAccount", "country", &[Rule::Country]),
    ("CreateAccount", "birth_date", &[Rule::PastDate]),
    ("CreateAccount", "followers", &[Rule::Range(0, i64::MAX)]),
    ("CreateLive", "title", &one_line(200)),
    ("CreateLive", "goal_hearts", &[Rule::Range(1, 1_000_000)]),
    ("SetGoal", "goal_hearts", &[Rule::Range(1, 1_000_000)]),
    ("CreateComment", "text", &many_lines(300)),
    ("BuyBadge", "tier", &[Rule::Range(1, 3)]),
    ("ProductRequest", "title", &one_line(200)),
    ("ProductRequest", "category", &one_line(50)),
    (
        "ProductRequest",
        "url",
        &[Rule::Pattern(WEB_ADDRESS), Rule::Length(8, 2_048)],
    ),
    ("ProductRequest", "commission_bps", &[Rule::Range(1, 9_000)]),
    (
        "ProductRequest",
        "return_window_days",
        &[Rule::Range(0, 365)],
    ),
    ("ProductPatch", "commission_bps", &[Rule::Range(1, 9_000)]),
    (
        "CouponRequest",
        "code",
        &[Rule::Pattern("^[A-Z0-9]{4,20}$"), Rule::Length(4, 20)],
    ),
    ("CampaignRequest", "title", &one_line(200)),
    ("CampaignRequest", "brief", &many_lines(5_000)),
    ("CampaignRequest", "slots", &[Rule::Range(1, 1_000)]),
    ("CampaignRequest", "niches", NICHES),
    (
        "CampaignRequest",
        "countries",
        &[Rule::MaxItems(50), Rule::Each(&[Rule::Country])],
    ),
    ("ProfileRequest", "niches", NICHES),
    ("ProfileRequest", "bio", &many_lines(1_000)),
    (
        "DeliverRequest",
        "url",
        &[Rule::Pattern(WEB_ADDRESS), Rule::Length(8, 2_048)],
    ),
    ("ChangesRequest", "note", &many_lines(2_000)),
    ("RatingRequest", "stars", &[Rule::Range(1, 5)]),
    (
        "MetricsRequest",
        "followers",
        &[Rule::Range(0, 10_000_000_000)],
    ),
    (
        "MetricsRequest",
        "avg_views",
        &[Rule::Range(0, 10_000_000_000)],
    ),
    (
        "MetricsRequest",
        "engagement_bps",
        &[Rule::Range(0, 10_000)],
    ),
    ("MatchProgramRequest", "name", &one_line(100)),
    ("MatchProgramRequest", "rate_bps", &[Rule::Range(1, 10_000)]),
    (
        "BuyBadge",
        "payment_method",
        &[Rule::Pattern("^(wallet|pm_[A-Za-z0-9_]{1,100})$")],
    ),
];

/// Free text on one line, of 1 to `max` characters.
const fn one_line(max: usize) -> [Rule; 2] {
    [
        Rule::Pattern(freetext::PATTERN_ONE_LINE),
        Rule::Length(1, max),
    ]
}

/// Free text that may span lines, of 1 to `max` characters.
const fn many_lines(max: usize) -> [Rule; 2] {
    [
        Rule::Pattern(freetext::PATTERN_MANY_LINES),
        Rule::Length(1, max),
    ]
}

/// A list of niches: at most 20, each 1–40 of `A-Z`, `a-z`, `0-9`, `-` and `_`.
const NICHES: &[Rule] = &[
    Rule::MaxItems(20),
    Rule::Each(&[Rule::Pattern("^[A-Za-z0-9_-]{1,40}$"), Rule::Length(1, 40)]),
];

/// An absolute `http` or `https` address of visible ASCII with a plain host name (stricter
/// than the server, which takes any host that is not empty).
const WEB_ADDRESS: &str = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$";

/// The rules of path, query and header parameters, by name, wherever they are taken. (An id
/// in a path that breaks its rule is answered 404, as an id of nothing.)
const PARAMETER_RULES: &[(&str, &[Rule])] = &[
    (
        "id",
        &[Rule::Pattern("^[!-~]{1,100}$"), Rule::Length(1, 100)],
    ),
    (
        "token_id",
        &[Rule::Pattern("^[!-~]{1,100}$"), Rule::Length(1, 100)],
    ),
    (
        "code",
        &[Rule::Pattern("^[!-~]{1,100}$"), Rule::Length(1, 100)],
    ),
    ("limit", &[Rule::Range(1, 500)]),
    (
        "cursor",
        &[Rule::Pattern("^[!-~]{1,200}$"), Rule::Length(1, 200)],
    ),
    (
        "Idempotency-Key",
        &[Rule::Pattern("^[!-~]{1,255}$"), Rule::Length(1, 255)],
    ),
];

/// Puts [`BODY_RULES`] and [`PARAMETER_RULES`] into the document, the NUL rule on every
/// string and every request body's other fields, and the payment methods the provider takes.
struct InputRules {
    /// The sandbox provider: it takes only its test methods.
    sandbox: bool,
}

impl InputRules {
    fn apply(schema: &mut RefOr<Schema>, rules: &[Rule]) {
        if let RefOr::T(Schema::Array(array)) = schema {
            for rule in rules {
                match *rule {
                    Rule::MaxItems(n) => array.max_items = Some(n),
                    Rule::Each(item_rules) => {
                        if let ArrayItems::RefOrSchema(items) = &mut array.items {
                            InputRules::apply(items, item_rules);
                        }
                    }
                    _ => debug_assert!(false, "{rule:?} is not a rule of arrays"),
                }
            }
            return;
        }
        let RefOr::T(Schema::Object(object)) = schema else {
            return;
        };
        for rule in rules {
            match *rule {
                Rule::Pattern(pattern) => object.pattern = Some(pattern.to_owned()),
                Rule::Length(min, max) => {
                    object.min_length = Some(min);
                    object.max_length = Some(max);
                }
                Rule::Range(min, max) => {
                    object.minimum = i64_number(min);
                    object.maximum = (max != i64::MAX).then(|| i64_number(max)).flatten();
                }
                Rule::OneOf(values) => {
                    object.enum_values = Some(values.iter().map(|v| (*v).into()).collect());
                }
                Rule::Country => {
                    object.enum_values = Some(
                        live::CountryCode::all()
                            .map(|c| c.as_str().into())
                            .collect(),
                    );
                }
                Rule::MaxItems(_) | Rule::Each(_) => {
                    debug_assert!(false, "{rule:?} is a rule of arrays");
                }
                Rule::PastDate => {
                    object.format = Some(SchemaFormat::KnownFormat(KnownFormat::Date));
                    object.pattern = Some(past_dates(store::now().year()));
                }
            }
        }
    }
}

/// The names of the schemas request bodies refer to.
fn request_bodies(openapi: &utoipa::openapi::OpenApi) -> Vec<String> {
    let mut names = Vec::new();
    for item in openapi.paths.paths.values() {
        for operation in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
            .into_iter()
            .flatten()
        {
            let Some(RefOr::T(body)) = &operation.request_body else {
                continue;
            };
            for content in body.content.values() {
                if let RefOr::T(content) = content
                    && let Some(RefOr::Ref(r)) = &content.schema
                    && let Some(name) = r.ref_location.strip_prefix("#/components/schemas/")
                {
                    names.push(name.to_owned());
                }
            }
        }
    }
    names
}

fn is_string(t: &utoipa::openapi::schema::SchemaType) -> bool {
    use utoipa::openapi::schema::{SchemaType, Type};
    match t {
        SchemaType::Type(t) => *t == Type::String,
        SchemaType::Array(types) => types.contains(&Type::String),
        SchemaType::AnyValue => false,
    }
}

fn no_nul_string() -> Schema {
    serde_json::from_value(serde_json::json!({"type": "string", "pattern": NO_NUL}))
        .expect("a string schema reads back")
}

/// Any JSON value whose strings and keys hold no NUL.
fn json_without_nul() -> Schema {
    let any = format!("#/components/schemas/{JSON_WITHOUT_NUL}");
    serde_json::from_value(serde_json::json!({
        "description": "Any JSON value without the NUL character in its strings or keys.",
        "anyOf": [
            {"type": ["null", "boolean", "number"]},
            {"type": "string", "pattern": NO_NUL},
            {"type": "array", "items": {"$ref": any}},
            {"type": "object", "propertyNames": {"type": "string", "pattern": NO_NUL},
             "additionalProperties": {"$ref": any}},
        ],
    }))
    .expect("the schema reads back")
}

/// A pattern of `YYYY-MM-DD` dates from 1900 to the end of the year before `this_year`, on
/// days 1–28 of a month (so that every date it admits exists).
fn past_dates(this_year: i32) -> String {
    let last = (this_year - 1).clamp(2000, 2099) - 2000;
    let (decade, unit) = (last / 10, last % 10);
    let earlier_decades = if decade > 0 {
        format!("|20[0-{}][0-9]", decade - 1)
    } else {
        String::new()
    };
    format!(
        "^(19[0-9]{{2}}{earlier_decades}|20{decade}[0-{unit}])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$"
    )
}

fn i64_number(n: i64) -> Option<utoipa::Number> {
    isize::try_from(n).ok().map(utoipa::Number::Int)
}

impl Modify for InputRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bodies = request_bodies(openapi);
        if let Some(components) = openapi.components.as_mut() {
            for (schema, property, rules) in BODY_RULES {
                let field = match components.schemas.get_mut(*schema) {
                    Some(RefOr::T(Schema::Object(object))) => object.properties.get_mut(*property),
                    _ => None,
                };
                // A rule that names no field is a typo here: every test's server catches it.
                debug_assert!(
                    field.is_some(),
                    "the input rule for {schema}.{property} names no field"
                );
                if let Some(field) = field {
                    InputRules::apply(field, rules);
                }
            }
            if self.sandbox
                && let Some(RefOr::T(Schema::Object(object))) =
                    components.schemas.get_mut("BuyBadge")
                && let Some(RefOr::T(Schema::Object(method))) =
                    object.properties.get_mut("payment_method")
            {
                method.pattern = None;
                method.enum_values = Some(
                    std::iter::once("wallet")
                        .chain(crate::payments::sandbox::SANDBOX_PAYMENT_METHODS)
                        .map(Into::into)
                        .collect(),
                );
            }
            // What requests carry holds no NUL: their bodies' strings, and the fields they
            // may carry besides (unless they refuse any other field). Answers may quote it.
            for name in &bodies {
                let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name)
                else {
                    continue;
                };
                for field in object.properties.values_mut() {
                    if let RefOr::T(Schema::Object(field)) = field
                        && is_string(&field.schema_type)
                        && field.pattern.is_none()
                        && field.enum_values.is_none()
                        && field.format.is_none()
                    {
                        field.pattern = Some(NO_NUL.to_owned());
                    }
                }
                object.property_names = Some(Box::new(no_nul_string()));
                if object.additional_properties.is_none() {
                    object.additional_properties = Some(Box::new(
                        RefOr::Ref(Ref::from_schema_name(JSON_WITHOUT_NUL)).into(),
                    ));
                }
            }
            components
                .schemas
                .insert(JSON_WITHOUT_NUL.to_owned(), RefOr::T(json_without_nul()));
        }
        for operation in operations_mut(openapi) {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                if let Some((_, rules)) = PARAMETER_RULES
                    .iter()
                    .find(|(name, _)| *name == parameter.name)
                    && let Some(schema) = parameter.schema.as_mut()
                {
                    InputRules::apply(schema, rules);
                }
            }
        }
    }
}

/// Every operation of the document.
fn operations_mut(openapi: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = &mut Operation> {
    openapi.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// A response with the API's error body.
fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        operations_mut(openapi).for_each(CommonErrors::add);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_dates_run_from_1900_to_last_year() {
        let pattern = regex::Regex::new(&past_dates(2026)).expect("compiles");
        for date in [
            "1900-01-01",
            "1999-12-28",
            "2000-06-15",
            "2019-02-28",
            "2025-12-28",
        ] {
            assert!(pattern.is_match(date), "{date}");
        }
        for date in [
            "1899-12-28",
            "2026-01-01",
            "2030-01-01",
            "2025-02-29",
            "2025-13-01",
            "2025-1-01",
        ] {
            assert!(!pattern.is_match(date), "{date}");
        }
        let pattern = regex::Regex::new(&past_dates(2001)).expect("compiles");
        assert!(pattern.is_match("2000-01-01") && !pattern.is_match("2001-01-01"));
    }
}
