//! [`NatsBus`]: live events shared by several `ovation serve` nodes through NATS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{
    Client, ConnectError, ConnectOptions, Event, HeaderMap, PublishError, SubscribeError,
    Subscriber,
};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::{EventBus, LiveEvent, LocalBus, ReceivedEvent};

/// Every live's subject starts with this; the live id is the last token.
const SUBJECT_PREFIX: &str = "ovation.live.";
/// What each node subscribes to: every live's events.
const SUBJECT_ALL: &str = "ovation.live.>";
/// Names the node that published a message, so that it can skip its own.
const HEADER_NODE: &str = "Ovation-Node";
/// `true` when the message is the live's last event.
const HEADER_LAST: &str = "Ovation-Last";
/// Events waiting for the publisher task. When NATS is down they pile up here; past this
/// bound they reach this node's viewers only, and `ovation_bus_dropped_total` counts them.
const PUBLISH_QUEUE_CAPACITY: usize = 8192;
/// Where a node sends itself the probes of its round trips: `ovation.ready.<node>`.
const SUBJECT_READY: &str = "ovation.ready.";
/// How long a round trip (the subscription's confirmation at connect, a flush) may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the NATS bus could not start or flush.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The first connection failed: NATS is down, the address is wrong or authentication
    /// was refused. Only the first one: after it the client reconnects forever.
    #[error("cannot connect to nats")]
    Connect(#[source] ConnectError),
    /// The subscription to live events was refused.
    #[error("cannot subscribe to live events on nats")]
    Subscribe(#[source] SubscribeError),
    /// The server did not confirm the subscription in time.
    #[error("nats did not confirm the subscription to live events")]
    Handshake(#[source] RoundTripError),
    /// NATS did not confirm that it received the events published before a flush.
    #[error("nats did not confirm it received the live events")]
    Flush(#[source] RoundTripError),
    /// The bus was closed.
    #[error("the nats bus is closed")]
    Closed,
}

/// Why a round trip through the NATS server did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RoundTripError {
    /// The probe could not be published.
    #[error("cannot publish the probe")]
    Publish(#[source] PublishError),
    /// The probe did not come back in time.
    #[error("the probe did not come back within {0:?}")]
    TimedOut(Duration),
    /// The node's probe subscription ended.
    #[error("the probe subscription ended")]
    Closed,
}

/// Live events shared by several nodes through NATS, one subject per live:
/// `ovation.live.<live_id>`.
///
/// A node delivers what it publishes to its own viewers at once, through the [`LocalBus`]
/// it wraps, and hands it to NATS with headers naming the node and whether the event is
/// the live's last. It forwards to its viewers what *other* nodes published — a message
/// that names this node is its own, come back, and skipped, so a viewer never gets an event
/// twice — and only once it has read it as a live event of the subject's live (a JSON
/// object of a known type with its fields: [`ReceivedEvent`]), encoded again: whatever is
/// published on the subject, viewers receive only events of the documented shapes.
///
/// **Round trips without a responder.** To know that the server has registered the
/// subscription (at connect) or routed the events published so far (a flush), the node
/// sends a probe to itself on `ovation.ready.<node>` and waits for it to come back: the
/// server handles a connection's operations in order, so the probe comes back after them.
/// (A request answered by "no responders" would do the same, but not while any other
/// client subscribes to `>`: it would receive the request and never answer it.) This is
/// why the connection echoes its own messages.
///
/// **One wildcard subscription, not one per live.** Each node subscribes once, at connect,
/// to `ovation.live.>`, and hands every message to its `LocalBus`, which drops the events
/// of lives without local viewers without creating a channel for them. Subscribing per
/// live on the first local viewer would leave a window after `subscribe` returns in which
/// the NATS subscription is not yet registered and other nodes' events are lost, and
/// unsubscribing when the last viewer leaves races with a viewer arriving; the wildcard
/// has neither, and one subscription read by one task keeps each publisher's order. Its
/// cost is that every node receives every live's events, which it would mostly receive
/// anyway while a load balancer spreads each live's viewers over all nodes. If lives are
/// ever pinned to nodes, per-live subscriptions would cut that traffic.
///
/// [`publish`](EventBus::publish) never blocks or awaits: it delivers locally and puts the
/// event on a bounded queue read by one publisher task, which keeps the order. While NATS
/// is down, local delivery goes on, the client reconnects forever and resubscribes, and
/// events past the queue's bound reach this node's viewers only.
#[derive(Debug)]
pub struct NatsBus {
    local: Arc<LocalBus>,
    client: Client,
    node: Arc<str>,
    outbound: mpsc::Sender<Outbound>,
    queue_full: Arc<AtomicBool>,
    forwarder: AbortHandle,
}

/// What the publisher task is asked to do, in order.
#[derive(Debug)]
enum Outbound {
    Event { live: String, event: LiveEvent },
    Flush(oneshot::Sender<Result<(), RoundTripError>>),
    Close(oneshot::Sender<Result<(), RoundTripError>>),
}

impl NatsBus {
    /// Connects to NATS at `url`; viewers may fall `capacity` events behind before they
    /// are dropped, as with [`LocalBus`].
    ///
    /// Fails if NATS cannot be reached now; once connected, the client reconnects by itself
    /// for as long as the bus lives. When this returns, the server has registered the
    /// node's subscription: the node receives every event other nodes publish from then on.
    pub async fn connect(url: &str, capacity: usize) -> Result<NatsBus, BusError> {
        let node: Arc<str> = Arc::from(uuid::Uuid::new_v4().simple().to_string());
        let log_node = Arc::clone(&node);
        let client = ConnectOptions::new()
            .name(format!("ovation-{node}"))
            .max_reconnects(None)
            .event_callback(move |event| {
                let node = Arc::clone(&log_node);
                async move { log_event(&node, &event) }
            })
            .connect(url)
            .await
            .map_err(BusError::Connect)?;
        let mut ready = client
            .subscribe(format!("{SUBJECT_READY}{node}"))
            .await
            .map_err(BusError::Subscribe)?;
        let subscriber = client
            .subscribe(SUBJECT_ALL)
            .await
            .map_err(BusError::Subscribe)?;
        round_trip(&client, &mut ready, &node)
            .await
            .map_err(BusError::Handshake)?;
        tracing::info!(node = %node, "live events shared through nats");

        let local = Arc::new(LocalBus::new(capacity));
        let forwarder =
            tokio::spawn(forward(subscriber, Arc::clone(&local), Arc::clone(&node))).abort_handle();
        let queue_full = Arc::new(AtomicBool::new(false));
        let (outbound, queue) = mpsc::channel(PUBLISH_QUEUE_CAPACITY);
        tokio::spawn(send(
            queue,
            client.clone(),
            ready,
            Arc::clone(&node),
            Arc::clone(&queue_full),
        ));
        Ok(NatsBus {
            local,
            client,
            node,
            outbound,
            queue_full,
            forwarder,
        })
    }

    /// Whether the client is connected to NATS now (cheap: reads a watched state).
    pub fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// This node's id, as sent in the `Ovation-Node` header.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Lives with local viewers, for metrics and tests.
    pub fn channels(&self) -> usize {
        self.local.channels()
    }

    /// Waits until the NATS server has received the events published before this call
    /// (and so has routed them to the other nodes' connections).
    pub async fn flush(&self) -> Result<(), BusError> {
        self.after_queued(Outbound::Flush).await
    }

    /// Flushes the events published before this call, then closes the NATS connection.
    /// Events published afterwards reach this node's viewers only.
    pub async fn close(&self) -> Result<(), BusError> {
        self.after_queued(Outbound::Close).await
    }

    /// Queues `request` behind the events published so far and waits for its answer.
    async fn after_queued(
        &self,
        request: fn(oneshot::Sender<Result<(), RoundTripError>>) -> Outbound,
    ) -> Result<(), BusError> {
        let (done, answered) = oneshot::channel();
        self.outbound
            .send(request(done))
            .await
            .map_err(|_| BusError::Closed)?;
        answered
            .await
            .map_err(|_| BusError::Closed)?
            .map_err(BusError::Flush)
    }
}

impl Drop for NatsBus {
    fn drop(&mut self) {
        // The forwarder's subscription keeps the connection open: end it with the bus. The
        // publisher task ends by itself once the queue's sender is gone.
        self.forwarder.abort();
    }
}

impl EventBus for NatsBus {
    fn publish(&self, live: &str, event: LiveEvent) {
        if !is_subject_token(live) {
            // Live ids are `live_<uuid>`; anything else would make a wrong subject.
            tracing::warn!(
                live,
                "live id is not a nats subject token: event kept on this node"
            );
            metrics::counter!("ovation_bus_dropped_total", "reason" => "bad_live_id").increment(1);
            self.local.publish(live, event);
            return;
        }
        self.local.publish(live, event.clone());
        let outbound = Outbound::Event {
            live: live.to_owned(),
            event,
        };
        match self.outbound.try_send(outbound) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("ovation_bus_dropped_total", "reason" => "queue_full")
                    .increment(1);
                if !self.queue_full.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        node = %self.node,
                        "nats publish queue full: events reach this node's viewers only"
                    );
                }
            }
            // Closed on purpose: local delivery is all there is now.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn subscribe(&self, live: &str) -> super::Subscription {
        self.local.subscribe(live)
    }

    fn channels(&self) -> usize {
        self.local.channels()
    }
}

/// Waits until the server has handled everything this connection sent before: it handles
/// a connection's operations in order, so once a probe sent after them comes back on the
/// node's own `ovation.ready.<node>` subscription, earlier subscriptions are in place and
/// earlier messages routed. (async-nats's own `flush` only writes to the socket.) Probes
/// of earlier round trips that timed out are skipped.
async fn round_trip(
    client: &Client,
    ready: &mut Subscriber,
    node: &str,
) -> Result<(), RoundTripError> {
    let probe = Bytes::from(uuid::Uuid::new_v4().simple().to_string());
    client
        .publish(format!("{SUBJECT_READY}{node}"), probe.clone())
        .await
        .map_err(RoundTripError::Publish)?;
    let came_back = async {
        while let Some(message) = ready.next().await {
            if message.payload == probe {
                return Ok(());
            }
        }
        Err(RoundTripError::Closed)
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, came_back)
        .await
        .map_err(|_| RoundTripError::TimedOut(HANDSHAKE_TIMEOUT))?
}

/// The publisher task: hands queued events to the client one at a time, in order.
async fn send(
    mut queue: mpsc::Receiver<Outbound>,
    client: Client,
    mut ready: Subscriber,
    node: Arc<str>,
    queue_full: Arc<AtomicBool>,
) {
    while let Some(outbound) = queue.recv().await {
        match outbound {
            Outbound::Event { live, event } => {
                let mut headers = HeaderMap::new();
                headers.insert(HEADER_NODE, &*node);
                headers.insert(HEADER_LAST, if event.last { "true" } else { "false" });
                let subject = format!("{SUBJECT_PREFIX}{live}");
                // Buffers only, but waits while the client's own queue is full (NATS down):
                // then this queue fills and `publish` keeps events local.
                match client
                    .publish_with_headers(subject, headers, Bytes::from(event.payload))
                    .await
                {
                    Ok(()) => {
                        metrics::counter!("ovation_bus_published_total").increment(1);
                        if queue_full.swap(false, Ordering::Relaxed) {
                            tracing::info!(node = %node, "nats publish queue has room again");
                        }
                    }
                    Err(err) => {
                        metrics::counter!("ovation_bus_dropped_total", "reason" => "publish_error")
                            .increment(1);
                        tracing::warn!(node = %node, live, error = %err, "cannot publish a live event to nats");
                    }
                }
            }
            Outbound::Flush(done) => {
                done.send(round_trip(&client, &mut ready, &node).await).ok();
            }
            Outbound::Close(done) => {
                let flushed = round_trip(&client, &mut ready, &node).await;
                if let Err(err) = client.drain().await {
                    tracing::warn!(node = %node, error = %err, "cannot drain the nats connection");
                }
                done.send(flushed).ok();
                return;
            }
        }
    }
}

/// The forwarder task: hands what other nodes published to this node's viewers, in the
/// order it arrives. One task for the one subscription, so nothing is reordered.
async fn forward(mut subscriber: Subscriber, local: Arc<LocalBus>, node: Arc<str>) {
    while let Some(message) = subscriber.next().await {
        match decode(
            &node,
            message.subject.as_str(),
            message.headers.as_ref(),
            &message.payload,
        ) {
            Decoded::Event { live, event } => {
                metrics::counter!("ovation_bus_received_total").increment(1);
                local.publish(live, event);
            }
            Decoded::Own => {}
            Decoded::Malformed(why) => {
                metrics::counter!("ovation_bus_dropped_total", "reason" => "malformed")
                    .increment(1);
                tracing::warn!(
                    node = %node,
                    subject = message.subject.as_str(),
                    why,
                    "skipped a malformed live event from nats"
                );
            }
        }
    }
    tracing::debug!(node = %node, "nats subscription to live events ended");
}

/// A message from NATS, read.
#[derive(Debug)]
enum Decoded<'a> {
    /// Another node's event for `live`.
    Event { live: &'a str, event: LiveEvent },
    /// This node's own event, already delivered locally.
    Own,
    /// Not an event of ours.
    Malformed(&'static str),
}

fn decode<'a>(
    node: &str,
    subject: &'a str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Decoded<'a> {
    let Some(headers) = headers else {
        return Decoded::Malformed("no headers");
    };
    let Some(from) = headers.get(HEADER_NODE) else {
        return Decoded::Malformed("no node header");
    };
    if from.as_str() == node {
        return Decoded::Own;
    }
    let last = match headers.get(HEADER_LAST).map(|value| value.as_str()) {
        Some("true") => true,
        Some("false") | None => false,
        Some(_) => return Decoded::Malformed("last header is neither true nor false"),
    };
    let Some(live) = subject
        .strip_prefix(SUBJECT_PREFIX)
        .filter(|live| is_subject_token(live))
    else {
        return Decoded::Malformed("subject is not ovation.live.<live_id>");
    };
    let Ok(payload) = std::str::from_utf8(payload) else {
        return Decoded::Malformed("payload is not utf-8");
    };
    let event = match ReceivedEvent::parse(live, payload) {
        Ok(event) => event.encode(),
        Err(why) => return Decoded::Malformed(why),
    };
    if event.last != last {
        return Decoded::Malformed("last header disagrees with the event's type");
    }
    Decoded::Event { live, event }
}

/// Whether `live` can be one token of a subject: not empty, printable ASCII, no `.`, and
/// no wildcard.
fn is_subject_token(live: &str) -> bool {
    !live.is_empty()
        && live
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'.' | b'*' | b'>'))
}

fn log_event(node: &str, event: &Event) {
    match event {
        Event::Connected => tracing::info!(node, "connected to nats"),
        Event::Disconnected => {
            tracing::warn!(
                node,
                "disconnected from nats: live events stay on this node until it reconnects"
            );
        }
        Event::Closed => tracing::info!(node, "nats connection closed"),
        Event::Draining => tracing::info!(node, "nats connection draining"),
        Event::LameDuckMode => tracing::warn!(node, "nats server is in lame duck mode"),
        Event::SlowConsumer(sid) => {
            tracing::warn!(node, sid, "nats dropped live events for this slow node");
        }
        Event::ServerError(err) => tracing::error!(node, error = %err, "nats server error"),
        Event::ClientError(err) => tracing::warn!(node, error = %err, "nats client error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(node: &str, last: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_NODE, node);
        headers.insert(HEADER_LAST, last);
        headers
    }

    #[test]
    fn another_nodes_event_is_decoded_with_its_live_and_last_flag() {
        let headers = headers("other", "true");
        let decoded = decode(
            "me",
            "ovation.live.live_1",
            Some(&headers),
            b"{\"type\": \"live_ended\", \"live_id\": \"live_1\", \"x\": 1}",
        );
        let Decoded::Event { live, event } = decoded else {
            panic!("expected an event, got {decoded:?}");
        };
        assert_eq!(live, "live_1");
        // Encoded again: as this node would have, without what the schema does not name.
        assert_eq!(
            event.payload.as_str(),
            "{\"type\":\"live_ended\",\"live_id\":\"live_1\"}"
        );
        assert!(event.last);
    }

    #[test]
    fn own_events_are_recognized_by_the_node_header() {
        let headers = headers("me", "false");
        assert!(matches!(
            decode("me", "ovation.live.live_1", Some(&headers), b""),
            Decoded::Own
        ));
    }

    #[test]
    fn payloads_that_are_not_events_of_the_subject_s_live_are_malformed() {
        let goal =
            |live: &str| format!("{{\"type\":\"goal\",\"live_id\":\"{live}\",\"goal_hearts\":5}}");
        let comment = |tier: u8| {
            format!(
                "{{\"type\":\"comment\",\"comment\":{{\"id\":\"c\",\"live_id\":\"live_1\",\
                 \"author_id\":\"u\",\"author_handle\":\"h\",\"text\":\"hi\",\
                 \"badge\":{{\"tier\":{tier},\"hearts\":{tier}}},\"created_at\":\"2026-12-03T00:00:00Z\"}}}}"
            )
        };
        let not_last = headers("other", "false");
        let decodes = |payload: String, headers: &HeaderMap| {
            decode(
                "me",
                "ovation.live.live_1",
                Some(headers),
                payload.as_bytes(),
            )
        };
        assert!(matches!(
            decodes(goal("live_1"), &not_last),
            Decoded::Event { .. }
        ));
        assert!(matches!(
            decodes(comment(3), &not_last),
            Decoded::Event { .. }
        ));
        for payload in [
            "not json".to_owned(),
            "[1, 2]".to_owned(),
            "{\"type\":\"ended\"}".to_owned(),
            "{\"type\":\"goal\",\"live_id\":\"live_1\",\"goal_hearts\":-1}".to_owned(),
            goal("live_2"),
            comment(4),
        ] {
            let decoded = decodes(payload.clone(), &not_last);
            assert!(
                matches!(decoded, Decoded::Malformed(_)),
                "{payload}: {decoded:?}"
            );
        }
        // The last flag and the event's type agree, or the message is not ours.
        let ended = "{\"type\":\"live_ended\",\"live_id\":\"live_1\"}".to_owned();
        assert!(matches!(decodes(ended, &not_last), Decoded::Malformed(_)));
        assert!(matches!(
            decodes(goal("live_1"), &headers("other", "true")),
            Decoded::Malformed(_)
        ));
    }

    #[test]
    fn messages_that_are_not_ours_are_malformed() {
        let good = headers("other", "false");
        let cases = [
            ("ovation.live.live_1", None, &b""[..]),
            (
                "ovation.live.live_1",
                Some(headers("other", "maybe")),
                &b""[..],
            ),
            ("ovation.live.a.b", Some(good.clone()), &b""[..]),
            ("other.subject", Some(good.clone()), &b""[..]),
            ("ovation.live.live_1", Some(good), &[0xff_u8, 0xfe][..]),
        ];
        for (subject, headers, payload) in cases {
            let decoded = decode("me", subject, headers.as_ref(), payload);
            assert!(
                matches!(decoded, Decoded::Malformed(_)),
                "{subject}: {decoded:?}"
            );
        }
    }

    #[test]
    fn live_ids_are_subject_tokens_and_wildcards_are_not() {
        assert!(is_subject_token(
            "live_0196b3c2-4f6e-7a1b-9c3d-2e4f6a8b0c1d"
        ));
        for bad in ["", "a.b", "*", ">", "a b", "é"] {
            assert!(!is_subject_token(bad), "{bad:?}");
        }
    }
}
