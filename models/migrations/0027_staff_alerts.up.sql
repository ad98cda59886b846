-- Staff alerts: messages to the service center's 企业微信 group robot about work
-- orders (a new one, or one of the 10-30-24 limits about to pass).
--
-- One row per (complaint, kind, cycle): the unique key is what makes "at most one
-- message per complaint per limit" hold with any number of instances scanning at
-- once and across restarts — a scanner only ever INSERT IGNOREs, and the loser of
-- a race inserts nothing. cycle is the complaint's reopen_count, so a reworked
-- order (new deadlines) is alerted again, once.
--
-- status: pending → sending → sent | skipped (no longer relevant when its turn
-- came) | failed (gave up after max attempts) | abandoned (the sender died while
-- sending: not resent, since the message may have gone out).
CREATE TABLE staff_alerts (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    complaint_id    BIGINT UNSIGNED NOT NULL,
    kind            VARCHAR(16)   NOT NULL,
    cycle           INT UNSIGNED  NOT NULL,
    due_at          DATETIME(3)   NULL,
    status          VARCHAR(16)   NOT NULL DEFAULT 'pending',
    attempts        INT UNSIGNED  NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3)   NOT NULL,
    claimed_at      DATETIME(3)   NULL,
    sent_at         DATETIME(3)   NULL,
    last_error      VARCHAR(300)  NOT NULL DEFAULT '',
    created_at      DATETIME(3)   NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_staff_alerts_once (complaint_id, kind, cycle),
    KEY idx_staff_alerts_due (status, next_attempt_at),
    CONSTRAINT fk_staff_alerts_complaint FOREIGN KEY (complaint_id) REFERENCES complaints (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
