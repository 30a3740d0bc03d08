//! The server's metrics, as Prometheus reads them: every family described (`# HELP`, `# TYPE`)
//! and present from the first scrape, histograms (not summaries) wherever a distribution is
//! measured, so that they add up across nodes, HTTP requests counted and timed by route and
//! status, and the process's own CPU, memory and file descriptors.
//!
//! [`FAMILIES`] is the catalogue: a metric recorded anywhere in the server is listed here,
//! with its help text and the label values it starts with.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// What a family is.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    /// With its buckets' upper bounds.
    Histogram(&'static [f64]),
}

/// Labels of one series.
type Labels = &'static [(&'static str, &'static str)];

/// One metric family: its name, kind, help, and the series it starts with, at zero.
struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    starts_with: &'static [Labels],
}

/// A family without labels.
const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    labelled(name, kind, help, &[&[]])
}

/// A family with labels, starting with the series `starts_with`.
const fn labelled(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    starts_with: &'static [Labels],
) -> Family {
    Family {
        name,
        kind,
        help,
        starts_with,
    }
}

/// Seconds, from half a millisecond to ten seconds.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Counts of items in a batch, from one to the writer's largest batch.
const BATCH: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// The series the HTTP families start with: the first scrape's own.
const SCRAPE: &[Labels] = &[&[("route", "/metrics"), ("method", "GET"), ("status", "200")]];

/// HTTP requests answered, by route, method and status.
pub(crate) const HTTP_REQUESTS: &str = "ovation_http_requests_total";
/// How long HTTP requests took, by route, method and status.
pub(crate) const HTTP_DURATION: &str = "ovation_http_request_duration_seconds";

const FAMILIES: &[Family] = &[
    labelled(
        HTTP_REQUESTS,
        Kind::Counter,
        "HTTP requests answered, by route (its template), method and status.",
        SCRAPE,
    ),
    labelled(
        HTTP_DURATION,
        Kind::Histogram(SECONDS),
        "Time from a request's headers to its answer's, by route, method and status.",
        SCRAPE,
    ),
    family(
        "ovation_requests_shed_total",
        Kind::Counter,
        "Requests answered 503 at once because requests_in_flight_max were being handled.",
    ),
    family(
        "ovation_requests_timed_out_total",
        Kind::Counter,
        "Requests answered 503 because they outlasted request_timeout_secs.",
    ),
    family(
        "ovation_accept_errors_total",
        Kind::Counter,
        "Failures to accept a connection other than the client's reset (out of file descriptors, say).",
    ),
    family(
        "ovation_ledger_commit_seconds",
        Kind::Histogram(SECONDS),
        "Time the ledger writer took to load, plan, write and commit one batch.",
    ),
    labelled(
        "ovation_ledger_phase_seconds",
        Kind::Histogram(SECONDS),
        "Time one ledger batch spent in each phase: lock (SQLite: waiting for the write lock; PostgreSQL: BEGIN and claiming the batch's keys), load, plan, write (its statements), commit (SQLite: the WAL's writes and fsync; PostgreSQL: COMMIT).",
        &[
            &[("phase", "lock")],
            &[("phase", "load")],
            &[("phase", "plan")],
            &[("phase", "write")],
            &[("phase", "commit")],
        ],
    ),
    labelled(
        "ovation_writer_wait_seconds",
        Kind::Histogram(SECONDS),
        "Time from a write's submission to the ledger writer to its answer: its wait in the queue and its batch's commit. A card purchase makes three in sequence (its payment attempt, the sandbox's charge record, its booking), a wallet purchase one.",
        &[
            &[("queue", "jobs")],
            &[("queue", "charges")],
            &[("queue", "comments")],
        ],
    ),
    labelled(
        "ovation_sqlite_checkpoint_seconds",
        Kind::Histogram(SECONDS),
        "Time one WAL checkpoint took on the checkpointer's own connection (SQLite), off every commit's path: passive after commits, restart when the WAL has grown long, flush (the database file's fsync before a restart, holding no lock).",
        &[
            &[("mode", "passive")],
            &[("mode", "restart")],
            &[("mode", "flush")],
        ],
    ),
    family(
        "ovation_ledger_batch_jobs",
        Kind::Histogram(BATCH),
        "Money movements (jobs) committed in one ledger batch.",
    ),
    family(
        "ovation_ledger_transfers_total",
        Kind::Counter,
        "Ledger transfers committed.",
    ),
    family(
        "ovation_writer_batch_comments",
        Kind::Histogram(BATCH),
        "Comments committed in one writer batch that carried comments.",
    ),
    family(
        "ovation_writer_comments_refused_total",
        Kind::Counter,
        "Comments answered 503 because writer_comment_queue_max comments were waiting.",
    ),
    labelled(
        "ovation_purchases_total",
        Kind::Counter,
        "Badge purchases booked, by tier and payment method.",
        &[
            &[("tier", "1"), ("method", "card")],
            &[("tier", "2"), ("method", "card")],
            &[("tier", "3"), ("method", "card")],
            &[("tier", "1"), ("method", "wallet")],
            &[("tier", "2"), ("method", "wallet")],
            &[("tier", "3"), ("method", "wallet")],
        ],
    ),
    labelled(
        "ovation_purchase_amount_minor_total",
        Kind::Counter,
        "What badge purchases booked cost, in minor units, by currency.",
        &[&[("currency", "USD")]],
    ),
    family(
        "ovation_payments_declined_total",
        Kind::Counter,
        "Card payments the processor declined.",
    ),
    family(
        "ovation_refunds_total",
        Kind::Counter,
        "Purchases refunded by the platform.",
    ),
    labelled(
        "ovation_reversals_total",
        Kind::Counter,
        "Payments reversed by the provider's events, by what was booked.",
        &[
            &[("reason", "refunded")],
            &[("reason", "charged_back")],
            &[("reason", "topup_refund")],
            &[("reason", "topup_chargeback")],
        ],
    ),
    family(
        "ovation_wallet_topups_total",
        Kind::Counter,
        "Wallet top-ups booked.",
    ),
    labelled(
        "ovation_webhooks_total",
        Kind::Counter,
        "Payment provider events applied, by type.",
        &[
            &[("type", "payment_intent.succeeded")],
            &[("type", "charge.refunded")],
            &[("type", "charge.dispute.created")],
            &[("type", "payout.paid")],
            &[("type", "payout.failed")],
        ],
    ),
    family(
        "ovation_webhooks_rejected_total",
        Kind::Counter,
        "Payment webhooks refused for their signature or form.",
    ),
    family(
        "ovation_sandbox_webhooks_dropped_total",
        Kind::Counter,
        "Sandbox webhooks given up after their retries.",
    ),
    labelled(
        "ovation_payouts_settled_total",
        Kind::Counter,
        "Payouts settled by the provider's events, by result.",
        &[
            &[("result", "paid")],
            &[("result", "failed")],
            &[("result", "returned")],
        ],
    ),
    family(
        "ovation_payout_events_mismatched_total",
        Kind::Counter,
        "Payout events whose amount or currency did not match the payout booked.",
    ),
    family(
        "ovation_orphan_payments_refunded_total",
        Kind::Counter,
        "Card payments the reconciler found without a purchase and refunded.",
    ),
    family(
        "ovation_unbooked_charges_refunded_total",
        Kind::Counter,
        "Charges made but not booked (the booking failed) that were refunded.",
    ),
    family(
        "ovation_lives_started_total",
        Kind::Counter,
        "Lives started.",
    ),
    family("ovation_comments_total", Kind::Counter, "Comments posted."),
    family(
        "ovation_ws_connections",
        Kind::Gauge,
        "WebSockets open to live events on this node.",
    ),
    family(
        "ovation_ws_dropped_slow_total",
        Kind::Counter,
        "WebSockets closed with 1008 because their viewer fell behind the live's events.",
    ),
    family(
        "ovation_bus_published_total",
        Kind::Counter,
        "Live events this node published to NATS.",
    ),
    family(
        "ovation_bus_received_total",
        Kind::Counter,
        "Live events received from other nodes through NATS.",
    ),
    labelled(
        "ovation_bus_dropped_total",
        Kind::Counter,
        "Live events not shared or not forwarded, by reason.",
        &[
            &[("reason", "queue_full")],
            &[("reason", "publish_error")],
            &[("reason", "malformed")],
            &[("reason", "bad_live_id")],
        ],
    ),
    family(
        "ovation_shop_clicks_recorded_total",
        Kind::Counter,
        "Tracked-link clicks written.",
    ),
    labelled(
        "ovation_shop_clicks_filtered_total",
        Kind::Counter,
        "Tracked-link clicks not counted, by why.",
        &[&[("why", "bot")], &[("why", "repeat")]],
    ),
    family(
        "ovation_shop_clicks_dropped_total",
        Kind::Counter,
        "Tracked-link clicks lost because the click queue was full or a write failed.",
    ),
];

/// The process-wide recorder, installed once (tests start many servers in one process),
/// with every family described and started.
pub(crate) fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for f in FAMILIES {
                if let Kind::Histogram(buckets) = f.kind {
                    builder = builder
                        .set_buckets_for_metric(Matcher::Full(f.name.to_owned()), buckets)
                        .expect("every histogram's buckets are a non-empty constant");
                }
            }
            let handle = builder
                .install_recorder()
                .expect("the recorder is installed once, guarded by the OnceLock");
            for f in FAMILIES {
                describe(f);
                start(f);
            }
            let process = metrics_process::Collector::default();
            process.describe();
            process.collect();
            drop(PROCESS.set(process));
            handle
        })
        .clone()
}

/// The process's collector, read at every scrape.
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Updates the process's metrics (CPU, memory, threads, file descriptors) before a scrape.
pub(crate) fn collect_process() {
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
}

fn describe(f: &Family) {
    match f.kind {
        Kind::Counter => metrics::describe_counter!(f.name, f.help),
        Kind::Gauge => metrics::describe_gauge!(f.name, f.help),
        Kind::Histogram(_) => metrics::describe_histogram!(f.name, f.help),
    }
}

/// Registers `f`'s first series, at zero, so that the family is in the first scrape.
fn start(f: &Family) {
    for labels in f.starts_with {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, *v))
            .collect();
        match f.kind {
            Kind::Counter => metrics::counter!(f.name, labels).increment(0),
            Kind::Gauge => metrics::gauge!(f.name, labels).increment(0.0),
            // A registered histogram is rendered with empty buckets until its first sample.
            Kind::Histogram(_) => drop(metrics::histogram!(f.name, labels)),
        }
    }
}

/// Counts and times each request by its route's template (`/v1/lives/{id}`, so that ids do
/// not make a series each; `unmatched` for paths that are no route), method and status.
pub(crate) async fn http_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let labels = [
        ("route", route),
        ("method", method),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}
