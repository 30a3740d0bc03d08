-- The money lifecycle: purchases gain the processor's fee, the platform's match, how they
-- were paid and the `disputed` status; income is held, then released.

ALTER TABLE purchases
    ADD COLUMN processor_fee   BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN match_amount    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN payment_method  TEXT NOT NULL DEFAULT 'card' CHECK (payment_method IN ('card', 'wallet')),
    DROP CONSTRAINT purchases_status_check,
    ADD CONSTRAINT purchases_status_check CHECK (status IN ('succeeded', 'refunded', 'disputed'));
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
