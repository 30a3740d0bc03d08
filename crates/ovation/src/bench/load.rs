//! Driving a server with many keep-alive connections: the load every HTTP benchmark puts on
//! it, and how a run is described.
#![allow(
    clippy::float_arithmetic,
    clippy::cast_precision_loss,
    reason = "rates of a benchmark report"
)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;

use super::http::Conn;
use super::report::{Latencies, ms, per_sec, thousands};

/// What one way of loading the server did.
pub(crate) struct Run {
    pub(crate) lat: Latencies,
    pub(crate) elapsed: Duration,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
}

/// Sends `count` requests (numbers `from`…) over `concurrency` connections, each made by
/// `request` from its number; `ok` is the status each must get (another is counted as an
/// error, the first with its body).
pub(crate) async fn drive<F, Fut>(
    addr: &str,
    from: u64,
    count: u64,
    concurrency: usize,
    ok: StatusCode,
    request: F,
) -> anyhow::Result<Run>
where
    F: Fn(Conn, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (Conn, anyhow::Result<(StatusCode, Bytes)>)> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(from));
    let end = from + count;
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        conns.push(Conn::connect(addr).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(conns.len());
    for conn in conns {
        let (request, next) = (request.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut run = Run {
                lat: Latencies::with_capacity(4_096),
                elapsed: Duration::ZERO,
                errors: 0,
                first_error: None,
            };
            let mut conn = conn;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return run;
                }
                let t = Instant::now();
                let (back, answer) = request(conn, n).await;
                conn = back;
                run.lat.record(t.elapsed());
                match answer {
                    Ok((status, _)) if status == ok => {}
                    Ok((status, body)) => {
                        run.errors += 1;
                        run.first_error.get_or_insert_with(|| {
                            format!("answered {status}: {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        run.errors += 1;
                        run.first_error.get_or_insert_with(|| e.to_string());
                        return run;
                    }
                }
            }
        }));
    }
    let mut all = Run {
        lat: Latencies::with_capacity(usize::try_from(count).unwrap_or(0)),
        elapsed: Duration::ZERO,
        errors: 0,
        first_error: None,
    };
    for t in tasks {
        let t = t.await?;
        all.lat.merge(t.lat);
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    all.elapsed = started.elapsed();
    all.lat.sort();
    Ok(all)
}

/// `count` requests' rate and latencies, and their errors if any.
pub(crate) fn describe(run: &Run, count: u64) -> String {
    format!(
        "{}/s  p50 {}  p99 {}  max {}{}",
        thousands(per_sec(count, run.elapsed)),
        ms(run.lat.pct(50)),
        ms(run.lat.pct(99)),
        ms(run.lat.max()),
        match &run.first_error {
            Some(e) => format!("  ({} errors, first: {e})", run.errors),
            None => String::new(),
        }
    )
}
