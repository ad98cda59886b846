-- Report rollups (issue 15): the annual report and the points statistics read a
-- few hundred daily rows instead of scanning millions of bookings and deposits.
--
-- Kept exact by triggers, i.e. in the same transaction as every change to the rows
-- they summarise, whichever code path (or hand-run SQL, or the history import)
-- makes it. A job with a watermark was the alternative; it needs a dirty-marking
-- scheme anyway to see updates (a booking checked in, a session cancelled, an
-- order paid long after the booking), and its figures lag. Triggers also write
-- nothing when a change does not move a figure (a free booking made or
-- cancelled), so the booking hot path is untouched.
--
-- Concurrency: a trigger that moves a session's figures reads the session row
-- with LOCK IN SHARE MODE. The booking engine already holds that row FOR UPDATE
-- when it changes a booking, and a session edit (cancel, reschedule) holds it
-- exclusively and recomputes the session's figures with locking reads, so the two
-- cannot interleave and leave a figure counted in the wrong day or twice.
--
-- Days are the community's local days at a fixed UTC+8 (Asia/Shanghai, no DST
-- since 1991): COALESCE(DATE(LEAST(ts, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'). The report code uses the rollups only
-- when APP_TIMEZONE has that offset over the whole range asked for, and otherwise
-- computes from the raw tables as before. Deposits use their stored local_day.
--
-- Not covered (and not done by the service): rows removed by a foreign key
-- cascade (MySQL fires no trigger for those; users, whose delete cascades to
-- bookings, are never deleted, only erased in place), and UPDATE/DELETE on
-- payment_ledger, which is append-only.

-- One row per local day of a session's end and program: the held (not cancelled)
-- sessions ending that day, their attendances (bookings attended plus imported
-- attendances) and fees as the annual report defines them (see report.heldSessions).
CREATE TABLE report_session_days (
    day           DATE            NOT NULL,
    program_id    BIGINT UNSIGNED NOT NULL,
    sessions_held INT             NOT NULL DEFAULT 0,
    attendances   BIGINT          NOT NULL DEFAULT 0,
    fees_fen      BIGINT          NOT NULL DEFAULT 0,
    PRIMARY KEY (day, program_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Complaints by local day, estate and category: received counts by the day of
-- created_at; closed, closed_on_time and mediation count the complaints now
-- resolved or closed, by the day of resolved_at (the annual report's definitions).
CREATE TABLE report_complaint_days (
    day            DATE        NOT NULL,
    estate         VARCHAR(32) NOT NULL,
    category       VARCHAR(16) NOT NULL,
    received       INT         NOT NULL DEFAULT 0,
    closed         INT         NOT NULL DEFAULT 0,
    closed_on_time INT         NOT NULL DEFAULT 0,
    mediation      INT         NOT NULL DEFAULT 0,
    PRIMARY KEY (day, estate, category)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Deposits by local_day and estate.
CREATE TABLE report_deposit_days (
    local_day DATE        NOT NULL,
    estate    VARCHAR(32) NOT NULL,
    deposits  INT         NOT NULL DEFAULT 0,
    grams     BIGINT      NOT NULL DEFAULT 0,
    points    BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (local_day, estate)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Participants are distinct residents, which do not add up across days: the
-- (month, estate, resident) and (year, resident) sets are kept with their sizes.
-- Each member row counts the resident's deposits in the set, so a trigger knows
-- when one joins (count became 1) or leaves (count became 0), under the row's
-- lock (ROW_COUNT() after INSERT IGNORE is not reliable inside MariaDB triggers).
CREATE TABLE report_deposit_month_users (
    month    DATE            NOT NULL, -- first day of the local_day's month
    estate   VARCHAR(32)     NOT NULL,
    user_id  BIGINT UNSIGNED NOT NULL,
    deposits INT             NOT NULL,
    PRIMARY KEY (month, estate, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE report_deposit_months (
    month        DATE        NOT NULL,
    estate       VARCHAR(32) NOT NULL,
    participants INT         NOT NULL DEFAULT 0,
    PRIMARY KEY (month, estate)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE report_deposit_year_users (
    year     SMALLINT UNSIGNED NOT NULL,
    user_id  BIGINT UNSIGNED   NOT NULL,
    deposits INT               NOT NULL,
    PRIMARY KEY (year, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE report_deposit_years (
    year         SMALLINT UNSIGNED NOT NULL,
    participants INT               NOT NULL DEFAULT 0,
    PRIMARY KEY (year)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The triggers and the report's raw edges look refunds up by booking and
-- sessions up by their end.
ALTER TABLE payment_ledger ADD KEY idx_payment_ledger_booking (booking_id, kind);
ALTER TABLE sessions ADD KEY idx_sessions_ends (ends_at);

-- ---------------------------------------------------------------- backfill
-- GROUP BYs over millions of rows at district size: let this connection's
-- temporary tables stay in memory up to 256 MB before they spill to disk.
SET SESSION tmp_table_size = 268435456, max_heap_table_size = 268435456;

INSERT INTO report_session_days (day, program_id, sessions_held, attendances, fees_fen)
SELECT COALESCE(DATE(LEAST(s.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), s.program_id, COUNT(*),
       SUM(COALESCE(b.att, 0) + COALESCE(i.attendances, 0)),
       SUM(COALESCE(b.fees, 0) + COALESCE(i.fees_fen, 0))
FROM sessions s
LEFT JOIN (
    SELECT bk.session_id,
           SUM(bk.status = 'attended') AS att,
           SUM(CASE WHEN bk.order_id IS NULL THEN IF(bk.status IN ('confirmed', 'attended'), CAST(bk.fee_fen AS SIGNED), 0)
                    ELSE IF(pd.order_id IS NOT NULL, CAST(bk.fee_fen AS SIGNED), 0) - COALESCE(rf.amt, 0) END) AS fees
    FROM bookings bk
    LEFT JOIN (SELECT DISTINCT order_id FROM payment_ledger WHERE kind = 'paid') pd ON pd.order_id = bk.order_id
    LEFT JOIN (SELECT booking_id, SUM(amount_fen) AS amt FROM payment_ledger
               WHERE kind = 'refunded' AND booking_id IS NOT NULL GROUP BY booking_id) rf ON rf.booking_id = bk.id
    GROUP BY bk.session_id
) b ON b.session_id = s.id
LEFT JOIN session_imports i ON i.session_id = s.id
WHERE s.status <> 'cancelled'
GROUP BY 1, 2;

INSERT INTO report_complaint_days (day, estate, category, received)
SELECT COALESCE(DATE(LEAST(created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), estate, category, COUNT(*)
FROM complaints GROUP BY 1, 2, 3;

INSERT INTO report_complaint_days (day, estate, category, closed, closed_on_time, mediation)
SELECT * FROM (
    SELECT COALESCE(DATE(LEAST(resolved_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01') AS d, estate, category, COUNT(*) AS n,
           SUM(resolved_at <= resolve_due_at) AS ot, SUM(mediation_agreement = 1) AS m
    FROM complaints WHERE status IN ('resolved', 'closed') AND resolved_at IS NOT NULL
    GROUP BY 1, 2, 3
) x
ON DUPLICATE KEY UPDATE closed = x.n, closed_on_time = x.ot, mediation = x.m;

-- Deposits: bin_deposits is in time order, so upserting row by row touches one
-- month's members at a time (no multi-million-group temporary table).
INSERT INTO report_deposit_days (local_day, estate, deposits, grams, points)
SELECT local_day, estate, COUNT(*), SUM(weight_grams), SUM(points_awarded)
FROM bin_deposits GROUP BY local_day, estate;

INSERT INTO report_deposit_month_users (month, estate, user_id, deposits)
SELECT local_day - INTERVAL (DAY(local_day) - 1) DAY, estate, user_id, 1 FROM bin_deposits
ON DUPLICATE KEY UPDATE deposits = deposits + 1;

INSERT INTO report_deposit_months (month, estate, participants)
SELECT month, estate, COUNT(*) FROM report_deposit_month_users GROUP BY month, estate;

INSERT INTO report_deposit_year_users (year, user_id, deposits)
SELECT YEAR(month), user_id, deposits FROM report_deposit_month_users
ON DUPLICATE KEY UPDATE deposits = report_deposit_year_users.deposits + VALUES(deposits);

INSERT INTO report_deposit_years (year, participants)
SELECT year, COUNT(*) FROM report_deposit_year_users GROUP BY year;

-- ---------------------------------------------------------------- sessions

CREATE TRIGGER trg_rollup_bookings_ins AFTER INSERT ON bookings FOR EACH ROW
BEGIN
    DECLARE d_att BIGINT DEFAULT (NEW.status = 'attended');
    DECLARE d_fee BIGINT DEFAULT 0;
    DECLARE refunds BIGINT DEFAULT 0;
    DECLARE s_day DATE;
    DECLARE s_prog BIGINT UNSIGNED;
    DECLARE s_status VARCHAR(16);
    IF NEW.order_id IS NULL THEN
        IF NEW.status IN ('confirmed', 'attended') THEN SET d_fee = NEW.fee_fen; END IF;
    ELSE
        IF EXISTS (SELECT 1 FROM payment_ledger WHERE order_id = NEW.order_id AND kind = 'paid') THEN SET d_fee = NEW.fee_fen; END IF;
        SET refunds = (SELECT COALESCE(SUM(amount_fen), 0) FROM payment_ledger WHERE booking_id = NEW.id AND kind = 'refunded');
        SET d_fee = d_fee - refunds;
    END IF;
    IF d_att <> 0 OR d_fee <> 0 THEN
        SELECT COALESCE(DATE(LEAST(ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), program_id, status INTO s_day, s_prog, s_status
            FROM sessions WHERE id = NEW.session_id LOCK IN SHARE MODE;
        IF s_status <> 'cancelled' THEN
            INSERT INTO report_session_days (day, program_id, attendances, fees_fen) VALUES (s_day, s_prog, d_att, d_fee)
                ON DUPLICATE KEY UPDATE attendances = attendances + d_att, fees_fen = fees_fen + d_fee;
        END IF;
    END IF;
END;

-- An update moves the booking's figures: old ones out of its old session's day,
-- new ones into its new session's day (usually the same session: one delta).
-- Refunds are per booking, so they cancel out unless the booking gained or lost
-- an order or moved to another session.
CREATE TRIGGER trg_rollup_bookings_upd AFTER UPDATE ON bookings FOR EACH ROW
BEGIN
    DECLARE o_att BIGINT DEFAULT (OLD.status = 'attended');
    DECLARE n_att BIGINT DEFAULT (NEW.status = 'attended');
    DECLARE o_fee BIGINT DEFAULT 0;
    DECLARE n_fee BIGINT DEFAULT 0;
    DECLARE refunds BIGINT DEFAULT 0;
    DECLARE s_day DATE;
    DECLARE s_prog BIGINT UNSIGNED;
    DECLARE s_status VARCHAR(16);
    IF OLD.order_id IS NULL THEN
        IF OLD.status IN ('confirmed', 'attended') THEN SET o_fee = OLD.fee_fen; END IF;
    ELSEIF EXISTS (SELECT 1 FROM payment_ledger WHERE order_id = OLD.order_id AND kind = 'paid') THEN
        SET o_fee = OLD.fee_fen;
    END IF;
    IF NEW.order_id IS NULL THEN
        IF NEW.status IN ('confirmed', 'attended') THEN SET n_fee = NEW.fee_fen; END IF;
    ELSEIF EXISTS (SELECT 1 FROM payment_ledger WHERE order_id = NEW.order_id AND kind = 'paid') THEN
        SET n_fee = NEW.fee_fen;
    END IF;
    IF (OLD.order_id IS NOT NULL OR NEW.order_id IS NOT NULL)
       AND (OLD.session_id <> NEW.session_id OR (OLD.order_id IS NULL) <> (NEW.order_id IS NULL)) THEN
        SET refunds = (SELECT COALESCE(SUM(amount_fen), 0) FROM payment_ledger WHERE booking_id = NEW.id AND kind = 'refunded');
        IF OLD.order_id IS NOT NULL THEN SET o_fee = o_fee - refunds; END IF;
        IF NEW.order_id IS NOT NULL THEN SET n_fee = n_fee - refunds; END IF;
    END IF;
    IF OLD.session_id = NEW.session_id THEN
        SET n_att = n_att - o_att, n_fee = n_fee - o_fee, o_att = 0, o_fee = 0;
    END IF;
    IF o_att <> 0 OR o_fee <> 0 THEN
        SELECT COALESCE(DATE(LEAST(ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), program_id, status INTO s_day, s_prog, s_status
            FROM sessions WHERE id = OLD.session_id LOCK IN SHARE MODE;
        IF s_status <> 'cancelled' THEN
            INSERT INTO report_session_days (day, program_id, attendances, fees_fen) VALUES (s_day, s_prog, -o_att, -o_fee)
                ON DUPLICATE KEY UPDATE attendances = attendances - o_att, fees_fen = fees_fen - o_fee;
        END IF;
    END IF;
    IF n_att <> 0 OR n_fee <> 0 THEN
        SELECT COALESCE(DATE(LEAST(ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), program_id, status INTO s_day, s_prog, s_status
            FROM sessions WHERE id = NEW.session_id LOCK IN SHARE MODE;
        IF s_status <> 'cancelled' THEN
            INSERT INTO report_session_days (day, program_id, attendances, fees_fen) VALUES (s_day, s_prog, n_att, n_fee)
                ON DUPLICATE KEY UPDATE attendances = attendances + n_att, fees_fen = fees_fen + n_fee;
        END IF;
    END IF;
END;

CREATE TRIGGER trg_rollup_bookings_del AFTER DELETE ON bookings FOR EACH ROW
BEGIN
    DECLARE o_att BIGINT DEFAULT (OLD.status = 'attended');
    DECLARE o_fee BIGINT DEFAULT 0;
    DECLARE s_day DATE;
    DECLARE s_prog BIGINT UNSIGNED;
    DECLARE s_status VARCHAR(16);
    IF OLD.order_id IS NULL THEN
        IF OLD.status IN ('confirmed', 'attended') THEN SET o_fee = OLD.fee_fen; END IF;
    ELSE
        IF EXISTS (SELECT 1 FROM payment_ledger WHERE order_id = OLD.order_id AND kind = 'paid') THEN SET o_fee = OLD.fee_fen; END IF;
        SET o_fee = o_fee - (SELECT COALESCE(SUM(amount_fen), 0) FROM payment_ledger WHERE booking_id = OLD.id AND kind = 'refunded');
    END IF;
    IF o_att <> 0 OR o_fee <> 0 THEN
        SELECT COALESCE(DATE(LEAST(ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), program_id, status INTO s_day, s_prog, s_status
            FROM sessions WHERE id = OLD.session_id LOCK IN SHARE MODE;
        IF s_status <> 'cancelled' THEN
            INSERT INTO report_session_days (day, program_id, attendances, fees_fen) VALUES (s_day, s_prog, -o_att, -o_fee)
                ON DUPLICATE KEY UPDATE attendances = attendances - o_att, fees_fen = fees_fen - o_fee;
        END IF;
    END IF;
END;

-- The first 'paid' entry of an order brings in the fees of its bookings; a
-- refund takes its amount out of its booking's session (bookings without an
-- order count by status, refunds do not touch them, as in the report).
CREATE TRIGGER trg_rollup_payment_ledger_ins AFTER INSERT ON payment_ledger FOR EACH ROW
BEGIN
    DECLARE s_day DATE;
    DECLARE s_prog BIGINT UNSIGNED;
    DECLARE s_status VARCHAR(16);
    DECLARE b_order BIGINT UNSIGNED;
    IF NEW.kind = 'paid' AND NOT EXISTS (SELECT 1 FROM payment_ledger WHERE order_id = NEW.order_id AND kind = 'paid' AND id <> NEW.id) THEN
        INSERT INTO report_session_days (day, program_id, fees_fen)
            SELECT COALESCE(DATE(LEAST(s.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), s.program_id, SUM(b.fee_fen)
            FROM bookings b JOIN sessions s ON s.id = b.session_id
            WHERE b.order_id = NEW.order_id AND s.status <> 'cancelled'
            GROUP BY 1, 2
            ON DUPLICATE KEY UPDATE fees_fen = fees_fen + VALUES(fees_fen);
    ELSEIF NEW.kind = 'refunded' AND NEW.booking_id IS NOT NULL THEN
        SELECT COALESCE(DATE(LEAST(s.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), s.program_id, s.status, b.order_id INTO s_day, s_prog, s_status, b_order
            FROM bookings b JOIN sessions s ON s.id = b.session_id WHERE b.id = NEW.booking_id LOCK IN SHARE MODE;
        IF b_order IS NOT NULL AND s_status <> 'cancelled' THEN
            INSERT INTO report_session_days (day, program_id, fees_fen) VALUES (s_day, s_prog, -CAST(NEW.amount_fen AS SIGNED))
                ON DUPLICATE KEY UPDATE fees_fen = fees_fen - CAST(NEW.amount_fen AS SIGNED);
        END IF;
    END IF;
END;

CREATE TRIGGER trg_rollup_session_imports_ins AFTER INSERT ON session_imports FOR EACH ROW
BEGIN
    DECLARE s_day DATE;
    DECLARE s_prog BIGINT UNSIGNED;
    DECLARE s_status VARCHAR(16);
    SELECT COALESCE(DATE(LEAST(ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), program_id, status INTO s_day, s_prog, s_status
        FROM sessions WHERE id = NEW.session_id LOCK IN SHARE MODE;
    IF s_status <> 'cancelled' THEN
        INSERT INTO report_session_days (day, program_id, attendances, fees_fen) VALUES (s_day, s_prog, NEW.attendances, NEW.fees_fen)
            ON DUPLICATE KEY UPDATE attendances = attendances + CAST(NEW.attendances AS SIGNED), fees_fen = fees_fen + CAST(NEW.fees_fen AS SIGNED);
    END IF;
END;

CREATE TRIGGER trg_rollup_session_imports_upd AFTER UPDATE ON session_imports FOR EACH ROW
BEGIN
    DECLARE s_day DATE;
    DECLARE s_prog BIGINT UNSIGNED;
    DECLARE s_status VARCHAR(16);
    DECLARE d_att BIGINT DEFAULT CAST(NEW.attendances AS SIGNED) - CAST(OLD.attendances AS SIGNED);
    DECLARE d_fee BIGINT DEFAULT CAST(NEW.fees_fen AS SIGNED) - CAST(OLD.fees_fen AS SIGNED);
    IF OLD.session_id <> NEW.session_id THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'session_imports.session_id is not updatable (report rollups)';
    END IF;
    IF d_att <> 0 OR d_fee <> 0 THEN
        SELECT COALESCE(DATE(LEAST(ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), program_id, status INTO s_day, s_prog, s_status
            FROM sessions WHERE id = NEW.session_id LOCK IN SHARE MODE;
        IF s_status <> 'cancelled' THEN
            INSERT INTO report_session_days (day, program_id, attendances, fees_fen) VALUES (s_day, s_prog, d_att, d_fee)
                ON DUPLICATE KEY UPDATE attendances = attendances + d_att, fees_fen = fees_fen + d_fee;
        END IF;
    END IF;
END;

CREATE TRIGGER trg_rollup_session_imports_del AFTER DELETE ON session_imports FOR EACH ROW
BEGIN
    DECLARE s_day DATE;
    DECLARE s_prog BIGINT UNSIGNED;
    DECLARE s_status VARCHAR(16);
    SELECT COALESCE(DATE(LEAST(ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), program_id, status INTO s_day, s_prog, s_status
        FROM sessions WHERE id = OLD.session_id LOCK IN SHARE MODE;
    IF s_status <> 'cancelled' THEN
        INSERT INTO report_session_days (day, program_id, attendances, fees_fen) VALUES (s_day, s_prog, -CAST(OLD.attendances AS SIGNED), -CAST(OLD.fees_fen AS SIGNED))
            ON DUPLICATE KEY UPDATE attendances = attendances - CAST(OLD.attendances AS SIGNED), fees_fen = fees_fen - CAST(OLD.fees_fen AS SIGNED);
    END IF;
END;

CREATE TRIGGER trg_rollup_sessions_ins AFTER INSERT ON sessions FOR EACH ROW
BEGIN
    IF NEW.status <> 'cancelled' THEN
        INSERT INTO report_session_days (day, program_id, sessions_held) VALUES (COALESCE(DATE(LEAST(NEW.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), NEW.program_id, 1)
            ON DUPLICATE KEY UPDATE sessions_held = sessions_held + 1;
    END IF;
END;

-- A session cancelled, restored, moved to another day or program takes its whole
-- figures with it, recomputed from its bookings and import with locking reads
-- (the row itself is held exclusively by this update). Counter updates (booked,
-- waitlisted) do not qualify and cost one comparison.
CREATE TRIGGER trg_rollup_sessions_upd AFTER UPDATE ON sessions FOR EACH ROW
BEGIN
    DECLARE c_att BIGINT DEFAULT 0;
    DECLARE c_fee BIGINT DEFAULT 0;
    DECLARE i_att BIGINT DEFAULT 0;
    DECLARE i_fee BIGINT DEFAULT 0;
    IF (OLD.status = 'cancelled') <> (NEW.status = 'cancelled') OR OLD.program_id <> NEW.program_id
       OR COALESCE(DATE(LEAST(OLD.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01') <> COALESCE(DATE(LEAST(NEW.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01') THEN
        SELECT COALESCE(SUM(b.status = 'attended'), 0),
               COALESCE(SUM(CASE WHEN b.order_id IS NULL THEN IF(b.status IN ('confirmed', 'attended'), CAST(b.fee_fen AS SIGNED), 0)
                   ELSE IF(EXISTS (SELECT 1 FROM payment_ledger lp WHERE lp.order_id = b.order_id AND lp.kind = 'paid'), CAST(b.fee_fen AS SIGNED), 0)
                      - (SELECT COALESCE(SUM(lr.amount_fen), 0) FROM payment_ledger lr WHERE lr.booking_id = b.id AND lr.kind = 'refunded')
                   END), 0)
            INTO c_att, c_fee FROM bookings b WHERE b.session_id = NEW.id LOCK IN SHARE MODE;
        SELECT COALESCE(SUM(attendances), 0), COALESCE(SUM(fees_fen), 0) INTO i_att, i_fee
            FROM session_imports WHERE session_id = NEW.id LOCK IN SHARE MODE;
        SET c_att = c_att + i_att, c_fee = c_fee + i_fee;
        IF OLD.status <> 'cancelled' THEN
            INSERT INTO report_session_days (day, program_id, sessions_held, attendances, fees_fen)
                VALUES (COALESCE(DATE(LEAST(OLD.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), OLD.program_id, -1, -c_att, -c_fee)
                ON DUPLICATE KEY UPDATE sessions_held = sessions_held - 1, attendances = attendances - c_att, fees_fen = fees_fen - c_fee;
        END IF;
        IF NEW.status <> 'cancelled' THEN
            INSERT INTO report_session_days (day, program_id, sessions_held, attendances, fees_fen)
                VALUES (COALESCE(DATE(LEAST(NEW.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), NEW.program_id, 1, c_att, c_fee)
                ON DUPLICATE KEY UPDATE sessions_held = sessions_held + 1, attendances = attendances + c_att, fees_fen = fees_fen + c_fee;
        END IF;
    END IF;
END;

-- BEFORE: the import (deleted by cascade, which fires no trigger) is still there.
-- A session with bookings cannot be deleted (foreign key), so only its import
-- counts; if the delete fails, the statement's changes are rolled back.
CREATE TRIGGER trg_rollup_sessions_del BEFORE DELETE ON sessions FOR EACH ROW
BEGIN
    DECLARE i_att BIGINT DEFAULT 0;
    DECLARE i_fee BIGINT DEFAULT 0;
    IF OLD.status <> 'cancelled' THEN
        SELECT COALESCE(SUM(attendances), 0), COALESCE(SUM(fees_fen), 0) INTO i_att, i_fee
            FROM session_imports WHERE session_id = OLD.id LOCK IN SHARE MODE;
        INSERT INTO report_session_days (day, program_id, sessions_held, attendances, fees_fen)
            VALUES (COALESCE(DATE(LEAST(OLD.ends_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), OLD.program_id, -1, -i_att, -i_fee)
            ON DUPLICATE KEY UPDATE sessions_held = sessions_held - 1, attendances = attendances - i_att, fees_fen = fees_fen - i_fee;
    END IF;
END;

-- ---------------------------------------------------------------- complaints

CREATE TRIGGER trg_rollup_complaints_ins AFTER INSERT ON complaints FOR EACH ROW
BEGIN
    INSERT INTO report_complaint_days (day, estate, category, received) VALUES (COALESCE(DATE(LEAST(NEW.created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), NEW.estate, NEW.category, 1)
        ON DUPLICATE KEY UPDATE received = received + 1;
    IF NEW.status IN ('resolved', 'closed') AND NEW.resolved_at IS NOT NULL THEN
        INSERT INTO report_complaint_days (day, estate, category, closed, closed_on_time, mediation)
            VALUES (COALESCE(DATE(LEAST(NEW.resolved_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), NEW.estate, NEW.category, 1, NEW.resolved_at <= NEW.resolve_due_at, NEW.mediation_agreement = 1)
            ON DUPLICATE KEY UPDATE closed = closed + 1, closed_on_time = closed_on_time + (NEW.resolved_at <= NEW.resolve_due_at),
                mediation = mediation + (NEW.mediation_agreement = 1);
    END IF;
END;

CREATE TRIGGER trg_rollup_complaints_upd AFTER UPDATE ON complaints FOR EACH ROW
BEGIN
    DECLARE o_closed BOOL DEFAULT OLD.status IN ('resolved', 'closed') AND OLD.resolved_at IS NOT NULL;
    DECLARE n_closed BOOL DEFAULT NEW.status IN ('resolved', 'closed') AND NEW.resolved_at IS NOT NULL;
    IF OLD.created_at <> NEW.created_at OR OLD.estate <> NEW.estate OR OLD.category <> NEW.category THEN
        INSERT INTO report_complaint_days (day, estate, category, received) VALUES (COALESCE(DATE(LEAST(OLD.created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), OLD.estate, OLD.category, -1)
            ON DUPLICATE KEY UPDATE received = received - 1;
        INSERT INTO report_complaint_days (day, estate, category, received) VALUES (COALESCE(DATE(LEAST(NEW.created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), NEW.estate, NEW.category, 1)
            ON DUPLICATE KEY UPDATE received = received + 1;
    END IF;
    IF o_closed <> n_closed OR (o_closed AND (OLD.resolved_at <> NEW.resolved_at OR OLD.resolve_due_at <> NEW.resolve_due_at
       OR OLD.mediation_agreement <> NEW.mediation_agreement OR OLD.estate <> NEW.estate OR OLD.category <> NEW.category)) THEN
        IF o_closed THEN
            INSERT INTO report_complaint_days (day, estate, category, closed, closed_on_time, mediation)
                VALUES (COALESCE(DATE(LEAST(OLD.resolved_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), OLD.estate, OLD.category, -1, -(OLD.resolved_at <= OLD.resolve_due_at), -(OLD.mediation_agreement = 1))
                ON DUPLICATE KEY UPDATE closed = closed - 1, closed_on_time = closed_on_time - (OLD.resolved_at <= OLD.resolve_due_at),
                    mediation = mediation - (OLD.mediation_agreement = 1);
        END IF;
        IF n_closed THEN
            INSERT INTO report_complaint_days (day, estate, category, closed, closed_on_time, mediation)
                VALUES (COALESCE(DATE(LEAST(NEW.resolved_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), NEW.estate, NEW.category, 1, NEW.resolved_at <= NEW.resolve_due_at, NEW.mediation_agreement = 1)
                ON DUPLICATE KEY UPDATE closed = closed + 1, closed_on_time = closed_on_time + (NEW.resolved_at <= NEW.resolve_due_at),
                    mediation = mediation + (NEW.mediation_agreement = 1);
        END IF;
    END IF;
END;

CREATE TRIGGER trg_rollup_complaints_del AFTER DELETE ON complaints FOR EACH ROW
BEGIN
    INSERT INTO report_complaint_days (day, estate, category, received) VALUES (COALESCE(DATE(LEAST(OLD.created_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), OLD.estate, OLD.category, -1)
        ON DUPLICATE KEY UPDATE received = received - 1;
    IF OLD.status IN ('resolved', 'closed') AND OLD.resolved_at IS NOT NULL THEN
        INSERT INTO report_complaint_days (day, estate, category, closed, closed_on_time, mediation)
            VALUES (COALESCE(DATE(LEAST(OLD.resolved_at, '9999-12-31 15:59:59.999') + INTERVAL 8 HOUR), '1000-01-01'), OLD.estate, OLD.category, -1, -(OLD.resolved_at <= OLD.resolve_due_at), -(OLD.mediation_agreement = 1))
            ON DUPLICATE KEY UPDATE closed = closed - 1, closed_on_time = closed_on_time - (OLD.resolved_at <= OLD.resolve_due_at),
                mediation = mediation - (OLD.mediation_agreement = 1);
    END IF;
END;

-- ---------------------------------------------------------------- deposits

-- A resident joins (d = 1) or leaves (d = -1) the month and year participant
-- sets of one deposit; the set sizes follow.
CREATE PROCEDURE report_deposit_member(IN m DATE, IN e VARCHAR(32), IN u BIGINT UNSIGNED, IN d INT)
    MODIFIES SQL DATA
BEGIN
    DECLARE n INT DEFAULT 0;
    INSERT INTO report_deposit_month_users (month, estate, user_id, deposits) VALUES (m, e, u, d)
        ON DUPLICATE KEY UPDATE deposits = deposits + d;
    SELECT deposits INTO n FROM report_deposit_month_users WHERE month = m AND estate = e AND user_id = u;
    IF d > 0 AND n = d THEN
        INSERT INTO report_deposit_months (month, estate, participants) VALUES (m, e, 1)
            ON DUPLICATE KEY UPDATE participants = participants + 1;
    ELSEIF n <= 0 THEN
        DELETE FROM report_deposit_month_users WHERE month = m AND estate = e AND user_id = u;
        UPDATE report_deposit_months SET participants = participants - 1 WHERE month = m AND estate = e;
    END IF;
    INSERT INTO report_deposit_year_users (year, user_id, deposits) VALUES (YEAR(m), u, d)
        ON DUPLICATE KEY UPDATE deposits = deposits + d;
    SELECT deposits INTO n FROM report_deposit_year_users WHERE year = YEAR(m) AND user_id = u;
    IF d > 0 AND n = d THEN
        INSERT INTO report_deposit_years (year, participants) VALUES (YEAR(m), 1)
            ON DUPLICATE KEY UPDATE participants = participants + 1;
    ELSEIF n <= 0 THEN
        DELETE FROM report_deposit_year_users WHERE year = YEAR(m) AND user_id = u;
        UPDATE report_deposit_years SET participants = participants - 1 WHERE year = YEAR(m);
    END IF;
END;

CREATE TRIGGER trg_rollup_bin_deposits_ins AFTER INSERT ON bin_deposits FOR EACH ROW
BEGIN
    INSERT INTO report_deposit_days (local_day, estate, deposits, grams, points) VALUES (NEW.local_day, NEW.estate, 1, NEW.weight_grams, NEW.points_awarded)
        ON DUPLICATE KEY UPDATE deposits = deposits + 1, grams = grams + CAST(NEW.weight_grams AS SIGNED), points = points + CAST(NEW.points_awarded AS SIGNED);
    CALL report_deposit_member(NEW.local_day - INTERVAL (DAY(NEW.local_day) - 1) DAY, NEW.estate, NEW.user_id, 1);
END;

-- A walk-in merged into a WeChat account moves its deposits to the account (the
-- old resident leaves a set when none of their deposits is left in it).
-- Deposits are otherwise never updated or deleted; both are handled anyway.
CREATE TRIGGER trg_rollup_bin_deposits_upd AFTER UPDATE ON bin_deposits FOR EACH ROW
BEGIN
    IF OLD.local_day <> NEW.local_day OR OLD.estate <> NEW.estate OR OLD.weight_grams <> NEW.weight_grams OR OLD.points_awarded <> NEW.points_awarded THEN
        UPDATE report_deposit_days SET deposits = deposits - 1, grams = grams - CAST(OLD.weight_grams AS SIGNED), points = points - CAST(OLD.points_awarded AS SIGNED)
            WHERE local_day = OLD.local_day AND estate = OLD.estate;
        INSERT INTO report_deposit_days (local_day, estate, deposits, grams, points) VALUES (NEW.local_day, NEW.estate, 1, NEW.weight_grams, NEW.points_awarded)
            ON DUPLICATE KEY UPDATE deposits = deposits + 1, grams = grams + CAST(NEW.weight_grams AS SIGNED), points = points + CAST(NEW.points_awarded AS SIGNED);
    END IF;
    IF OLD.user_id <> NEW.user_id OR OLD.local_day <> NEW.local_day OR OLD.estate <> NEW.estate THEN
        CALL report_deposit_member(OLD.local_day - INTERVAL (DAY(OLD.local_day) - 1) DAY, OLD.estate, OLD.user_id, -1);
        CALL report_deposit_member(NEW.local_day - INTERVAL (DAY(NEW.local_day) - 1) DAY, NEW.estate, NEW.user_id, 1);
    END IF;
END;

CREATE TRIGGER trg_rollup_bin_deposits_del AFTER DELETE ON bin_deposits FOR EACH ROW
BEGIN
    UPDATE report_deposit_days SET deposits = deposits - 1, grams = grams - CAST(OLD.weight_grams AS SIGNED), points = points - CAST(OLD.points_awarded AS SIGNED)
        WHERE local_day = OLD.local_day AND estate = OLD.estate;
    CALL report_deposit_member(OLD.local_day - INTERVAL (DAY(OLD.local_day) - 1) DAY, OLD.estate, OLD.user_id, -1);
END;
