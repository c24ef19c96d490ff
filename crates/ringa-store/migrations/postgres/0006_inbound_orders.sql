-- A sale closed on a call back is an order like any other: an order comes
-- from either a dialer's attempt (`attempt_id`) or a call back
-- (`inbound_id`, the `inbound_calls` row), never both.
ALTER TABLE orders ALTER COLUMN attempt_id DROP NOT NULL;
ALTER TABLE orders ADD COLUMN inbound_id BIGINT UNIQUE;
ALTER TABLE orders ADD CONSTRAINT orders_one_source
    CHECK ((attempt_id IS NULL) <> (inbound_id IS NULL));
