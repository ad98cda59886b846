DROP TABLE IF EXISTS session_imports;
ALTER TABLE outbox
    DROP KEY idx_outbox_lease,
    DROP COLUMN grant_consumed,
    DROP COLUMN template_id,
    DROP COLUMN claim_token;
