-- The state of the target before a staff action, next to the request and the
-- response (the after-state), so an entry shows what changed.
ALTER TABLE audit_log ADD COLUMN before_body JSON NULL AFTER request_body;
