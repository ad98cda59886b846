-- Restores the *_legacy columns, empty: their values were all NULL (encrypted
-- into the *_enc columns) when 0015 ran, which the up migration's check ensured.
ALTER TABLE users ADD COLUMN phone_legacy VARCHAR(32) NULL;
ALTER TABLE children
    ADD COLUMN name_legacy VARCHAR(64) NULL,
    ADD COLUMN allergies_legacy VARCHAR(500) NULL DEFAULT NULL,
    ADD COLUMN emergency_contact_legacy VARCHAR(100) NULL DEFAULT NULL;
ALTER TABLE complaints ADD COLUMN contact_phone_legacy VARCHAR(32) NULL DEFAULT NULL;
