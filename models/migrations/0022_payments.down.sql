DROP TABLE payment_ledger;
DROP TABLE payment_refunds;
DROP TABLE payment_orders;
UPDATE bookings SET status = 'expired', live_participant = NULL WHERE status = 'awaiting_payment';
ALTER TABLE bookings DROP CONSTRAINT chk_bookings_payment_status;
ALTER TABLE bookings DROP CONSTRAINT chk_bookings_status;
ALTER TABLE bookings DROP KEY idx_bookings_order, DROP COLUMN order_id, DROP COLUMN payment_status;
ALTER TABLE bookings ADD CONSTRAINT chk_bookings_status CHECK (status IN ('waitlisted','pending','confirmed','attended','cancelled','rejected','no_show','expired'));
