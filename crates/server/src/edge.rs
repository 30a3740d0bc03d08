//! The server's edge: how connections are accepted and how long and how many requests may
//! run, so that slow or numerous clients cannot hold its file descriptors and memory.
//!
//! Connections are served by hyper's HTTP/1 builder with a timer, so that its header-read
//! timeout applies: a client that does not finish its request's headers in time — or keeps
//! a connection idle that long between requests — is disconnected (`axum::serve` sets no
//! timer, and the timeout never fired). Requests then pass tower's layers: a load shedder in
//! front of one concurrency limit for the whole server (past it, 503 `unavailable` at once,
//! nothing queued), a timeout on each request (503 `unavailable`), and a timeout on reading
//! its body (422 `invalid_request`). A WebSocket's life after its 101 is not a request:
//! none of these limits it (its own limits are in `routes::ws`).

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{BoxError, ServiceBuilder, ServiceExt};

use crate::error::ApiError;
use crate::settings::EdgeLimits;

/// `app` with the request limits of `limits`: load shedding past the concurrency limit, the
/// request timeout and the body timeout, each answered in the API's error format.
pub(crate) fn limit_requests(app: Router, limits: &EdgeLimits) -> Router {
    app.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(refused))
            .load_shed()
            // One semaphore for every route (a plain concurrency limit would get one per
            // route, as `Router::layer` layers each route on its own).
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                limits.requests_in_flight_max,
            ))
            .timeout(limits.request_timeout)
            .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
                limits.request_body_timeout,
            )),
    )
}

/// The answer to a request the limits refused.
async fn refused(error: BoxError) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!("ovation_requests_shed_total").increment(1);
        return ApiError::Unavailable.into_response();
    }
    if error.is::<tower::timeout::error::Elapsed>() {
        metrics::counter!("ovation_requests_timed_out_total").increment(1);
        return ApiError::Unavailable.into_response();
    }
    ApiError::Internal(anyhow::anyhow!(error)).into_response()
}

/// Serves `app` on `listener` until `signal` completes; then stops accepting, lets each
/// connection finish the request it is answering (idle ones close at once) and returns when
/// every connection is closed. Each request carries its peer's address as
/// [`ConnectInfo<SocketAddr>`].
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &EdgeLimits,
    signal: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let (stopping, _) = watch::channel(false);
    // Each connection holds a receiver; `closed()` resolves when the last one is gone.
    let (open, open_receiver) = watch::channel(());
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let service = app.clone().map_request(move |request: Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stopping = stopping.subscribe();
        let open = open_receiver.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => log_connection_end(served, peer),
                () = stopped(&mut stopping) => {
                    connection.as_mut().graceful_shutdown();
                    log_connection_end(connection.await, peer);
                }
            }
            drop(open);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    drop(open_receiver);
    open.closed().await;
}

/// Resolves once the server stops accepting (the guard `wait_for` answers with is not held
/// across the connection's graceful end, which may take a while).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

fn log_connection_end(served: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = served {
        // Timeouts, resets and malformed requests: the client's doing, not an error here.
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

/// After a failed accept: a connection reset before it was accepted is the client's; any
/// other failure (out of file descriptors, say) is logged and waited out for a second, as
/// hyper 0.14's server did, rather than spinning.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; retrying in 1 s");
    metrics::counter!("ovation_accept_errors_total").increment(1);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}
