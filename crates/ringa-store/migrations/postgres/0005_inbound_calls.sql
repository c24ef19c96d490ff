-- Calls back: customers who called one of a campaign's caller IDs and
-- reached an agent, with the contact their number matched. Kept apart from
-- `attempts`, the dialer's own calls, so that a call back never counts as a
-- dial, a pickup or a drop in any statistic.
CREATE TABLE inbound_calls (
    id BIGSERIAL PRIMARY KEY,
    campaign_id BIGINT NOT NULL,
    contact_id BIGINT,
    number TEXT,
    agent_id BIGINT,
    worker TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    outcome TEXT,
    note TEXT,
    recording TEXT
);
CREATE INDEX inbound_calls_contact ON inbound_calls (contact_id);
CREATE INDEX inbound_calls_period ON inbound_calls (started_at);
