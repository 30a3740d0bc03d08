-- Card payments recorded before the provider is called, and the sandbox provider's own
-- records of its charges.

-- One card payment attempt per provider idempotency key (derived from the caller and its
-- Idempotency-Key). `order` is what to book, as the server wrote it (JSON).
CREATE TABLE payment_attempts (
    key              TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('purchase', 'topup')),
    reference        TEXT NOT NULL UNIQUE,
    account_id       TEXT NOT NULL,
    idempotency_key  TEXT,
    fingerprint      TEXT NOT NULL,
    "order"          TEXT NOT NULL,
    amount           BIGINT NOT NULL CHECK (amount > 0),
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                        ('pending', 'processing', 'booked', 'declined', 'refunded', 'abandoned')),
    payment_id       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- The reconciler walks the unsettled ones, oldest first.
CREATE INDEX payment_attempts_unsettled ON payment_attempts (created_at)
    WHERE status IN ('pending', 'processing');
CREATE INDEX payment_attempts_by_payment ON payment_attempts (payment_id);

-- The sandbox provider's charges (its "processor records"): they survive a restart, as a
-- real processor's do. Only the sandbox writes here.
CREATE TABLE sandbox_charges (
    id               TEXT PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    amount           BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    payment_method   TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('processing', 'succeeded', 'refunded', 'disputed')),
    reference        TEXT NOT NULL,
    -- The first answer under the key was lost (pm_card_lostAnswer): later calls get it.
    answered         BIGINT NOT NULL CHECK (answered IN (0, 1)),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX sandbox_charges_by_reference ON sandbox_charges (reference);
CREATE INDEX sandbox_charges_by_created ON sandbox_charges (created_at, id);
CREATE INDEX sandbox_charges_processing ON sandbox_charges (created_at) WHERE status = 'processing';
