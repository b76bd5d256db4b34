-- The company's event seq from which a user may replay: set when the user is created and when
-- their role changes. A reconnect asking for events from before it gets `sync reset` (a fresh
-- snapshot), because those events' audiences were decided for who the user was not yet.
ALTER TABLE users ADD COLUMN visible_from_seq BIGINT NOT NULL DEFAULT 0;
