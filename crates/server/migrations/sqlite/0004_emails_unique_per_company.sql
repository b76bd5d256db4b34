-- Emails are unique per company, not across companies (docs/decisions/0002-emails-unique-per-company.md):
-- a global UNIQUE(email) let one company's admin learn, by creating a user, that an address
-- has an account in another company.
--
-- SQLite cannot drop the inline UNIQUE of 0001, so `users` is rebuilt, with every column it
-- has after 0003 (`visible_from_seq`) in the same order. The migration runs in one
-- transaction (sqlx wraps it) with foreign keys on, where `PRAGMA foreign_keys = OFF` has no
-- effect. Instead every foreign-key check is deferred to the commit: dropping `users`
-- counts each row of another table that references a user as a violation, re-inserting the
-- same ids into the new `users` settles them, and the commit fails (nothing changes) if any
-- reference were left dangling. Ids, data and the AUTOINCREMENT high-water mark are kept.
PRAGMA defer_foreign_keys = ON;

-- Settling a violation looks up the referencing rows of each re-inserted user: these indexes
-- keep that a lookup instead of a scan per user (and serve the queries by user anyway).
CREATE INDEX tickets_assignee ON tickets(assignee_id);
CREATE INDEX tickets_creator ON tickets(creator_id);
CREATE INDEX comments_author ON comments(author_id);
CREATE INDEX attachments_uploader ON attachments(uploaded_by);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

CREATE TABLE users_0004_copy AS SELECT * FROM users;
CREATE TABLE users_0004_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'users';

DROP TABLE users;

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id INTEGER NOT NULL REFERENCES companies(id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    visible_from_seq INTEGER NOT NULL DEFAULT 0,
    UNIQUE (company_id, email)
);
INSERT INTO users (id, company_id, name, email, password_hash, role, active, created_at, visible_from_seq)
    SELECT id, company_id, name, email, password_hash, role, active, created_at, visible_from_seq
    FROM users_0004_copy ORDER BY id;

-- Ids of deleted users are never handed out again.
UPDATE sqlite_sequence SET seq = (SELECT seq FROM users_0004_seq)
    WHERE name = 'users' AND seq < (SELECT seq FROM users_0004_seq);
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'users', seq FROM users_0004_seq
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users');

DROP TABLE users_0004_copy;
DROP TABLE users_0004_seq;

CREATE INDEX users_company ON users(company_id);
-- Sign-in looks accounts up by email across companies.
CREATE INDEX users_email ON users(email);
