-- Children's allergies (health data of a minor) and emergency contacts (usually a
-- phone number) are sensitive personal information under PIPL, as much as the
-- child's name: they are encrypted at rest like children.name (0008), with
-- "children.<column>:<id>" as additional data. The plaintext columns are renamed
-- *_legacy for the same reason as in 0008: the app encrypts what is left in them
-- at startup (EncryptLegacy) and clears them; a later migration drops them.
ALTER TABLE children
    CHANGE COLUMN allergies allergies_legacy VARCHAR(500) NULL DEFAULT NULL,
    CHANGE COLUMN emergency_contact emergency_contact_legacy VARCHAR(100) NULL DEFAULT NULL,
    ADD COLUMN allergies_enc VARBINARY(2048) NULL,
    ADD COLUMN emergency_contact_enc VARBINARY(512) NULL;

UPDATE children SET allergies_legacy = NULL WHERE allergies_legacy = '';
UPDATE children SET emergency_contact_legacy = NULL WHERE emergency_contact_legacy = '';
