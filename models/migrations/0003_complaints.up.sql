-- 民意速办 complaints: work orders, their timeline, and uploaded photos.
--
-- The annual report reads complaints directly: received = created_at, closed =
-- status resolved or closed, closed on time = resolved_at <= resolve_due_at. Due
-- times are stored when a handling cycle starts (filing, or a reopen), so "overdue"
-- is a query and no timer can be lost.

CREATE TABLE complaints (
    id                  BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id             BIGINT UNSIGNED NOT NULL,
    category            VARCHAR(16)   NOT NULL,
    content             TEXT          NOT NULL,
    estate              VARCHAR(32)   NOT NULL,
    location            VARCHAR(200)  NOT NULL DEFAULT '',
    contact_phone       VARCHAR(32)   NOT NULL DEFAULT '',
    status              VARCHAR(16)   NOT NULL DEFAULT 'submitted',
    -- needs_review: content could not be cleared automatically (WeChat said review,
    -- was unreachable, or the filer has no openid); staff look before publishing.
    needs_review        TINYINT(1)    NOT NULL DEFAULT 0,
    review_reason       VARCHAR(32)   NOT NULL DEFAULT '',
    created_at          DATETIME(3)   NOT NULL,
    -- cycle_started_at: when the current handling cycle began (filing or last reopen);
    -- the due times below are counted from it.
    cycle_started_at    DATETIME(3)   NOT NULL,
    accept_due_at       DATETIME(3)   NOT NULL,
    contact_due_at      DATETIME(3)   NOT NULL,
    resolve_due_at      DATETIME(3)   NOT NULL,
    accepted_at         DATETIME(3)   NULL,
    contacted_at        DATETIME(3)   NULL,
    resolved_at         DATETIME(3)   NULL,
    closed_at           DATETIME(3)   NULL,
    handler_id          BIGINT UNSIGNED NULL,
    resolution          TEXT          NULL,
    mediation_agreement TINYINT(1)    NOT NULL DEFAULT 0,
    rating              TINYINT UNSIGNED NULL,
    rating_comment      VARCHAR(500)  NOT NULL DEFAULT '',
    rated_at            DATETIME(3)   NULL,
    reopen_count        INT UNSIGNED  NOT NULL DEFAULT 0,
    updated_at          DATETIME(3)   NOT NULL,
    PRIMARY KEY (id),
    KEY idx_complaints_user (user_id, id),
    KEY idx_complaints_created (created_at),
    KEY idx_complaints_status (status, id),
    KEY idx_complaints_resolved (status, resolved_at),
    CONSTRAINT fk_complaints_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Each step of a work order: who (role and id; names are never shown to
-- residents), when, and a note.
CREATE TABLE complaint_events (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    complaint_id BIGINT UNSIGNED NOT NULL,
    status       VARCHAR(16)   NOT NULL,
    at           DATETIME(3)   NOT NULL,
    actor_role   VARCHAR(16)   NOT NULL,
    actor_id     BIGINT UNSIGNED NULL,
    note         VARCHAR(1000) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    KEY idx_complaint_events_complaint (complaint_id, id),
    CONSTRAINT fk_complaint_events_complaint FOREIGN KEY (complaint_id) REFERENCES complaints (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Uploaded photos. complaint_id is set when a photo is attached to a work order
-- (purpose 'photo' by the filer, 'agreement' for a signed mediation agreement by
-- staff); uploads still unattached a day later are deleted with their files.
CREATE TABLE uploads (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id      BIGINT UNSIGNED NOT NULL,
    file_name    VARCHAR(64)   NOT NULL,
    content_type VARCHAR(32)   NOT NULL,
    size         INT UNSIGNED  NOT NULL,
    complaint_id BIGINT UNSIGNED NULL,
    purpose      VARCHAR(16)   NOT NULL DEFAULT '',
    created_at   DATETIME(3)   NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_uploads_file (file_name),
    KEY idx_uploads_user (user_id),
    KEY idx_uploads_complaint (complaint_id),
    KEY idx_uploads_orphans (complaint_id, created_at),
    CONSTRAINT fk_uploads_user FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
