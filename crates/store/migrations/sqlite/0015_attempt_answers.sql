-- The answer to a card purchase booked with its charge in one batch is kept in its payment
-- attempt's row instead of a row of its own in `idempotency`: that row was a write at a
-- random place of idempotency's primary key, a page of its own in every batch. The key's
-- claim looks in both tables (the attempt's key is derived from the caller and its
-- Idempotency-Key). Only the SQLite writer keeps answers here; the PostgreSQL writer claims
-- keys by inserting into `idempotency`, where the insert is the claim.
ALTER TABLE payment_attempts ADD COLUMN answer_status SMALLINT;
ALTER TABLE payment_attempts ADD COLUMN answer_body TEXT;
-- Answers are pruned after the retention, wherever they are kept: these, by age.
CREATE INDEX payment_attempts_answered ON payment_attempts (created_at)
    WHERE answer_body IS NOT NULL;
