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

use crate::bus::Subscription;
use crate::error::ApiError;
use crate::extract::{Caller, Path};
use crate::routes::lives::load_live;
use crate::state::AppState;

/// Most events written before one flush.
const COALESCE_MAX: usize = 64;

/// How long a viewer told that the server is going away has to answer the close frame.
/// Dropping the connection before the answer could reset it and lose the frame in flight.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(1);

/// Largest message (and frame) a viewer may send: viewers only listen, so a frame past this
/// is refused from its header, before its payload is read.
const MESSAGE_MAX_BYTES: usize = 4 * 1024;

/// What a client over its account's WebSocket limit is told to wait, in seconds.
const SOCKETS_RETRY_AFTER_SECS: u64 = 5;

/// Subscribes to a live's events (any token; `?token=` for browsers).
#[utoipa::path(get, path = "/v1/lives/{id}/events", tag = "lives", params(("id" = String, Path), ("token" = Option<String>, Query)),
    responses((status = 101, description = "WebSocket of comment, badge, goal and live_ended events"), (status = 404, body = crate::error::ErrorBody),
        (status = 426, description = "upgrade_required: not a WebSocket upgrade request", body = crate::error::ErrorBody),
        (status = 429, description = "rate_limited: the account holds as many WebSockets as it may (`ws_sockets_per_account`)", body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let live = load_live(&state, id).await?;
    // axum's own rejection is plain text; the API answers errors in its JSON format.
    let upgrade = upgrade.map_err(|e| ApiError::UpgradeRequired(e.body_text()))?;
    // Counted from here until the socket closes (or the upgrade never completes). The admin
    // token is the platform's own key, which may follow every live: it is not capped.
    let slot = match &caller {
        Caller::Admin => None,
        Caller::User(user) => Some(
            state
                .sockets
                .open(user.id.as_str(), state.config.ws_sockets_per_account)
                .ok_or(ApiError::RateLimited {
                    retry_after_secs: SOCKETS_RETRY_AFTER_SECS,
                })?,
        ),
    };
    let live_id = live.id.to_string();
    // An ended live gets its last event and a close: no channel is made for it. An active
    // one is subscribed to before the 101, so no event published after it is missed; if the
    // live ended on this node meanwhile (the cache is updated before `live_ended` is
    // published), the subscription is dropped again, with its channel.
    let rx = live
        .active
        .then(|| state.bus.subscribe(&live_id))
        .filter(|_| state.lives.get(&live_id).is_none_or(|cached| cached.active));
    // Held until the socket is closed: shutdown waits for every receiver to be dropped.
    let shutdown = state.shutdown.subscribe();
    Ok(upgrade
        .max_message_size(MESSAGE_MAX_BYTES)
        .max_frame_size(MESSAGE_MAX_BYTES)
        // Viewers only listen: tungstenite's default 128 KiB read buffer per socket would
        // cost 1.3 GiB for 10,000 viewers.
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            viewer(socket, rx, shutdown, live_id).await;
        }))
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

/// Feeds a viewer its live's events until the live ends, the viewer leaves or falls
/// behind, or the server shuts down; without a subscription (`None`), the live has ended.
async fn viewer(
    socket: WebSocket,
    rx: Option<Subscription>,
    mut shutdown: watch::Receiver<bool>,
    live_id: String,
) {
    let _connected = Connected::new();
    let (mut sink, mut stream) = socket.split();
    let Some(mut rx) = rx else {
        let event = crate::bus::Event::LiveEnded { live_id: &live_id }.encode();
        let _ = sink.send(Message::Text(event.payload)).await;
        let _ = sink.send(close(1000, "live ended")).await;
        return;
    };
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
