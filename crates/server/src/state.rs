//! What every handler shares.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::OwnedMutexGuard;

use crate::auth::TokenCache;
use crate::bus::{EventBus, NatsBus};
use crate::payments::PaymentProvider;
use crate::settings::Config;

/// Shared state, cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// Validated configuration.
    pub config: Config,
    /// The database.
    pub store: store::Store,
    /// SHA-256 of the admin token, hex, and of the one being rotated out, if any.
    pub admin_token_hashes: Vec<String>,
    /// Token look-ups.
    pub tokens: TokenCache,
    /// Live events.
    pub bus: Arc<dyn EventBus>,
    /// The NATS bus behind `bus`, when live events are shared between nodes.
    pub nats: Option<Arc<NatsBus>>,
    /// The payment processor.
    pub payments: Arc<dyn PaymentProvider>,
    /// The secret payment webhooks are signed with (configured, or generated for this run).
    pub webhook_secret: secrecy::SecretString,
    /// The sandbox's webhooks not delivered yet.
    pub sandbox_undelivered: crate::payments::Undelivered,
    /// One request at a time per idempotency key on this node.
    pub key_locks: KeyLocks,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Lives seen recently: their creator never changes and an ended live never restarts.
    pub lives: LiveCache,
    /// Match programs, read again every few seconds.
    pub programs: ProgramCache,
    /// Hearts per live for the live pages, read again every few seconds.
    pub hearts: HeartsCache,
    /// What `serve --demo` seeded: the home page offers its accounts.
    pub demo: std::sync::OnceLock<Demo>,
    /// Tracked-link clicks: the link cache, the repeat filters and the click log.
    pub clicks: crate::clicks::Clicks,
    /// This node's matching index of the marketplace's creators.
    pub matchmaker: crate::matchmaker::Matchmaker,
    /// `true` once the server is shutting down. Each WebSocket holds a receiver until it
    /// has closed, so `closed()` resolves when every viewer has had its close frame.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// WebSockets open per account on this node, capped at `ws_sockets_per_account`.
    pub sockets: SocketCounts,
    /// Rate limits of this node.
    pub limits: crate::limits::RateLimits,
    /// Keys the marks operator sessions keep of the admin token.
    pub operator_key: crate::auth::OperatorKey,
}

/// WebSockets open per account (or the admin token) on this node.
#[derive(Debug, Default)]
pub struct SocketCounts {
    open: Arc<Mutex<HashMap<String, u32>>>,
}

/// One open WebSocket counted against its account; dropping it frees the place.
#[derive(Debug)]
pub struct SocketSlot {
    account: String,
    open: Arc<Mutex<HashMap<String, u32>>>,
}

impl SocketCounts {
    /// A place for one more WebSocket of `account`, unless it holds `max` already.
    pub fn open(&self, account: &str, max: u32) -> Option<SocketSlot> {
        let mut open = self
            .open
            .lock()
            .expect("socket counts lock is never poisoned");
        let count = open.entry(account.to_owned()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            account: account.to_owned(),
            open: Arc::clone(&self.open),
        })
    }

    /// WebSockets `account` holds open.
    pub fn of(&self, account: &str) -> u32 {
        let open = self
            .open
            .lock()
            .expect("socket counts lock is never poisoned");
        open.get(account).copied().unwrap_or(0)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self
            .open
            .lock()
            .expect("socket counts lock is never poisoned");
        if let Some(count) = open.get_mut(&self.account) {
            *count = count.saturating_sub(1);
            // Accounts without a socket are forgotten: the map holds the connected only.
            if *count == 0 {
                open.remove(&self.account);
            }
        }
    }
}

impl Shared {
    /// What card payments are made and booked with.
    pub fn checkout(&self) -> crate::flows::checkout::Checkout<'_> {
        crate::flows::checkout::Checkout {
            store: &self.store,
            provider: &*self.payments,
            config: &self.config,
            bus: &*self.bus,
            programs: &self.programs,
        }
    }

    /// What applies the payment provider's events.
    pub fn provider_events(&self) -> crate::flows::events::ProviderEvents<'_> {
        crate::flows::events::ProviderEvents {
            checkout: self.checkout(),
        }
    }

    /// What shop orders and returns are booked with.
    pub fn orders(&self) -> crate::flows::shop::Orders<'_> {
        crate::flows::shop::Orders {
            store: &self.store,
            config: &self.config,
            clicks: &self.clicks,
        }
    }

    /// What a payout run works with: the store, the provider and the minimum.
    pub fn payouts(&self) -> crate::flows::Payouts<'_> {
        crate::flows::Payouts {
            store: &self.store,
            provider: &*self.payments,
            minimum_major: self.config.payout_minimum_major,
        }
    }
}

/// What the demo made: tokens and ids to try things with.
#[derive(Debug, Clone)]
pub struct Demo {
    /// The creator's id and token.
    pub creator: (String, String),
    /// The creator's handle.
    pub creator_handle: String,
    /// The brand's id and token.
    pub brand: (String, String),
    /// The brand's handle.
    pub brand_handle: String,
    /// The operator's token, for the demo's one-click sign-in: only a token generated for
    /// this run on a loopback bind; a configured admin token is never put on a page.
    pub admin_token: Option<String>,
    /// Viewers' handles, ids and tokens.
    pub viewers: Vec<(String, String, String)>,
    /// The running live.
    pub live_id: String,
    /// The brand's campaign (with an offer to the creator).
    pub campaign_id: String,
}

/// Most lives cached; the cache starts afresh when full.
const LIVE_CACHE_MAX: usize = 100_000;

/// Lives by id, so that purchases and comments need no read to learn a live's creator. An
/// entry may say `active` after another node ended the live: whatever moves money or writes
/// checks the live's status again inside its own write.
#[derive(Debug, Default)]
pub struct LiveCache {
    lives: Mutex<HashMap<String, Arc<store::Live>>>,
}

impl LiveCache {
    /// The cached live.
    pub fn get(&self, id: &str) -> Option<Arc<store::Live>> {
        self.lives
            .lock()
            .expect("live cache lock is never poisoned")
            .get(id)
            .cloned()
    }

    /// Caches (or refreshes) a live.
    pub fn put(&self, live: store::Live) -> Arc<store::Live> {
        let live = Arc::new(live);
        let mut lives = self
            .lives
            .lock()
            .expect("live cache lock is never poisoned");
        if lives.len() >= LIVE_CACHE_MAX {
            lives.clear();
        }
        lives.insert(live.id.to_string(), live.clone());
        live
    }
}

/// How long a live page uses the hearts count it read: a popular live's page is opened by
/// thousands of viewers, and the count sums every badge of the live. The page's script then
/// adds the hearts of each badge event, so a count a moment old is only a moment behind.
const HEARTS_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Hearts of each live's standing badges, read at most every [`HEARTS_TTL`] per live.
#[derive(Debug, Default)]
pub struct HeartsCache {
    counts: Mutex<HashMap<String, (std::time::Instant, u64)>>,
}

impl HeartsCache {
    /// The hearts of `live`, from the cache when fresh.
    pub async fn get(
        &self,
        store: &store::Store,
        live: &store::LiveId,
    ) -> Result<u64, store::StoreError> {
        if let Some((at, hearts)) = self
            .counts
            .lock()
            .expect("never poisoned")
            .get(live.as_str())
            && at.elapsed() < HEARTS_TTL
        {
            return Ok(*hearts);
        }
        let hearts = store.live_hearts(live).await?;
        let mut counts = self.counts.lock().expect("never poisoned");
        if counts.len() >= LIVE_CACHE_MAX {
            counts.clear();
        }
        counts.insert(live.to_string(), (std::time::Instant::now(), hearts));
        Ok(hearts)
    }
}

/// How long this node uses the match programs it read: a program created on another node
/// starts matching here within this time. What matters to money — the budget and the caps —
/// is checked inside the ledger batch, exactly.
const PROGRAMS_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The match programs, cached.
#[derive(Debug, Default)]
pub struct ProgramCache {
    programs: Mutex<Option<(std::time::Instant, Arc<Vec<store::MatchProgram>>)>>,
}

impl ProgramCache {
    /// Every program, from the cache when it is fresh.
    pub async fn get(
        &self,
        store: &store::Store,
    ) -> Result<Arc<Vec<store::MatchProgram>>, store::StoreError> {
        if let Some((at, programs)) = &*self.programs.lock().expect("never poisoned")
            && at.elapsed() < PROGRAMS_TTL
        {
            return Ok(programs.clone());
        }
        let programs = Arc::new(store.match_programs().await?);
        *self.programs.lock().expect("never poisoned") =
            Some((std::time::Instant::now(), programs.clone()));
        Ok(programs)
    }

    /// Forgets the cached programs (one was created on this node).
    pub fn invalidate(&self) {
        *self.programs.lock().expect("never poisoned") = None;
    }
}

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

type KeyMap = HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>;

/// Serializes requests that carry the same idempotency key on this node, so that
/// concurrent retries wait for the first answer instead of charging twice. Across nodes the
/// database's unique key is the arbiter.
#[derive(Debug, Default)]
pub struct KeyLocks {
    locks: Arc<Mutex<KeyMap>>,
}

/// Held while a keyed request runs; forgets the lock when nobody else waits for it.
#[derive(Debug)]
pub struct KeyGuard {
    key: (String, String),
    locks: Arc<Mutex<KeyMap>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    /// Waits for the lock of (`scope`, `key`).
    pub async fn lock(&self, scope: &str, key: &str) -> KeyGuard {
        let id = (scope.to_owned(), key.to_owned());
        let mutex = self
            .locks
            .lock()
            .expect("key locks are never poisoned")
            .entry(id.clone())
            .or_default()
            .clone();
        let guard = mutex.lock_owned().await;
        KeyGuard {
            key: id,
            locks: self.locks.clone(),
            guard: Some(guard),
        }
    }

    /// Keys currently locked or waited for.
    pub fn len(&self) -> usize {
        self.locks
            .lock()
            .expect("key locks are never poisoned")
            .len()
    }

    /// Whether no key is locked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut locks = self.locks.lock().expect("key locks are never poisoned");
        // Only the map holds it: nobody waits.
        if locks
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            locks.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_released_key_is_forgotten() {
        let locks = KeyLocks::default();
        let guard = locks.lock("acc", "k").await;
        assert_eq!(locks.len(), 1);
        drop(guard);
        assert!(locks.is_empty());
    }

    #[tokio::test]
    async fn a_second_holder_waits_for_the_first() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks.lock("acc", "k").await;
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move { l2.lock("acc", "k").await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        let second = waiter.await.expect("the waiter gets the lock");
        drop(second);
        assert!(locks.is_empty());
    }
}
