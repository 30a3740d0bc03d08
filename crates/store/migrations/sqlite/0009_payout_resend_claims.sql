-- A payout the provider has not acknowledged is sent again by the next payout run. Two runs
-- at once (two nodes, or a command beside `serve`) must not both send it: each claims the
-- payouts it resends until this time (microseconds since the epoch), and a run that could
-- not send one gives its claim back.
ALTER TABLE payouts ADD COLUMN resend_claimed_until BIGINT;
