-- Notifications: what the outbox worker needs beyond the foundation's columns, and
-- the history-import bookkeeping.
--
-- claim_token fences a claim: only the worker holding the current token may finish
-- the row, so a worker whose lease ran out cannot overwrite the newer claim.
-- template_id is the WeChat template the grant was consumed for (config may change
-- between claim and retry); grant_consumed says a grant is held by this row, so a
-- retry does not take a second one and a refusal or final failure gives it back.
ALTER TABLE outbox
    ADD COLUMN claim_token    CHAR(32)    NULL AFTER claimed_until,
    ADD COLUMN template_id    VARCHAR(64) NULL AFTER template_key,
    ADD COLUMN grant_consumed TINYINT(1)  NOT NULL DEFAULT 0 AFTER template_id,
    ADD KEY idx_outbox_lease (status, claimed_until);

-- One row per imported historical session: the content hash of the CSV row makes a
-- re-import a no-op, and attendances / fees_fen (the session's total) carry the
-- figures the annual report counts for sessions held before this system.
CREATE TABLE session_imports (
    session_id   BIGINT UNSIGNED NOT NULL,
    row_hash     CHAR(64)        NOT NULL,
    attendances  INT UNSIGNED    NOT NULL,
    fees_fen     BIGINT UNSIGNED NOT NULL DEFAULT 0,
    imported_by  BIGINT UNSIGNED NOT NULL,
    created_at   DATETIME(3)     NOT NULL,
    PRIMARY KEY (session_id),
    UNIQUE KEY uq_session_imports_hash (row_hash),
    CONSTRAINT fk_session_imports_session FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
