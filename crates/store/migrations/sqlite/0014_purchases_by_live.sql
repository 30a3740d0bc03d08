-- A live's purchases in the order they were made, instead of by (live, buyer): each purchase
-- was a write at a random place of that index (the buyer's), a page of its own in every
-- batch; now a live's new purchases share the index's last page. A buyer's top tier in a
-- live is read through purchases_by_viewer_time, from a day before the live started
-- (TOP_TIER_SINCE in the code: a purchase is made while its live is on).
DROP INDEX purchases_by_live_viewer;
CREATE INDEX purchases_by_live ON purchases (live_id, created_at);
