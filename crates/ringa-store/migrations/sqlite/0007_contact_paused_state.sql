-- The state a contact had when it was made inactive (or that its last
-- attempt gave it while inactive), restored when it is made active again,
-- so that a deactivation and an activation never reopen a finished contact.
ALTER TABLE contacts ADD COLUMN paused_state INTEGER;
