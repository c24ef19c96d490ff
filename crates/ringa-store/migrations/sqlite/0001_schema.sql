-- ringa storage schema (SQLite). Instants are UTC milliseconds since the Unix epoch;
-- flags are 0/1 integers; structured settings are JSON text.

CREATE TABLE config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);

CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    region TEXT NOT NULL DEFAULT 'SE',
    dnc_target_list INTEGER NOT NULL DEFAULT 1,
    personal_callbacks INTEGER NOT NULL DEFAULT 1,
    callback_offer_delay_ms INTEGER NOT NULL DEFAULT 600000,
    config TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);

CREATE TABLE lists (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    weight INTEGER NOT NULL DEFAULT 1,
    priority INTEGER NOT NULL DEFAULT 0,
    new_per_day INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (campaign_id, name)
);

CREATE TABLE list_day_usage (
    list_id INTEGER NOT NULL,
    day TEXT NOT NULL,
    new_dialed INTEGER NOT NULL DEFAULT 0,
    dialed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (list_id, day)
);

-- state: 0 ready, 1 claimed (being dialed), 2 done (closed by an outcome or budget),
-- 3 blocked (inactive, erased or do-not-call).
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL,
    list_id INTEGER NOT NULL,
    name TEXT,
    address TEXT,
    postal_code TEXT,
    zone TEXT,
    fields TEXT NOT NULL DEFAULT '{}',
    active INTEGER NOT NULL DEFAULT 1,
    erased INTEGER NOT NULL DEFAULT 0,
    lead INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,
    fresh INTEGER NOT NULL DEFAULT 1,
    next_at INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_outcome TEXT,
    claimed_by TEXT,
    claimed_at INTEGER,
    source_row INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX contacts_pick ON contacts (list_id, state, fresh, next_at);
CREATE INDEX contacts_lead ON contacts (campaign_id, lead, state, next_at);
CREATE INDEX contacts_claimed ON contacts (state) WHERE state = 1;

CREATE TABLE contact_numbers (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL,
    campaign_id INTEGER NOT NULL,
    list_id INTEGER NOT NULL,
    pos INTEGER NOT NULL,
    e164 TEXT NOT NULL,
    label TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX contact_numbers_contact ON contact_numbers (contact_id, pos);
CREATE INDEX contact_numbers_e164 ON contact_numbers (e164, campaign_id, list_id);

CREATE TABLE outcomes (
    campaign_id INTEGER NOT NULL,
    code TEXT NOT NULL,
    label TEXT NOT NULL,
    conversation INTEGER NOT NULL DEFAULT 0,
    sale INTEGER NOT NULL DEFAULT 0,
    callback INTEGER NOT NULL DEFAULT 0,
    is_final INTEGER NOT NULL DEFAULT 0,
    dnc INTEGER NOT NULL DEFAULT 0,
    never_reset INTEGER NOT NULL DEFAULT 0,
    retry_after_ms INTEGER,
    PRIMARY KEY (campaign_id, code)
);

-- state: 'open' from the moment the dial starts, 'closed' once its end is journaled.
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    contact_id INTEGER NOT NULL,
    campaign_id INTEGER NOT NULL,
    list_id INTEGER NOT NULL,
    attempt_no INTEGER NOT NULL,
    claim_version INTEGER NOT NULL,
    callback_id INTEGER,
    number TEXT NOT NULL,
    caller_id TEXT,
    agent_id INTEGER,
    worker TEXT NOT NULL,
    amd TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at INTEGER,
    sip_code INTEGER,
    result TEXT,
    outcome TEXT,
    UNIQUE (contact_id, attempt_no),
    UNIQUE (contact_id, claim_version)
);
CREATE UNIQUE INDEX attempts_one_open ON attempts (contact_id) WHERE state = 'open';
CREATE INDEX attempts_period ON attempts (started_at);
CREATE INDEX attempts_open ON attempts (state) WHERE state = 'open';

CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    attempt_id INTEGER NOT NULL UNIQUE,
    contact_id INTEGER NOT NULL,
    campaign_id INTEGER NOT NULL,
    agent_id INTEGER,
    number TEXT NOT NULL,
    outcome TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    cancelled_at INTEGER,
    cancel_reason TEXT
);
CREATE INDEX orders_period ON orders (created_at);
CREATE INDEX orders_number ON orders (number);

-- state: pending, done, cancelled, escalated.
CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    owner_agent INTEGER,
    due_at INTEGER NOT NULL,
    zone TEXT NOT NULL,
    local_time TEXT NOT NULL,
    window_before_ms INTEGER NOT NULL DEFAULT 0,
    window_after_ms INTEGER NOT NULL DEFAULT 0,
    offer_all_at INTEGER,
    state TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    dial_at INTEGER NOT NULL,
    cancel_reason TEXT,
    note TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX callbacks_due ON callbacks (campaign_id, state, dial_at);
CREATE UNIQUE INDEX callbacks_one_pending ON callbacks (contact_id) WHERE state = 'pending';

-- kind: global, campaign, register.
CREATE TABLE dnc_lists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    campaign_id INTEGER,
    wash_date TEXT,
    created_at INTEGER NOT NULL
);
INSERT INTO dnc_lists (id, name, kind, created_at) VALUES (1, 'global', 'global', 0);

CREATE TABLE campaign_dnc (
    campaign_id INTEGER NOT NULL,
    list_id INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, list_id)
);

-- value: E.164 digits without '+', or leading digits when is_prefix = 1.
CREATE TABLE dnc_entries (
    id INTEGER PRIMARY KEY,
    list_id INTEGER NOT NULL,
    value TEXT NOT NULL,
    is_prefix INTEGER NOT NULL DEFAULT 0,
    added_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    UNIQUE (list_id, value, is_prefix)
);

CREATE TABLE erased_numbers (
    hash TEXT PRIMARY KEY,
    erased_at INTEGER NOT NULL
);

CREATE TABLE recordings (
    id INTEGER PRIMARY KEY,
    attempt_id INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX recordings_contact ON recordings (contact_id);

CREATE TABLE import_templates (
    name TEXT PRIMARY KEY,
    mapping TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE export_schedules (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    every_ms INTEGER NOT NULL,
    next_run_at INTEGER NOT NULL,
    last_run_at INTEGER,
    last_error TEXT
);
