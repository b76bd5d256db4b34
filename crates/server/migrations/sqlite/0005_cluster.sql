-- Each event's stream (the protocol's EventStream) is its audience: the writer looks up the
-- stream's previous event to chain the next one to it (`prevSeq`).
CREATE INDEX events_stream ON events (company_id, audience, audience_user, seq);

-- Secrets every server process on this database shares: the access-token signing key, created
-- once by whichever process starts first, so any node accepts any node's tokens.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
