-- A write appends its event with the next seq in one statement; the company's newest seq
-- follows the log here instead of in a second statement per event.
CREATE TRIGGER events_advance_company_seq AFTER INSERT ON events
BEGIN
    UPDATE companies SET event_seq = NEW.seq WHERE id = NEW.company_id AND event_seq < NEW.seq;
END;
