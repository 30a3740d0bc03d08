//! Live events: what a WebSocket viewer receives. Publishing sits behind [`EventBus`] so
//! that several nodes can share events through a message bus; [`LocalBus`] is the
//! in-process one, a bounded broadcast channel per live, and [`NatsBus`] shares events
//! between nodes through NATS, delivering to its own viewers through a `LocalBus`.

mod nats;

pub use nats::{BusError, NatsBus, RoundTripError};

use std::collections::HashMap;
use std::fmt::Debug;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

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

/// An [`Event`] as read back from the bus, owning its parts: what another node sent is
/// decoded into this, checked, and encoded again, so a viewer receives only events of the
/// documented shapes, whatever was published on the bus.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReceivedEvent {
    /// A comment was posted.
    Comment {
        /// The comment.
        comment: crate::dto::CommentBody,
    },
    /// A badge was bought.
    Badge {
        /// The purchase.
        purchase: crate::dto::BadgeEventPurchase,
        /// The buyer's handle.
        viewer_handle: String,
    },
    /// The badge goal changed.
    Goal {
        /// The live.
        live_id: String,
        /// The goal in hearts.
        goal_hearts: Option<u32>,
    },
    /// The live ended.
    LiveEnded {
        /// The live.
        live_id: String,
    },
}

impl ReceivedEvent {
    /// Reads `payload` as an event of `live`: a JSON object of one of the event types with
    /// its fields, about that live (badge tiers 1–3); `Err` says what is wrong.
    pub fn parse(live: &str, payload: &str) -> Result<ReceivedEvent, &'static str> {
        let event: ReceivedEvent =
            serde_json::from_str(payload).map_err(|_| "payload is not a live event")?;
        let (about, tiers) = match &event {
            ReceivedEvent::Comment { comment } => (
                comment.live_id.as_str(),
                comment.badge.as_ref().map(|b| b.tier),
            ),
            ReceivedEvent::Badge { purchase, .. } => {
                (purchase.live_id.as_str(), Some(purchase.tier))
            }
            ReceivedEvent::Goal { live_id, .. } | ReceivedEvent::LiveEnded { live_id } => {
                (live_id.as_str(), None)
            }
        };
        if about != live {
            return Err("event is about another live than its subject's");
        }
        if tiers.is_some_and(|t| !(1..=3).contains(&t)) {
            return Err("badge tier is not 1, 2 or 3");
        }
        Ok(event)
    }

    /// The event as this node would have encoded it.
    pub fn encode(&self) -> LiveEvent {
        match self {
            ReceivedEvent::Comment { comment } => Event::Comment { comment }.encode(),
            ReceivedEvent::Badge {
                purchase,
                viewer_handle,
            } => Event::Badge {
                purchase,
                viewer_handle,
            }
            .encode(),
            ReceivedEvent::Goal {
                live_id,
                goal_hearts,
            } => Event::Goal {
                live_id,
                goal_hearts: *goal_hearts,
            }
            .encode(),
            ReceivedEvent::LiveEnded { live_id } => Event::LiveEnded { live_id }.encode(),
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
    /// A receiver of `live`'s events from now on; the live's channel goes when its last
    /// subscription is dropped.
    fn subscribe(&self, live: &str) -> Subscription;
    /// Lives with a channel on this node (lives with viewers here), for metrics and tests.
    fn channels(&self) -> usize;
}

/// The channels of a [`LocalBus`]: each live's sender, with a number telling a channel
/// from a later one of the same live.
type Channels = Arc<Mutex<HashMap<String, (broadcast::Sender<LiveEvent>, u64)>>>;

/// The in-process bus: one bounded broadcast channel per live with viewers.
///
/// A channel exists while the live has a subscription: it is made by the first
/// [`subscribe`](EventBus::subscribe), and removed when the last [`Subscription`] is
/// dropped or when the live's last event (`live_ended`) is published — whichever comes
/// first; a channel is never kept for a live nobody watches.
#[derive(Debug)]
pub struct LocalBus {
    capacity: usize,
    lives: Channels,
    made: std::sync::atomic::AtomicU64,
}

/// A viewer's receiver of one live's events (it derefs to the broadcast receiver). Dropping
/// the live's last one removes the live's channel.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<LiveEvent>,
    live: String,
    channel: u64,
    lives: Channels,
}

impl Deref for Subscription {
    type Target = broadcast::Receiver<LiveEvent>;

    fn deref(&self) -> &Self::Target {
        &self.receiver
    }
}

impl DerefMut for Subscription {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.receiver
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut lives = self.lives.lock().expect("bus lock is never poisoned");
        // Under the lock no one subscribes: a count of one is this receiver alone. The
        // channel may be a later one of the same live (this one was removed when the live
        // ended): that one is left alone.
        let last = lives.get(&self.live).is_some_and(|(sender, channel)| {
            *channel == self.channel && sender.receiver_count() <= 1
        });
        if last {
            lives.remove(&self.live);
        }
    }
}

impl LocalBus {
    /// A bus whose viewers may fall `capacity` events behind before they are dropped.
    pub fn new(capacity: usize) -> LocalBus {
        LocalBus {
            capacity: capacity.max(1),
            lives: Arc::default(),
            made: std::sync::atomic::AtomicU64::new(0),
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
        let last = event.last;
        let forget = lives
            .get(live)
            .is_some_and(|(sender, _)| sender.send(event).is_err() || sender.receiver_count() == 0);
        // Nobody listens any more, or the live has ended: its viewers keep what was sent
        // (a receiver reads its buffer after the sender is gone) and the channel goes.
        if forget || last {
            lives.remove(live);
        }
    }

    fn subscribe(&self, live: &str) -> Subscription {
        let mut lives = self.lives.lock().expect("bus lock is never poisoned");
        let (sender, channel) = lives.entry(live.to_owned()).or_insert_with(|| {
            let channel = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (broadcast::channel(self.capacity).0, channel)
        });
        Subscription {
            receiver: sender.subscribe(),
            live: live.to_owned(),
            channel: *channel,
            lives: Arc::clone(&self.lives),
        }
    }

    fn channels(&self) -> usize {
        LocalBus::channels(self)
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
    fn a_channel_goes_with_its_last_subscription() {
        let bus = LocalBus::new(2);
        let first = bus.subscribe("live");
        let second = bus.subscribe("live");
        assert_eq!(bus.channels(), 1);
        drop(first);
        assert_eq!(bus.channels(), 1, "one viewer is still there");
        drop(second);
        assert_eq!(bus.channels(), 0);
    }

    #[tokio::test]
    async fn a_channel_goes_when_its_live_ends_and_viewers_still_get_the_last_event() {
        let bus = LocalBus::new(4);
        let mut viewer = bus.subscribe("live");
        bus.publish("live", event("one"));
        bus.publish(
            "live",
            LiveEvent {
                payload: Utf8Bytes::from_static("ended"),
                last: true,
            },
        );
        assert_eq!(bus.channels(), 0);
        assert_eq!(viewer.recv().await.expect("event").payload.as_str(), "one");
        let last = viewer.recv().await.expect("the last event");
        assert!(last.last);
        assert!(matches!(
            viewer.recv().await,
            Err(broadcast::error::RecvError::Closed)
        ));
    }

    #[test]
    fn a_subscription_of_an_ended_channel_leaves_the_lives_next_channel_alone() {
        let bus = LocalBus::new(2);
        let old = bus.subscribe("live");
        bus.publish(
            "live",
            LiveEvent {
                payload: Utf8Bytes::from_static("ended"),
                last: true,
            },
        );
        let new = bus.subscribe("live");
        drop(old);
        assert_eq!(bus.channels(), 1, "the new viewer's channel stays");
        drop(new);
        assert_eq!(bus.channels(), 0);
    }

    #[test]
    fn publishing_to_a_live_without_viewers_makes_no_channel() {
        let bus = LocalBus::new(2);
        bus.publish("live", event("x"));
        assert_eq!(bus.channels(), 0);
    }
}
