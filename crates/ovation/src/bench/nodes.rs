//! `ovation bench nodes`: two nodes sharing live events through NATS.
//!
//! Two measurements, both through the real NATS server:
//! 1. **bus throughput**: node B's `NatsBus` publishes events of one live as fast as its
//!    publisher queue takes them; a viewer channel on node A counts what arrives.
//! 2. **added latency**: two in-process servers (`App`s) on one fresh PostgreSQL database,
//!    each with its own NATS connection; a WebSocket viewer of one live on each node;
//!    comments posted one at a time through node B's HTTP API. Each comment's arrival at B's
//!    viewer (same node) and at A's viewer (across NATS) is timed from the request's start;
//!    the difference is what crossing nodes adds.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates and averages of a benchmark report"
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use futures_util::StreamExt;
use hyper::{Method, StatusCode};
use server::bus::{EventBus, LiveEvent, NatsBus};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::http::{Conn, seed};
use super::report::{Block, Latencies, machine, ms, per_sec, thousands};
use super::{BenchDb, InProcess};

/// Options of `ovation bench nodes`.
#[derive(Debug, Args)]
pub(crate) struct NodesArgs {
    /// The NATS server both nodes use.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// A PostgreSQL server (any database URL of it) on which a fresh database is created
    /// for the two nodes, and dropped afterwards.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Events published by node B in the throughput run.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Bytes of each event's payload in the throughput run (a badge event is ~400).
    #[arg(long, default_value_t = 400)]
    event_bytes: usize,
    /// Comments timed one at a time in the latency run.
    #[arg(long, default_value_t = 1_000)]
    comments: u64,
}

pub(crate) async fn run(args: NodesArgs) -> anyhow::Result<()> {
    let throughput = bus_throughput(&args).await?;
    let latency = cross_node_latency(&args).await?;

    let mut block = Block::new("ovation bench nodes — two nodes sharing live events through NATS");
    block
        .line(
            "bus, B → A",
            format!(
                "{} events/s delivered across nodes ({} of {} arrived, {} B each)",
                thousands(throughput.per_sec),
                throughput.received,
                args.events,
                args.event_bytes
            ),
        )
        .line("same node", latency.same.summary())
        .line("across NATS", latency.cross.summary())
        .line("added by crossing", latency.added.summary())
        .line(
            "parameters",
            format!(
                "{} comments one at a time through node B's API, a WebSocket viewer on each node; NATS {}",
                args.comments, args.nats
            ),
        )
        .line(
            "servers",
            "two in-process App instances on one fresh PostgreSQL database, one NATS connection each",
        )
        .line("machine", machine());
    block.print();
    anyhow::ensure!(
        throughput.received == args.events,
        "{} events did not arrive",
        args.events - throughput.received
    );
    Ok(())
}

struct Throughput {
    per_sec: f64,
    received: u64,
}

async fn bus_throughput(args: &NodesArgs) -> anyhow::Result<Throughput> {
    // The viewer channel holds the whole run, so that counting never lags behind.
    let capacity = usize::try_from(args.events).unwrap_or(usize::MAX).max(1);
    let a = NatsBus::connect(&args.nats, capacity)
        .await
        .context("node A connects to nats")?;
    let b = NatsBus::connect(&args.nats, 64)
        .await
        .context("node B connects to nats")?;
    let live = format!("live_bench_{}", uuid::Uuid::new_v4().simple());
    let mut viewer = a.subscribe(&live);
    let event = LiveEvent {
        payload: "x".repeat(args.event_bytes).into(),
        last: false,
    };
    // The publisher's queue is bounded (events past it stay local): publish in windows
    // below its bound and wait for NATS to have each window before the next.
    const WINDOW: u64 = 4_096;
    let counting = tokio::spawn(async move {
        let mut received = 0_u64;
        let mut last = Instant::now();
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), viewer.recv()).await {
            received += 1;
            last = Instant::now();
        }
        (received, last)
    });
    let started = Instant::now();
    let mut sent = 0;
    while sent < args.events {
        let n = WINDOW.min(args.events - sent);
        for _ in 0..n {
            b.publish(&live, event.clone());
        }
        b.flush().await?;
        sent += n;
    }
    let (received, last) = counting.await?;
    let _ = a.close().await;
    let _ = b.close().await;
    Ok(Throughput {
        per_sec: per_sec(received, last.duration_since(started)),
        received,
    })
}

/// One set of latencies with its printed summary.
struct Series(Latencies);

impl Series {
    fn summary(&self) -> String {
        format!(
            "p50 {}  p90 {}  p99 {}  max {}",
            ms(self.0.pct(50)),
            ms(self.0.pct(90)),
            ms(self.0.pct(99)),
            ms(self.0.max())
        )
    }
}

struct Latency {
    same: Series,
    cross: Series,
    added: Series,
}

type Viewer = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A node in this process on `database_url`, sharing live events through `nats`.
async fn start_node(database_url: &str, nats: &str) -> anyhow::Result<InProcess> {
    let mut config = server::Config::for_database(database_url);
    config.nats_url = Some(nats.to_owned());
    config.admin_token = Some(secrecy::SecretString::from(
        "bench-nodes-admin-token-of-this-run",
    ));
    // The benchmark times comments between nodes, not the per-account comment limit.
    config.rates.comments = None;
    InProcess::start(config).await
}

async fn watch(addr: SocketAddr, live: &str, token: &str) -> anyhow::Result<Viewer> {
    let url = format!("ws://{addr}/v1/lives/{live}/events?token={token}");
    let (socket, _) = tokio_tungstenite::connect_async(&url).await?;
    Ok(socket)
}

/// Reads `viewer` until the comment whose text is `text` arrives; its arrival time.
async fn arrival(viewer: &mut Viewer, text: &str) -> anyhow::Result<Instant> {
    let wait = Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout(wait, viewer.next())
            .await
            .with_context(|| format!("{text} did not arrive within {wait:?}"))?;
        match message {
            Some(Ok(Message::Text(frame))) if frame.as_str().contains(text) => {
                return Ok(Instant::now());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the viewer was closed"),
        }
    }
}

async fn cross_node_latency(args: &NodesArgs) -> anyhow::Result<Latency> {
    let db = BenchDb::create(&args.postgres, "ovation_bench_nodes").await?;
    let result = timed_comments(args, &db.url).await;
    db.drop_now().await;
    result
}

async fn timed_comments(args: &NodesArgs, database_url: &str) -> anyhow::Result<Latency> {
    let node_a = start_node(database_url, &args.nats).await?;
    let node_b = start_node(database_url, &args.nats).await?;
    let (a, b) = (node_a.addr, node_b.addr);
    let seeded = seed(&b.to_string(), &node_a.admin, 2, 2).await?;
    let (_, token) = &seeded.viewers[0];
    let mut on_a = watch(a, &seeded.live_id, token).await?;
    let mut on_b = watch(b, &seeded.live_id, token).await?;
    let mut conn = Conn::connect(&b.to_string()).await?;
    let path = format!("/v1/lives/{}/comments", seeded.live_id);
    let count = usize::try_from(args.comments).unwrap_or(0);
    let (mut same, mut cross, mut added) = (
        Latencies::with_capacity(count),
        Latencies::with_capacity(count),
        Latencies::with_capacity(count),
    );
    for n in 0..args.comments {
        let text = format!("timed comment {n}.");
        let body = Bytes::from(serde_json::json!({ "text": text }).to_string());
        let started = Instant::now();
        let (status, answer) = conn
            .send(Method::POST, &path, token, None, Some(body))
            .await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "comment answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
        // Both viewers read at once, so neither arrival waits for the other to be read.
        let (at_b, at_a) = tokio::join!(arrival(&mut on_b, &text), arrival(&mut on_a, &text));
        let (at_b, at_a) = (at_b?, at_a?);
        same.record(at_b - started);
        cross.record(at_a - started);
        added.record(at_a.saturating_duration_since(at_b));
    }
    // Viewers go first, so the nodes need not wait for them to answer their close.
    drop((on_a, on_b, conn));
    node_a.stop().await?;
    node_b.stop().await?;
    for l in [&mut same, &mut cross, &mut added] {
        l.sort();
    }
    Ok(Latency {
        same: Series(same),
        cross: Series(cross),
        added: Series(added),
    })
}
