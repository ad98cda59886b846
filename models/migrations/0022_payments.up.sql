-- WeChat Pay (issue 13). Money is integer fen everywhere.
--
-- A booking of a paid program waits in 'awaiting_payment' (holding its place like
-- pending and confirmed) until its order is paid. payment_status says where its
-- money is: none (free, or history from before payments), unpaid, paid,
-- refunding, refunded, closed (the order was closed unpaid).
ALTER TABLE bookings DROP CONSTRAINT chk_bookings_status;
ALTER TABLE bookings
    ADD COLUMN payment_status VARCHAR(12) NOT NULL DEFAULT 'none' AFTER fee_fen,
    ADD COLUMN order_id BIGINT UNSIGNED NULL AFTER payment_status,
    ADD KEY idx_bookings_order (order_id),
    ADD CONSTRAINT chk_bookings_status CHECK (status IN ('waitlisted','pending','awaiting_payment','confirmed','attended','cancelled','rejected','no_show','expired')),
    ADD CONSTRAINT chk_bookings_payment_status CHECK (payment_status IN ('none','unpaid','paid','refunding','refunded','closed'));

-- One order per booking, or per enrolment (all its lessons). The amount is the sum
-- of the bookings' fee_fen, taken from the program when booked.
--   unpaid  → paid      (notification or reconciliation; transaction_id set once)
--   unpaid  → closing   (its bookings went away unpaid: close it at WeChat)
--   unpaid|closing → closed (closed at WeChat)
--   unpaid  → failed    (WeChat refused to create it; the booking was undone)
-- prepay_id is WeChat's, valid two hours; expires_at is our time_expire.
CREATE TABLE payment_orders (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    out_trade_no    VARCHAR(32)  NOT NULL,
    user_id         BIGINT UNSIGNED NOT NULL,
    program_id      BIGINT UNSIGNED NOT NULL,
    amount_fen      INT UNSIGNED NOT NULL,
    status          VARCHAR(12)  NOT NULL,
    description     VARCHAR(127) NOT NULL,
    prepay_id       VARCHAR(64)  NULL,
    prepaid_at      DATETIME(3)  NULL,
    expires_at      DATETIME(3)  NOT NULL,
    transaction_id  VARCHAR(32)  NULL,
    paid_at         DATETIME(3)  NULL,
    refunded_fen    INT UNSIGNED NOT NULL DEFAULT 0,
    created_at      DATETIME(3)  NOT NULL,
    updated_at      DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_payment_orders_trade (out_trade_no),
    UNIQUE KEY uq_payment_orders_txn (transaction_id),
    KEY idx_payment_orders_status (status, expires_at),
    KEY idx_payment_orders_created (created_at),
    KEY idx_payment_orders_user (user_id, id),
    CONSTRAINT chk_payment_orders_status CHECK (status IN ('unpaid','paid','closing','closed','failed')),
    CONSTRAINT chk_payment_orders_refunded CHECK (refunded_fen <= amount_fen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Refunds, one per booking refunded; also the refund outbox: the worker sends
-- 'pending' ones at next_attempt_at with backoff; WeChat accepting makes them
-- 'accepted'; the refund notification makes them 'succeeded'. 'failed' is a refusal
-- (or a refund WeChat reports failed) for staff to handle; it stays visible.
CREATE TABLE payment_refunds (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    order_id        BIGINT UNSIGNED NOT NULL,
    booking_id      BIGINT UNSIGNED NOT NULL,
    out_refund_no   VARCHAR(64)  NOT NULL,
    amount_fen      INT UNSIGNED NOT NULL,
    reason          VARCHAR(80)  NOT NULL,
    status          VARCHAR(12)  NOT NULL,
    refund_id       VARCHAR(32)  NULL,
    attempts        INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3)  NOT NULL,
    last_error      VARCHAR(255) NOT NULL DEFAULT '',
    succeeded_at    DATETIME(3)  NULL,
    created_at      DATETIME(3)  NOT NULL,
    updated_at      DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_payment_refunds_no (out_refund_no),
    UNIQUE KEY uq_payment_refunds_booking (booking_id),
    KEY idx_payment_refunds_due (status, next_attempt_at),
    KEY idx_payment_refunds_order (order_id),
    CONSTRAINT fk_payment_refunds_order FOREIGN KEY (order_id) REFERENCES payment_orders (id),
    CONSTRAINT chk_payment_refunds_status CHECK (status IN ('pending','accepted','succeeded','failed'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The append-only money ledger. Rows are only ever inserted. ref is what makes an
-- entry happen once: the order's out_trade_no for order_created, WeChat's
-- transaction_id for paid, out_refund_no for refund_requested and refunded, so a
-- repeated notification collides on uq_payment_ledger_once and changes nothing.
CREATE TABLE payment_ledger (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    order_id    BIGINT UNSIGNED NOT NULL,
    booking_id  BIGINT UNSIGNED NULL,
    kind        VARCHAR(20)  NOT NULL,
    amount_fen  INT UNSIGNED NOT NULL,
    ref         VARCHAR(64)  NOT NULL,
    created_at  DATETIME(3)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_payment_ledger_once (kind, ref),
    KEY idx_payment_ledger_day (created_at, kind),
    KEY idx_payment_ledger_order (order_id),
    CONSTRAINT fk_payment_ledger_order FOREIGN KEY (order_id) REFERENCES payment_orders (id),
    CONSTRAINT chk_payment_ledger_kind CHECK (kind IN ('order_created','paid','refund_requested','refunded'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
