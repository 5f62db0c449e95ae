-- The audit trail stays append-only (0002 refuses UPDATE and DELETE). Two ways around those
-- triggers are closed here: `INSERT OR REPLACE` / `REPLACE INTO` with an existing id deletes the
-- old row without firing DELETE triggers (SQLite fires them only with recursive_triggers on),
-- and a row can be written without the who, when and what that make it an audit row.
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_complete_rows BEFORE INSERT ON audit_log
WHEN trim(NEW.actor) = '' OR trim(NEW.action) = '' OR trim(NEW.role) = ''
    OR NEW.at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]*'
BEGIN
    SELECT RAISE(ABORT, 'audit_log rows need actor, role, action and an RFC 3339 time');
END;
