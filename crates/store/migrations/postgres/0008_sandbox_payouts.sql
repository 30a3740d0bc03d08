-- The sandbox provider's payouts, by the idempotency key they were made under: a payout sent
-- again after a restart of Ovation is the same payout, as with a real provider.
CREATE TABLE sandbox_payouts (
    idempotency_key  TEXT PRIMARY KEY,
    id               TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
