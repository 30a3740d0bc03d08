-- Statements read a creator's transfers by account and time: the month's transfers by a range
-- of created_at, and the balances at the month's start as sums over the earlier ones, which
-- the index answers alone (an index-only scan: it holds every column the sums read). They
-- replace the indexes by account and seq, which made a month's read walk the account's whole
-- history. The platform's own accounts (clearing, fees: in every purchase) stay out of them.
DROP INDEX transfers_by_credit;
DROP INDEX transfers_by_debit;
CREATE INDEX transfers_by_credit_time ON transfers (credit_account, created_at) INCLUDE (kind, amount, pending_id)
    WHERE credit_account NOT LIKE 'platform/%';
CREATE INDEX transfers_by_debit_time ON transfers (debit_account, created_at) INCLUDE (kind, amount, pending_id)
    WHERE debit_account NOT LIKE 'platform/%';
