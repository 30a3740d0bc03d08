-- Statements read a creator's transfers by account. The platform's own accounts (clearing,
-- fees: in every purchase) are left out of these indexes, so that they cost the hot path
-- nothing for the busiest rows.
CREATE INDEX transfers_by_credit ON transfers (credit_account, seq) WHERE credit_account NOT LIKE 'platform/%';
CREATE INDEX transfers_by_debit ON transfers (debit_account, seq) WHERE debit_account NOT LIKE 'platform/%';
