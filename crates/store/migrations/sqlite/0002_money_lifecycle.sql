-- The money lifecycle: purchases gain the processor's fee, the platform's match, how they
-- were paid and the `disputed` status (SQLite cannot change a CHECK in place: the table is
-- rebuilt); income is held, then released.

CREATE TABLE purchases_new (
    id              TEXT PRIMARY KEY,
    live_id         TEXT NOT NULL,
    viewer_id       TEXT NOT NULL,
    creator_id      TEXT NOT NULL,
    tier            SMALLINT NOT NULL,
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    creator_share   BIGINT NOT NULL,
    platform_fee    BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('succeeded', 'refunded', 'disputed')),
    payment_id      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    refunded_at     BIGINT,
    processor_fee   BIGINT NOT NULL DEFAULT 0,
    match_amount    BIGINT NOT NULL DEFAULT 0,
    payment_method  TEXT NOT NULL DEFAULT 'card' CHECK (payment_method IN ('card', 'wallet'))
);
INSERT INTO purchases_new (id, live_id, viewer_id, creator_id, tier, amount, currency,
                           creator_share, platform_fee, status, payment_id, created_at, refunded_at)
    SELECT id, live_id, viewer_id, creator_id, tier, amount, currency,
           creator_share, platform_fee, status, payment_id, created_at, refunded_at
    FROM purchases;
DROP TABLE purchases;
ALTER TABLE purchases_new RENAME TO purchases;
CREATE INDEX purchases_by_live_viewer ON purchases (live_id, viewer_id);
CREATE INDEX purchases_by_viewer_time ON purchases (viewer_id, created_at);
-- Webhooks name the provider's payment.
CREATE INDEX purchases_by_payment ON purchases (payment_id);

-- New income is held: one row per income event (a purchase), released to the creator's
-- available balance when `release_at` passes, or reversed by a refund or a chargeback.
CREATE TABLE holds (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    currency    TEXT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount > 0),
    source      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('held', 'released', 'reversed')),
    release_at  BIGINT NOT NULL,
    release_id  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX holds_due ON holds (release_at) WHERE status = 'held';
CREATE INDEX holds_by_owner ON holds (owner, created_at);

-- Income booked before holds existed is held from its purchase for the default hold period
-- (7 days), so that pending balances and held income agree from the start.
INSERT INTO holds (id, owner, currency, amount, source, status, release_at, created_at, updated_at)
    SELECT id, creator_id, currency, creator_share, 'badges', 'held',
           created_at + 604800000000, created_at, created_at
    FROM purchases
    WHERE status = 'succeeded' AND creator_share > 0;
