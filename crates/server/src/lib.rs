//! The HTTP face of Ovation: the axum API of API.md, live events over WebSockets, the
//! OpenAPI document, metrics, authentication, settings and the payment-provider interface.
//!
//! Only this crate knows HTTP and JSON. It turns requests into calls on the domain crates
//! (`live`, `ledger`, `money`) and the `store`, and never does arithmetic on money itself:
//! prices come from the configured table, splits from `live`, balances from the ledger.

pub mod apidoc;
pub mod auth;
pub mod bus;
pub mod clicks;
pub mod demo;
pub mod dto;
mod edge;
pub mod error;
pub mod extract;
pub mod flows;
mod idempotency;
pub mod limits;
pub mod matchmaker;
mod pages;
pub mod payments;
mod routes;
pub mod settings;
pub mod state;
mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::apidoc::ApiDoc;
use crate::auth::{TokenCache, token_hash};
use crate::bus::{EventBus, LocalBus, NatsBus};
use crate::error::ApiError;
use crate::payments::Sandbox;
pub use crate::settings::{Config, Settings};
use crate::state::{AppState, KeyLocks, Shared};

async fn not_found() -> Response {
    ApiError::NotFound("route").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

/// Every route of the API.
pub fn router(state: AppState) -> Router {
    use routes::{
        accounts, lives, market, matching, ops, payouts, purchases, shop, statements, wallet,
        webhooks, ws,
    };
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(accounts::create_account))
        .routes(routes!(accounts::get_account))
        .routes(routes!(accounts::create_token))
        .routes(routes!(accounts::revoke_token))
        .routes(routes!(accounts::set_payout_account))
        .routes(routes!(accounts::me))
        .routes(routes!(
            wallet::spending_limits,
            wallet::set_spending_limits
        ))
        .routes(routes!(matching::create_program, matching::list_programs))
        .routes(routes!(matching::fund_program))
        .routes(routes!(wallet::wallet))
        .routes(routes!(wallet::top_up))
        .routes(routes!(lives::prices))
        .routes(routes!(lives::create_live))
        .routes(routes!(lives::get_live))
        .routes(routes!(lives::end_live))
        .routes(routes!(lives::set_goal))
        .routes(routes!(lives::create_comment, lives::list_comments))
        .routes(routes!(ws::events))
        .routes(routes!(purchases::buy_badge))
        .routes(routes!(lives::supporters))
        .routes(routes!(purchases::refund))
        .routes(routes!(ops::earnings))
        .routes(routes!(ops::verify))
        .routes(routes!(payouts::release_holds))
        .routes(routes!(payouts::run_payouts))
        .routes(routes!(payouts::get_payout))
        .routes(routes!(payouts::creator_payouts))
        .routes(routes!(statements::statement))
        .routes(routes!(webhooks::payment_webhook))
        .routes(routes!(routes::payments::sandbox_charges))
        .routes(routes!(routes::payments::reconcile))
        .routes(routes!(shop::create_product, shop::list_products))
        .routes(routes!(shop::update_product))
        .routes(routes!(shop::get_shop, shop::set_shop))
        .routes(routes!(shop::creator_stats))
        .routes(routes!(shop::create_link))
        .routes(routes!(shop::redirect))
        .routes(routes!(shop::create_coupon))
        .routes(routes!(shop::create_order))
        .routes(routes!(shop::get_order))
        .routes(routes!(shop::return_items))
        .routes(routes!(shop::get_shop_settings, shop::set_shop_settings))
        .routes(routes!(shop::brand_stats))
        .routes(routes!(market::get_metrics, market::put_metrics))
        .routes(routes!(market::get_profile, market::put_profile))
        .routes(routes!(market::list_campaigns, market::create_campaign))
        .routes(routes!(market::get_campaign))
        .routes(routes!(market::matches))
        .routes(routes!(market::campaign_offers, market::create_offer))
        .routes(routes!(market::recommended))
        .routes(routes!(market::creator_offers))
        .routes(routes!(market::run_due_offers))
        .routes(routes!(market::get_offer))
        .routes(routes!(market::accept))
        .routes(routes!(market::decline))
        .routes(routes!(market::deliver))
        .routes(routes!(market::approve))
        .routes(routes!(market::request_changes))
        .routes(routes!(market::cancel))
        .routes(routes!(market::rate))
        .routes(routes!(routes::insights::income))
        .split_for_parts();
    let api = api.fallback(not_found).with_state(state.clone());
    // The same API for the pages' scripts, with the session cookie for a token.
    let app_api = api.clone().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        pages::session_api,
    ));
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/openapi.json", apidoc::complete(doc, &state.config)))
        .merge(api)
        .merge(pages::router(state).layer(axum::middleware::from_fn(pages::with_page_headers)))
        .nest("/app", app_api)
        // After every route: axum's own 405 has an empty body, not the API's error format.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(telemetry::http_metrics))
        .layer(DefaultBodyLimit::max(extract::BODY_MAX_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(TraceLayer::new_for_http())
}

/// A built application: its state and the admin token it accepts.
#[derive(Debug)]
pub struct App {
    /// Shared state.
    pub state: AppState,
    /// The admin token (configured, or generated for this run).
    pub admin_token: String,
    /// Whether the admin token was generated because none was configured.
    pub admin_token_generated: bool,
}

/// Opens (and migrates) the configured store, for a command that needs only the store and
/// the money flows (`ovation ledger verify`, `ovation payouts release`), not the HTTP state.
pub async fn open_store(config: &Config) -> Result<store::Store, store::StoreError> {
    store::Store::open(&store::StoreConfig {
        database_url: config.database_url.clone(),
        pool_size: config.pool_size,
        writer: config.writer.clone(),
    })
    .await
}

impl App {
    /// Opens the store and assembles the state.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let store = open_store(&config).await?;
        let (admin_token, admin_token_generated) = match &config.admin_token {
            Some(t) => (t.expose_secret().to_owned(), false),
            None => (
                routes::accounts::new_token().replacen("ovt_", "ova_", 1),
                true,
            ),
        };
        // With a NATS URL, live events are shared with the other nodes; the first
        // connection must succeed (a wrong URL stops the start), later drops reconnect.
        let nats = match &config.nats_url {
            Some(url) => Some(Arc::new(
                NatsBus::connect(url, config.ws_buffer)
                    .await
                    .with_context(|| format!("cannot use nats at {}", store::redact(url)))?,
            )),
            None => None,
        };
        let bus: Arc<dyn EventBus> = match &nats {
            Some(nats) => nats.clone(),
            None => Arc::new(LocalBus::new(config.ws_buffer)),
        };
        let webhook_secret = config.webhooks.secret.clone().unwrap_or_else(|| {
            secrecy::SecretString::from(routes::accounts::new_token().replacen("ovt_", "whsec_", 1))
        });
        let Provider {
            provider: payments,
            outbox,
            sandbox,
        } = provider(&config, &store);
        let sandbox_undelivered = outbox
            .as_ref()
            .map(payments::Outbox::undelivered)
            .unwrap_or_default();
        let clicks = clicks::Clicks::open(&store).await?;
        let config_rates = config.rates.clone();
        let state = AppState::new(Shared {
            clicks,
            matchmaker: matchmaker::Matchmaker::default(),
            admin_token_hashes: std::iter::once(token_hash(&admin_token))
                .chain(
                    config
                        .admin_token_previous
                        .as_ref()
                        .map(|t| token_hash(t.expose_secret())),
                )
                .collect(),
            config,
            store,
            tokens: TokenCache::default(),
            bus,
            nats,
            payments,
            webhook_secret,
            sandbox_undelivered,
            key_locks: KeyLocks::default(),
            metrics: telemetry::handle(),
            lives: state::LiveCache::default(),
            programs: state::ProgramCache::default(),
            hearts: state::HeartsCache::default(),
            demo: std::sync::OnceLock::new(),
            shutdown: tokio::sync::watch::Sender::new(false),
            sockets: state::SocketCounts::default(),
            limits: limits::RateLimits::new(&config_rates),
            operator_key: auth::OperatorKey::new(&admin_token),
        });
        if let Some(outbox) = outbox {
            outbox.spawn(state.shutdown.subscribe(), in_process(state.clone()));
        }
        if let Some(sandbox) = sandbox {
            settle_sandbox(sandbox, state.shutdown.subscribe());
        }
        Ok(App {
            state,
            admin_token,
            admin_token_generated,
        })
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting, closes every
    /// WebSocket with 1001, lets in-flight requests finish and stops the ledger writer once
    /// it has committed its batch and queue. Fails if that takes more than
    /// [`SHUTDOWN_GRACE`].
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        if let Some(every) = state.config.release_interval {
            tokio::spawn(release_on_schedule(state.clone(), every));
        }
        tokio::spawn(reconcile_on_schedule(state.clone(), RECONCILE_EVERY));
        tokio::spawn(roll_up_clicks_on_schedule(state.clone()));
        tokio::spawn(offers_on_schedule(state.clone(), OFFERS_EVERY));
        tokio::spawn(prune_idempotency_on_schedule(state.clone()));
        let (began, grace_starts) = tokio::sync::oneshot::channel::<()>();
        let signal = {
            let state = self.state.clone();
            async move {
                shutdown.await;
                // An upgraded WebSocket is no longer a request: axum neither tells it nor
                // waits for it. Tell viewers first, so they close while requests drain.
                tracing::info!(
                    websockets = state.shutdown.receiver_count(),
                    "shutting down: closing WebSockets, finishing requests"
                );
                state.shutdown.send_replace(true);
                let _ = began.send(());
            }
        };
        let drain = async {
            let limits = state.config.edge.clone();
            let app = edge::limit_requests(router(self.state), &limits);
            edge::serve(listener, app, &limits, signal).await;
            // Requests are answered and the listener is closed; viewers are closing.
            state.shutdown.closed().await;
            // The writer commits the batch it holds and everything queued, then stops.
            state.store.close().await;
            // The events of the last requests reach the other nodes before the node goes.
            if let Some(nats) = &state.nats
                && let Err(e) = nats.close().await
            {
                tracing::warn!(error = %e, "live events of the last requests may not have reached nats");
            }
            anyhow::Ok(())
        };
        let grace = async {
            let _ = grace_starts.await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            drained = drain => {
                drained?;
                tracing::info!("shut down: requests answered, WebSockets closed, ledger writer stopped");
                Ok(())
            }
            // Exiting mid-batch is safe: an uncommitted batch rolls back and none of its
            // requests was answered.
            () = grace => Err(anyhow::anyhow!(
                "shutdown did not finish within {} s: exiting with requests in flight",
                SHUTDOWN_GRACE.as_secs()
            )),
        }
    }
}

/// The configured payment provider.
#[derive(Debug)]
pub struct Provider {
    /// The provider.
    pub provider: Arc<dyn payments::PaymentProvider>,
    /// With the sandbox: the webhooks it sends, for the caller to deliver.
    pub outbox: Option<payments::Outbox>,
    /// With the sandbox: the sandbox itself (its processing charges are settled on a timer).
    pub sandbox: Option<Arc<Sandbox>>,
}

/// The configured payment provider; the sandbox keeps its charges in `store`'s database.
pub fn provider(config: &Config, store: &store::Store) -> Provider {
    match &config.payments {
        settings::PaymentsConfig::Sandbox => {
            let (sandbox, outbox) =
                Sandbox::with_webhooks(store.clone(), config.sandbox_webhook_delay);
            let sandbox = Arc::new(if config.sandbox_charges_with_booking {
                sandbox
            } else {
                sandbox.charging_first()
            });
            Provider {
                provider: sandbox.clone(),
                outbox: Some(outbox),
                sandbox: Some(sandbox),
            }
        }
        settings::PaymentsConfig::Stripe {
            secret_key,
            api_base,
        } => Provider {
            provider: Arc::new(payments::Stripe::new(api_base, secret_key.clone())),
            outbox: None,
            sandbox: None,
        },
    }
}

/// Settles the sandbox's processing charges whose delay has passed, every delay, until
/// `stopping`.
fn settle_sandbox(sandbox: Arc<Sandbox>, mut stopping: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(sandbox.delay().max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stopping.wait_for(|stop| *stop) => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = sandbox.settle_due().await {
                tracing::warn!(error = %e, "sandbox: processing charges not settled");
            }
        }
    });
}

impl App {
    /// Waits until the sandbox's webhooks are delivered (at most `patience`): a command that
    /// books through the sandbox waits for their confirmations.
    pub async fn sandbox_settled(&self, patience: Duration) -> bool {
        self.state.sandbox_undelivered.settled(patience).await
    }
}

/// Applies a sandbox webhook in this process, as the webhook route applies a processor's
/// ([`flows::events::ProviderEvents::apply`]), without a round trip through the router: the
/// sandbox is this process, so there is no signature to make and check, no body to route.
/// Each card purchase causes one (`payment_intent.succeeded`, found booked already).
fn in_process(
    state: AppState,
) -> impl Fn(String) -> futures_util::future::BoxFuture<'static, bool> + Clone + Send + Sync {
    move |body: String| {
        let state = state.clone();
        Box::pin(async move { state.provider_events().apply_text(&body).await })
    }
}

/// How often `serve` reconciles the provider's charges with the ledger.
const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// Reconciles the provider's charges with the ledger every `every` until the server shuts
/// down (several nodes may: each settlement happens once).
async fn reconcile_on_schedule(state: AppState, every: Duration) {
    let mut stopping = state.shutdown.subscribe();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = state.checkout().reconcile(store::now()).await {
            tracing::warn!(error = %e, "reconciling the provider's charges failed; the next run retries");
        }
    }
}

/// Releases due holds every `every` until the server shuts down (it holds a shutdown
/// receiver, so the shutdown waits for a run in progress before it stops the writer).
async fn release_on_schedule(state: AppState, every: Duration) {
    let mut stopping = state.shutdown.subscribe();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        match flows::release_due(&state.store, store::now()).await {
            Ok(report) if report.holds > 0 => {
                tracing::info!(
                    holds = report.holds,
                    releases = report.releases,
                    skipped = report.skipped,
                    "released held income"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "releasing held income failed; retried next time"),
        }
    }
}

/// How often `serve` expires unanswered offers and approves unanswered deliveries.
const OFFERS_EVERY: Duration = Duration::from_secs(60);

/// Takes the steps time takes on offers every `every` until the server shuts down (several
/// nodes may: each step is guarded, so it happens once).
async fn offers_on_schedule(state: AppState, every: Duration) {
    let mut stopping = state.shutdown.subscribe();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        match flows::deals::run_due(&state.store, store::now(), state.config.hold_period).await {
            Ok(report) if report.expired + report.approved > 0 => {
                state.matchmaker.changed();
                tracing::info!(
                    expired = report.expired,
                    approved = report.approved,
                    skipped = report.skipped,
                    "offers moved on by time"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "moving due offers failed; retried next time"),
        }
    }
}

/// How often `serve` forgets stored idempotent answers older than the retention.
const PRUNE_IDEMPOTENCY_EVERY: Duration = Duration::from_secs(3_600);

/// Most rows one step of a periodic clean-up (idempotency records, old clicks) handles in one
/// statement: a large backlog goes in steps, so no table is locked long.
const PRUNE_BATCH: u32 = 10_000;

/// Deletes stored idempotent answers older than `idempotency_retention`, every
/// [`PRUNE_IDEMPOTENCY_EVERY`] (several nodes may: a deletion is idempotent).
async fn prune_idempotency_on_schedule(state: AppState) {
    let keep = time::Duration::try_from(state.config.idempotency_retention)
        .unwrap_or(time::Duration::days(2));
    in_batches_on_schedule(
        state,
        PRUNE_IDEMPOTENCY_EVERY,
        "old idempotency records pruned",
        move |state| async move {
            state
                .store
                .prune_idempotency(store::now() - keep, PRUNE_BATCH)
                .await
        },
    )
    .await;
}

/// How often `serve` rolls up old clicks.
const ROLL_UP_EVERY: Duration = Duration::from_secs(3_600);

/// Counts clicks older than the longest attribution window (plus a day) per link and day
/// and deletes them, every [`ROLL_UP_EVERY`]: attribution never looks that far back, and the
/// statistics keep their counts.
async fn roll_up_clicks_on_schedule(state: AppState) {
    let keep = time::Duration::days(i64::from(shop::ProductRules::WINDOW_MAX) + 1);
    in_batches_on_schedule(
        state,
        ROLL_UP_EVERY,
        "old clicks rolled up into daily counts",
        move |state| async move {
            state
                .store
                .roll_up_clicks(store::now() - keep, PRUNE_BATCH)
                .await
        },
    )
    .await;
}

/// Every `every` until shutdown, runs `step` again while it handles a whole
/// [`PRUNE_BATCH`] of rows; logs what the run did as `done`, and a failure as a warning
/// (the next tick retries).
async fn in_batches_on_schedule<F, Fut>(
    state: AppState,
    every: Duration,
    done: &'static str,
    step: F,
) where
    F: Fn(AppState) -> Fut,
    Fut: Future<Output = Result<u64, store::StoreError>>,
{
    let mut stopping = state.shutdown.subscribe();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => return,
            _ = tick.tick() => {}
        }
        let mut total = 0u64;
        loop {
            match step(state.clone()).await {
                Ok(n) => {
                    total += n;
                    if n < u64::from(PRUNE_BATCH) {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "{done}: failed; retried next time");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(rows = total, "{done}");
        }
    }
}

/// How long requests, WebSockets and the ledger writer get to finish after the shutdown
/// signal: less than the 30 s Kubernetes waits between SIGTERM and SIGKILL by default, so
/// that a slow drain still ends with a message rather than a kill.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Binds `addr` (port 0 picks one) and returns the listener with its real address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
