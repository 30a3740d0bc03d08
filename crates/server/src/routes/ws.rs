//! `GET /v1/lives/{id}/events`: a live's events over a WebSocket.
//!
//! Each event is encoded once by its publisher and shared by every viewer. A viewer's
//! writes are coalesced: whatever is waiting is fed to the socket and flushed once. A viewer
//! that falls more than the bus's buffer behind is closed (1008), so one slow phone can
//! neither slow the others nor grow memory. When the server shuts down, every viewer is
//! closed with 1001 (going away) and given a moment to answer the close.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::watch;

use crate::bus::LiveEvent;
use crate::error::ApiError;
use crate::extract::{Caller, Path};
use crate::routes::lives::load_live;
use crate::state::AppState;

/// Most events written before one flush.
const COALESCE_MAX: usize = 64;

/// How long a viewer told that the server is going away has to answer the close frame.
/// Dropping the connection before the answer could reset it and lose the frame in flight.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// Subscribes to a live's events (any token; `?token=` for browsers).
#[utoipa::path(get, path = "/v1/lives/{id}/events", tag = "lives", params(("id" = String, Path), ("token" = Option<String>, Query)),
    responses((status = 101, description = "WebSocket of comment, badge, goal and live_ended events"), (status = 404, body = crate::error::ErrorBody),
        (status = 426, description = "upgrade_required: not a WebSocket upgrade request", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn events(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let live = load_live(&state, id).await?;
    // axum's own rejection is plain text; the API answers errors in its JSON format.
    let upgrade = upgrade.map_err(|e| ApiError::UpgradeRequired(e.body_text()))?;
    // Subscribe before answering, so no event published after the 101 is missed.
    let rx = state.bus.subscribe(live.id.as_str());
    // Held until the socket is closed: shutdown waits for every receiver to be dropped.
    let shutdown = state.shutdown.subscribe();
    let ended = !live.active;
    let live_id = live.id.to_string();
    Ok(upgrade
        .max_message_size(4 * 1024)
        // Viewers only listen: tungstenite's default 128 KiB read buffer per socket would
        // cost 1.3 GiB for 10,000 viewers.
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| viewer(socket, rx, shutdown, ended, live_id)))
}

struct Connected;

impl Connected {
    fn new() -> Connected {
        metrics::gauge!("ovation_ws_connections").increment(1.0);
        Connected
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        metrics::gauge!("ovation_ws_connections").decrement(1.0);
    }
}

async fn viewer(
    socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<LiveEvent>,
    mut shutdown: watch::Receiver<bool>,
    ended: bool,
    live_id: String,
) {
    let _connected = Connected::new();
    let (mut sink, mut stream) = socket.split();
    if ended {
        let event = crate::bus::Event::LiveEnded { live_id: &live_id }.encode();
        let _ = sink.send(Message::Text(event.payload)).await;
        let _ = sink.send(close(1000, "live ended")).await;
        return;
    }
    loop {
        tokio::select! {
            received = rx.recv() => {
                let mut last = false;
                let mut lagged = false;
                match received {
                    Ok(event) => {
                        last = event.last;
                        if sink.feed(Message::Text(event.payload)).await.is_err() {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => lagged = true,
                    Err(RecvError::Closed) => return,
                }
                let mut written = 1;
                while !last && !lagged && written < COALESCE_MAX {
                    match rx.try_recv() {
                        Ok(event) => {
                            last = event.last;
                            if sink.feed(Message::Text(event.payload)).await.is_err() {
                                return;
                            }
                            written += 1;
                        }
                        Err(TryRecvError::Lagged(_)) => lagged = true,
                        Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                    }
                }
                if lagged {
                    metrics::counter!("ovation_ws_dropped_slow_total").increment(1);
                    let _ = sink.send(close(1008, "too slow: events were dropped")).await;
                    return;
                }
                if last {
                    let _ = sink.send(close(1000, "live ended")).await;
                    return;
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                // Viewers only listen; pings are answered by the protocol layer.
                Some(Ok(_)) => {}
            },
            () = going_away(&mut shutdown) => {
                if sink.send(close(1001, "server shutting down")).await.is_err() {
                    return;
                }
                // The closing handshake: the viewer answers with its own close frame.
                let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
                    while let Some(Ok(message)) = stream.next().await {
                        if matches!(message, Message::Close(_)) {
                            return;
                        }
                    }
                })
                .await;
                return;
            }
        }
    }
}

/// Resolves once the server is shutting down (or its state is gone).
async fn going_away(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&stopping| stopping).await;
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
