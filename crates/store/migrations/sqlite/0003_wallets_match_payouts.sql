-- Wallets, match programs, payouts and spending limits.

-- The match program that matched a purchase (its amount is `match_amount`).
ALTER TABLE purchases ADD COLUMN match_program TEXT;

-- Prepaid wallet top-ups, paid by card; the wallet itself is a ledger account.
CREATE TABLE topups (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    currency       TEXT NOT NULL,
    processor_fee  BIGINT NOT NULL,
    payment_id     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('succeeded', 'disputed')),
    created_at     BIGINT NOT NULL,
    disputed_at    BIGINT
);
CREATE INDEX topups_by_payment ON topups (payment_id);
CREATE INDEX topups_by_user ON topups (user_id, id);

-- Platform earnings-match programs; each currency's budget is a ledger account of the
-- program (`<id>/match_budget/<CUR>`), never below zero. `caps` is JSON: {"USD": 10000}.
CREATE TABLE match_programs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    rate_bps    BIGINT NOT NULL CHECK (rate_bps > 0 AND rate_bps <= 10000),
    caps        TEXT NOT NULL,
    countries   TEXT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- What each program has matched per creator and currency (net of reversals), against its cap.
CREATE TABLE match_usage (
    program_id  TEXT NOT NULL,
    creator_id  TEXT NOT NULL,
    currency    TEXT NOT NULL,
    matched     BIGINT NOT NULL,
    PRIMARY KEY (program_id, creator_id, currency)
);

-- Payouts to creators: pending on the ledger until the provider confirms.
CREATE TABLE payouts (
    id           TEXT PRIMARY KEY,
    creator_id   TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount > 0),
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
    provider_id  TEXT,
    failure      TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX payouts_by_creator ON payouts (creator_id, id);
CREATE INDEX payouts_pending ON payouts (created_at) WHERE status = 'pending';

-- Badge spending caps a viewer set for themselves, in minor units of their country's
-- currency (NULL: only the operator's caps apply).
ALTER TABLE users ADD COLUMN own_daily_limit BIGINT;
ALTER TABLE users ADD COLUMN own_weekly_limit BIGINT;
-- Where the provider pays the creator (Stripe: the connected account, acct_…).
ALTER TABLE users ADD COLUMN payout_account TEXT;
