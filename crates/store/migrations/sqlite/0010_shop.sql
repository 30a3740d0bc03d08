-- The creator shop: brands' products, creators' shops and tracked links, clicks, coupons,
-- orders with their attribution and commission, and each brand's attribution window.

CREATE TABLE products (
    id                  TEXT PRIMARY KEY,
    brand_id            TEXT NOT NULL REFERENCES users (id),
    title               TEXT NOT NULL,
    url                 TEXT NOT NULL,
    price               BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    category            TEXT NOT NULL,
    commission_bps      BIGINT NOT NULL CHECK (commission_bps BETWEEN 1 AND 9000),
    return_window_days  BIGINT NOT NULL CHECK (return_window_days BETWEEN 0 AND 365),
    active              BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX products_by_brand ON products (brand_id, id);
CREATE INDEX products_by_category ON products (category, id);

-- A creator's shop: its products in display order.
CREATE TABLE shop_items (
    creator_id  TEXT NOT NULL REFERENCES users (id),
    position    BIGINT NOT NULL,
    product_id  TEXT NOT NULL REFERENCES products (id),
    PRIMARY KEY (creator_id, position)
);

-- One tracked link per creator and product.
CREATE TABLE shop_links (
    code        TEXT PRIMARY KEY,
    creator_id  TEXT NOT NULL REFERENCES users (id),
    product_id  TEXT NOT NULL REFERENCES products (id),
    brand_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (creator_id, product_id)
);

-- Counted clicks (bots and repeats are redirected, not stored). The client's address is
-- kept only as a keyed hash.
CREATE TABLE shop_clicks (
    id           TEXT PRIMARY KEY,
    code         TEXT NOT NULL,
    creator_id   TEXT NOT NULL,
    brand_id     TEXT NOT NULL,
    client_hash  TEXT NOT NULL,
    user_agent   TEXT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX shop_clicks_by_client ON shop_clicks (client_hash, brand_id, at);
CREATE INDEX shop_clicks_by_code ON shop_clicks (code, at);

-- Clicks older than the longest attribution window, counted per link and day.
CREATE TABLE shop_click_days (
    code    TEXT NOT NULL,
    day     BIGINT NOT NULL,
    clicks  BIGINT NOT NULL,
    PRIMARY KEY (code, day)
);

CREATE TABLE coupons (
    brand_id    TEXT NOT NULL REFERENCES users (id),
    code        TEXT NOT NULL,
    creator_id  TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (brand_id, code)
);

CREATE TABLE shop_orders (
    id              TEXT PRIMARY KEY,
    brand_id        TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    creator_id      TEXT,
    attribution     TEXT NOT NULL,
    click_id        TEXT,
    link            TEXT,
    coupon          TEXT,
    lines           TEXT NOT NULL,
    currency        TEXT NOT NULL,
    sales           BIGINT NOT NULL,
    commission      BIGINT NOT NULL,
    platform_fee    BIGINT NOT NULL,
    creator_share   BIGINT NOT NULL,
    returns         BIGINT NOT NULL,
    hold_id         TEXT,
    ordered_at      BIGINT NOT NULL,
    locks_at        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (brand_id, order_id)
);
CREATE INDEX shop_orders_by_creator ON shop_orders (creator_id, link);
CREATE INDEX shop_orders_by_brand ON shop_orders (brand_id, creator_id);

CREATE TABLE shop_settings (
    brand_id                 TEXT PRIMARY KEY REFERENCES users (id),
    attribution_window_days  BIGINT NOT NULL
);

-- Secrets the server keeps in its database (the key of client-address hashes).
CREATE TABLE server_secrets (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
