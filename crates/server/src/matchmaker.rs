//! This node's matching index: every matchable creator (metrics known, open to deals, not
//! suspended) in a [`market::Index`], kept up to date incrementally. Before it ranks, it
//! loads from the store only the creators whose metrics, profile, ratings or offers changed
//! since its last look (with a margin for writes that committed late), so what another node
//! wrote is seen within [`STALE_AFTER`] and what this node wrote at once.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use market::{Brief, Index, Match};
use store::{MarketCreator, Store, StoreError};
use time::OffsetDateTime;

/// How long a look at the store serves before the next one.
pub const STALE_AFTER: Duration = Duration::from_secs(2);

/// How far back each look reaches before the previous one: a row written with an earlier
/// time that committed after that look is still seen.
const MARGIN: time::Duration = time::Duration::seconds(60);

/// The index, the creators' handles, and when it last looked.
#[derive(Debug, Default)]
struct Inner {
    index: Index,
    handles: HashMap<String, String>,
    looked_at: Option<OffsetDateTime>,
    looked: Option<Instant>,
}

/// This node's matching index.
#[derive(Debug, Default)]
pub struct Matchmaker {
    inner: RwLock<Inner>,
    changed: AtomicBool,
    refreshing: tokio::sync::Mutex<()>,
}

/// A match with the creator's handle.
#[derive(Debug, Clone)]
pub struct Found {
    /// The match.
    pub matched: Match,
    /// The creator's handle.
    pub handle: String,
}

impl Matchmaker {
    /// Says that this node changed a creator's metrics, profile, ratings or deliveries: the
    /// next ranking looks at the store first.
    pub fn changed(&self) {
        self.changed.store(true, Ordering::Release);
    }

    /// Brings the index up to date if it is stale or this node changed something.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let _one = self.refreshing.lock().await;
        let (since, fresh) = {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            (
                inner.looked_at,
                inner.looked.is_some_and(|t| t.elapsed() < STALE_AFTER),
            )
        };
        if fresh && !self.changed.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.changed.store(false, Ordering::Release);
        let now = store::now();
        let creators = store.market_creators(since.map(|t| t - MARGIN)).await?;
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for MarketCreator {
            creator,
            handle,
            matchable,
        } in creators
        {
            if matchable && inner.index.upsert(&creator).is_ok() {
                inner.handles.insert(creator.id.clone(), handle);
            } else {
                inner.index.remove(&creator.id);
                inner.handles.remove(&creator.id);
            }
        }
        inner.looked_at = Some(now);
        inner.looked = Some(Instant::now());
        Ok(())
    }

    /// The best `n` creators for `brief`, fresh from the store as [`Matchmaker::refresh`] says.
    pub async fn top(
        &self,
        store: &Store,
        brief: &Brief,
        n: usize,
    ) -> Result<Vec<Found>, StoreError> {
        self.refresh(store).await?;
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        Ok(inner
            .index
            .top(brief, n)
            .into_iter()
            .map(|matched| Found {
                handle: inner
                    .handles
                    .get(&matched.creator_id)
                    .cloned()
                    .unwrap_or_default(),
                matched,
            })
            .collect())
    }
}
