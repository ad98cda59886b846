-- Privacy (PIPL): encryption at rest of phone numbers and children's names, and
-- account deletion.
--
-- Encrypted columns (*_enc) hold AES-256-GCM(DATA_KEY) of the value as
-- version || nonce || ciphertext || tag, with "table.column:row id" as additional
-- data, so a ciphertext copied to another row or column does not decrypt
-- (models/crypto.go). users.phone_bidx is HMAC-SHA256 of the normalised number
-- under a key derived from DATA_KEY: a blind index for lookups by phone that
-- reveals nothing without the key.
--
-- The plaintext columns are renamed *_legacy rather than dropped: SQL cannot
-- encrypt (the key is not in the database), so the app encrypts every legacy value
-- at startup (Privacy.EncryptLegacy, guarded per row, safe on several instances at
-- once) and sets the legacy column to NULL. The rename also makes any code still
-- reading the old column name fail loudly instead of reading nothing. A later
-- migration drops the *_legacy columns once every deployment has started this version.
--
-- Account deletion keeps the users row (bookings, points and complaints reference
-- it and must keep counting in the annual report) with status 'deleted' and every
-- personal column blank; openid NULL, so the same WeChat account signs up afresh.

UPDATE users SET phone = NULL WHERE phone = '';

ALTER TABLE users
    CHANGE COLUMN phone phone_legacy VARCHAR(32) NULL,
    ADD COLUMN phone_enc VARBINARY(128) NULL,
    ADD COLUMN phone_bidx BINARY(32) NULL,
    ADD COLUMN status VARCHAR(16) NOT NULL DEFAULT 'active',
    ADD COLUMN deleted_at DATETIME(3) NULL,
    DROP INDEX idx_users_phone,
    ADD KEY idx_users_phone_bidx (phone_bidx),
    ADD CONSTRAINT chk_users_status CHECK (status IN ('active', 'deleted'));

ALTER TABLE children
    CHANGE COLUMN name name_legacy VARCHAR(64) NULL,
    ADD COLUMN name_enc VARBINARY(320) NULL;

ALTER TABLE complaints
    CHANGE COLUMN contact_phone contact_phone_legacy VARCHAR(32) NULL DEFAULT NULL,
    ADD COLUMN contact_phone_enc VARBINARY(128) NULL;

UPDATE complaints SET contact_phone_legacy = NULL WHERE contact_phone_legacy = '';
