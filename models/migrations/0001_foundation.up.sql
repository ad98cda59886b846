-- Foundation: users and logins, children, subscription grants, the catalogue,
-- estates and the notification outbox. utf8mb4 everywhere for Chinese names and emoji.

CREATE TABLE users (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    openid           VARCHAR(128) NULL,
    unionid          VARCHAR(128) NULL,
    role             VARCHAR(16)  NOT NULL DEFAULT 'resident',
    nickname         VARCHAR(64)  NOT NULL DEFAULT '',
    real_name        VARCHAR(64)  NOT NULL DEFAULT '',
    birth_date       DATE         NULL,
    estate           VARCHAR(32)  NOT NULL DEFAULT '',
    building         VARCHAR(32)  NOT NULL DEFAULT '',
    room             VARCHAR(32)  NOT NULL DEFAULT '',
    phone            VARCHAR(32)  NULL,
    phone_verified_at DATETIME(3) NULL,
    suspended_until  DATETIME(3)  NULL,
    created_at       DATETIME(3)  NOT NULL,
    updated_at       DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_users_openid (openid),
    KEY idx_users_unionid (unionid),
    KEY idx_users_phone (phone)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A login is one WeChat sign-in; its refresh tokens rotate within it and all die
-- together when one is reused or the user logs out.
CREATE TABLE logins (
    id          CHAR(32)        NOT NULL,
    user_id     BIGINT UNSIGNED NOT NULL,
    created_at  DATETIME(3)     NOT NULL,
    revoked_at  DATETIME(3)     NULL,
    PRIMARY KEY (id),
    KEY idx_logins_user (user_id),
    CONSTRAINT fk_logins_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Refresh tokens are opaque; only their SHA-256 is stored.
CREATE TABLE refresh_tokens (
    token_hash  CHAR(64)        NOT NULL,
    login_id    CHAR(32)        NOT NULL,
    expires_at  DATETIME(3)     NOT NULL,
    used_at     DATETIME(3)     NULL,
    created_at  DATETIME(3)     NOT NULL,
    PRIMARY KEY (token_hash),
    KEY idx_refresh_login (login_id),
    CONSTRAINT fk_refresh_login FOREIGN KEY (login_id) REFERENCES logins (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE children (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id           BIGINT UNSIGNED NOT NULL,
    name              VARCHAR(64)  NOT NULL,
    birth_date        DATE         NOT NULL,
    gender            VARCHAR(8)   NOT NULL DEFAULT '',
    allergies         VARCHAR(500) NOT NULL DEFAULT '',
    emergency_contact VARCHAR(100) NOT NULL DEFAULT '',
    consent_at        DATETIME(3)  NOT NULL,
    consent_by        BIGINT UNSIGNED NOT NULL,
    created_at        DATETIME(3)  NOT NULL,
    updated_at        DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    KEY idx_children_user (user_id),
    CONSTRAINT fk_children_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One-time subscribe-message grants: each accepted subscription allows one message.
CREATE TABLE subscription_grants (
    user_id     BIGINT UNSIGNED NOT NULL,
    template_id VARCHAR(64)     NOT NULL,
    remaining   INT UNSIGNED    NOT NULL DEFAULT 0,
    updated_at  DATETIME(3)     NOT NULL,
    PRIMARY KEY (user_id, template_id),
    CONSTRAINT fk_grants_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE estates (
    id    INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name  VARCHAR(32)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_estates_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT INTO estates (name) VALUES ('南天一花园'), ('南天二花园'), ('百花园一期'), ('百花园二期'), ('国城花园');

CREATE TABLE programs (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    kind              VARCHAR(16)  NOT NULL,
    title             VARCHAR(100) NOT NULL,
    description       TEXT         NOT NULL,
    category          VARCHAR(32)  NOT NULL DEFAULT '',
    audience          VARCHAR(16)  NOT NULL DEFAULT 'all',
    venue             VARCHAR(100) NOT NULL DEFAULT '',
    fee_fen           INT UNSIGNED NOT NULL DEFAULT 0,
    requires_approval TINYINT(1)   NOT NULL DEFAULT 0,
    min_age_months    INT UNSIGNED NULL,
    max_age_months    INT UNSIGNED NULL,
    status            VARCHAR(16)  NOT NULL DEFAULT 'active',
    created_at        DATETIME(3)  NOT NULL,
    updated_at        DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    KEY idx_programs_kind (kind, audience)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- booked counts live bookings (pending, confirmed, attended) and is only ever moved
-- by the guarded UPDATE ... WHERE booked < capacity in the booking engine.
CREATE TABLE sessions (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    program_id       BIGINT UNSIGNED NOT NULL,
    starts_at        DATETIME(3)  NOT NULL,
    ends_at          DATETIME(3)  NOT NULL,
    venue            VARCHAR(100) NOT NULL DEFAULT '',
    capacity         INT UNSIGNED NOT NULL,
    booked           INT UNSIGNED NOT NULL DEFAULT 0,
    waitlisted       INT UNSIGNED NOT NULL DEFAULT 0,
    status           VARCHAR(16)  NOT NULL DEFAULT 'open',
    booking_opens_at DATETIME(3)  NULL,
    created_at       DATETIME(3)  NOT NULL,
    updated_at       DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    KEY idx_sessions_program (program_id, starts_at),
    KEY idx_sessions_starts (starts_at),
    CONSTRAINT fk_sessions_program FOREIGN KEY (program_id) REFERENCES programs (id),
    CONSTRAINT chk_sessions_booked CHECK (booked <= capacity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The outbox: notifications written in the same transaction as the change they
-- announce, sent later by a worker, so a crash loses none.
CREATE TABLE outbox (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id       BIGINT UNSIGNED NOT NULL,
    event         VARCHAR(32)   NOT NULL,
    template_key  VARCHAR(32)   NOT NULL,
    page          VARCHAR(255)  NOT NULL DEFAULT '',
    payload       JSON          NOT NULL,
    status        VARCHAR(16)   NOT NULL DEFAULT 'pending',
    attempts      INT UNSIGNED  NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3) NOT NULL,
    claimed_until DATETIME(3)   NULL,
    last_error    VARCHAR(255)  NOT NULL DEFAULT '',
    created_at    DATETIME(3)   NOT NULL,
    sent_at       DATETIME(3)   NULL,
    PRIMARY KEY (id),
    KEY idx_outbox_due (status, next_attempt_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
