-- ringa storage schema (PostgreSQL). Instants are UTC milliseconds since the Unix epoch;
-- flags are 0/1 integers; structured settings are JSON text.

CREATE TABLE config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);

CREATE TABLE campaigns (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    region TEXT NOT NULL DEFAULT 'SE',
    dnc_target_list BIGINT NOT NULL DEFAULT 1,
    personal_callbacks BIGINT NOT NULL DEFAULT 1,
    callback_offer_delay_ms BIGINT NOT NULL DEFAULT 600000,
    config TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

CREATE TABLE lists (
    id BIGSERIAL PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    name TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    weight BIGINT NOT NULL DEFAULT 1,
    priority BIGINT NOT NULL DEFAULT 0,
    new_per_day BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (campaign_id, name)
);

CREATE TABLE list_day_usage (
    list_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    new_dialed BIGINT NOT NULL DEFAULT 0,
    dialed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (list_id, day)
);

-- state: 0 ready, 1 claimed (being dialed), 2 done (closed by an outcome or budget),
-- 3 blocked (inactive, erased or do-not-call).
CREATE TABLE contacts (
    id BIGSERIAL PRIMARY KEY,
    campaign_id BIGINT NOT NULL,
    list_id BIGINT NOT NULL,
    name TEXT,
    address TEXT,
    postal_code TEXT,
    zone TEXT,
    fields TEXT NOT NULL DEFAULT '{}',
    active BIGINT NOT NULL DEFAULT 1,
    erased BIGINT NOT NULL DEFAULT 0,
    lead BIGINT NOT NULL DEFAULT 0,
    priority BIGINT NOT NULL DEFAULT 0,
    state BIGINT NOT NULL DEFAULT 0,
    fresh BIGINT NOT NULL DEFAULT 1,
    next_at BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_outcome TEXT,
    claimed_by TEXT,
    claimed_at BIGINT,
    source_row BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX contacts_pick ON contacts (list_id, state, fresh, next_at);
CREATE INDEX contacts_lead ON contacts (campaign_id, lead, state, next_at);
CREATE INDEX contacts_claimed ON contacts (state) WHERE state = 1;

CREATE TABLE contact_numbers (
    id BIGSERIAL PRIMARY KEY,
    contact_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    list_id BIGINT NOT NULL,
    pos BIGINT NOT NULL,
    e164 TEXT NOT NULL,
    label TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX contact_numbers_contact ON contact_numbers (contact_id, pos);
CREATE INDEX contact_numbers_e164 ON contact_numbers (e164, campaign_id, list_id);

CREATE TABLE outcomes (
    campaign_id BIGINT NOT NULL,
    code TEXT NOT NULL,
    label TEXT NOT NULL,
    conversation BIGINT NOT NULL DEFAULT 0,
    sale BIGINT NOT NULL DEFAULT 0,
    callback BIGINT NOT NULL DEFAULT 0,
    is_final BIGINT NOT NULL DEFAULT 0,
    dnc BIGINT NOT NULL DEFAULT 0,
    never_reset BIGINT NOT NULL DEFAULT 0,
    retry_after_ms BIGINT,
    PRIMARY KEY (campaign_id, code)
);

-- state: 'open' from the moment the dial starts, 'closed' once its end is journaled.
CREATE TABLE attempts (
    id BIGSERIAL PRIMARY KEY,
    contact_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    list_id BIGINT NOT NULL,
    attempt_no BIGINT NOT NULL,
    claim_version BIGINT NOT NULL,
    callback_id BIGINT,
    number TEXT NOT NULL,
    caller_id TEXT,
    agent_id BIGINT,
    worker TEXT NOT NULL,
    amd TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    answered_at BIGINT,
    ended_at BIGINT,
    sip_code BIGINT,
    result TEXT,
    outcome TEXT,
    UNIQUE (contact_id, attempt_no),
    UNIQUE (contact_id, claim_version)
);
CREATE UNIQUE INDEX attempts_one_open ON attempts (contact_id) WHERE state = 'open';
CREATE INDEX attempts_period ON attempts (started_at);
CREATE INDEX attempts_open ON attempts (state) WHERE state = 'open';

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    attempt_id BIGINT NOT NULL UNIQUE,
    contact_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    agent_id BIGINT,
    number TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    cancelled_at BIGINT,
    cancel_reason TEXT
);
CREATE INDEX orders_period ON orders (created_at);
CREATE INDEX orders_number ON orders (number);

-- state: pending, done, cancelled, escalated.
CREATE TABLE callbacks (
    id BIGSERIAL PRIMARY KEY,
    campaign_id BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    owner_agent BIGINT,
    due_at BIGINT NOT NULL,
    zone TEXT NOT NULL,
    local_time TEXT NOT NULL,
    window_before_ms BIGINT NOT NULL DEFAULT 0,
    window_after_ms BIGINT NOT NULL DEFAULT 0,
    offer_all_at BIGINT,
    state TEXT NOT NULL,
    tries BIGINT NOT NULL DEFAULT 0,
    dial_at BIGINT NOT NULL,
    cancel_reason TEXT,
    note TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX callbacks_due ON callbacks (campaign_id, state, dial_at);
CREATE UNIQUE INDEX callbacks_one_pending ON callbacks (contact_id) WHERE state = 'pending';

-- kind: global, campaign, register.
CREATE TABLE dnc_lists (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    campaign_id BIGINT,
    wash_date TEXT,
    created_at BIGINT NOT NULL
);
INSERT INTO dnc_lists (id, name, kind, created_at) VALUES (1, 'global', 'global', 0);

CREATE TABLE campaign_dnc (
    campaign_id BIGINT NOT NULL,
    list_id BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, list_id)
);

-- value: E.164 digits without '+', or leading digits when is_prefix = 1.
CREATE TABLE dnc_entries (
    id BIGSERIAL PRIMARY KEY,
    list_id BIGINT NOT NULL,
    value TEXT NOT NULL,
    is_prefix BIGINT NOT NULL DEFAULT 0,
    added_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    UNIQUE (list_id, value, is_prefix)
);

CREATE TABLE erased_numbers (
    hash TEXT PRIMARY KEY,
    erased_at BIGINT NOT NULL
);

CREATE TABLE recordings (
    id BIGSERIAL PRIMARY KEY,
    attempt_id BIGINT NOT NULL,
    contact_id BIGINT NOT NULL,
    path TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX recordings_contact ON recordings (contact_id);

CREATE TABLE import_templates (
    name TEXT PRIMARY KEY,
    mapping TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE export_schedules (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    every_ms BIGINT NOT NULL,
    next_run_at BIGINT NOT NULL,
    last_run_at BIGINT,
    last_error TEXT
);
SELECT setval(pg_get_serial_sequence('dnc_lists', 'id'), 1);
