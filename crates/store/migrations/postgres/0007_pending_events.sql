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

-- A top-up refunded at the provider is `refunded`.
ALTER TABLE topups DROP CONSTRAINT topups_status_check;
ALTER TABLE topups ADD CONSTRAINT topups_status_check
    CHECK (status IN ('succeeded', 'disputed', 'refunded'));
