package payment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"nantian/models"
	"nantian/models/booking"
)

// Why a notification was refused (the handler answers FAIL for every one; WeChat
// Pay then retries, and reconciliation settles a genuine payment anyway).
var (
	ErrUnknownOrder   = errors.New("notification for an unknown order")
	ErrAmountMismatch = errors.New("notified amount differs from the order")
	ErrMchMismatch    = errors.New("notification for another merchant")
	ErrTxnMismatch    = errors.New("order already paid by another transaction")
)

// HandlePaidNotify applies a payment notification. nil means applied now or
// before (answer SUCCESS); an error means FAIL and nothing changed.
func (s *Service) HandlePaidNotify(ctx context.Context, body []byte) error {
	n, err := s.Gateway.ParsePaidNotify(body)
	if err != nil {
		s.BadNotifies.Add(1)
		s.Log.WarnContext(ctx, "payment: notification refused", "err", err)
		return err
	}
	if !n.Success {
		// A failed payment: nothing to apply; the order stays unpaid.
		s.Log.InfoContext(ctx, "payment: notification of a failed payment", "out_trade_no", n.OutTradeNo)
		return nil
	}
	return s.settle(ctx, n.OutTradeNo, n.TransactionID, n.MchID, n.TotalFen, "notify")
}

// settle applies a payment WeChat reports (by notification or order query) in one
// transaction keyed by the transaction id: the order becomes paid, the ledger gets
// its paid entry, bookings awaiting payment are confirmed, and money for any that
// no longer await it is refunded. Repeated, it finds the entry and changes nothing.
func (s *Service) settle(ctx context.Context, outTradeNo, txnID, mchID string, totalFen int64, source string) error {
	log := s.Log.With("out_trade_no", outTradeNo, "transaction_id", txnID, "source", source)
	if mchID != s.MchID {
		s.Mismatches.Add(1)
		log.ErrorContext(ctx, "payment: mch_id mismatch, refused", "mch_id", mchID)
		return ErrMchMismatch
	}
	var applied bool
	var refunds []booking.RefundFor
	err := models.InTxRetry(ctx, s.DB, func(tx *sql.Tx) error {
		applied, refunds = false, nil
		now := s.Now()
		// Sessions first, then the order: the booking engine's lock order.
		sessions, err := sessionIDs(ctx, tx, outTradeNo)
		if err != nil {
			return err
		}
		for _, id := range sessions {
			if _, err := tx.ExecContext(ctx, `SELECT id FROM sessions WHERE id = ? FOR UPDATE`, id); err != nil {
				return fmt.Errorf("lock session: %w", err)
			}
		}
		o, err := s.getOrder(ctx, tx, "out_trade_no = ? FOR UPDATE", outTradeNo)
		if errors.Is(err, models.ErrNotFound) {
			return ErrUnknownOrder
		}
		if err != nil {
			return err
		}
		if o.TransactionID.Valid {
			if o.TransactionID.String == txnID {
				return errAlreadyApplied
			}
			return ErrTxnMismatch
		}
		if totalFen != o.AmountFen {
			return fmt.Errorf("%w: %d fen notified, order %d fen", ErrAmountMismatch, totalFen, o.AmountFen)
		}
		// The order first: a transaction id already on another order collides on
		// its unique key (an error, FAIL) rather than passing as "applied".
		if _, err := tx.ExecContext(ctx, `UPDATE payment_orders SET status = 'paid', transaction_id = ?, paid_at = ?, updated_at = ? WHERE id = ?`,
			txnID, now, now, o.ID); err != nil {
			if models.IsDuplicate(err) {
				return ErrTxnMismatch
			}
			return fmt.Errorf("mark paid: %w", err)
		}
		if err := ledger(ctx, tx, o.ID, nil, LedgerPaid, o.AmountFen, txnID, now); err != nil {
			return err
		}
		if refunds, err = s.Bookings.SettlePaid(ctx, tx, o.ID, now); err != nil {
			return err
		}
		applied = true
		return s.Refund(ctx, tx, refunds, "名额已释放，自动退款", now)
	})
	switch {
	case errors.Is(err, errAlreadyApplied):
		log.InfoContext(ctx, "payment: already applied")
		return nil
	case errors.Is(err, ErrAmountMismatch), errors.Is(err, ErrTxnMismatch), errors.Is(err, ErrUnknownOrder):
		s.Mismatches.Add(1)
		log.ErrorContext(ctx, "payment: notification refused", "err", err, "total_fee", totalFen)
		return err
	case err != nil:
		return err
	}
	if applied {
		s.Applied.Add(1)
		log.InfoContext(ctx, "payment: applied", "refunds", len(refunds))
	}
	return nil
}

func sessionIDs(ctx context.Context, tx *sql.Tx, outTradeNo string) ([]int64, error) {
	ids, err := int64s(ctx, tx, `SELECT DISTINCT b.session_id FROM bookings b JOIN payment_orders o ON o.id = b.order_id
		WHERE o.out_trade_no = ? ORDER BY b.session_id`, outTradeNo)
	if err != nil {
		return nil, fmt.Errorf("order sessions: %w", err)
	}
	return ids, nil
}

// HandleRefundNotify applies a refund notification: the refund succeeded (ledger
// refunded entry, booking refunded) or failed (visible to staff). nil means SUCCESS.
func (s *Service) HandleRefundNotify(ctx context.Context, body []byte) error {
	n, err := s.Gateway.ParseRefundNotify(body)
	if err != nil {
		s.BadNotifies.Add(1)
		s.Log.WarnContext(ctx, "payment: refund notification refused", "err", err)
		return err
	}
	log := s.Log.With("out_refund_no", n.OutRefundNo, "out_trade_no", n.OutTradeNo)
	if n.MchID != s.MchID {
		s.Mismatches.Add(1)
		log.ErrorContext(ctx, "payment: refund notification for another merchant", "mch_id", n.MchID)
		return ErrMchMismatch
	}
	err = models.InTxRetry(ctx, s.DB, func(tx *sql.Tx) error {
		now := s.Now()
		var id, orderID, bookingID, amount int64
		var status, tradeNo string
		err := tx.QueryRowContext(ctx, `SELECT r.id, r.order_id, r.booking_id, r.amount_fen, r.status, o.out_trade_no
			FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id WHERE r.out_refund_no = ? FOR UPDATE`, n.OutRefundNo).
			Scan(&id, &orderID, &bookingID, &amount, &status, &tradeNo)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrUnknownOrder
		}
		if err != nil {
			return fmt.Errorf("find refund: %w", err)
		}
		if n.RefundFen != amount || n.OutTradeNo != tradeNo {
			return fmt.Errorf("%w: refund %d fen of %s notified, recorded %d fen of %s", ErrAmountMismatch, n.RefundFen, n.OutTradeNo, amount, tradeNo)
		}
		if status == "succeeded" {
			return errAlreadyApplied
		}
		if n.Status != "SUCCESS" {
			s.RefundsFailed.Add(1)
			log.ErrorContext(ctx, "payment: WeChat reports the refund failed", "refund_status", n.Status)
			_, err := tx.ExecContext(ctx, `UPDATE payment_refunds SET status = 'failed', last_error = ?, updated_at = ? WHERE id = ?`,
				"微信退款结果 "+n.Status, now, id)
			return err
		}
		if err := ledger(ctx, tx, orderID, &bookingID, LedgerRefunded, amount, n.OutRefundNo, now); err != nil {
			return err
		}
		// succeeded_at is our clock, like the ledger entry's, so the daily check
		// compares the same day on both sides.
		at := now
		if _, err := tx.ExecContext(ctx, `UPDATE payment_refunds SET status = 'succeeded', refund_id = ?, succeeded_at = ?, updated_at = ? WHERE id = ?`,
			n.RefundID, at, now, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payment_orders SET refunded_fen = refunded_fen + ?, updated_at = ? WHERE id = ?`, amount, now, orderID); err != nil {
			return fmt.Errorf("order refunded: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE bookings SET payment_status = 'refunded', updated_at = ? WHERE id = ?`, now, bookingID)
		return err
	})
	switch {
	case errors.Is(err, errAlreadyApplied):
		return nil
	case errors.Is(err, ErrAmountMismatch), errors.Is(err, ErrUnknownOrder):
		s.Mismatches.Add(1)
		log.ErrorContext(ctx, "payment: refund notification refused", "err", err)
	}
	return err
}
