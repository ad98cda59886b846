-- Staff console (issue 12): scan-to-login tickets and browser sessions.
--
-- A ticket is shown on the login page (QR + 8-character code) and approved from the
-- mini-program by a staff member; it belongs to the browser that asked for it
-- (browser_hash = SHA-256 of a random nonce held in that browser's cookie), lives
-- 120 s and is spent once.
CREATE TABLE console_tickets (
    code         CHAR(8)         NOT NULL,
    browser_hash CHAR(64)        NOT NULL,
    created_at   DATETIME(3)     NOT NULL,
    expires_at   DATETIME(3)     NOT NULL,
    approved_by  BIGINT UNSIGNED NULL,
    approved_at  DATETIME(3)     NULL,
    consumed_at  DATETIME(3)     NULL,
    PRIMARY KEY (code),
    KEY idx_console_tickets_browser (browser_hash, created_at),
    KEY idx_console_tickets_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A console session is a login (logins row) seen through a cookie: revoking the
-- login (logout, account deletion, a lowered role) ends it. Only the SHA-256 of the
-- cookie's session id is stored. role is the role it was opened with: a current role
-- below it ends the session. csrf is the per-session token every form carries.
CREATE TABLE console_sessions (
    id_hash      CHAR(64)        NOT NULL,
    login_id     CHAR(32)        NOT NULL,
    user_id      BIGINT UNSIGNED NOT NULL,
    role         VARCHAR(16)     NOT NULL,
    csrf         CHAR(64)        NOT NULL,
    created_at   DATETIME(3)     NOT NULL,
    last_seen_at DATETIME(3)     NOT NULL,
    PRIMARY KEY (id_hash),
    KEY idx_console_sessions_user (user_id),
    KEY idx_console_sessions_seen (last_seen_at),
    CONSTRAINT fk_console_sessions_login FOREIGN KEY (login_id) REFERENCES logins (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
