DROP TRIGGER IF EXISTS trg_cstats_complaints_ins;
DROP TRIGGER IF EXISTS trg_cstats_complaints_upd;
DROP TRIGGER IF EXISTS trg_cstats_complaints_del;
DROP PROCEDURE IF EXISTS report_complaint_stats_add;
DROP TABLE IF EXISTS report_complaint_duration_months;
DROP TABLE IF EXISTS report_complaint_duration_days;
DROP TABLE IF EXISTS report_complaint_count_months;
DROP TABLE IF EXISTS report_complaint_count_days;
DROP TABLE IF EXISTS report_complaint_stat_months;
DROP TABLE IF EXISTS report_complaint_stat_days;
ALTER TABLE complaints
    DROP KEY idx_complaints_steps_open,
    DROP KEY idx_complaints_accept_bucket,
    DROP KEY idx_complaints_contact_bucket,
    DROP KEY idx_complaints_resolve_bucket,
    DROP COLUMN steps_open,
    DROP COLUMN resolve_open_due,
    DROP COLUMN contact_open_due,
    DROP COLUMN accept_open_due,
    DROP COLUMN resolve_bucket,
    DROP COLUMN contact_bucket,
    DROP COLUMN accept_bucket,
    DROP COLUMN resolve_us,
    DROP COLUMN contact_us,
    DROP COLUMN accept_us;
