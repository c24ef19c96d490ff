-- Contact search. `name_search` is the name folded by ringa (Unicode NFC,
-- lower case), so that a search matches any case of any letter on both
-- backends; `digits_reversed` is a number's digits last to first, so that
-- the last digits a user types are an index range. Both are written by
-- ringa with each contact; rows stored by earlier builds are filled in by
-- ringa when it opens the database (the pending marker below says so).
-- Byte order ("C") keeps the range of an ending free of locale rules.
ALTER TABLE contacts ADD COLUMN name_search TEXT;
ALTER TABLE contact_numbers ADD COLUMN digits_reversed TEXT COLLATE "C";
CREATE INDEX contacts_name_search ON contacts (campaign_id, name_search);
CREATE INDEX contact_numbers_ending ON contact_numbers (campaign_id, digits_reversed);
INSERT INTO config (key, value) VALUES ('backfill.contact_search', 'pending')
    ON CONFLICT (key) DO UPDATE SET value = excluded.value;
