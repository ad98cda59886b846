-- Audit log of staff and admin actions: who did what, when, to what, and what the
-- request asked and the response said. Append-only; the API never updates or deletes it.
CREATE TABLE audit_log (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    actor_id     BIGINT UNSIGNED NOT NULL,
    actor_role   VARCHAR(16)     NOT NULL,
    action       VARCHAR(128)    NOT NULL,
    target       VARCHAR(128)    NOT NULL DEFAULT '',
    status       SMALLINT        NOT NULL,
    request_id   VARCHAR(64)     NOT NULL DEFAULT '',
    request_body JSON            NULL,
    response_body JSON           NULL,
    created_at   DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    KEY idx_audit_actor (actor_id, id),
    KEY idx_audit_action (action, id),
    KEY idx_audit_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
