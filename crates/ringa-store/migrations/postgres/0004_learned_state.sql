-- What each campaign learned online (the pacer's models and the voicemail
-- models of answering-machine methods 2 and 3), as one JSON document that
-- the engine writes and reads with its own version field, and when it was
-- saved. `ringa serve` restores it when it starts the campaign.
CREATE TABLE campaign_learned_state (
    campaign_id BIGINT PRIMARY KEY REFERENCES campaigns(id),
    document TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
