-- Hardening the edge: user tokens get an id (to revoke them by), an optional expiry and a
-- revocation time; stored idempotent answers are pruned by age.
ALTER TABLE tokens ADD COLUMN id TEXT;
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN revoked_at BIGINT;
-- Tokens issued before ids existed get one derived from their hash.
UPDATE tokens SET id = 'tok_' || substr(hash, 1, 24) WHERE id IS NULL;
CREATE UNIQUE INDEX tokens_id ON tokens (id);
CREATE INDEX tokens_user ON tokens (user_id);
CREATE INDEX idempotency_created_at ON idempotency (created_at);
