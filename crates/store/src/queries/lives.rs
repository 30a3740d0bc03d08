//! Lives: starting and ending one, its badge goal, the lives on now, and the hearts and
//! top tier of its badges.

use live::Tier;

use super::{tier_from, top_tier_of};
use crate::columns::Columns;
use crate::rows::{Live, LiveId, UserId};
use crate::{Db, Store, StoreError, from_micros, to_micros, with_pool};

/// The columns [`live_from_row`] reads.
macro_rules! live_columns {
    () => {
        "id, creator_id, title, status, started_at, ended_at, goal_hearts"
    };
}
pub(crate) use live_columns;

pub(crate) fn live_from_row(row: &impl Columns) -> Result<Live, StoreError> {
    let status = row.text("status")?;
    let ended_at = row.opt_int("ended_at")?;
    let goal_hearts = row.opt_int("goal_hearts")?;
    Ok(Live {
        id: LiveId::from_string(row.text("id")?),
        creator_id: UserId::from_string(row.text("creator_id")?),
        title: row.text("title")?,
        active: status == "live",
        started_at: from_micros(row.int("started_at")?),
        ended_at: ended_at.map(from_micros),
        goal_hearts: goal_hearts.map(|g| u32::try_from(g).unwrap_or(u32::MAX)),
    })
}

/// A live `creator` starts now, before it is stored.
fn new_live(creator: &UserId, title: &str, goal_hearts: Option<u32>) -> Live {
    Live {
        id: LiveId::generate(),
        creator_id: creator.clone(),
        title: title.to_owned(),
        active: true,
        started_at: crate::now(),
        ended_at: None,
        goal_hearts,
    }
}

impl Store {
    /// Starts a live, with its badge goal in hearts if the creator set one.
    pub async fn create_live(
        &self,
        creator: &UserId,
        title: &str,
        goal_hearts: Option<u32>,
    ) -> Result<Live, StoreError> {
        let live = new_live(creator, title, goal_hearts);
        with_pool!(&self.db, pool => sqlx::query(
            "INSERT INTO lives (id, creator_id, title, status, started_at, goal_hearts) VALUES ($1, $2, $3, 'live', $4, $5)",
        )
        .bind(live.id.as_str())
        .bind(live.creator_id.as_str())
        .bind(&live.title)
        .bind(to_micros(live.started_at))
        .bind(goal_hearts.map(i64::from))
        .execute(pool)
        .await?
        .rows_affected());
        Ok(live)
    }

    /// Starts a live unless `creator` has `open_max` lives open already (`None` then). The
    /// count and the insert are one statement; on PostgreSQL the creator's row is locked
    /// first, so two starts at once on two nodes are counted one after the other.
    pub async fn create_live_within(
        &self,
        creator: &UserId,
        title: &str,
        goal_hearts: Option<u32>,
        open_max: u32,
    ) -> Result<Option<Live>, StoreError> {
        const INSERT: &str = "INSERT INTO lives (id, creator_id, title, status, started_at, goal_hearts) \
             SELECT $1, $2, $3, 'live', $4, $5 \
             WHERE (SELECT COUNT(*) FROM lives WHERE creator_id = $2 AND status = 'live') < $6";
        let live = new_live(creator, title, goal_hearts);
        // One statement for both backends (a closure would fix its database type).
        macro_rules! insert {
            () => {
                sqlx::query(INSERT)
                    .bind(live.id.as_str())
                    .bind(live.creator_id.as_str())
                    .bind(&live.title)
                    .bind(to_micros(live.started_at))
                    .bind(goal_hearts.map(i64::from))
                    .bind(i64::from(open_max))
            };
        }
        let inserted = match &self.db {
            Db::Sqlite(pool) => insert!().execute(pool).await?.rows_affected(),
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                    .bind(creator.as_str())
                    .execute(&mut *tx)
                    .await?;
                let n = insert!().execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                n
            }
        };
        Ok((inserted == 1).then_some(live))
    }

    /// A live by id.
    pub async fn live(&self, id: &LiveId) -> Result<Option<Live>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(concat!(
            "SELECT ",
            live_columns!(),
            " FROM lives WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(live_from_row)
        .transpose())
    }

    /// Ends a live. Returns the live and whether this call ended it.
    pub async fn end_live(&self, id: &LiveId) -> Result<Option<(Live, bool)>, StoreError> {
        let changed = with_pool!(&self.db, pool => sqlx::query(
            "UPDATE lives SET status = 'ended', ended_at = $2 WHERE id = $1 AND status = 'live'",
        )
        .bind(id.as_str())
        .bind(to_micros(crate::now()))
        .execute(pool)
        .await?
        .rows_affected()
            > 0);
        Ok(self.live(id).await?.map(|l| (l, changed)))
    }

    /// Sets or clears a live's badge goal while it is on; `None` when the live is not on.
    pub async fn set_live_goal(
        &self,
        live: &LiveId,
        goal_hearts: Option<u32>,
    ) -> Result<Option<Live>, StoreError> {
        let changed = with_pool!(&self.db, pool => sqlx::query(
            "UPDATE lives SET goal_hearts = $2 WHERE id = $1 AND status = 'live'",
        )
        .bind(live.as_str())
        .bind(goal_hearts.map(i64::from))
        .execute(pool)
        .await?
        .rows_affected());
        if changed == 0 {
            return Ok(None);
        }
        self.live(live).await
    }

    /// Lives that are on now, newest first, each with its creator's handle.
    pub async fn active_lives(&self, limit: u32) -> Result<Vec<(Live, String)>, StoreError> {
        with_pool!(&self.db, pool => sqlx::query(
            "SELECT l.id, l.creator_id, l.title, l.status, l.started_at, l.ended_at, l.goal_hearts, \
                    u.handle AS creator_handle \
             FROM lives l JOIN users u ON u.id = l.creator_id \
             WHERE l.status = 'live' ORDER BY l.started_at DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| Ok((live_from_row(row)?, row.text("creator_handle")?)))
        .collect())
    }

    /// The highest tier `viewer` holds in `live` (refunded purchases do not count).
    pub async fn top_tier(
        &self,
        live: &LiveId,
        viewer: &UserId,
    ) -> Result<Option<Tier>, StoreError> {
        let sql = match &self.db {
            Db::Sqlite(_) => concat!(
                "SELECT ",
                top_tier_of!("purchases INDEXED BY purchases_by_viewer_time", "$1", "$2")
            ),
            Db::Postgres(_) => concat!("SELECT ", top_tier_of!("purchases", "$1", "$2")),
        };
        let tier: Option<i64> = with_pool!(&self.db, pool => sqlx::query_scalar(sql)
            .bind(live.as_str())
            .bind(viewer.as_str())
            .fetch_one(pool)
            .await?);
        tier.map(tier_from).transpose()
    }

    /// Hearts of a live's standing badges (refunded and charged-back ones do not count).
    pub async fn live_hearts(&self, live: &LiveId) -> Result<u64, StoreError> {
        let hearts: i64 = with_pool!(&self.db, pool => sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(tier), 0) AS BIGINT) FROM purchases WHERE live_id = $1 AND status = 'succeeded'",
        )
        .bind(live.as_str())
        .fetch_one(pool)
        .await?);
        Ok(u64::try_from(hearts).unwrap_or(0))
    }
}
