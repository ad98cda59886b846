-- Complaint statistics rollups (issue 15): GET /staff/complaints/stats reads
-- months and days of rollups plus the few work orders with a step still open,
-- instead of every complaint of the range.
--
-- Every figure of the statistics is over complaints received in the range, so
-- every rollup here is keyed by the local day (fixed UTC+8, as 0028) of the
-- complaint's created_at, never by the day of a later step: a change to a
-- complaint moves only rows of the day it was received.
--
-- What depends on "now" is not rolled up: a step not done yet counts as due once
-- its due time has passed, which changes with the clock, not with the row. Such
-- steps are read at request time from the raw table, through the covering index
-- idx_complaints_steps_open (work orders still in hand, plus any odd row whose
-- step is missing); done steps never change their judgement and are rolled up.
--
-- Medians are exact: report_complaint_duration_* hold a histogram of step
-- durations (from the start of the handling cycle) in buckets (per minute below
-- 4 h, per 5 minutes below 24 h, per hour below 14 days, per day beyond); the
-- request finds the bucket holding the median's position and reads only that
-- bucket's durations over the range, through the covering index on the step's
-- bucket, to find the exact middle value(s).
--
-- Kept by triggers in the same transaction as the change, whatever code path
-- makes it (as 0028): a trigger takes the old row's contributions out and puts
-- the new row's in. Locks: the rows written are those of the complaint's receipt
-- day and month, the day's totals row first, so transitions of complaints
-- received the same day queue on it and those of different days take disjoint
-- rows. Only a receipt moved to another day (created_at changed, which the
-- service never does) takes two days' rows, old then new.
--
-- Category, estate and status values are keyed in utf8mb4_nopad_bin: the
-- statistics count them as the exact strings they are (a Go map), where the
-- columns' own collation would merge '其他' and '其他 '.

ALTER TABLE complaints
    -- How long each step took from the start of its cycle, in microseconds
    -- (NULL: not done). The resolve step is done when the work order is resolved
    -- or closed (a reopened one keeps its old resolved_at, which does not count).
    ADD COLUMN accept_us BIGINT AS (TIMESTAMPDIFF(MICROSECOND, cycle_started_at, accepted_at)) VIRTUAL,
    ADD COLUMN contact_us BIGINT AS (TIMESTAMPDIFF(MICROSECOND, cycle_started_at, contacted_at)) VIRTUAL,
    ADD COLUMN resolve_us BIGINT AS (IF(BINARY status IN ('resolved', 'closed'), TIMESTAMPDIFF(MICROSECOND, cycle_started_at, resolved_at), NULL)) VIRTUAL,
    -- Its histogram bucket, never decreasing with the duration: -1 below zero,
    -- per minute below 4 h (0..239), per 5 minutes below 24 h (240..479), per
    -- hour below 14 days (480..791), per day beyond (792.., capped).
    ADD COLUMN accept_bucket INT AS (CASE WHEN accept_us < 0 THEN -1
        WHEN accept_us < 14400000000 THEN accept_us DIV 60000000
        WHEN accept_us < 86400000000 THEN 240 + (accept_us - 14400000000) DIV 300000000
        WHEN accept_us < 1209600000000 THEN 480 + (accept_us - 86400000000) DIV 3600000000
        ELSE 792 + LEAST((accept_us - 1209600000000) DIV 86400000000, 1000) END) VIRTUAL,
    ADD COLUMN contact_bucket INT AS (CASE WHEN contact_us < 0 THEN -1
        WHEN contact_us < 14400000000 THEN contact_us DIV 60000000
        WHEN contact_us < 86400000000 THEN 240 + (contact_us - 14400000000) DIV 300000000
        WHEN contact_us < 1209600000000 THEN 480 + (contact_us - 86400000000) DIV 3600000000
        ELSE 792 + LEAST((contact_us - 1209600000000) DIV 86400000000, 1000) END) VIRTUAL,
    ADD COLUMN resolve_bucket INT AS (CASE WHEN resolve_us < 0 THEN -1
        WHEN resolve_us < 14400000000 THEN resolve_us DIV 60000000
        WHEN resolve_us < 86400000000 THEN 240 + (resolve_us - 14400000000) DIV 300000000
        WHEN resolve_us < 1209600000000 THEN 480 + (resolve_us - 86400000000) DIV 3600000000
        ELSE 792 + LEAST((resolve_us - 1209600000000) DIV 86400000000, 1000) END) VIRTUAL,
    -- The due time of each step not done yet (NULL when done), and whether any is.
    ADD COLUMN accept_open_due DATETIME(3) AS (IF(accepted_at IS NULL, accept_due_at, NULL)) VIRTUAL,
    ADD COLUMN contact_open_due DATETIME(3) AS (IF(contacted_at IS NULL, contact_due_at, NULL)) VIRTUAL,
    ADD COLUMN resolve_open_due DATETIME(3) AS (IF(BINARY status IN ('resolved', 'closed') AND resolved_at IS NOT NULL, NULL, resolve_due_at)) VIRTUAL,
    ADD COLUMN steps_open TINYINT(1) AS (accepted_at IS NULL OR contacted_at IS NULL
        OR NOT (BINARY status IN ('resolved', 'closed') AND resolved_at IS NOT NULL)) VIRTUAL,
    ADD KEY idx_complaints_steps_open (steps_open, created_at, accept_open_due, contact_open_due, resolve_open_due),
    ADD KEY idx_complaints_accept_bucket (accept_bucket, created_at, accept_us),
    ADD KEY idx_complaints_contact_bucket (contact_bucket, created_at, contact_us),
    ADD KEY idx_complaints_resolve_bucket (resolve_bucket, created_at, resolve_us);

-- Totals by day of receipt: received; closed (status resolved or closed),
-- closed on time (resolved_at <= resolve_due_at, which is also the resolve
-- step's on-time count) and mediation agreements of those; accept and contact
-- steps done and done by their due time; resolve steps done.
CREATE TABLE report_complaint_stat_days (
    day             DATE NOT NULL,
    received        INT  NOT NULL DEFAULT 0,
    closed          INT  NOT NULL DEFAULT 0,
    closed_on_time  INT  NOT NULL DEFAULT 0,
    mediation       INT  NOT NULL DEFAULT 0,
    accept_done     INT  NOT NULL DEFAULT 0,
    accept_on_time  INT  NOT NULL DEFAULT 0,
    contact_done    INT  NOT NULL DEFAULT 0,
    contact_on_time INT  NOT NULL DEFAULT 0,
    resolve_done    INT  NOT NULL DEFAULT 0,
    PRIMARY KEY (day)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE report_complaint_stat_months (
    month           DATE NOT NULL, -- first day of the local month
    received        INT  NOT NULL DEFAULT 0,
    closed          INT  NOT NULL DEFAULT 0,
    closed_on_time  INT  NOT NULL DEFAULT 0,
    mediation       INT  NOT NULL DEFAULT 0,
    accept_done     INT  NOT NULL DEFAULT 0,
    accept_on_time  INT  NOT NULL DEFAULT 0,
    contact_done    INT  NOT NULL DEFAULT 0,
    contact_on_time INT  NOT NULL DEFAULT 0,
    resolve_done    INT  NOT NULL DEFAULT 0,
    PRIMARY KEY (month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Received by category, by estate and by status (dim names which), one row each.
CREATE TABLE report_complaint_count_days (
    day DATE        NOT NULL,
    dim VARCHAR(8)  NOT NULL,
    val VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    n   INT         NOT NULL DEFAULT 0,
    PRIMARY KEY (day, dim, val)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE report_complaint_count_months (
    month DATE        NOT NULL,
    dim   VARCHAR(8)  NOT NULL,
    val   VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    n     INT         NOT NULL DEFAULT 0,
    PRIMARY KEY (month, dim, val)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Done steps by duration bucket (the complaints' *_bucket columns).
CREATE TABLE report_complaint_duration_days (
    day    DATE       NOT NULL,
    step   VARCHAR(8) NOT NULL, -- accept, contact, resolve
    bucket INT        NOT NULL,
    n      INT        NOT NULL DEFAULT 0,
    PRIMARY KEY (day, step, bucket)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE report_complaint_duration_months (
    month  DATE       NOT NULL,
    step   VARCHAR(8) NOT NULL,
    bucket INT        NOT NULL,
    n      INT        NOT NULL DEFAULT 0,
    PRIMARY KEY (month, step, bucket)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ---------------------------------------------------------------- backfill
-- One pass over complaints per table (seconds at 300k), months from the days.
SET SESSION tmp_table_size = 268435456, max_heap_table_size = 268435456;

INSERT INTO report_complaint_stat_days (day, received, closed, closed_on_time, mediation,
    accept_done, accept_on_time, contact_done, contact_on_time, resolve_done)
SELECT COALESCE(DATE(LEAST(created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), COUNT(*),
       SUM(BINARY status IN ('resolved', 'closed')),
       SUM(BINARY status IN ('resolved', 'closed') AND resolved_at IS NOT NULL AND resolved_at <= resolve_due_at),
       SUM(BINARY status IN ('resolved', 'closed') AND mediation_agreement = 1),
       SUM(accepted_at IS NOT NULL), SUM(accepted_at IS NOT NULL AND accepted_at <= accept_due_at),
       SUM(contacted_at IS NOT NULL), SUM(contacted_at IS NOT NULL AND contacted_at <= contact_due_at),
       SUM(BINARY status IN ('resolved', 'closed') AND resolved_at IS NOT NULL)
FROM complaints GROUP BY 1;

INSERT INTO report_complaint_count_days (day, dim, val, n)
SELECT COALESCE(DATE(LEAST(created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), 'category',
       category COLLATE utf8mb4_nopad_bin, COUNT(*)
FROM complaints GROUP BY 1, 3;
INSERT INTO report_complaint_count_days (day, dim, val, n)
SELECT COALESCE(DATE(LEAST(created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), 'estate',
       estate COLLATE utf8mb4_nopad_bin, COUNT(*)
FROM complaints GROUP BY 1, 3;
INSERT INTO report_complaint_count_days (day, dim, val, n)
SELECT COALESCE(DATE(LEAST(created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), 'status',
       status COLLATE utf8mb4_nopad_bin, COUNT(*)
FROM complaints GROUP BY 1, 3;

INSERT INTO report_complaint_duration_days (day, step, bucket, n)
SELECT COALESCE(DATE(LEAST(created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), 'accept', accept_bucket, COUNT(*)
FROM complaints WHERE accept_bucket IS NOT NULL GROUP BY 1, 3;
INSERT INTO report_complaint_duration_days (day, step, bucket, n)
SELECT COALESCE(DATE(LEAST(created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), 'contact', contact_bucket, COUNT(*)
FROM complaints WHERE contact_bucket IS NOT NULL GROUP BY 1, 3;
INSERT INTO report_complaint_duration_days (day, step, bucket, n)
SELECT COALESCE(DATE(LEAST(created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), 'resolve', resolve_bucket, COUNT(*)
FROM complaints WHERE resolve_bucket IS NOT NULL GROUP BY 1, 3;

INSERT INTO report_complaint_stat_months (month, received, closed, closed_on_time, mediation,
    accept_done, accept_on_time, contact_done, contact_on_time, resolve_done)
SELECT day - INTERVAL (DAY(day) - 1) DAY, SUM(received), SUM(closed), SUM(closed_on_time), SUM(mediation),
       SUM(accept_done), SUM(accept_on_time), SUM(contact_done), SUM(contact_on_time), SUM(resolve_done)
FROM report_complaint_stat_days GROUP BY 1;

INSERT INTO report_complaint_count_months (month, dim, val, n)
SELECT day - INTERVAL (DAY(day) - 1) DAY, dim, val, SUM(n) FROM report_complaint_count_days GROUP BY 1, 2, 3;

INSERT INTO report_complaint_duration_months (month, step, bucket, n)
SELECT day - INTERVAL (DAY(day) - 1) DAY, step, bucket, SUM(n) FROM report_complaint_duration_days GROUP BY 1, 2, 3;

-- ---------------------------------------------------------------- triggers

-- report_complaint_stats_add adds (s = 1) or takes out (s = -1) one complaint's
-- contributions: its receipt day's and month's totals, counts and durations.
CREATE PROCEDURE report_complaint_stats_add(IN s INT, IN c_created DATETIME(3), IN c_category VARCHAR(32) CHARACTER SET utf8mb4, IN c_estate VARCHAR(32) CHARACTER SET utf8mb4,
    IN c_status VARCHAR(32) CHARACTER SET utf8mb4, IN c_accepted DATETIME(3), IN c_accept_due DATETIME(3), IN c_contacted DATETIME(3),
    IN c_contact_due DATETIME(3), IN c_resolved DATETIME(3), IN c_resolve_due DATETIME(3), IN c_mediation TINYINT,
    IN b_accept INT, IN b_contact INT, IN b_resolve INT)
    MODIFIES SQL DATA
BEGIN
    DECLARE d DATE DEFAULT COALESCE(DATE(LEAST(c_created, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01');
    DECLARE m DATE DEFAULT d - INTERVAL (DAY(d) - 1) DAY;
    DECLARE cl INT DEFAULT (BINARY c_status IN ('resolved', 'closed'));
    DECLARE rs INT DEFAULT (BINARY c_status IN ('resolved', 'closed') AND c_resolved IS NOT NULL);
    DECLARE ot INT DEFAULT (BINARY c_status IN ('resolved', 'closed') AND c_resolved IS NOT NULL AND c_resolved <= c_resolve_due);
    DECLARE md INT DEFAULT (BINARY c_status IN ('resolved', 'closed') AND c_mediation = 1);
    DECLARE ad INT DEFAULT (c_accepted IS NOT NULL);
    DECLARE ao INT DEFAULT (c_accepted IS NOT NULL AND c_accepted <= c_accept_due);
    DECLARE cd INT DEFAULT (c_contacted IS NOT NULL);
    DECLARE co INT DEFAULT (c_contacted IS NOT NULL AND c_contacted <= c_contact_due);
    INSERT INTO report_complaint_stat_days (day, received, closed, closed_on_time, mediation, accept_done, accept_on_time,
        contact_done, contact_on_time, resolve_done)
        VALUES (d, s, s * cl, s * ot, s * md, s * ad, s * ao, s * cd, s * co, s * rs)
        ON DUPLICATE KEY UPDATE received = received + s, closed = closed + s * cl, closed_on_time = closed_on_time + s * ot,
            mediation = mediation + s * md, accept_done = accept_done + s * ad, accept_on_time = accept_on_time + s * ao,
            contact_done = contact_done + s * cd, contact_on_time = contact_on_time + s * co, resolve_done = resolve_done + s * rs;
    INSERT INTO report_complaint_stat_months (month, received, closed, closed_on_time, mediation, accept_done, accept_on_time,
        contact_done, contact_on_time, resolve_done)
        VALUES (m, s, s * cl, s * ot, s * md, s * ad, s * ao, s * cd, s * co, s * rs)
        ON DUPLICATE KEY UPDATE received = received + s, closed = closed + s * cl, closed_on_time = closed_on_time + s * ot,
            mediation = mediation + s * md, accept_done = accept_done + s * ad, accept_on_time = accept_on_time + s * ao,
            contact_done = contact_done + s * cd, contact_on_time = contact_on_time + s * co, resolve_done = resolve_done + s * rs;
    INSERT INTO report_complaint_count_days (day, dim, val, n) VALUES (d, 'category', c_category, s), (d, 'estate', c_estate, s), (d, 'status', c_status, s)
        ON DUPLICATE KEY UPDATE n = n + s;
    INSERT INTO report_complaint_count_months (month, dim, val, n) VALUES (m, 'category', c_category, s), (m, 'estate', c_estate, s), (m, 'status', c_status, s)
        ON DUPLICATE KEY UPDATE n = n + s;
    IF b_accept IS NOT NULL THEN
        INSERT INTO report_complaint_duration_days (day, step, bucket, n) VALUES (d, 'accept', b_accept, s) ON DUPLICATE KEY UPDATE n = n + s;
        INSERT INTO report_complaint_duration_months (month, step, bucket, n) VALUES (m, 'accept', b_accept, s) ON DUPLICATE KEY UPDATE n = n + s;
    END IF;
    IF b_contact IS NOT NULL THEN
        INSERT INTO report_complaint_duration_days (day, step, bucket, n) VALUES (d, 'contact', b_contact, s) ON DUPLICATE KEY UPDATE n = n + s;
        INSERT INTO report_complaint_duration_months (month, step, bucket, n) VALUES (m, 'contact', b_contact, s) ON DUPLICATE KEY UPDATE n = n + s;
    END IF;
    IF b_resolve IS NOT NULL THEN
        INSERT INTO report_complaint_duration_days (day, step, bucket, n) VALUES (d, 'resolve', b_resolve, s) ON DUPLICATE KEY UPDATE n = n + s;
        INSERT INTO report_complaint_duration_months (month, step, bucket, n) VALUES (m, 'resolve', b_resolve, s) ON DUPLICATE KEY UPDATE n = n + s;
    END IF;
END;

CREATE TRIGGER trg_cstats_complaints_ins AFTER INSERT ON complaints FOR EACH ROW
    CALL report_complaint_stats_add(1, NEW.created_at, NEW.category, NEW.estate, NEW.status, NEW.accepted_at, NEW.accept_due_at,
        NEW.contacted_at, NEW.contact_due_at, NEW.resolved_at, NEW.resolve_due_at, NEW.mediation_agreement,
        NEW.accept_bucket, NEW.contact_bucket, NEW.resolve_bucket);

-- Changes that move no figure (updated_at, the contact phone sealed after the
-- insert, handler, rating, review flags) write nothing.
CREATE TRIGGER trg_cstats_complaints_upd AFTER UPDATE ON complaints FOR EACH ROW
BEGIN
    IF NOT (OLD.created_at <=> NEW.created_at AND BINARY OLD.category <=> BINARY NEW.category AND BINARY OLD.estate <=> BINARY NEW.estate
        AND BINARY OLD.status <=> BINARY NEW.status AND OLD.cycle_started_at <=> NEW.cycle_started_at
        AND OLD.accepted_at <=> NEW.accepted_at AND OLD.accept_due_at <=> NEW.accept_due_at
        AND OLD.contacted_at <=> NEW.contacted_at AND OLD.contact_due_at <=> NEW.contact_due_at
        AND OLD.resolved_at <=> NEW.resolved_at AND OLD.resolve_due_at <=> NEW.resolve_due_at
        AND OLD.mediation_agreement <=> NEW.mediation_agreement) THEN
        CALL report_complaint_stats_add(-1, OLD.created_at, OLD.category, OLD.estate, OLD.status, OLD.accepted_at, OLD.accept_due_at,
            OLD.contacted_at, OLD.contact_due_at, OLD.resolved_at, OLD.resolve_due_at, OLD.mediation_agreement,
            OLD.accept_bucket, OLD.contact_bucket, OLD.resolve_bucket);
        CALL report_complaint_stats_add(1, NEW.created_at, NEW.category, NEW.estate, NEW.status, NEW.accepted_at, NEW.accept_due_at,
            NEW.contacted_at, NEW.contact_due_at, NEW.resolved_at, NEW.resolve_due_at, NEW.mediation_agreement,
            NEW.accept_bucket, NEW.contact_bucket, NEW.resolve_bucket);
    END IF;
END;

CREATE TRIGGER trg_cstats_complaints_del AFTER DELETE ON complaints FOR EACH ROW
    CALL report_complaint_stats_add(-1, OLD.created_at, OLD.category, OLD.estate, OLD.status, OLD.accepted_at, OLD.accept_due_at,
        OLD.contacted_at, OLD.contact_due_at, OLD.resolved_at, OLD.resolve_due_at, OLD.mediation_agreement,
        OLD.accept_bucket, OLD.contact_bucket, OLD.resolve_bucket);
