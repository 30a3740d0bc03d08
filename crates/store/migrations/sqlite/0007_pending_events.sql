-- Provider events that arrived before what they change exists (a refund or a dispute of a
-- payment not booked yet): kept, and applied when it exists (the reconciler retries them).
CREATE TABLE provider_events_pending (
    provider     TEXT NOT NULL,
    id           TEXT NOT NULL,
    payment_id   TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (provider, id)
);
CREATE INDEX provider_events_pending_by_payment ON provider_events_pending (payment_id);
CREATE INDEX provider_events_pending_by_time ON provider_events_pending (received_at);

-- A top-up refunded at the provider is `refunded` (SQLite cannot change a CHECK: the table
-- is rebuilt with the same rows).
CREATE TABLE topups_new (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    processor_fee  BIGINT NOT NULL,
    payment_id     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('succeeded', 'disputed', 'refunded')),
    created_at     BIGINT NOT NULL,
    disputed_at    BIGINT
);
INSERT INTO topups_new (id, user_id, amount, currency, processor_fee, payment_id, status, created_at, disputed_at)
    SELECT id, user_id, amount, currency, processor_fee, payment_id, status, created_at, disputed_at FROM topups;
DROP TABLE topups;
ALTER TABLE topups_new RENAME TO topups;
CREATE INDEX topups_by_payment ON topups (payment_id);
CREATE INDEX topups_by_user ON topups (user_id, id);
