//! `ovation bench fanout`: one live, many WebSocket viewers on one node.
//!
//! The server runs as a child process (`ovation serve` on a fresh SQLite file) so that its
//! RSS is its own; the viewers are tokio-tungstenite clients in this process. Every viewer
//! receives the live's events in the same order, so the k-th message a viewer reads is the
//! k-th announcement: a counter per announcement tells when the last viewer got it.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates and averages of a benchmark report"
)]

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use futures_util::StreamExt;
use hyper::{Method, StatusCode};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::http::{Conn, field, seed};
use super::report::{Block, Latencies, cpu_seconds, machine, mib, ms, per_sec, rss_kib, thousands};
use super::{Common, temp_dir};

/// Options of `ovation bench fanout`.
#[derive(Debug, Args)]
pub(crate) struct FanoutArgs {
    /// WebSocket viewers of the one live.
    #[arg(long, default_value_t = 10_000)]
    viewers: usize,
    /// Announcements to publish.
    #[arg(long, default_value_t = 2_000)]
    announcements: u64,
    /// What is announced: badge purchases, comments, or both alternating.
    #[arg(long, value_enum, default_value_t = Kind::Badges)]
    kind: Kind,
    /// Most announcements published but not yet received by every viewer; publishers wait
    /// beyond it (so the run measures the fanout, not an ever-growing queue).
    #[arg(long, default_value_t = 64)]
    window: u64,
    /// Concurrent publishers (one HTTP connection each).
    #[arg(long, default_value_t = 32)]
    publishers: usize,
    /// Viewer accounts seeded; viewers share their tokens round robin.
    #[arg(long, default_value_t = 500)]
    accounts: usize,
    /// WebSocket handshakes in flight while connecting.
    #[arg(long, default_value_t = 128)]
    connect_parallel: usize,
    /// Seconds the viewers stay idle before the idle RSS is read.
    #[arg(long, default_value_t = 3)]
    idle_secs: u64,
    #[command(flatten)]
    common: Common,
}

/// What the publishers post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// Badge purchases (booked by the batching writer, then announced).
    Badges,
    /// Comments (one insert each, then announced).
    Comments,
    /// Comments and badge purchases alternating.
    Mixed,
}

/// Per announcement (in broadcast order): viewers still to receive it, and when the last did.
struct Slots {
    remaining: Vec<AtomicU32>,
    done_ns: Vec<AtomicU64>,
    first_ns: Vec<AtomicU64>,
    completed: AtomicU64,
    notify: Notify,
    clock: Instant,
    /// The ids of the events in broadcast order, as viewer 0 read them.
    ids: Mutex<Vec<String>>,
    closed: AtomicU64,
    viewers: u32,
}

impl Slots {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The first `"id":"…"` of an event: the comment's or the purchase's id.
fn event_id(text: &str) -> Option<&str> {
    let start = text.find(r#""id":""#)? + 6;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

async fn viewer<S>(mut ws: S, slots: Arc<Slots>, scribe: bool)
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut k = 0usize;
    while let Some(message) = ws.next().await {
        match message {
            Ok(Message::Text(text)) => {
                if k < slots.remaining.len() {
                    if scribe {
                        slots
                            .ids
                            .lock()
                            .expect("ids lock is never poisoned")
                            .push(event_id(text.as_str()).unwrap_or("").to_owned());
                    }
                    let before = slots.remaining[k].fetch_sub(1, Ordering::AcqRel);
                    if before == slots.viewers {
                        slots.first_ns[k].store(slots.now_ns(), Ordering::Release);
                    }
                    if before == 1 {
                        slots.done_ns[k].store(slots.now_ns(), Ordering::Release);
                        slots.completed.fetch_add(1, Ordering::AcqRel);
                        slots.notify.notify_waiters();
                    }
                }
                k += 1;
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    slots.closed.fetch_add(1, Ordering::Relaxed);
}

/// A free loopback port (bound, read, released).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

pub(crate) async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let dir = temp_dir(&args.common)?;
    let port = free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let admin = format!(
        "ova_bench_admin_token_of_this_run_{:x}_{port}",
        std::process::id()
    );
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(&exe)
        .arg("serve")
        .env("OVATION_BIND", &addr)
        .env(
            "OVATION_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("fanout.db").display()),
        )
        .env("OVATION_ADMIN_TOKEN", &admin)
        // The benchmark measures fan-out, not the per-account comment limit.
        .env("OVATION_RATE_COMMENTS_PER_SECOND", "0")
        .env("OVATION_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {} serve", exe.display()))?;
    let pid = child.id().context("server exited at once")?.to_string();

    // Wait for the server.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut c) = Conn::connect(&addr).await
            && let Ok((StatusCode::OK, _)) = c.send(Method::GET, "/healthz", "-", None, None).await
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let seeded = seed(&addr, &admin, args.accounts.max(1), 16).await?;
    let rss_before = rss_kib(&pid).context("cannot read the server's /proc status")?;
    let client_before = rss_kib("self").unwrap_or_default();

    let n = usize::try_from(args.announcements).unwrap_or(0);
    let viewers = args.viewers.max(1);
    let slots = Arc::new(Slots {
        remaining: (0..n)
            .map(|_| AtomicU32::new(u32::try_from(viewers).unwrap_or(u32::MAX)))
            .collect(),
        done_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
        first_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
        viewers: u32::try_from(viewers).unwrap_or(u32::MAX),
        completed: AtomicU64::new(0),
        notify: Notify::new(),
        clock: Instant::now(),
        ids: Mutex::new(Vec::with_capacity(n)),
        closed: AtomicU64::new(0),
    });

    // Connect the viewers, `connect_parallel` handshakes at a time.
    let connect_started = Instant::now();
    let next_viewer = Arc::new(AtomicU64::new(0));
    let mut connectors = Vec::new();
    let readers = Arc::new(Mutex::new(Vec::with_capacity(viewers)));
    for _ in 0..args.connect_parallel.clamp(1, viewers) {
        let next_viewer = next_viewer.clone();
        let seeded = seeded.clone();
        let addr = addr.clone();
        let slots = slots.clone();
        let readers = readers.clone();
        connectors.push(tokio::spawn(async move {
            loop {
                let i = usize::try_from(next_viewer.fetch_add(1, Ordering::Relaxed))
                    .unwrap_or(usize::MAX);
                if i >= viewers {
                    return Ok::<_, anyhow::Error>(());
                }
                let token = &seeded.viewers[i % seeded.viewers.len()].1;
                let url = format!(
                    "ws://{addr}/v1/lives/{}/events?token={token}",
                    seeded.live_id
                );
                // Small buffers: 10,000 clients with tungstenite's 128 KiB default would
                // take over a GiB on the client side.
                let config = WebSocketConfig::default()
                    .read_buffer_size(4 * 1024)
                    .write_buffer_size(0);
                let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
                    .await
                    .with_context(|| format!("viewer {i} could not connect"))?;
                let (sink, stream) = ws.split();
                let handle = tokio::spawn(viewer(stream, slots.clone(), i == 0));
                readers
                    .lock()
                    .expect("readers lock is never poisoned")
                    .push((handle, sink));
            }
        }));
    }
    for c in connectors {
        c.await??;
    }
    let connect_time = connect_started.elapsed();
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let rss_idle = rss_kib(&pid).context("cannot read the server's /proc status")?;
    let client_idle = rss_kib("self").unwrap_or_default();
    anyhow::ensure!(
        slots.closed.load(Ordering::Relaxed) == 0,
        "viewers were closed before anything was published"
    );

    // Publish: comments and badge purchases, alternating, at most `window` in flight.
    let published = Arc::new(AtomicU64::new(0));
    let server_cpu_before = cpu_seconds(&pid);
    let client_cpu_before = cpu_seconds("self");
    let publish_started_ns = slots.now_ns();
    let mut publishers = Vec::with_capacity(args.publishers);
    for p in 0..args.publishers.max(1) {
        let slots = slots.clone();
        let published = published.clone();
        let seeded = seeded.clone();
        let mut conn = Conn::connect(&addr).await?;
        let total = args.announcements;
        let window = args.window.max(1);
        let run = format!("{:x}-{p}", std::process::id());
        let kind = args.kind;
        publishers.push(tokio::spawn(async move {
            let mut sent: Vec<(String, u64)> = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                // Wait while `window` announcements are out.
                loop {
                    let notified = slots.notify.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    let out =
                        published.load(Ordering::Acquire) - slots.completed.load(Ordering::Acquire);
                    if out < window {
                        break;
                    }
                    notified.await;
                }
                let n = published.fetch_add(1, Ordering::AcqRel);
                if n >= total {
                    published.fetch_sub(1, Ordering::AcqRel);
                    break;
                }
                let token =
                    &seeded.viewers[usize::try_from(n).unwrap_or(0) % seeded.viewers.len()].1;
                let t0 = slots.now_ns();
                let comment = match kind {
                    Kind::Comments => true,
                    Kind::Badges => false,
                    Kind::Mixed => n.is_multiple_of(2),
                };
                let answer = if comment {
                    conn.send(
                        Method::POST,
                        &format!("/v1/lives/{}/comments", seeded.live_id),
                        token,
                        None,
                        Some(Bytes::from(format!(r#"{{"text":"announcement {n}"}}"#))),
                    )
                    .await
                } else {
                    conn.send(
                        Method::POST,
                        &format!("/v1/lives/{}/badges", seeded.live_id),
                        token,
                        Some(&format!("fanout-{run}-{n}")),
                        Some(Bytes::from_static(
                            br#"{"tier":2,"payment_method":"pm_card_visa"}"#,
                        )),
                    )
                    .await
                };
                match answer {
                    Ok((StatusCode::CREATED, body)) => {
                        let id = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| field(&v, "id").ok())
                            .unwrap_or_default();
                        sent.push((id, t0));
                    }
                    Ok((status, body)) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| {
                            format!("{status}: {}", String::from_utf8_lossy(&body))
                        });
                        // Nothing was announced: do not count it against the window.
                        published.fetch_sub(1, Ordering::AcqRel);
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                        published.fetch_sub(1, Ordering::AcqRel);
                        break;
                    }
                }
            }
            (sent, errors, first_error)
        }));
    }
    let mut sent_at = std::collections::HashMap::new();
    let mut errors = 0;
    let mut first_error = None;
    for p in publishers {
        let (sent, e, fe) = p.await?;
        sent_at.extend(sent);
        errors += e;
        if first_error.is_none() {
            first_error = fe;
        }
    }
    let announced = u64::try_from(sent_at.len()).unwrap_or(0);
    // Wait for the last deliveries.
    let deadline = Instant::now() + Duration::from_secs(30);
    while slots.completed.load(Ordering::Acquire) < announced && Instant::now() < deadline {
        if slots.closed.load(Ordering::Relaxed) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let end_ns = slots
        .done_ns
        .iter()
        .map(|d| d.load(Ordering::Acquire))
        .max()
        .unwrap_or(0)
        .max(publish_started_ns + 1);
    let server_cpu = cpu_seconds(&pid).zip(server_cpu_before).map(|(a, b)| a - b);
    let client_cpu = cpu_seconds("self")
        .zip(client_cpu_before)
        .map(|(a, b)| a - b);
    let rss_after = rss_kib(&pid).unwrap_or_default();

    let viewers_u64 = u64::try_from(viewers).unwrap_or(0);
    let deliveries: u64 = slots
        .remaining
        .iter()
        .map(|r| viewers_u64 - u64::from(r.load(Ordering::Acquire)))
        .sum();
    let completed = slots.completed.load(Ordering::Acquire);
    let elapsed = Duration::from_nanos(end_ns - publish_started_ns);
    let mut reach_all = Latencies::with_capacity(n);
    let mut spread = Latencies::with_capacity(n);
    {
        let ids = slots.ids.lock().expect("ids lock is never poisoned");
        for (k, id) in ids.iter().enumerate() {
            let done = slots.done_ns[k].load(Ordering::Acquire);
            if let (Some(t0), true) = (sent_at.get(id), done > 0) {
                reach_all.record(Duration::from_nanos(done.saturating_sub(*t0)));
                let first = slots.first_ns[k].load(Ordering::Acquire);
                spread.record(Duration::from_nanos(done.saturating_sub(first)));
            }
        }
    }
    reach_all.sort();
    spread.sort();
    let closed = slots.closed.load(Ordering::Relaxed);

    let _ = child.kill().await;
    let mut block = Block::new(format!(
        "ovation bench fanout — one live, {viewers} WebSocket viewers, server in its own process"
    ));
    block
        .line(
            "deliveries/s",
            format!(
                "{}  ({} deliveries of {announced} announcements in {:.2} s)",
                thousands(per_sec(deliveries, elapsed)),
                thousands(deliveries as f64),
                elapsed.as_secs_f64()
            ),
        )
        .line(
            "reach all viewers",
            format!(
                "p50 {}  p99 {}  max {}  (from the publishing request's start to the last viewer's read; {} announcements)",
                ms(reach_all.pct(50)),
                ms(reach_all.pct(99)),
                ms(reach_all.max()),
                reach_all.len()
            ),
        )
        .line(
            "first to last viewer",
            format!(
                "p50 {}  p99 {}  max {}  (the fanout alone: first viewer's read to the last one's)",
                ms(spread.pct(50)),
                ms(spread.pct(99)),
                ms(spread.max()),
            ),
        )
        .line(
            "server RSS",
            format!(
                "{} idle with {viewers} viewers (before connecting: {}; +{} per viewer), {} after publishing, peak {}",
                mib(rss_idle.0),
                mib(rss_before.0),
                format_args!(
                    "{:.1} KiB",
                    rss_idle.0.saturating_sub(rss_before.0) as f64 / viewers as f64
                ),
                mib(rss_after.0),
                mib(rss_after.1.max(rss_idle.1)),
            ),
        )
        .line(
            "client RSS",
            format!(
                "{} with {viewers} viewers (before: {}) — the clients, not the server",
                mib(client_idle.0),
                mib(client_before.0)
            ),
        )
        .line(
            "CPU while publishing",
            format!(
                "server {}, clients {} (cores busy on average)",
                server_cpu.map_or("?".into(), |c| format!("{:.2}", c / elapsed.as_secs_f64())),
                client_cpu.map_or("?".into(), |c| format!("{:.2}", c / elapsed.as_secs_f64())),
            ),
        )
        .line(
            "errors",
            format!(
                "{errors} publish errors{}, {closed} viewers closed, {} of {announced} announcements reached all",
                first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default(),
                completed
            ),
        )
        .line(
            "parameters",
            format!(
                "viewers {viewers} (tokens of {} viewer accounts), announcements {} ({:?}), publishers {}, window {}, connect {:.1} s",
                seeded.viewers.len(),
                args.announcements,
                args.kind,
                args.publishers,
                args.window,
                connect_time.as_secs_f64()
            ),
        )
        .line("machine", machine());
    block.print();
    drop(readers);
    anyhow::ensure!(errors == 0, "{errors} announcements failed");
    anyhow::ensure!(closed == 0, "{closed} viewers were closed");
    anyhow::ensure!(
        completed == announced,
        "not every announcement reached every viewer"
    );
    Ok(())
}
