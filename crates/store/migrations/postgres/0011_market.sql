-- The brand marketplace: what the platform knows of each creator (metrics, set by the
-- platform) and what the creator says (profile), brands' campaigns, offers in escrow (their
-- money is pending transfers on the ledger; this row is the state machine) and ratings.

CREATE TABLE creator_metrics (
    creator_id          TEXT PRIMARY KEY REFERENCES users (id),
    followers           BIGINT NOT NULL CHECK (followers >= 0),
    avg_views           BIGINT NOT NULL CHECK (avg_views >= 0),
    engagement_bps      BIGINT NOT NULL CHECK (engagement_bps BETWEEN 0 AND 10000),
    -- JSON objects of shares in basis points, e.g. {"US": 6000}.
    audience_countries  TEXT NOT NULL,
    audience_ages       TEXT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX creator_metrics_by_update ON creator_metrics (updated_at);

CREATE TABLE creator_profiles (
    creator_id     TEXT PRIMARY KEY REFERENCES users (id),
    -- A JSON array of niche names.
    niches         TEXT NOT NULL,
    bio            TEXT NOT NULL,
    open_to_deals  BIGINT NOT NULL,
    -- The creator's usual fee for one deal, if they state it (the ranking's value for money).
    rate           BIGINT CHECK (rate > 0),
    rate_currency  TEXT,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX creator_profiles_by_update ON creator_profiles (updated_at);

CREATE TABLE campaigns (
    id          TEXT PRIMARY KEY,
    brand_id    TEXT NOT NULL REFERENCES users (id),
    title       TEXT NOT NULL,
    brief       TEXT NOT NULL,
    -- JSON arrays.
    niches      TEXT NOT NULL,
    countries   TEXT NOT NULL,
    fee         BIGINT NOT NULL CHECK (fee > 0),
    currency    TEXT NOT NULL,
    slots       BIGINT NOT NULL CHECK (slots > 0),
    deadline    BIGINT NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX campaigns_by_status ON campaigns (status, deadline, id);
CREATE INDEX campaigns_by_brand ON campaigns (brand_id, created_at, id);

-- An offer's fee is held from the brand's wallet by two pending transfers (the creator's
-- share and the platform's fee, split when the offer is made); approval posts them, decline,
-- expiry and cancel void them.
CREATE TABLE offers (
    id              TEXT PRIMARY KEY,
    campaign_id     TEXT NOT NULL REFERENCES campaigns (id),
    brand_id        TEXT NOT NULL,
    creator_id      TEXT NOT NULL REFERENCES users (id),
    fee             BIGINT NOT NULL CHECK (fee > 0),
    currency        TEXT NOT NULL,
    platform_fee    BIGINT NOT NULL,
    creator_share   BIGINT NOT NULL,
    status          TEXT NOT NULL,
    -- When an offer not yet accepted expires.
    expires_at      BIGINT NOT NULL,
    delivery_url    TEXT,
    delivered_at    BIGINT,
    -- When a delivery not yet answered is approved.
    approve_by      BIGINT,
    note            TEXT,
    on_time         BIGINT,
    auto_approved   BIGINT NOT NULL DEFAULT 0,
    hold_id         TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX offers_by_campaign ON offers (campaign_id, created_at, id);
CREATE INDEX offers_by_creator ON offers (creator_id, created_at, id);
CREATE INDEX offers_by_expiry ON offers (status, expires_at);
CREATE INDEX offers_by_approval ON offers (status, approve_by);

-- One rating per side of an approved offer: the brand rates the creator, the creator the
-- brand.
CREATE TABLE offer_ratings (
    offer_id    TEXT NOT NULL REFERENCES offers (id),
    side        TEXT NOT NULL CHECK (side IN ('brand', 'creator')),
    rater_id    TEXT NOT NULL,
    ratee_id    TEXT NOT NULL,
    stars       BIGINT NOT NULL CHECK (stars BETWEEN 1 AND 5),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (offer_id, side)
);
CREATE INDEX offer_ratings_by_ratee ON offer_ratings (ratee_id, side);
