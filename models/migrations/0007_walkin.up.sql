-- Walk-in residents (代预约) and booking reminders.
--
-- A walk-in is a users row staff created at the desk: openid NULL, a real name and
-- a phone. walkin_phone holds that phone while the row is an unmerged walk-in and
-- is NULL otherwise; its unique key makes "one walk-in per phone" a database fact
-- (two desks registering the same phone at once get one row and one 409), and it
-- is the only column the merge looks walk-ins up by (models.lookupPhone).
--
-- When the resident later logs in with WeChat and verifies the same phone, the
-- walk-in's records move to the WeChat user and the walk-in row stays behind as
-- a tombstone: merged_into names the user it went to, walkin_phone is cleared.
ALTER TABLE users
    ADD COLUMN walkin_phone VARCHAR(32)     NULL AFTER phone_verified_at,
    ADD COLUMN created_by   BIGINT UNSIGNED NULL AFTER walkin_phone,
    ADD COLUMN merged_into  BIGINT UNSIGNED NULL AFTER created_by,
    ADD COLUMN merged_at    DATETIME(3)     NULL AFTER merged_into,
    ADD UNIQUE KEY uq_users_walkin_phone (walkin_phone),
    ADD KEY idx_users_walkin_name (merged_into, real_name);

-- reminder_queued_at is set by the guarded UPDATE that queues a booking's
-- reminder, in the same transaction as its outbox row: set once, never twice.
ALTER TABLE bookings
    ADD COLUMN reminder_queued_at DATETIME(3) NULL AFTER checked_in_at;
