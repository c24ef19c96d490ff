-- Accounts: a one-time password flag (set for generated passwords, cleared
-- when the user sets their own) and an epoch that a disable, a role change
-- or a password change raises, ending every session opened before it.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN auth_epoch INTEGER NOT NULL DEFAULT 0;

-- Earlier builds kept the one-time flags as a JSON list of user ids in the
-- configuration table.
UPDATE users SET must_change_password = 1 WHERE id IN (
    SELECT value FROM json_each(
        (SELECT value FROM config WHERE key = 'web.must_change_password')));
DELETE FROM config WHERE key = 'web.must_change_password';
