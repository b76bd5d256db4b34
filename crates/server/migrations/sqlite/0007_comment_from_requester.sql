-- A comment may be the requester's message, recorded by a member (protocol 3): the ticket's
-- first message, or a reply that came by e-mail or phone. author_id stays who recorded it;
-- from_requester says whose words they are, so that the app shows the requester as the author.
ALTER TABLE comments ADD COLUMN from_requester BIGINT NOT NULL DEFAULT 0;
-- Before this column, a ticket's first message was stored as a comment by the ticket's creator,
-- written at the very moment the ticket was: those are the requester's words.
UPDATE comments SET from_requester = 1
WHERE EXISTS (
  SELECT 1 FROM tickets t
  WHERE t.id = comments.ticket_id AND t.company_id = comments.company_id
    AND t.creator_id = comments.author_id AND t.created_at = comments.created_at
);
