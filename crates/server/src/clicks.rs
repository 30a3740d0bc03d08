//! Tracked-link clicks off the request path. A redirect looks its link up in memory (links
//! never change), decides whether the click counts ([`shop::is_bot`], a per-node
//! [`shop::RepeatFilter`]) and hands a counted click to [`ClickLog`], whose task writes the
//! clicks that came in meanwhile in one statement: a redirect never waits for a disk flush,
//! and the ledger's writer never sees a click. A click answered but not yet written is lost
//! if the process dies (a click is not money); an order naming it flushes the log first.
//!
//! Client addresses are kept only as an HMAC-SHA256 under a key stored in the database (the
//! same on every node, so one client is one hash whichever node it reached).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use shop::clicks::{RepeatFilter, Seen};
use store::{Click, ShopLink, Store};
use tokio::sync::{mpsc, oneshot};

/// Clicks written at most this long after they were answered.
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Most clicks in one statement.
const GROUP_MAX: usize = 10_000;
/// Fewer clicks than this waiting: wait [`FLUSH_EVERY`] for more before writing.
const GROUP_SMALL: usize = 500;
/// Clicks queued before redirects stop recording (and count them as dropped).
const QUEUE_MAX: usize = 100_000;
/// Links cached; the cache starts afresh when full.
const LINKS_MAX: usize = 100_000;
/// Repeat filters, each behind its own lock.
const SHARDS: usize = 16;

enum Message {
    Click(Click),
    Flush(oneshot::Sender<()>),
}

/// The click recorder: a queue and the task that writes it in groups.
#[derive(Debug, Clone)]
pub struct ClickLog {
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Click(_) => "Click",
            Message::Flush(_) => "Flush",
        })
    }
}

impl ClickLog {
    /// Starts the task writing clicks to `store`; it stops when every sender is gone, after
    /// writing what is queued.
    pub fn start(store: Store) -> ClickLog {
        let (tx, rx) = mpsc::channel(QUEUE_MAX);
        tokio::spawn(write_clicks(store, rx));
        ClickLog { tx }
    }

    /// Queues a counted click; `false` when the queue is full (the click is not recorded).
    pub fn record(&self, click: Click) -> bool {
        let queued = self.tx.try_send(Message::Click(click)).is_ok();
        if !queued {
            metrics::counter!("ovation_shop_clicks_dropped_total").increment(1);
        }
        queued
    }

    /// Waits until every click queued before this call is written (or could not be).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn write_clicks(store: Store, mut rx: mpsc::Receiver<Message>) {
    let mut messages = Vec::with_capacity(GROUP_MAX);
    loop {
        if rx.recv_many(&mut messages, GROUP_MAX).await == 0 {
            return;
        }
        // Under light load let a few more arrive (one statement for many clicks); under
        // heavy load write at once (the queue fills while a statement runs); never when
        // someone waits for a flush.
        if messages.len() < GROUP_SMALL && !messages.iter().any(|m| matches!(m, Message::Flush(_)))
        {
            tokio::time::sleep(FLUSH_EVERY).await;
            while messages.len() < GROUP_MAX {
                match rx.try_recv() {
                    Ok(m) => messages.push(m),
                    Err(_) => break,
                }
            }
        }
        let mut clicks = Vec::with_capacity(messages.len());
        let mut waiting = Vec::new();
        for m in messages.drain(..) {
            match m {
                Message::Click(c) => clicks.push(c),
                Message::Flush(done) => waiting.push(done),
            }
        }
        if let Err(e) = store.insert_clicks(&clicks).await {
            tracing::warn!(error = %e, clicks = clicks.len(), "clicks not recorded");
            metrics::counter!("ovation_shop_clicks_dropped_total").increment(clicks.len() as u64);
        } else {
            metrics::counter!("ovation_shop_clicks_recorded_total").increment(clicks.len() as u64);
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}

/// The shop's per-node state: the click log, the link cache, the repeat filters and the key
/// client addresses are hashed with.
#[derive(Debug)]
pub struct Clicks {
    /// Where counted clicks go.
    pub log: ClickLog,
    links: Mutex<HashMap<String, Arc<(ShopLink, String)>>>,
    repeats: Vec<Mutex<RepeatFilter>>,
    key: Vec<u8>,
}

/// What a request for a link gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The product's page with `ovc` added.
    pub location: String,
    /// Whether the click was counted.
    pub counted: bool,
}

impl Clicks {
    /// The shop's state on `store`, with the stored key of client hashes.
    pub async fn open(store: &Store) -> Result<Clicks, store::StoreError> {
        let key = store.server_secret("click_client_key").await?.into_bytes();
        Ok(Clicks {
            log: ClickLog::start(store.clone()),
            links: Mutex::new(HashMap::new()),
            repeats: (0..SHARDS)
                .map(|_| Mutex::new(RepeatFilter::default()))
                .collect(),
            key,
        })
    }

    /// The keyed hash of a client address.
    pub fn client_hash(&self, address: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        mac.update(address.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The link with `code` and its product's page, from memory or the store.
    pub async fn link(
        &self,
        store: &Store,
        code: &str,
    ) -> Result<Option<Arc<(ShopLink, String)>>, store::StoreError> {
        if let Some(link) = self.links.lock().expect("never poisoned").get(code) {
            return Ok(Some(link.clone()));
        }
        let Some(found) = store.link(code).await? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        let mut links = self.links.lock().expect("never poisoned");
        if links.len() >= LINKS_MAX {
            links.clear();
        }
        links.insert(code.to_owned(), found.clone());
        Ok(Some(found))
    }

    /// Decides about a request for `link` from `address` with `user_agent` and queues the
    /// click when it counts; the redirect carries the click's id (a repeat's, the first
    /// click's).
    pub fn click(
        &self,
        link: &(ShopLink, String),
        address: &str,
        user_agent: Option<&str>,
    ) -> Redirect {
        let (link, url) = link;
        let id = postings::ClickId::generate().to_string();
        let location = |ovc: &str| with_query(url, "ovc", ovc);
        if shop::is_bot(user_agent) {
            metrics::counter!("ovation_shop_clicks_filtered_total", "why" => "bot").increment(1);
            return Redirect {
                location: location(&id),
                counted: false,
            };
        }
        let client = self.client_hash(address);
        let now = store::now();
        let seen = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            (&client, &link.code).hash(&mut hasher);
            let shard = usize::try_from(hasher.finish() % SHARDS as u64).unwrap_or(0);
            self.repeats[shard]
                .lock()
                .expect("never poisoned")
                .see(&client, &link.code, now, &id)
        };
        if let Seen::RepeatOf(first) = seen {
            metrics::counter!("ovation_shop_clicks_filtered_total", "why" => "repeat").increment(1);
            return Redirect {
                location: location(&first),
                counted: false,
            };
        }
        let agent: String = user_agent.unwrap_or_default().chars().take(300).collect();
        let counted = self.log.record(Click {
            id: id.clone(),
            code: link.code.clone(),
            creator_id: link.creator_id.clone(),
            brand_id: link.brand_id.clone(),
            client_hash: client,
            user_agent: agent,
            at: now,
        });
        Redirect {
            location: location(&id),
            counted,
        }
    }
}

/// `url` with `key=value` added to its query (before any fragment).
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    let mut out = format!("{base}{sep}{key}={value}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_query;

    #[test]
    fn the_click_id_joins_the_query_before_the_fragment() {
        assert_eq!(
            with_query("https://b.example/p", "ovc", "c1"),
            "https://b.example/p?ovc=c1"
        );
        assert_eq!(
            with_query("https://b.example/p?x=1#top", "ovc", "c1"),
            "https://b.example/p?x=1&ovc=c1#top"
        );
        assert_eq!(
            with_query("https://b.example/p?", "ovc", "c1"),
            "https://b.example/p?ovc=c1"
        );
    }
}
