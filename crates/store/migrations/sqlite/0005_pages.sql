-- Ovation's own pages: sign-in sessions, a live's badge goal, and the creator's dashboard.

-- A browser's session: the cookie is random, only its SHA-256 is kept. `user_id` is NULL for
-- the operator, signed in with the admin token whose SHA-256 is `admin_token_hash` (a new admin
-- token ends the operator's sessions). `csrf` is the token every form of the session must carry.
CREATE TABLE sessions (
    hash        TEXT PRIMARY KEY,
    user_id     TEXT REFERENCES users (id),
    admin_token_hash TEXT,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- A creator may set a goal for a live, in hearts ("50 hearts"); NULL: none.
ALTER TABLE lives ADD COLUMN goal_hearts BIGINT;

-- The dashboard reads a creator's purchases by time (supporters of the last 90 days,
-- earnings over time).
CREATE INDEX purchases_by_creator_time ON purchases (creator_id, created_at);
