-- The columns of a card purchase's answer kept with its payment attempt, as on SQLite, so
-- that the stored-answer read is the same query on both backends. The PostgreSQL writer
-- leaves them empty: it claims keys by inserting into `idempotency`, where the insert is the
-- claim, and keeps every answer there.
ALTER TABLE payment_attempts ADD COLUMN answer_status SMALLINT;
ALTER TABLE payment_attempts ADD COLUMN answer_body TEXT;
-- Answers are pruned after the retention, wherever they are kept: these, by age.
CREATE INDEX payment_attempts_answered ON payment_attempts (created_at)
    WHERE answer_body IS NOT NULL;
