-- Ovation's schema on PostgreSQL: the SQLite schema (migrations/sqlite) with PostgreSQL's
-- types. Every integer is BIGINT so that both backends decode the same Rust types; ids are
-- text, money is BIGINT minor units beside a currency code, times are BIGINT microseconds
-- since the Unix epoch (UTC). Every money movement is a row of `transfers`; balances are running
-- sums kept on `ledger_accounts` and checked against the transfers by the verifier.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    handle      TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('creator', 'viewer', 'brand')),
    country     TEXT NOT NULL,
    birth_date  TEXT,
    followers   BIGINT,
    suspended   BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

-- Opaque tokens are random; only their SHA-256 is kept.
CREATE TABLE tokens (
    hash        TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE lives (
    id          TEXT PRIMARY KEY,
    creator_id  TEXT NOT NULL REFERENCES users (id),
    title       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('live', 'ended')),
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT
);
CREATE INDEX lives_by_status ON lives (status, started_at);
CREATE INDEX lives_by_creator ON lives (creator_id, started_at);

-- Ids are time-ordered (UUIDv7), so `ORDER BY id` is creation order and the cursor.
CREATE TABLE comments (
    id          TEXT PRIMARY KEY,
    live_id     TEXT NOT NULL REFERENCES lives (id),
    author_id   TEXT NOT NULL REFERENCES users (id),
    text        TEXT NOT NULL,
    badge_tier  BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX comments_by_live ON comments (live_id, id);

CREATE TABLE purchases (
    id             TEXT PRIMARY KEY,
    live_id        TEXT NOT NULL,
    viewer_id      TEXT NOT NULL,
    creator_id     TEXT NOT NULL,
    tier           BIGINT NOT NULL,
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    creator_share  BIGINT NOT NULL,
    platform_fee   BIGINT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('succeeded', 'refunded')),
    payment_id     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    refunded_at    BIGINT
);
CREATE INDEX purchases_by_live_viewer ON purchases (live_id, viewer_id);
CREATE INDEX purchases_by_viewer_time ON purchases (viewer_id, created_at);

-- Stored answers of POSTs that move money, per calling account and Idempotency-Key.
CREATE TABLE idempotency (
    account_id   TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       BIGINT NOT NULL,
    body         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);

CREATE TABLE ledger_accounts (
    id               TEXT PRIMARY KEY,
    owner            TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    currency         TEXT NOT NULL,
    rule             TEXT NOT NULL,
    debits_posted    BIGINT NOT NULL DEFAULT 0,
    credits_posted   BIGINT NOT NULL DEFAULT 0,
    debits_pending   BIGINT NOT NULL DEFAULT 0,
    credits_pending  BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE INDEX ledger_accounts_by_owner ON ledger_accounts (owner);

-- `seq` is the order in which transfers were applied; the verifier replays them in it.
CREATE TABLE transfers (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    debit_account   TEXT NOT NULL,
    credit_account  TEXT NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    pending_id      TEXT,
    code            BIGINT NOT NULL,
    reference       TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
-- A pending transfer is posted or voided at most once.
CREATE UNIQUE INDEX transfers_resolving ON transfers (pending_id) WHERE pending_id IS NOT NULL;

-- Income per owner, source and currency, kept by the writer from transfer codes so that
-- earnings need no scan of the transfers.
CREATE TABLE income_totals (
    owner     TEXT NOT NULL,
    source    TEXT NOT NULL,
    currency  TEXT NOT NULL,
    amount    BIGINT NOT NULL,
    PRIMARY KEY (owner, source, currency)
);
