ALTER TABLE audit_log DROP COLUMN before_body;
