-- Monthly rollups over 0028's daily ones, so a year reads tens of rows rather than
-- days × programs (22k at district size) or days × estates × categories (60k).
-- Each is kept by a trigger on its daily table, so whatever moves a day moves
-- its month in the same transaction.

CREATE TABLE report_session_months (
    month         DATE            NOT NULL, -- first day of the local month
    program_id    BIGINT UNSIGNED NOT NULL,
    sessions_held INT             NOT NULL DEFAULT 0,
    attendances   BIGINT          NOT NULL DEFAULT 0,
    fees_fen      BIGINT          NOT NULL DEFAULT 0,
    PRIMARY KEY (month, program_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The annual report's complaint line needs no estate or category.
CREATE TABLE report_complaint_months (
    month          DATE NOT NULL,
    received       INT  NOT NULL DEFAULT 0,
    closed         INT  NOT NULL DEFAULT 0,
    closed_on_time INT  NOT NULL DEFAULT 0,
    mediation      INT  NOT NULL DEFAULT 0,
    PRIMARY KEY (month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- report_deposit_months (month, estate) gains the month's sums beside its
-- participants.
ALTER TABLE report_deposit_months
    ADD COLUMN deposits INT    NOT NULL DEFAULT 0,
    ADD COLUMN grams    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN points   BIGINT NOT NULL DEFAULT 0;

INSERT INTO report_session_months (month, program_id, sessions_held, attendances, fees_fen)
SELECT day - INTERVAL (DAY(day) - 1) DAY, program_id, SUM(sessions_held), SUM(attendances), SUM(fees_fen)
FROM report_session_days GROUP BY 1, 2;

INSERT INTO report_complaint_months (month, received, closed, closed_on_time, mediation)
SELECT day - INTERVAL (DAY(day) - 1) DAY, SUM(received), SUM(closed), SUM(closed_on_time), SUM(mediation)
FROM report_complaint_days GROUP BY 1;

INSERT INTO report_deposit_months (month, estate, deposits, grams, points)
SELECT * FROM (
    SELECT local_day - INTERVAL (DAY(local_day) - 1) DAY AS m, estate, SUM(deposits) AS n, SUM(grams) AS g, SUM(points) AS p
    FROM report_deposit_days GROUP BY 1, 2
) x
ON DUPLICATE KEY UPDATE deposits = x.n, grams = x.g, points = x.p;

CREATE TRIGGER trg_rollup_session_days_ins AFTER INSERT ON report_session_days FOR EACH ROW
    INSERT INTO report_session_months (month, program_id, sessions_held, attendances, fees_fen)
    VALUES (NEW.day - INTERVAL (DAY(NEW.day) - 1) DAY, NEW.program_id, NEW.sessions_held, NEW.attendances, NEW.fees_fen)
    ON DUPLICATE KEY UPDATE sessions_held = sessions_held + NEW.sessions_held, attendances = attendances + NEW.attendances,
        fees_fen = fees_fen + NEW.fees_fen;

CREATE TRIGGER trg_rollup_session_days_upd AFTER UPDATE ON report_session_days FOR EACH ROW
    INSERT INTO report_session_months (month, program_id, sessions_held, attendances, fees_fen)
    VALUES (NEW.day - INTERVAL (DAY(NEW.day) - 1) DAY, NEW.program_id, NEW.sessions_held - OLD.sessions_held,
        NEW.attendances - OLD.attendances, NEW.fees_fen - OLD.fees_fen)
    ON DUPLICATE KEY UPDATE sessions_held = sessions_held + (NEW.sessions_held - OLD.sessions_held),
        attendances = attendances + (NEW.attendances - OLD.attendances), fees_fen = fees_fen + (NEW.fees_fen - OLD.fees_fen);

CREATE TRIGGER trg_rollup_complaint_days_ins AFTER INSERT ON report_complaint_days FOR EACH ROW
    INSERT INTO report_complaint_months (month, received, closed, closed_on_time, mediation)
    VALUES (NEW.day - INTERVAL (DAY(NEW.day) - 1) DAY, NEW.received, NEW.closed, NEW.closed_on_time, NEW.mediation)
    ON DUPLICATE KEY UPDATE received = received + NEW.received, closed = closed + NEW.closed,
        closed_on_time = closed_on_time + NEW.closed_on_time, mediation = mediation + NEW.mediation;

CREATE TRIGGER trg_rollup_complaint_days_upd AFTER UPDATE ON report_complaint_days FOR EACH ROW
    INSERT INTO report_complaint_months (month, received, closed, closed_on_time, mediation)
    VALUES (NEW.day - INTERVAL (DAY(NEW.day) - 1) DAY, NEW.received - OLD.received, NEW.closed - OLD.closed,
        NEW.closed_on_time - OLD.closed_on_time, NEW.mediation - OLD.mediation)
    ON DUPLICATE KEY UPDATE received = received + (NEW.received - OLD.received), closed = closed + (NEW.closed - OLD.closed),
        closed_on_time = closed_on_time + (NEW.closed_on_time - OLD.closed_on_time), mediation = mediation + (NEW.mediation - OLD.mediation);

CREATE TRIGGER trg_rollup_deposit_days_ins AFTER INSERT ON report_deposit_days FOR EACH ROW
    INSERT INTO report_deposit_months (month, estate, deposits, grams, points)
    VALUES (NEW.local_day - INTERVAL (DAY(NEW.local_day) - 1) DAY, NEW.estate, NEW.deposits, NEW.grams, NEW.points)
    ON DUPLICATE KEY UPDATE deposits = deposits + NEW.deposits, grams = grams + NEW.grams, points = points + NEW.points;

CREATE TRIGGER trg_rollup_deposit_days_upd AFTER UPDATE ON report_deposit_days FOR EACH ROW
    INSERT INTO report_deposit_months (month, estate, deposits, grams, points)
    VALUES (NEW.local_day - INTERVAL (DAY(NEW.local_day) - 1) DAY, NEW.estate, NEW.deposits - OLD.deposits,
        NEW.grams - OLD.grams, NEW.points - OLD.points)
    ON DUPLICATE KEY UPDATE deposits = deposits + (NEW.deposits - OLD.deposits), grams = grams + (NEW.grams - OLD.grams),
        points = points + (NEW.points - OLD.points);
