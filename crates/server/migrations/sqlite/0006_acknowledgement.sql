-- Urgent tickets are acknowledged (protocol 2). While a ticket is urgent, urgent_since/urgent_by
-- say when and by whom its urgent episode began, acknowledged_by/acknowledged_at who took it.
-- escalate_due_at is the escalation timer, kept here so that it survives restarts and is run
-- by whichever node sees it due first: set when an episode begins, cleared when it is
-- acknowledged, ends, or escalates (exactly once: the clearing update decides).
ALTER TABLE tickets ADD COLUMN urgent_since TEXT;
ALTER TABLE tickets ADD COLUMN urgent_by INTEGER;
ALTER TABLE tickets ADD COLUMN acknowledged_by INTEGER;
ALTER TABLE tickets ADD COLUMN acknowledged_at TEXT;
ALTER TABLE tickets ADD COLUMN escalate_due_at TEXT;
-- Tickets urgent before the upgrade start their episode now, unescalated: telling the admins
-- about every one of them at the first start would be noise, not news.
UPDATE tickets SET urgent_since = updated_at, urgent_by = creator_id WHERE priority = 'urgent';
CREATE INDEX tickets_escalate_due ON tickets (escalate_due_at) WHERE escalate_due_at IS NOT NULL;

ALTER TABLE companies ADD COLUMN escalate_after_minutes INTEGER NOT NULL DEFAULT 5;
