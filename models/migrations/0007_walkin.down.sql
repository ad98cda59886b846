ALTER TABLE bookings DROP COLUMN reminder_queued_at;
ALTER TABLE users
    DROP KEY uq_users_walkin_phone,
    DROP KEY idx_users_walkin_name,
    DROP COLUMN merged_at,
    DROP COLUMN merged_into,
    DROP COLUMN created_by,
    DROP COLUMN walkin_phone;
