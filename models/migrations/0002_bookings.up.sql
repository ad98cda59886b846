-- Bookings: one row per participant per session. The participant is the resident
-- ("u<user id>") or one of their children ("u<user id>c<child id>").
--
-- live_participant equals participant while the booking holds or waits for a place
-- (waitlisted, pending, confirmed, attended) and is NULL otherwise, so the unique
-- key uq_bookings_live lets one participant have at most one live booking per
-- session while keeping any number of cancelled or rejected ones (NULLs never
-- collide in a unique key).
--
-- The waiting list is ordered by id among the session's 'waitlisted' rows; a
-- position is computed when read, so it is always truthful.
CREATE TABLE bookings (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    session_id       BIGINT UNSIGNED NOT NULL,
    program_id       BIGINT UNSIGNED NOT NULL,
    user_id          BIGINT UNSIGNED NOT NULL,
    child_id         BIGINT UNSIGNED NULL,
    participant      VARCHAR(48)  NOT NULL,
    live_participant VARCHAR(48)  NULL,
    status           VARCHAR(16)  NOT NULL,
    fee_fen          INT UNSIGNED NOT NULL DEFAULT 0,
    code             CHAR(10)     NOT NULL,
    late_cancel      TINYINT(1)   NOT NULL DEFAULT 0,
    no_show_at       DATETIME(3)  NULL,
    reject_reason    VARCHAR(200) NOT NULL DEFAULT '',
    checked_in_at    DATETIME(3)  NULL,
    created_at       DATETIME(3)  NOT NULL,
    updated_at       DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_bookings_code (code),
    UNIQUE KEY uq_bookings_live (session_id, live_participant),
    KEY idx_bookings_session_status (session_id, status, id),
    KEY idx_bookings_user (user_id, id),
    KEY idx_bookings_status (status, id),
    KEY idx_bookings_noshow (user_id, no_show_at),
    CONSTRAINT fk_bookings_session FOREIGN KEY (session_id) REFERENCES sessions (id),
    CONSTRAINT fk_bookings_program FOREIGN KEY (program_id) REFERENCES programs (id),
    CONSTRAINT fk_bookings_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT fk_bookings_child FOREIGN KEY (child_id) REFERENCES children (id) ON DELETE SET NULL,
    CONSTRAINT chk_bookings_status CHECK (status IN ('waitlisted','pending','confirmed','attended','cancelled','rejected','no_show','expired'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
