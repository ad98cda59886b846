-- Restores the plaintext columns. Values encrypted since the up migration cannot
-- be decrypted in SQL: they are lost (allergies and emergency contacts become empty).
ALTER TABLE children DROP COLUMN allergies_enc, DROP COLUMN emergency_contact_enc;
UPDATE children SET allergies_legacy = '' WHERE allergies_legacy IS NULL;
UPDATE children SET emergency_contact_legacy = '' WHERE emergency_contact_legacy IS NULL;
ALTER TABLE children
    CHANGE COLUMN allergies_legacy allergies VARCHAR(500) NOT NULL DEFAULT '',
    CHANGE COLUMN emergency_contact_legacy emergency_contact VARCHAR(100) NOT NULL DEFAULT '';
