//! Live events: what a WebSocket viewer receives. Publishing sits behind [`EventBus`] so
//! that several nodes can share events through a message bus; [`LocalBus`] is the
//! in-process one, a bounded broadcast channel per live, and [`NatsBus`] shares events
//! between nodes through NATS, delivering to its own viewers through a `LocalBus`.

mod nats;

pub use nats::{BusError, NatsBus};

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Mutex;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

/// What a live's viewers are told, one JSON object per message with its `type`: a comment,
/// a badge bought, the badge goal changed, the live ended (the last message).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event<'a> {
    /// A comment was posted.
    Comment {
        /// The comment.
        comment: &'a crate::dto::CommentBody,
    },
    /// A badge was bought.
    Badge {
        /// The purchase, without the buyer's id or the price.
        purchase: &'a crate::dto::BadgeEventPurchase,
        /// The buyer's handle.
        viewer_handle: &'a str,
    },
    /// The creator set or cleared the live's badge goal.
    Goal {
        /// The live.
        live_id: &'a str,
        /// The goal in hearts (`null`: none).
        goal_hearts: Option<u32>,
    },
    /// The live ended; viewers are closed after this.
    LiveEnded {
        /// The live.
        live_id: &'a str,
    },
}

impl Event<'_> {
    /// The event encoded once for every viewer.
    pub fn encode(&self) -> LiveEvent {
        let payload = serde_json::to_string(self)
            .expect("an event of strings, numbers and derived bodies always serializes");
        LiveEvent {
            payload: payload.into(),
            last: matches!(self, Event::LiveEnded { .. }),
        }
    }
}

/// One event of a live, encoded once as the JSON text every viewer receives.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// The JSON message.
    pub payload: Utf8Bytes,
    /// The live has ended: viewers are sent this and then closed.
    pub last: bool,
}

/// Publishes live events and subscribes viewers to them.
pub trait EventBus: Send + Sync + Debug {
    /// Sends `event` to every viewer of `live`. Never blocks: slow viewers are dropped.
    fn publish(&self, live: &str, event: LiveEvent);
    /// A receiver of `live`'s events from now on.
    fn subscribe(&self, live: &str) -> broadcast::Receiver<LiveEvent>;
}

/// The in-process bus: one bounded broadcast channel per live with viewers.
#[derive(Debug)]
pub struct LocalBus {
    capacity: usize,
    lives: Mutex<HashMap<String, broadcast::Sender<LiveEvent>>>,
}

impl LocalBus {
    /// A bus whose viewers may fall `capacity` events behind before they are dropped.
    pub fn new(capacity: usize) -> LocalBus {
        LocalBus {
            capacity: capacity.max(1),
            lives: Mutex::new(HashMap::new()),
        }
    }

    /// Lives with a channel, for metrics and tests.
    pub fn channels(&self) -> usize {
        self.lives.lock().expect("bus lock is never poisoned").len()
    }
}

impl EventBus for LocalBus {
    fn publish(&self, live: &str, event: LiveEvent) {
        let mut lives = self.lives.lock().expect("bus lock is never poisoned");
        let forget = lives
            .get(live)
            .is_some_and(|sender| sender.send(event).is_err() || sender.receiver_count() == 0);
        if forget {
            // Nobody listens any more: forget the channel.
            lives.remove(live);
        }
    }

    fn subscribe(&self, live: &str) -> broadcast::Receiver<LiveEvent> {
        let mut lives = self.lives.lock().expect("bus lock is never poisoned");
        lives
            .entry(live.to_owned())
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> LiveEvent {
        LiveEvent {
            payload: Utf8Bytes::from(text.to_owned()),
            last: false,
        }
    }

    #[tokio::test]
    async fn a_subscriber_receives_what_is_published_to_its_live_only() {
        let bus = LocalBus::new(8);
        let mut a = bus.subscribe("live_a");
        let mut b = bus.subscribe("live_b");
        bus.publish("live_a", event("one"));
        assert_eq!(a.recv().await.expect("event").payload.as_str(), "one");
        assert!(b.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_viewer_that_falls_behind_is_told_it_lagged() {
        let bus = LocalBus::new(2);
        let mut slow = bus.subscribe("live");
        for i in 0..5 {
            bus.publish("live", event(&i.to_string()));
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }

    #[test]
    fn channels_without_viewers_are_forgotten() {
        let bus = LocalBus::new(2);
        drop(bus.subscribe("live"));
        bus.publish("live", event("x"));
        assert_eq!(bus.channels(), 0);
    }
}
