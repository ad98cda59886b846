-- Phones are encrypted at rest since 0008, so a walk-in's walkin_phone holds the
-- blind index of the number (HMAC-SHA256, 32 bytes) instead of the number: the
-- unique key still means "one walk-in per phone". Plaintext values written by
-- 0007-era code are converted at startup by models.EncryptLegacy.
ALTER TABLE users MODIFY COLUMN walkin_phone VARBINARY(32) NULL;
