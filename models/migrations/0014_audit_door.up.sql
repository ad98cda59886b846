-- Which door an audited action came through (api, console, system, cli) and the
-- client address that door saw: with the domain writing audit entries itself,
-- the same operation is recorded alike from the JSON API and the staff console.
ALTER TABLE audit_log
    ADD COLUMN door VARCHAR(16) NOT NULL DEFAULT '' AFTER actor_role,
    ADD COLUMN ip   VARCHAR(45) NOT NULL DEFAULT '' AFTER request_id;
