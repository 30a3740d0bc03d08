//! A live's chat: adding a comment with its author's badge, and reading them back.

use super::{Page, tier_from};
use crate::columns::Columns;
use crate::rows::{Comment, CommentId, LiveId, User, UserId};
use crate::writer::NewComment;
use crate::{Store, StoreError, from_micros, with_pool};

fn comment_from_row(row: &impl Columns) -> Result<Comment, StoreError> {
    let badge = row.opt_int("badge_tier")?;
    Ok(Comment {
        id: CommentId::from_string(row.text("id")?),
        live_id: LiveId::from_string(row.text("live_id")?),
        author_id: UserId::from_string(row.text("author_id")?),
        author_handle: row.text("author_handle")?,
        text: row.text("text")?,
        badge_tier: badge.map(tier_from).transpose()?,
        created_at: from_micros(row.int("created_at")?),
    })
}

impl Store {
    /// Adds a comment, with the author's badge in this live taken in the same statement;
    /// `None` when the live is not (or no longer) on. The comment is committed by the
    /// writer, in one of its batches ([`crate::Writer`]); [`StoreError::Busy`] when too many
    /// comments are waiting for it.
    pub async fn insert_comment(
        &self,
        live: &LiveId,
        author: &User,
        text: &str,
    ) -> Result<Option<Comment>, StoreError> {
        let written = self
            .writer
            .comment(NewComment {
                live_id: live.clone(),
                author_id: author.id.clone(),
                text: text.to_owned(),
            })
            .await?;
        let Some(written) = written else {
            return Ok(None);
        };
        Ok(Some(Comment {
            id: written.id,
            live_id: live.clone(),
            author_id: author.id.clone(),
            author_handle: author.handle.clone(),
            text: text.to_owned(),
            badge_tier: written.badge_tier.map(tier_from).transpose()?,
            created_at: from_micros(written.created_at),
        }))
    }

    /// Comments of a live, oldest first, after the cursor (a comment id).
    pub async fn comments(
        &self,
        live: &LiveId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Comment>, StoreError> {
        let rows = with_pool!(&self.db, pool => sqlx::query(
            "SELECT c.id, c.live_id, c.author_id, u.handle AS author_handle, c.text, c.badge_tier, c.created_at \
             FROM comments c JOIN users u ON u.id = c.author_id \
             WHERE c.live_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3",
        )
        .bind(live.as_str())
        .bind(cursor.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?
        .iter()
        .map(comment_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        let mut data: Vec<Comment> = rows;
        let next_cursor = if data.len() > limit as usize {
            data.truncate(limit as usize);
            data.last().map(|c| c.id.as_str().to_owned())
        } else {
            None
        };
        Ok(Page { data, next_cursor })
    }

    /// The latest `limit` comments of a live, oldest first.
    pub async fn recent_comments(
        &self,
        live: &LiveId,
        limit: u32,
    ) -> Result<Vec<Comment>, StoreError> {
        let mut comments = with_pool!(&self.db, pool => sqlx::query(
            "SELECT c.id, c.live_id, c.author_id, u.handle AS author_handle, c.text, c.badge_tier, c.created_at \
             FROM comments c JOIN users u ON u.id = c.author_id \
             WHERE c.live_id = $1 ORDER BY c.id DESC LIMIT $2",
        )
        .bind(live.as_str())
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(comment_from_row)
        .collect::<Result<Vec<_>, _>>())?;
        comments.reverse();
        Ok(comments)
    }
}
