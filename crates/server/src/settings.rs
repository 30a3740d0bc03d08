//! Typed settings: defaults, then a TOML file, then `OVATION_*` environment variables,
//! validated once at start-up into [`Config`].
//!
//! Why one long file: every setting is declared, defaulted, read from TOML and the
//! environment, and validated here, so that adding one touches one file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use live::{CountryCode, CountryPrices, EligibilityRules, PriceTable};
use money::{Bps, Currency, Money};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The launch countries of Live Badges (DESIGN.md): configuration, not code.
pub const DEFAULT_BADGE_COUNTRIES: [&str; 11] = [
    "US", "FR", "GB", "DE", "IT", "TR", "ES", "BR", "MX", "AU", "JP",
];

/// Top-level keys that environment variables may set (`OVATION_<KEY>`); other `OVATION_*`
/// variables (test switches, say) are not settings.
const ENV_KEYS: &[&str] = &[
    "bind",
    "database_url",
    "admin_token",
    "admin_token_previous",
    "nats_url",
    "webhook_secret",
    "webhook_tolerance_secs",
    "payment_provider",
    "stripe_secret_key",
    "stripe_api_base",
    "sandbox_webhook_delay_ms",
    "platform_fee_bps",
    "platform_fee_bps_by_source",
    "processor_fee_bps",
    "processor_fee_fixed",
    "refund_returns_processor_fee",
    "hold_period_days",
    "release_interval_secs",
    "reconcile_grace_secs",
    "payout_minimum_major",
    "adult_age_years",
    "creator_follower_minimum",
    "minors_daily_limit",
    "daily_spending_limit",
    "weekly_spending_limit",
    "badge_countries",
    "writer_batch_max",
    "writer_queue_max",
    "writer_batch_wait_us",
    "writer_postgres_connections",
    "writer_comment_batch_max",
    "writer_comment_queue_max",
    "ws_buffer",
    "session_hours",
    "cookie_secure",
    "log_format",
    "public_url",
    "client_ip_header",
    "pool_size",
    "metrics_token",
    "ws_sockets_per_account",
    "header_read_timeout_secs",
    "request_timeout_secs",
    "request_body_timeout_secs",
    "requests_in_flight_max",
    "rate_comments_per_second",
    "rate_comments_burst",
    "rate_purchases_per_second",
    "rate_purchases_burst",
    "rate_signin_failures_per_minute",
    "rate_card_declines_per_hour",
    "open_lives_max",
    "idempotency_retention_hours",
    "token_lifetime_max_days",
];

/// One country's badge prices in the settings file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PriceSetting {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// ISO 4217.
    pub currency: String,
    /// Minor units for tiers 1, 2 and 3.
    pub tiers: [i64; 3],
}

/// Settings as read, before validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// `sqlite://path` (default `sqlite://ovation.db`).
    pub database_url: String,
    /// The platform's server-to-server key; generated and printed when unset.
    #[serde(skip_serializing)]
    pub admin_token: Option<SecretString>,
    /// The admin token being replaced, accepted beside `admin_token` while a rotation is
    /// rolled out (unset otherwise).
    #[serde(skip_serializing)]
    pub admin_token_previous: Option<SecretString>,
    /// NATS for several nodes (not used yet by this build).
    pub nats_url: Option<String>,
    /// Secret of signed payment webhooks; generated per process when unset (fine for the
    /// sandbox, which signs its own; the `stripe` provider needs Stripe's `whsec_…`).
    #[serde(skip_serializing)]
    pub webhook_secret: Option<SecretString>,
    /// How far a webhook's signed time may be from the server's clock, in seconds.
    pub webhook_tolerance_secs: u64,
    /// `sandbox` (default) or `stripe`.
    pub payment_provider: String,
    /// Stripe's secret API key (`sk_…`), for the `stripe` provider.
    #[serde(skip_serializing)]
    pub stripe_secret_key: Option<SecretString>,
    /// Stripe's API address (a test double's, in tests).
    pub stripe_api_base: String,
    /// How long after a payment the sandbox sends its webhook, in milliseconds.
    pub sandbox_webhook_delay_ms: u64,
    /// Platform fee on badges, in basis points (and on every source without its own).
    pub platform_fee_bps: u32,
    /// Platform fee per income source (`badges`, `commissions`, `brand_deals`), in basis
    /// points; a source not listed pays `platform_fee_bps`.
    pub platform_fee_bps_by_source: BTreeMap<String, u32>,
    /// The payment processor's fee on each card payment: a percentage in basis points…
    pub processor_fee_bps: u32,
    /// …plus a fixed amount per currency, in minor units (absent = 0).
    pub processor_fee_fixed: BTreeMap<String, i64>,
    /// Whether the processor gives its fee back on a refund or chargeback (card processors
    /// keep it: by default the platform bears it).
    pub refund_returns_processor_fee: bool,
    /// Days new income stays pending.
    pub hold_period_days: u32,
    /// How often `serve` releases income whose hold ended, in seconds (0 = never; then
    /// run `ovation payouts release`).
    pub release_interval_secs: u64,
    /// How old an unsettled card payment must be before the reconciler settles it, in
    /// seconds (its request may still be running before that).
    pub reconcile_grace_secs: u64,
    /// Minimum payout, in major units of the payout currency.
    pub payout_minimum_major: u64,
    /// Age from which a person is an adult.
    pub adult_age_years: u8,
    /// Followers a creator needs to earn.
    pub creator_follower_minimum: u64,
    /// Minors' daily badge spending limit per currency, in minor units (absent = 0).
    pub minors_daily_limit: BTreeMap<String, i64>,
    /// Every buyer's daily badge spending cap per currency, in minor units (absent: none),
    /// like YouTube's $500 a day for Super Chat.
    pub daily_spending_limit: BTreeMap<String, i64>,
    /// Every buyer's weekly cap (Monday 00:00 UTC onwards), per currency.
    pub weekly_spending_limit: BTreeMap<String, i64>,
    /// Countries where badges are offered.
    pub badge_countries: Vec<String>,
    /// Price overrides or additions per country.
    pub prices: Vec<PriceSetting>,
    /// Most purchases committed in one ledger transaction.
    pub writer_batch_max: usize,
    /// Most purchases waiting for the ledger writer.
    pub writer_queue_max: usize,
    /// How long the writer waits to fill a batch, in microseconds (0 = no wait).
    pub writer_batch_wait_us: u64,
    /// Ledger batches committing at once on PostgreSQL, one connection each.
    pub writer_postgres_connections: usize,
    /// Most comments committed in one ledger transaction, besides its purchases.
    pub writer_comment_batch_max: usize,
    /// Most comments waiting for the ledger writer; one more is 503 `unavailable`.
    pub writer_comment_queue_max: usize,
    /// Events buffered per WebSocket viewer before a slow one is dropped.
    pub ws_buffer: usize,
    /// How long a page session lasts after sign-in, in hours.
    pub session_hours: u32,
    /// Kept so that existing settings files still load: the pages' cookies are `__Host-`
    /// cookies now, always `Secure`, whatever this says.
    pub cookie_secure: bool,
    /// `text` or `json`.
    pub log_format: String,
    /// Database connections for reads.
    pub pool_size: u32,
    /// The address clients reach the server at (`https://ovation.example`), for the tracked
    /// links Ovation hands out; `http://<bind>` when unset.
    pub public_url: Option<String>,
    /// The header a trusted reverse proxy puts the client's address in (`x-forwarded-for`:
    /// its first address; `x-real-ip`); unset, the connection's peer is the client.
    pub client_ip_header: Option<String>,
    /// A token that may read `/metrics` (as `Authorization: Bearer`) besides the admin
    /// token, for a Prometheus scraper that should not hold the admin token.
    #[serde(skip_serializing)]
    pub metrics_token: Option<SecretString>,
    /// Most WebSockets one account (or the admin token) holds open at once.
    pub ws_sockets_per_account: u32,
    /// How long a client has to send a request's headers (and how long an idle keep-alive
    /// connection is kept), in seconds.
    pub header_read_timeout_secs: u64,
    /// How long a request may take, from its headers to the response's headers, in
    /// seconds (a WebSocket's life after its upgrade is not a request).
    pub request_timeout_secs: u64,
    /// How long a client has to send a request's body, in seconds.
    pub request_body_timeout_secs: u64,
    /// Most requests handled at once; beyond it requests are answered 503 at once.
    pub requests_in_flight_max: usize,
    /// Comments per second per account (0 = not limited)…
    pub rate_comments_per_second: u32,
    /// …and how many may come at once.
    pub rate_comments_burst: u32,
    /// Badge purchases per second per account (0, the default = not limited)…
    pub rate_purchases_per_second: u32,
    /// …and how many may come at once (0 = the per-second count).
    pub rate_purchases_burst: u32,
    /// Failed sign-ins and unknown bearer tokens per minute per client address (0 = not
    /// limited).
    pub rate_signin_failures_per_minute: u32,
    /// Declined card payments per hour per account before its next card payments wait
    /// (0 = not limited).
    pub rate_card_declines_per_hour: u32,
    /// Lives one creator may have open at once (0 = no limit).
    pub open_lives_max: u32,
    /// How long stored idempotent answers are kept, in hours (at least 24, API.md).
    pub idempotency_retention_hours: u32,
    /// Longest lifetime a user token may be given, in days (`expires_in_secs`).
    pub token_lifetime_max_days: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://ovation.db".into(),
            admin_token: None,
            admin_token_previous: None,
            nats_url: None,
            webhook_secret: None,
            webhook_tolerance_secs: 300,
            payment_provider: "sandbox".into(),
            stripe_secret_key: None,
            stripe_api_base: "https://api.stripe.com".into(),
            sandbox_webhook_delay_ms: 500,
            platform_fee_bps: 0,
            platform_fee_bps_by_source: BTreeMap::new(),
            processor_fee_bps: 0,
            processor_fee_fixed: BTreeMap::new(),
            refund_returns_processor_fee: false,
            hold_period_days: 7,
            reconcile_grace_secs: 30,
            release_interval_secs: 60,
            payout_minimum_major: 100,
            adult_age_years: 18,
            creator_follower_minimum: 0,
            minors_daily_limit: BTreeMap::new(),
            daily_spending_limit: BTreeMap::new(),
            weekly_spending_limit: BTreeMap::new(),
            badge_countries: DEFAULT_BADGE_COUNTRIES
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            prices: Vec::new(),
            writer_batch_max: 4_096,
            writer_queue_max: 65_536,
            writer_postgres_connections: 1,
            writer_batch_wait_us: 0,
            writer_comment_batch_max: 512,
            writer_comment_queue_max: 16_384,
            ws_buffer: 1_024,
            session_hours: 12,
            cookie_secure: false,
            log_format: "text".into(),
            pool_size: 8,
            public_url: None,
            client_ip_header: None,
            metrics_token: None,
            ws_sockets_per_account: 8,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            request_body_timeout_secs: 10,
            requests_in_flight_max: 1_024,
            rate_comments_per_second: 5,
            rate_comments_burst: 10,
            rate_purchases_per_second: 0,
            rate_purchases_burst: 0,
            rate_signin_failures_per_minute: 10,
            rate_card_declines_per_hour: 10,
            open_lives_max: 1,
            idempotency_retention_hours: 48,
            token_lifetime_max_days: 365,
        }
    }
}

/// Shortest admin token and webhook secret accepted: 32 characters, as `openssl rand -hex
/// 16` gives (a guessable secret would make every other check moot).
pub const SECRET_CHARS_MIN: usize = 32;

/// Why the settings cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Reading or merging failed.
    #[error("cannot read settings: {0}")]
    Read(#[from] Box<figment::Error>),
    /// A value is out of range.
    #[error("setting {key}: {why}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// What was expected.
        why: String,
    },
}

/// Limits per currency code, in minor units, none negative.
fn limits(
    key: &'static str,
    raw: &BTreeMap<String, i64>,
) -> Result<BTreeMap<Currency, i64>, SettingsError> {
    let mut out = BTreeMap::new();
    for (code, limit) in raw {
        let currency = Currency::parse(code).map_err(|e| invalid(key, e.to_string()))?;
        if *limit < 0 {
            return Err(invalid(key, "limits must not be negative"));
        }
        out.insert(currency, *limit);
    }
    Ok(out)
}

fn invalid(key: &'static str, why: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        why: why.into(),
    }
}

/// Validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// Admin token, if configured (else the server generates one).
    pub admin_token: Option<SecretString>,
    /// The admin token being rotated out, still accepted (never for a new operator session's
    /// mark: those are made with `admin_token`).
    pub admin_token_previous: Option<SecretString>,
    /// NATS URL.
    pub nats_url: Option<String>,
    /// Platform fee on badges.
    pub platform_fee: Bps,
    /// Platform fee per income source other than badges' (`platform_fee` when absent).
    pub platform_fee_by_source: BTreeMap<String, Bps>,
    /// The processor's fee on card payments: basis points, and a fixed part per currency.
    pub processor_fee_bps: Bps,
    /// The fixed part, minor units per currency.
    pub processor_fee_fixed: BTreeMap<Currency, i64>,
    /// Who bears the processor's fee when a card purchase is reversed.
    pub fee_on_reversal: postings::rules::ProcessorFeeOnReversal,
    /// How long new income stays pending.
    pub hold_period: std::time::Duration,
    /// How often `serve` releases due income (`None`: never).
    pub release_interval: Option<std::time::Duration>,
    /// How old an unsettled card payment must be before the reconciler settles it.
    pub reconcile_grace: std::time::Duration,
    /// The payment provider.
    pub payments: PaymentsConfig,
    /// Signed webhooks.
    pub webhooks: WebhookConfig,
    /// How long after a payment the sandbox sends its webhook.
    pub sandbox_webhook_delay: std::time::Duration,
    /// Whether the sandbox charges a card that succeeds in the ledger job that books it (the
    /// default: one commit). `false` makes it charge first and the booking follow, as a
    /// remote processor's charges do: the path Stripe payments take, for tests to rehearse
    /// with the sandbox. Not a setting.
    pub sandbox_charges_with_booking: bool,
    /// Minimum payout, major units.
    pub payout_minimum_major: u64,
    /// Creator eligibility.
    pub eligibility: EligibilityRules,
    /// Minors' daily limits.
    pub minors_daily_limit: BTreeMap<Currency, i64>,
    /// Every buyer's daily cap, per currency.
    pub daily_spending_limit: BTreeMap<Currency, i64>,
    /// Every buyer's weekly cap, per currency.
    pub weekly_spending_limit: BTreeMap<Currency, i64>,
    /// Badge prices per country.
    pub prices: PriceTable,
    /// Writer limits.
    pub writer: store::WriterConfig,
    /// Per-viewer WebSocket buffer.
    pub ws_buffer: usize,
    /// How long a page session lasts.
    pub session_ttl: std::time::Duration,
    /// Always mark the session cookie `Secure`.
    pub cookie_secure: bool,
    /// JSON logs.
    pub log_json: bool,
    /// Read connections.
    pub pool_size: u32,
    /// Where clients reach the server, without a trailing `/` (tracked links start with it).
    pub public_url: String,
    /// The header holding the client's address behind a trusted proxy, lower case.
    pub client_ip_header: Option<String>,
    /// A token for `/metrics` besides the admin token.
    pub metrics_token: Option<SecretString>,
    /// Most WebSockets open at once per account.
    pub ws_sockets_per_account: u32,
    /// The limits of connections and requests at the edge.
    pub edge: EdgeLimits,
    /// Rate limits.
    pub rates: crate::limits::RateConfig,
    /// Lives one creator may have open at once (`None`: no limit).
    pub open_lives_max: Option<u32>,
    /// How long stored idempotent answers are kept.
    pub idempotency_retention: std::time::Duration,
    /// Longest lifetime a user token may be given.
    pub token_lifetime_max: std::time::Duration,
}

/// How long clients may take and how many requests run at once: what keeps slow or
/// numerous clients from holding the server's connections and memory.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// Time to send a request's headers (and to start the next one on a kept-alive
    /// connection).
    pub header_read_timeout: std::time::Duration,
    /// Time from a request's headers to its response's.
    pub request_timeout: std::time::Duration,
    /// Time to send a request's body.
    pub request_body_timeout: std::time::Duration,
    /// Requests handled at once; more are shed with 503.
    pub requests_in_flight_max: usize,
}

/// Which payment provider, and what it needs.
#[derive(Debug, Clone)]
pub enum PaymentsConfig {
    /// The built-in test-mode processor.
    Sandbox,
    /// Stripe's HTTP API.
    Stripe {
        /// `sk_…`.
        secret_key: SecretString,
        /// `https://api.stripe.com`, or a test double.
        api_base: String,
    },
}

/// How webhooks are authenticated.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The signing secret; `None` generates one per process.
    pub secret: Option<SecretString>,
    /// Largest distance between the signed time and the server's clock.
    pub tolerance: std::time::Duration,
}

impl Config {
    /// The platform's fee on income of `source`.
    pub fn platform_fee_for(&self, source: postings::IncomeSource) -> Bps {
        self.platform_fee_by_source
            .get(source.as_str())
            .copied()
            .unwrap_or(self.platform_fee)
    }

    /// The processor's fee on a card payment in `currency`.
    pub fn processor_fee(&self, currency: Currency) -> live::ProcessorFee {
        live::ProcessorFee {
            bps: self.processor_fee_bps,
            fixed_minor: self
                .processor_fee_fixed
                .get(&currency)
                .copied()
                .unwrap_or(0),
        }
    }

    /// The smallest payout in `currency`, in minor units.
    pub fn payout_minimum(&self, currency: Currency) -> i64 {
        postings::rules::payout_minimum(self.payout_minimum_major, currency)
    }
}

impl Settings {
    /// Defaults, then the TOML file if given, then `OVATION_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(invalid(
                    "--config",
                    format!("{} does not exist", path.display()),
                ));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("OVATION_").filter(|key| {
            ENV_KEYS
                .iter()
                .any(|k| key.as_str().eq_ignore_ascii_case(k))
        }));
        figment
            .extract()
            .map_err(|e| SettingsError::Read(Box::new(e)))
    }

    /// Checks every value and builds the typed [`Config`].
    pub fn validate(self) -> Result<Config, SettingsError> {
        let bind: SocketAddr = self.bind.parse().map_err(|e| {
            invalid(
                "bind",
                format!("expected host:port, got {:?} ({e})", self.bind),
            )
        })?;
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "expected sqlite://path or postgres://user@host:port/database",
            ));
        }
        if let Some(nats) = &self.nats_url
            && !(nats.starts_with("nats://") || nats.starts_with("tls://"))
        {
            return Err(invalid("nats_url", "expected nats://host:port"));
        }
        let platform_fee = Bps::new(self.platform_fee_bps)
            .map_err(|_| invalid("platform_fee_bps", "expected 0..=10000 basis points"))?;
        if self.adult_age_years == 0 || self.adult_age_years > 30 {
            return Err(invalid("adult_age_years", "expected 1..=30"));
        }
        if self.hold_period_days > 365 {
            return Err(invalid("hold_period_days", "expected at most 365"));
        }
        let mut platform_fee_by_source = BTreeMap::new();
        for (source, bps) in &self.platform_fee_bps_by_source {
            let known = postings::IncomeSource::FEE_BEARING.map(postings::IncomeSource::as_str);
            if !known.contains(&source.as_str()) {
                return Err(invalid(
                    "platform_fee_bps_by_source",
                    format!("unknown source {source:?}; expected one of {known:?}"),
                ));
            }
            let bps = Bps::new(*bps).map_err(|_| {
                invalid(
                    "platform_fee_bps_by_source",
                    "expected 0..=10000 basis points",
                )
            })?;
            platform_fee_by_source.insert(source.clone(), bps);
        }
        let processor_fee_bps = Bps::new(self.processor_fee_bps)
            .map_err(|_| invalid("processor_fee_bps", "expected 0..=10000 basis points"))?;
        let mut processor_fee_fixed = BTreeMap::new();
        for (code, fixed) in &self.processor_fee_fixed {
            let currency =
                Currency::parse(code).map_err(|e| invalid("processor_fee_fixed", e.to_string()))?;
            if *fixed < 0 {
                return Err(invalid("processor_fee_fixed", "fees must not be negative"));
            }
            processor_fee_fixed.insert(currency, *fixed);
        }
        if self.sandbox_webhook_delay_ms > 60_000 {
            return Err(invalid(
                "sandbox_webhook_delay_ms",
                "expected at most 60000",
            ));
        }
        if self.webhook_tolerance_secs == 0 || self.webhook_tolerance_secs > 3_600 {
            return Err(invalid("webhook_tolerance_secs", "expected 1..=3600"));
        }
        let payments = match self.payment_provider.as_str() {
            "sandbox" => PaymentsConfig::Sandbox,
            "stripe" => {
                let secret_key = self.stripe_secret_key.clone().ok_or_else(|| {
                    invalid(
                        "stripe_secret_key",
                        "the stripe provider needs Stripe's secret key",
                    )
                })?;
                if self.webhook_secret.is_none() {
                    return Err(invalid(
                        "webhook_secret",
                        "the stripe provider needs the endpoint's signing secret (whsec_…)",
                    ));
                }
                if !(self.stripe_api_base.starts_with("https://")
                    || self.stripe_api_base.starts_with("http://"))
                {
                    return Err(invalid("stripe_api_base", "expected an http(s) URL"));
                }
                PaymentsConfig::Stripe {
                    secret_key,
                    api_base: self.stripe_api_base.trim_end_matches('/').to_owned(),
                }
            }
            other => {
                return Err(invalid(
                    "payment_provider",
                    format!("expected sandbox or stripe, got {other:?}"),
                ));
            }
        };
        let mut countries = Vec::with_capacity(self.badge_countries.len());
        for c in &self.badge_countries {
            countries.push(
                CountryCode::parse(c).map_err(|e| invalid("badge_countries", e.to_string()))?,
            );
        }
        let defaults = PriceTable::defaults();
        let mut entries: BTreeMap<CountryCode, CountryPrices> = BTreeMap::new();
        for p in &self.prices {
            let country =
                CountryCode::parse(&p.country).map_err(|e| invalid("prices", e.to_string()))?;
            let currency =
                Currency::parse(&p.currency).map_err(|e| invalid("prices", e.to_string()))?;
            entries.insert(
                country,
                CountryPrices {
                    country,
                    currency,
                    tiers: p.tiers.map(|a| Money::new(a, currency)),
                },
            );
        }
        for c in &countries {
            if !entries.contains_key(c) {
                let prices = defaults.for_country(*c).cloned().ok_or_else(|| {
                    invalid(
                        "badge_countries",
                        format!("{c} has no default prices: add it to `prices`"),
                    )
                })?;
                entries.insert(*c, prices);
            }
        }
        entries.retain(|c, _| countries.contains(c));
        let prices = PriceTable::new(entries.into_values().collect())
            .map_err(|e| invalid("prices", e.to_string()))?;
        let minors_daily_limit = limits("minors_daily_limit", &self.minors_daily_limit)?;
        let daily_spending_limit = limits("daily_spending_limit", &self.daily_spending_limit)?;
        let weekly_spending_limit = limits("weekly_spending_limit", &self.weekly_spending_limit)?;
        if self.writer_batch_max == 0 || self.writer_batch_max > 65_536 {
            return Err(invalid("writer_batch_max", "expected 1..=65536"));
        }
        if self.writer_postgres_connections == 0 || self.writer_postgres_connections > 64 {
            return Err(invalid("writer_postgres_connections", "expected 1..=64"));
        }
        if self.writer_queue_max == 0 || self.writer_queue_max > 1_048_576 {
            return Err(invalid("writer_queue_max", "expected 1..=1048576"));
        }
        if self.writer_comment_batch_max == 0 || self.writer_comment_batch_max > 65_536 {
            return Err(invalid("writer_comment_batch_max", "expected 1..=65536"));
        }
        if self.writer_comment_queue_max == 0 || self.writer_comment_queue_max > 1_048_576 {
            return Err(invalid("writer_comment_queue_max", "expected 1..=1048576"));
        }
        if self.writer_batch_wait_us > 100_000 {
            return Err(invalid(
                "writer_batch_wait_us",
                "expected at most 100000 (100 ms)",
            ));
        }
        if self.ws_buffer == 0 || self.ws_buffer > 65_536 {
            return Err(invalid("ws_buffer", "expected 1..=65536"));
        }
        if self.session_hours == 0 || self.session_hours > 24 * 90 {
            return Err(invalid("session_hours", "expected 1..=2160 (90 days)"));
        }
        let log_json = match self.log_format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                return Err(invalid(
                    "log_format",
                    format!("expected text or json, got {other:?}"),
                ));
            }
        };
        if self.pool_size == 0 || self.pool_size > 256 {
            return Err(invalid("pool_size", "expected 1..=256"));
        }
        let public_url = match &self.public_url {
            Some(url) => {
                let url = url.trim_end_matches('/');
                shop::ProductRules::url(url).map_err(|e| invalid("public_url", e.reason))?
            }
            None => format!("http://{bind}"),
        };
        let client_ip_header = match self
            .client_ip_header
            .as_deref()
            .map(str::to_ascii_lowercase)
        {
            Some(h)
                if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                return Err(invalid("client_ip_header", "expected a header name"));
            }
            other => other,
        };
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|t| secrecy::ExposeSecret::expose_secret(t).trim().is_empty())
        {
            return Err(invalid(
                "metrics_token",
                "expected a token, got an empty one",
            ));
        }
        if self.ws_sockets_per_account == 0 || self.ws_sockets_per_account > 10_000 {
            return Err(invalid("ws_sockets_per_account", "expected 1..=10000"));
        }
        for (key, secs) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("request_body_timeout_secs", self.request_body_timeout_secs),
        ] {
            if secs == 0 || secs > 3_600 {
                return Err(invalid(key, "expected 1..=3600 seconds"));
            }
        }
        if self.requests_in_flight_max == 0 || self.requests_in_flight_max > 1_000_000 {
            return Err(invalid("requests_in_flight_max", "expected 1..=1000000"));
        }
        for (key, secret) in [
            ("admin_token", &self.admin_token),
            ("admin_token_previous", &self.admin_token_previous),
            ("webhook_secret", &self.webhook_secret),
        ] {
            if let Some(secret) = secret
                && secret.expose_secret().chars().count() < SECRET_CHARS_MIN
            {
                return Err(invalid(
                    key,
                    format!(
                        "expected at least {SECRET_CHARS_MIN} characters (generate one with \
                         `openssl rand -hex 32`)"
                    ),
                ));
            }
        }
        if let Some(previous) = &self.admin_token_previous {
            match &self.admin_token {
                None => {
                    return Err(invalid(
                        "admin_token_previous",
                        "set only beside admin_token, while rotating from it to admin_token",
                    ));
                }
                Some(current) if current.expose_secret() == previous.expose_secret() => {
                    return Err(invalid(
                        "admin_token_previous",
                        "is the same as admin_token",
                    ));
                }
                Some(_) => {}
            }
        }
        if self.idempotency_retention_hours < 24 || self.idempotency_retention_hours > 24 * 365 {
            return Err(invalid(
                "idempotency_retention_hours",
                "expected 24..=8760: API.md promises keys are kept at least 24 hours",
            ));
        }
        if self.token_lifetime_max_days == 0 || self.token_lifetime_max_days > 3_650 {
            return Err(invalid("token_lifetime_max_days", "expected 1..=3650"));
        }
        let minute = std::time::Duration::from_secs(60);
        let rates = crate::limits::RateConfig {
            comments: crate::limits::Rate::per(
                self.rate_comments_per_second,
                std::time::Duration::from_secs(1),
            )
            .map(|r| r.with_burst(self.rate_comments_burst)),
            purchases: crate::limits::Rate::per(
                self.rate_purchases_per_second,
                std::time::Duration::from_secs(1),
            )
            .map(|r| r.with_burst(self.rate_purchases_burst)),
            signin_failures: crate::limits::Rate::per(self.rate_signin_failures_per_minute, minute),
            card_declines: crate::limits::Rate::per(self.rate_card_declines_per_hour, 60 * minute),
        };
        Ok(Config {
            bind,
            database_url: self.database_url,
            admin_token: self.admin_token,
            admin_token_previous: self.admin_token_previous,
            nats_url: self.nats_url,
            platform_fee,
            platform_fee_by_source,
            processor_fee_bps,
            processor_fee_fixed,
            fee_on_reversal: if self.refund_returns_processor_fee {
                postings::rules::ProcessorFeeOnReversal::Returned
            } else {
                postings::rules::ProcessorFeeOnReversal::KeptByProcessor
            },
            hold_period: std::time::Duration::from_secs(u64::from(self.hold_period_days) * 86_400),
            reconcile_grace: std::time::Duration::from_secs(self.reconcile_grace_secs),
            release_interval: (self.release_interval_secs > 0)
                .then(|| std::time::Duration::from_secs(self.release_interval_secs)),
            payments,
            sandbox_webhook_delay: std::time::Duration::from_millis(self.sandbox_webhook_delay_ms),
            sandbox_charges_with_booking: true,
            webhooks: WebhookConfig {
                secret: self.webhook_secret,
                tolerance: std::time::Duration::from_secs(self.webhook_tolerance_secs),
            },
            payout_minimum_major: self.payout_minimum_major,
            eligibility: EligibilityRules {
                adult_age_years: self.adult_age_years,
                follower_minimum: self.creator_follower_minimum,
                countries,
            },
            minors_daily_limit,
            daily_spending_limit,
            weekly_spending_limit,
            prices,
            writer: store::WriterConfig {
                batch_max: self.writer_batch_max,
                queue_max: self.writer_queue_max,
                batch_wait: std::time::Duration::from_micros(self.writer_batch_wait_us),
                postgres_connections: self.writer_postgres_connections,
                comment_batch_max: self.writer_comment_batch_max,
                comment_queue_max: self.writer_comment_queue_max,
            },
            ws_buffer: self.ws_buffer,
            session_ttl: std::time::Duration::from_secs(u64::from(self.session_hours) * 3_600),
            cookie_secure: self.cookie_secure,
            log_json,
            pool_size: self.pool_size,
            public_url,
            client_ip_header,
            metrics_token: self.metrics_token,
            ws_sockets_per_account: self.ws_sockets_per_account,
            edge: EdgeLimits {
                header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
                request_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
                request_body_timeout: std::time::Duration::from_secs(
                    self.request_body_timeout_secs,
                ),
                requests_in_flight_max: self.requests_in_flight_max,
            },
            rates,
            open_lives_max: (self.open_lives_max > 0).then_some(self.open_lives_max),
            idempotency_retention: std::time::Duration::from_secs(
                u64::from(self.idempotency_retention_hours) * 3_600,
            ),
            token_lifetime_max: std::time::Duration::from_secs(
                u64::from(self.token_lifetime_max_days) * 86_400,
            ),
        })
    }
}

impl Config {
    /// Settings for tests and tools: defaults with `database_url`.
    pub fn for_database(database_url: &str) -> Config {
        Settings {
            database_url: database_url.to_owned(),
            ..Settings::default()
        }
        .validate()
        .expect("the default settings are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_with_the_eleven_launch_countries() {
        let config = Settings::default().validate().expect("defaults are valid");
        assert_eq!(config.prices.countries().count(), 11);
        assert_eq!(config.platform_fee, Bps::ZERO);
        assert_eq!(
            config.hold_period,
            std::time::Duration::from_secs(7 * 86_400)
        );
        assert_eq!(config.payout_minimum(Currency::USD), 10_000);
        assert_eq!(config.payout_minimum(Currency::JPY), 100);
    }

    #[test]
    fn a_fee_above_ten_thousand_basis_points_is_refused_by_name() {
        let err = Settings {
            platform_fee_bps: 10_001,
            ..Settings::default()
        }
        .validate()
        .expect_err("out of range");
        assert!(err.to_string().contains("platform_fee_bps"), "{err}");
    }

    #[test]
    fn a_country_without_prices_must_be_priced() {
        let err = Settings {
            badge_countries: vec!["NZ".into()],
            ..Settings::default()
        }
        .validate()
        .expect_err("NZ has no default prices");
        assert!(err.to_string().contains("NZ"), "{err}");
        let config = Settings {
            badge_countries: vec!["NZ".into()],
            prices: vec![PriceSetting {
                country: "NZ".into(),
                currency: "NZD".into(),
                tiers: [149, 299, 799],
            }],
            ..Settings::default()
        }
        .validate()
        .expect("priced");
        assert_eq!(config.prices.countries().count(), 1);
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn a_short_admin_token_or_webhook_secret_stops_the_start_by_name() {
        for (admin, webhook, key) in [
            (Some("short"), None, "admin_token"),
            (None, Some("whsec_short"), "webhook_secret"),
        ] {
            let err = Settings {
                admin_token: admin.map(SecretString::from),
                webhook_secret: webhook.map(SecretString::from),
                ..Settings::default()
            }
            .validate()
            .expect_err("too short");
            assert!(err.to_string().contains(key), "{err}");
            assert!(err.to_string().contains("32"), "{err}");
        }
        Settings {
            admin_token: Some(SecretString::from("a".repeat(32))),
            webhook_secret: Some(SecretString::from(format!("whsec_{}", "b".repeat(32)))),
            ..Settings::default()
        }
        .validate()
        .expect("32 characters are enough");
    }

    #[test]
    fn a_previous_admin_token_needs_a_current_one_that_differs_from_it() {
        let token = |c: char| Some(SecretString::from(c.to_string().repeat(32)));
        for (current, previous, why) in [
            (None, token('p'), "beside admin_token"),
            (token('a'), token('a'), "the same"),
            (token('a'), Some(SecretString::from("short")), "32"),
        ] {
            let err = Settings {
                admin_token: current,
                admin_token_previous: previous,
                ..Settings::default()
            }
            .validate()
            .expect_err("refused");
            assert!(err.to_string().contains("admin_token_previous"), "{err}");
            assert!(err.to_string().contains(why), "{err}");
        }
        let config = Settings {
            admin_token: token('a'),
            admin_token_previous: token('p'),
            ..Settings::default()
        }
        .validate()
        .expect("a rotation");
        assert!(config.admin_token_previous.is_some());
    }

    #[test]
    fn idempotency_records_are_kept_at_least_a_day() {
        let err = Settings {
            idempotency_retention_hours: 23,
            ..Settings::default()
        }
        .validate()
        .expect_err("less than the contract's 24 h");
        assert!(
            err.to_string().contains("idempotency_retention_hours"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod env_tests {
    use super::*;

    #[test]
    // figment's `Jail` closure returns figment's own (large) error type.
    #[allow(clippy::result_large_err)]
    fn environment_variables_override_the_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OVATION_BIND", "127.0.0.1:9999");
            jail.set_env("OVATION_PLATFORM_FEE_BPS", "1500");
            jail.set_env("OVATION_TEST_REQUIRE_SERVICES", "1");
            let settings = Settings::load(None).expect("loads");
            assert_eq!(settings.bind, "127.0.0.1:9999");
            assert_eq!(settings.platform_fee_bps, 1500);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn every_rate_and_retention_is_configuration() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OVATION_RATE_COMMENTS_PER_SECOND", "2");
            jail.set_env("OVATION_RATE_COMMENTS_BURST", "4");
            jail.set_env("OVATION_RATE_PURCHASES_PER_SECOND", "20");
            jail.set_env("OVATION_RATE_SIGNIN_FAILURES_PER_MINUTE", "0");
            jail.set_env("OVATION_RATE_CARD_DECLINES_PER_HOUR", "3");
            jail.set_env("OVATION_OPEN_LIVES_MAX", "0");
            jail.set_env("OVATION_IDEMPOTENCY_RETENTION_HOURS", "72");
            let config = Settings::load(None)
                .expect("loads")
                .validate()
                .expect("valid");
            let comments = config.rates.comments.expect("comments are limited");
            assert_eq!(comments.burst.get(), 4);
            assert_eq!(comments.period, std::time::Duration::from_millis(500));
            let purchases = config.rates.purchases.expect("purchases are limited");
            assert_eq!(purchases.burst.get(), 20, "the burst defaults to the rate");
            assert_eq!(config.rates.signin_failures, None, "0 lifts the limit");
            assert_eq!(
                config.rates.card_declines.map(|r| r.period),
                Some(std::time::Duration::from_secs(1_200))
            );
            assert_eq!(config.open_lives_max, None);
            assert_eq!(
                config.idempotency_retention,
                std::time::Duration::from_secs(72 * 3_600)
            );
            Ok(())
        });
    }

    #[test]
    fn by_default_purchases_are_not_limited_and_the_rest_are() {
        let config = Settings::default().validate().expect("defaults are valid");
        assert_eq!(config.rates.purchases, None);
        assert!(config.rates.comments.is_some());
        assert!(config.rates.signin_failures.is_some());
        assert!(config.rates.card_declines.is_some());
        assert_eq!(config.open_lives_max, Some(1));
    }
}
