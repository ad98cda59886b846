-- Food-waste points (厨余垃圾积分): smart bins, their deposits, the append-only
-- ledger with a balance kept beside it, rewards and redemptions.

-- A smart bin. secret_enc is AES-256-GCM(POINTS_DEVICE_KEY) of the HMAC secret
-- (nonce || ciphertext || tag, the device id as additional data), so a database
-- dump alone cannot sign events and an encrypted secret cannot be moved to
-- another device row.
CREATE TABLE devices (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    estate       VARCHAR(32)     NOT NULL,
    name         VARCHAR(64)     NOT NULL,
    secret_enc   VARBINARY(128)  NOT NULL,
    status       VARCHAR(16)     NOT NULL DEFAULT 'active',
    created_by   BIGINT UNSIGNED NOT NULL,
    created_at   DATETIME(3)     NOT NULL,
    updated_at   DATETIME(3)     NOT NULL,
    rotated_at   DATETIME(3)     NULL,
    last_seen_at DATETIME(3)     NULL,
    PRIMARY KEY (id),
    KEY idx_devices_estate (estate)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One weighed deposit. event_id is the bin's id for the event: unique forever, so a
-- retried post is recognised however late it comes. local_day is the business day
-- (APP_TIMEZONE) of occurred_at: the daily cap and monthly statistics use it.
-- The annual report reads: deposits = COUNT(*), kilograms = SUM(weight_grams)/1000,
-- participants = COUNT(DISTINCT user_id), points_awarded = SUM(points_awarded).
CREATE TABLE bin_deposits (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    event_id       VARCHAR(64)     NOT NULL,
    device_id      BIGINT UNSIGNED NOT NULL,
    user_id        BIGINT UNSIGNED NOT NULL,
    estate         VARCHAR(32)     NOT NULL,
    weight_grams   INT UNSIGNED    NOT NULL,
    quality        VARCHAR(16)     NOT NULL,
    points_awarded INT UNSIGNED    NOT NULL DEFAULT 0,
    local_day      DATE            NOT NULL,
    occurred_at    DATETIME(3)     NOT NULL,
    created_at     DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_bin_deposits_event (event_id),
    KEY idx_bin_deposits_user_day (user_id, local_day),
    KEY idx_bin_deposits_day (local_day, estate),
    KEY idx_bin_deposits_occurred (occurred_at),
    CONSTRAINT fk_bin_deposits_device FOREIGN KEY (device_id) REFERENCES devices (id),
    CONSTRAINT fk_bin_deposits_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT chk_bin_deposits_quality CHECK (quality IN ('ok', 'contaminated'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The balance, kept in the same transaction as every ledger entry. Its row is the
-- per-resident lock: deposits (daily cap), redemptions, adjustments, refunds and
-- expiry all take it FOR UPDATE first. expired_through is the last year boundary
-- the expiry job has handled for this resident.
CREATE TABLE points_accounts (
    user_id         BIGINT UNSIGNED NOT NULL,
    balance         INT UNSIGNED    NOT NULL DEFAULT 0,
    expired_through DATETIME(3)     NOT NULL,
    updated_at      DATETIME(3)     NOT NULL,
    PRIMARY KEY (user_id),
    KEY idx_points_accounts_expiry (expired_through),
    CONSTRAINT fk_points_accounts_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT chk_points_accounts_balance CHECK (balance >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Append-only: rows are inserted, never updated or deleted. amount is signed
-- (earn/refund/positive adjust > 0; redeem/expire/negative adjust < 0). Credits carry
-- expires_at (end of the next calendar year). source_id is the deposit (earn), the
-- redemption (redeem, refund) or the expired year (expire); the unique key makes
-- each of those happen at most once. Adjustments carry actor_id and reason.
CREATE TABLE points_ledger (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id       BIGINT UNSIGNED NOT NULL,
    kind          VARCHAR(16)     NOT NULL,
    amount        INT             NOT NULL,
    balance_after INT UNSIGNED    NOT NULL,
    source_id     BIGINT UNSIGNED NULL,
    expires_at    DATETIME(3)     NULL,
    actor_id      BIGINT UNSIGNED NULL,
    reason        VARCHAR(200)    NOT NULL DEFAULT '',
    created_at    DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_points_ledger_source (kind, source_id, user_id),
    KEY idx_points_ledger_user (user_id, id),
    CONSTRAINT fk_points_ledger_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT chk_points_ledger_kind CHECK (kind IN ('earn', 'redeem', 'refund', 'expire', 'adjust')),
    CONSTRAINT chk_points_ledger_amount CHECK (amount <> 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE rewards (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    name        VARCHAR(64)     NOT NULL,
    description VARCHAR(500)    NOT NULL DEFAULT '',
    cost_points INT UNSIGNED    NOT NULL,
    stock       INT UNSIGNED    NOT NULL DEFAULT 0,
    active      TINYINT(1)      NOT NULL DEFAULT 1,
    created_at  DATETIME(3)     NOT NULL,
    updated_at  DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_rewards_name (name),
    CONSTRAINT chk_rewards_stock CHECK (stock >= 0),
    CONSTRAINT chk_rewards_cost CHECK (cost_points > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A redemption is pending (ready for pickup, with a code) until staff fulfil it or
-- the pickup window passes and the job cancels and refunds it.
CREATE TABLE redemptions (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id      BIGINT UNSIGNED NOT NULL,
    reward_id    BIGINT UNSIGNED NOT NULL,
    cost_points  INT UNSIGNED    NOT NULL,
    status       VARCHAR(16)     NOT NULL DEFAULT 'pending',
    pickup_code  CHAR(8)         NOT NULL,
    pickup_by    DATETIME(3)     NOT NULL,
    created_at   DATETIME(3)     NOT NULL,
    fulfilled_at DATETIME(3)     NULL,
    fulfilled_by BIGINT UNSIGNED NULL,
    cancelled_at DATETIME(3)     NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_redemptions_code (pickup_code),
    KEY idx_redemptions_user (user_id, id),
    KEY idx_redemptions_due (status, pickup_by),
    CONSTRAINT fk_redemptions_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT fk_redemptions_reward FOREIGN KEY (reward_id) REFERENCES rewards (id),
    CONSTRAINT chk_redemptions_status CHECK (status IN ('pending', 'fulfilled', 'cancelled'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
