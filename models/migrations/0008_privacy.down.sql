-- Restores the plaintext schema. Values encrypted since the up migration cannot be
-- decrypted in SQL: they are lost (phones and contact phones become empty,
-- children's names blank). Deleted accounts stay anonymised.
ALTER TABLE complaints DROP COLUMN contact_phone_enc;
UPDATE complaints SET contact_phone_legacy = '' WHERE contact_phone_legacy IS NULL;
ALTER TABLE complaints CHANGE COLUMN contact_phone_legacy contact_phone VARCHAR(32) NOT NULL DEFAULT '';

ALTER TABLE children DROP COLUMN name_enc;
UPDATE children SET name_legacy = '' WHERE name_legacy IS NULL;
ALTER TABLE children CHANGE COLUMN name_legacy name VARCHAR(64) NOT NULL;

ALTER TABLE users
    DROP CONSTRAINT chk_users_status,
    DROP INDEX idx_users_phone_bidx,
    DROP COLUMN phone_enc,
    DROP COLUMN phone_bidx,
    DROP COLUMN status,
    DROP COLUMN deleted_at,
    CHANGE COLUMN phone_legacy phone VARCHAR(32) NULL,
    ADD KEY idx_users_phone (phone);
