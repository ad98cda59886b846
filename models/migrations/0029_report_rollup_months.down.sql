DROP TRIGGER IF EXISTS trg_rollup_session_days_ins;
DROP TRIGGER IF EXISTS trg_rollup_session_days_upd;
DROP TRIGGER IF EXISTS trg_rollup_complaint_days_ins;
DROP TRIGGER IF EXISTS trg_rollup_complaint_days_upd;
DROP TRIGGER IF EXISTS trg_rollup_deposit_days_ins;
DROP TRIGGER IF EXISTS trg_rollup_deposit_days_upd;
ALTER TABLE report_deposit_months DROP COLUMN deposits, DROP COLUMN grams, DROP COLUMN points;
DROP TABLE IF EXISTS report_complaint_months;
DROP TABLE IF EXISTS report_session_months;
