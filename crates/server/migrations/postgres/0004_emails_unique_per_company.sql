-- Emails are unique per company, not across companies (docs/decisions/0002-emails-unique-per-company.md):
-- a global UNIQUE(email) let one company's admin learn, by creating a user, that an address
-- has an account in another company. `users_email_key` is the name PostgreSQL gave the
-- inline UNIQUE of 0001; dropping it by name fails loudly rather than leave it in place.
ALTER TABLE users DROP CONSTRAINT users_email_key;
ALTER TABLE users ADD CONSTRAINT users_company_email_key UNIQUE (company_id, email);
-- Sign-in looks accounts up by email across companies.
CREATE INDEX users_email ON users(email);

-- The same indexes on the columns that reference users as on SQLite, where 0004 needs them
-- to rebuild `users`; here they serve the queries by user and the foreign-key checks.
CREATE INDEX tickets_assignee ON tickets(assignee_id);
CREATE INDEX tickets_creator ON tickets(creator_id);
CREATE INDEX comments_author ON comments(author_id);
CREATE INDEX attachments_uploader ON attachments(uploaded_by);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
