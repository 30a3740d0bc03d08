//! The OpenAPI document served at `/openapi.json`: its paths come from the handlers'
//! `#[utoipa::path]` entries as [`crate::router`] registers them; then [`complete`] adds the
//! answers that every operation of a kind can give, whatever its handler does.

use shop::ProductRules;
use utoipa::Modify;

use crate::routes::market::FEE_MAX;
use crate::routes::matching::FUND_MAX;
use crate::routes::shop::ORDER_LINE_AMOUNT_MAX;
use crate::routes::wallet::TOPUP_MAX;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ArrayItems, KnownFormat, SchemaFormat, SchemaType, Type};
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
/// input rules of [`InputRules`] (those that are settings, as `config` sets them).
pub(crate) fn complete(
    mut doc: utoipa::openapi::OpenApi,
    config: &crate::settings::Config,
) -> utoipa::openapi::OpenApi {
    CommonErrors.modify(&mut doc);
    InputRules {
        sandbox: matches!(config.payments, crate::settings::PaymentsConfig::Sandbox),
        token_secs_max: i64::try_from(config.token_lifetime_max.as_secs()).unwrap_or(i64::MAX),
        this_year: store::now().year(),
    }
    .modify(&mut doc);
    doc
}

/// No NUL in a string: the server refuses it anywhere in a body, a query or a path.
const NO_NUL: &str = "^[^\\u0000]*$";

/// The name of the schema of any JSON without NUL in its strings or keys: what a request
/// body may carry besides the fields the server reads (it ignores them).
const JSON_WITHOUT_NUL: &str = "JsonWithoutNul";

/// The name of the schema of the currencies the server takes: ISO 4217 codes with a minor
/// unit.
const CURRENCY: &str = "Currency";

/// A rule the server enforces on an input, as JSON Schema says it.
#[derive(Debug, Clone, Copy)]
enum Rule<'a> {
    /// A string matching this (ECMA-262) pattern.
    Pattern(&'static str),
    /// A string of this many characters.
    Length(usize, usize),
    /// An integer in this range.
    Range(i64, i64),
    /// One of these strings.
    OneOf(&'a [&'a str]),
    /// An officially assigned ISO 3166-1 alpha-2 code.
    Country,
    /// An array of this many items.
    Items(usize, usize),
    /// An array with no item twice.
    Distinct,
    /// An array whose every item follows these rules.
    Each(&'a [Rule<'a>]),
    /// An amount of money in a currency the server takes, of this many minor units: an
    /// object in place of the shared `MoneyBody` (whose answers may hold any amount).
    Money(i64, i64),
    /// A `YYYY-MM-DD` date on days 1–28 of a month of these years (stricter than the
    /// server: JSON Schema cannot say "not after today", nor which days a month has).
    Date(Years),
    /// An RFC 3339 time on days 1–28 of a month of these years.
    Time(Years),
    /// Shares in basis points, summing to at most 10,000, by keys that follow these rules:
    /// at most this many entries, each of at most its even part of 10,000 (stricter than the
    /// server, which takes any shares within their sum: JSON Schema cannot say a sum).
    Shares(&'a [Rule<'a>], usize),
}

/// The years a date or a time may be in, counted from the year the document is made.
#[derive(Debug, Clone, Copy)]
enum Years {
    /// From this year to last year.
    Since(i32),
    /// Next year: a time in the future, and within two years.
    Next,
    /// Years 1000 to 9999.
    Any,
}

/// The rules of the request bodies' fields, by schema and property: what the handlers check,
/// so that a schema-driven client generates requests the server takes.
const BODY_RULES: &[(&str, &str, &[Rule<'static>])] = &[
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
    (
        "CreateAccount",
        "birth_date",
        &[Rule::Date(Years::Since(1900))],
    ),
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
    ("ProductRequest", "price", &[Rule::Money(1, i64::MAX)]),
    ("ProductPatch", "commission_bps", &[Rule::Range(1, 9_000)]),
    ("ProductPatch", "price", &[Rule::Money(1, i64::MAX)]),
    (
        "ShopRequest",
        "products",
        &[Rule::Items(0, ProductRules::SHOP_MAX), Rule::Distinct],
    ),
    (
        "ShopSettingsRequest",
        "attribution_window_days",
        &[Rule::Range(1, 90)],
    ),
    ("OrderRequest", "order_id", PRINTABLE_100),
    (
        "OrderRequest",
        "ordered_at",
        &[Rule::Time(Years::Since(2000))],
    ),
    (
        "OrderRequest",
        "items",
        &[Rule::Items(1, ProductRules::ORDER_LINES_MAX)],
    ),
    ("OrderItemRequest", "quantity", &[Rule::Range(1, 10_000)]),
    (
        "OrderItemRequest",
        "amount",
        &[Rule::Money(1, ORDER_LINE_AMOUNT_MAX)],
    ),
    (
        "ReturnRequest",
        "items",
        &[Rule::Items(1, ProductRules::ORDER_LINES_MAX)],
    ),
    ("ReturnItemRequest", "quantity", &[Rule::Range(1, 10_000)]),
    ("TopupRequest", "amount", &[Rule::Money(1, TOPUP_MAX)]),
    (
        "TopupRequest",
        "payment_method",
        &[Rule::Pattern("^pm_[A-Za-z0-9_]{1,100}$")],
    ),
    (
        "SpendingLimitsRequest",
        "daily",
        &[Rule::Money(0, i64::MAX)],
    ),
    (
        "SpendingLimitsRequest",
        "weekly",
        &[Rule::Money(0, i64::MAX)],
    ),
    (
        "PayoutAccountBody",
        "payout_account",
        &[
            Rule::Pattern("^[A-Za-z0-9_-]{1,255}$"),
            Rule::Length(1, 255),
        ],
    ),
    ("FundRequest", "amount", &[Rule::Money(1, FUND_MAX)]),
    (
        "MatchProgramRequest",
        "caps",
        &[
            Rule::Items(1, usize::MAX),
            Rule::Each(&[Rule::Money(1, FUND_MAX)]),
        ],
    ),
    (
        "MatchProgramRequest",
        "budget",
        &[Rule::Each(&[Rule::Money(1, FUND_MAX)])],
    ),
    (
        "MatchProgramRequest",
        "countries",
        &[Rule::Each(&[Rule::Country])],
    ),
    (
        "MatchProgramRequest",
        "starts_at",
        &[Rule::Time(Years::Any)],
    ),
    ("MatchProgramRequest", "ends_at", &[Rule::Time(Years::Any)]),
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
        &[Rule::Items(0, 50), Rule::Each(&[Rule::Country])],
    ),
    ("CampaignRequest", "fee", &[Rule::Money(1, FEE_MAX)]),
    ("CampaignRequest", "deadline", &[Rule::Time(Years::Next)]),
    ("OfferRequest", "fee", &[Rule::Money(1, FEE_MAX)]),
    ("ProfileRequest", "niches", NICHES),
    ("ProfileRequest", "bio", &many_lines(1_000)),
    ("ProfileRequest", "rate", &[Rule::Money(1, FEE_MAX)]),
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
    (
        "MetricsRequest",
        "audience_countries",
        &[Rule::Shares(&[Rule::Country], 20)],
    ),
    (
        "MetricsRequest",
        "audience_ages",
        &[Rule::Shares(
            // The usual ranges (the server takes any `a-b` with a ≤ b, or `a+`).
            &[Rule::OneOf(&[
                "13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+",
            ])],
            7,
        )],
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
const fn one_line(max: usize) -> [Rule<'static>; 2] {
    [
        Rule::Pattern(freetext::PATTERN_ONE_LINE),
        Rule::Length(1, max),
    ]
}

/// Free text that may span lines, of 1 to `max` characters.
const fn many_lines(max: usize) -> [Rule<'static>; 2] {
    [
        Rule::Pattern(freetext::PATTERN_MANY_LINES),
        Rule::Length(1, max),
    ]
}

/// A list of niches: at most 20, each 1–40 of `A-Z`, `a-z`, `0-9`, `-` and `_`.
const NICHES: &[Rule<'static>] = &[
    Rule::Items(0, 20),
    Rule::Each(&[Rule::Pattern("^[A-Za-z0-9_-]{1,40}$"), Rule::Length(1, 40)]),
];

/// 1–100 of the printable ASCII characters but space.
const PRINTABLE_100: &[Rule<'static>] = &[Rule::Pattern("^[!-~]{1,100}$"), Rule::Length(1, 100)];

/// An absolute `http` or `https` address of visible ASCII with a plain host name (stricter
/// than the server, which takes any host that is not empty).
const WEB_ADDRESS: &str = "^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?$";

/// The rules of path, query and header parameters, by name, wherever they are taken. (An id
/// in a path that breaks its rule is answered 404, as an id of nothing.)
const PARAMETER_RULES: &[(&str, &[Rule<'static>])] = &[
    ("id", PRINTABLE_100),
    ("token_id", PRINTABLE_100),
    ("code", PRINTABLE_100),
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
    /// The longest a token may be asked to last.
    token_secs_max: i64,
    /// The year dates and times are counted from.
    this_year: i32,
}

impl InputRules {
    fn apply(&self, schema: &mut RefOr<Schema>, rules: &[Rule<'_>]) {
        if let [Rule::Money(min, max)] = *rules {
            // In place of the reference to `MoneyBody` (kept if it may be null).
            match schema {
                RefOr::T(Schema::OneOf(one_of)) => {
                    for item in &mut one_of.items {
                        if matches!(item, RefOr::Ref(_)) {
                            *item = money_request(min, max);
                        }
                    }
                }
                _ => *schema = money_request(min, max),
            }
            return;
        }
        if let RefOr::T(Schema::Array(array)) = schema {
            for rule in rules {
                match *rule {
                    Rule::Items(min, max) => {
                        array.min_items = (min > 0).then_some(min);
                        array.max_items = (max < usize::MAX).then_some(max);
                    }
                    Rule::Distinct => array.unique_items = true,
                    Rule::Each(item_rules) => {
                        if let ArrayItems::RefOrSchema(items) = &mut array.items {
                            self.apply(items, item_rules);
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
                Rule::Items(..) | Rule::Distinct | Rule::Each(_) => {
                    debug_assert!(false, "{rule:?} is a rule of arrays");
                }
                Rule::Money(..) => debug_assert!(false, "{rule:?} is a rule of its own"),
                Rule::Date(years) => {
                    object.format = Some(SchemaFormat::KnownFormat(KnownFormat::Date));
                    object.pattern = Some(format!("^{}$", dates(years, self.this_year)));
                }
                Rule::Shares(keys, most) => {
                    let mut key = RefOr::T(Schema::Object(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(Type::String)
                            .build(),
                    ));
                    self.apply(&mut key, keys);
                    object.max_properties = Some(most);
                    if let RefOr::T(key) = key {
                        object.property_names = Some(Box::new(key));
                    }
                    object.additional_properties = Some(Box::new(
                        serde_json::from_value(serde_json::json!({
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 10_000 / most.max(1),
                        }))
                        .expect("the schema reads back"),
                    ));
                }
                Rule::Time(years) => {
                    object.pattern =
                        Some(format!("^{}T{TIME_OF_DAY}$", dates(years, self.this_year)));
                }
            }
        }
    }
}

/// A request's amount of money: `min..=max` minor units of a currency the server takes.
fn money_request(min: i64, max: i64) -> RefOr<Schema> {
    let mut amount = serde_json::json!({
        "type": "integer",
        "format": "int64",
        "minimum": min,
        "description": "Integer minor units (cents; yen have none).",
    });
    if max < i64::MAX {
        amount["maximum"] = max.into();
    }
    let schema = serde_json::json!({
        "type": "object",
        "description": format!("{{\"amount\": <minor units>, \"currency\": \"USD\"}}, of {min} to {max} minor units."),
        "required": ["amount", "currency"],
        "properties": {
            "amount": amount,
            "currency": {"$ref": format!("#/components/schemas/{CURRENCY}")},
        },
        "propertyNames": {"type": "string", "pattern": NO_NUL},
        "additionalProperties": {"$ref": format!("#/components/schemas/{JSON_WITHOUT_NUL}")},
    });
    RefOr::T(serde_json::from_value(schema).expect("the schema reads back"))
}

/// The currencies the server takes.
fn currency() -> Schema {
    serde_json::from_value(serde_json::json!({
        "type": "string",
        "description": "An ISO 4217 code of a currency with a minor unit (not a metal, SDR or test code).",
        "enum": money::Currency::all().map(money::Currency::code).collect::<Vec<_>>(),
    }))
    .expect("the schema reads back")
}

/// `HH:MM:SS`, a fraction of a second, and `Z` or an offset, as RFC 3339 writes them.
const TIME_OF_DAY: &str =
    "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";

/// A pattern of `YYYY-MM-DD` dates in `years` as counted from `this_year`, on days 1–28 of a
/// month (so that every date it admits exists).
fn dates(years: Years, this_year: i32) -> String {
    let years = match years {
        Years::Since(first) => (first..this_year.max(first + 1))
            .map(|y| y.to_string())
            .collect::<Vec<_>>()
            .join("|"),
        Years::Next => (this_year + 1).to_string(),
        Years::Any => "[1-9][0-9]{3}".to_owned(),
    };
    format!("({years})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])")
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

/// Pushes the names of the schemas `schema` refers to onto `names`.
fn references(schema: &serde_json::Value, names: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref"
                    && let Some(name) = value
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    names.push(name.to_owned());
                }
                references(value, names);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| references(v, names)),
        _ => {}
    }
}

/// Whether a schema of type `t` may be a `wanted`.
fn admits(t: &SchemaType, wanted: &Type) -> bool {
    match t {
        SchemaType::Type(t) => t == wanted,
        SchemaType::Array(types) => types.contains(wanted),
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

fn i64_number(n: i64) -> Option<utoipa::Number> {
    isize::try_from(n).ok().map(utoipa::Number::Int)
}

impl Modify for InputRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut bodies = request_bodies(openapi);
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
                    self.apply(field, rules);
                }
            }
            let token_secs = [Rule::Range(60, self.token_secs_max)];
            let mut settings = vec![("CreateToken", "expires_in_secs", &token_secs[..])];
            // The sandbox takes only its test cards (and a buyer's wallet).
            let with_wallet: Vec<&str> = std::iter::once("wallet")
                .chain(crate::payments::sandbox::SANDBOX_PAYMENT_METHODS)
                .collect();
            let sandbox_cards = [Rule::OneOf(
                &crate::payments::sandbox::SANDBOX_PAYMENT_METHODS,
            )];
            let sandbox_methods = [Rule::OneOf(&with_wallet)];
            if self.sandbox {
                settings.push(("BuyBadge", "payment_method", &sandbox_methods[..]));
                settings.push(("TopupRequest", "payment_method", &sandbox_cards[..]));
            }
            for (schema, property, rules) in settings {
                if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema)
                    && let Some(field) = object.properties.get_mut(property)
                {
                    if let RefOr::T(Schema::Object(field)) = field {
                        field.pattern = None;
                    }
                    self.apply(field, rules);
                }
            }
            // What requests carry holds no NUL: their bodies' strings, and the fields they
            // may carry besides (unless they refuse any other field), down to the objects
            // they hold. Answers may quote it.
            let mut i = 0;
            while let Some(name) = bodies.get(i) {
                let mut held = Vec::new();
                if let Some(schema) = components.schemas.get(name) {
                    references(&serde_json::to_value(schema).unwrap_or_default(), &mut held);
                }
                for name in held {
                    if name != JSON_WITHOUT_NUL && !bodies.contains(&name) {
                        bodies.push(name);
                    }
                }
                i += 1;
            }
            for name in &bodies {
                let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name)
                else {
                    continue;
                };
                if !admits(&object.schema_type, &Type::Object) {
                    continue;
                }
                for field in object.properties.values_mut() {
                    if let RefOr::T(Schema::Object(field)) = field
                        && admits(&field.schema_type, &Type::String)
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
            components
                .schemas
                .insert(CURRENCY.to_owned(), RefOr::T(currency()));
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
                    self.apply(schema, rules);
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
    fn dates_run_over_their_years() {
        let dates =
            |years| regex::Regex::new(&format!("^{}$", dates(years, 2026))).expect("compiles");
        let pattern = dates(Years::Since(1900));
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
        let next = dates(Years::Next);
        assert!(next.is_match("2027-01-01") && next.is_match("2027-12-28"));
        assert!(!next.is_match("2026-12-28") && !next.is_match("2028-01-01"));
        let any = dates(Years::Any);
        assert!(any.is_match("1000-01-01") && any.is_match("9999-12-28"));
        assert!(!any.is_match("0999-12-28"));
    }

    /// Every time the patterns admit is one the server reads, in the years they name.
    #[test]
    fn times_are_rfc_3339() {
        use time::format_description::well_known::Rfc3339;
        let pattern = regex::Regex::new(&format!(
            "^{}T{TIME_OF_DAY}$",
            dates(Years::Since(2000), 2026)
        ))
        .expect("compiles");
        for t in [
            "2000-01-01T00:00:00Z",
            "2025-12-28T23:59:59.123456789+23:59",
            "2013-07-09T12:30:00-05:00",
        ] {
            assert!(pattern.is_match(t), "{t}");
            let read = time::OffsetDateTime::parse(t, &Rfc3339).expect(t);
            assert!((2000..2026).contains(&read.year()), "{t}");
        }
        for t in [
            "2025-12-28T24:00:00Z",
            "2025-12-28T23:59:60Z",
            "2025-12-28 10:00:00Z",
            "2025-12-28T10:00:00",
        ] {
            assert!(!pattern.is_match(t), "{t}");
        }
    }
}
