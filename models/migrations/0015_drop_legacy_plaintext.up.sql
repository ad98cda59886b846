-- Drops the plaintext *_legacy columns left by 0008 (users.phone, children.name,
-- complaints.contact_phone) and 0012 (children.allergies, .emergency_contact).
-- Since those versions the app encrypted whatever was left in them at startup
-- and set them to NULL; nothing reads them any more.
--
-- Refusal: models.Migrate checks, before applying this migration, that every
-- *_legacy value is NULL (encrypted), and refuses otherwise naming the table and
-- column, with the database left clean at the previous version. The check is Go,
-- not SQL: refusing inside a golang-migrate file needs a stored procedure with
-- SIGNAL (CREATE ROUTINE privilege, often withheld on managed MySQL), and a
-- failed migration leaves schema_migrations dirty, which needs a manual `force`
-- before anything can start again.
ALTER TABLE users DROP COLUMN phone_legacy;
ALTER TABLE children DROP COLUMN name_legacy, DROP COLUMN allergies_legacy, DROP COLUMN emergency_contact_legacy;
ALTER TABLE complaints DROP COLUMN contact_phone_legacy;
