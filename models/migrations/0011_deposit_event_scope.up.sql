-- A bin's event_id is the bin's own name for an event: unique per bin, compared
-- exactly. The first version made it unique across all bins and compared it
-- case-insensitively (utf8mb4_unicode_ci), so two bins numbering their events
-- 1, 2, 3 ... or ids differing only in case were taken for the same event and the
-- second deposit earned nothing. event_id is printable ASCII (checked on input).
ALTER TABLE bin_deposits
    MODIFY COLUMN event_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    DROP INDEX uq_bin_deposits_event,
    ADD UNIQUE KEY uq_bin_deposits_device_event (device_id, event_id);
