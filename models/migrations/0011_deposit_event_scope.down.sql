ALTER TABLE bin_deposits
    DROP INDEX uq_bin_deposits_device_event,
    MODIFY COLUMN event_id VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    ADD UNIQUE KEY uq_bin_deposits_event (event_id);
