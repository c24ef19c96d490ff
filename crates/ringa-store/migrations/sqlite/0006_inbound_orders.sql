-- A sale closed on a call back is an order like any other: an order comes
-- from either a dialer's attempt (`attempt_id`) or a call back
-- (`inbound_id`, the `inbound_calls` row), never both. SQLite cannot drop a
-- NOT NULL constraint, so the table is rebuilt with its rows and indexes.
CREATE TABLE orders_new (
    id INTEGER PRIMARY KEY,
    attempt_id INTEGER UNIQUE,
    inbound_id INTEGER UNIQUE,
    contact_id INTEGER NOT NULL,
    campaign_id INTEGER NOT NULL,
    agent_id INTEGER,
    number TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    cancelled_at INTEGER,
    cancel_reason TEXT,
    CHECK ((attempt_id IS NULL) <> (inbound_id IS NULL))
);
INSERT INTO orders_new (id, attempt_id, contact_id, campaign_id, agent_id, number, outcome,
    created_at, cancelled_at, cancel_reason)
    SELECT id, attempt_id, contact_id, campaign_id, agent_id, number, outcome, created_at,
        cancelled_at, cancel_reason FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_period ON orders (created_at);
CREATE INDEX orders_number ON orders (number);
