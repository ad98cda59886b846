package booking

// The booking engine's side of payments (issue 13). A booking of a program with
// fee_fen > 0 holds its place in awaiting_payment until its order is paid. The
// engine does not know WeChat Pay: it asks a PaymentDesk (models/payment, wired in
// by the server) to open orders inside its transactions, to place them after
// commit, and to refund. A nil desk keeps the engine as it was before payments
// (fees recorded, not collected), which is what dev and the tests of other areas
// run; production refuses to start with paid programs and no merchant.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"nantian/models"
)

// BookingAwaitingPayment holds a place until paid (→ confirmed) or the payment
// timeout (→ expired).
const BookingAwaitingPayment = "awaiting_payment"

// Payment statuses of a booking (api.md, Payments).
const (
	PaymentNone      = "none"
	PaymentUnpaid    = "unpaid"
	PaymentPaid      = "paid"
	PaymentRefunding = "refunding"
	PaymentRefunded  = "refunded"
	PaymentClosed    = "closed"
)

// ErrPaymentsUnavailable: WeChat Pay could not create the order; nothing is held.
var ErrPaymentsUnavailable = &models.Error{Kind: models.KindUnavailable, Code: "payments_unavailable", Message: "微信支付暂时不可用，未占用名额，请稍后再试"}

// PaymentInfo is the booking's `payment` object: what the mini-program needs to
// pay (request is passed as is to wx.requestPayment).
type PaymentInfo struct {
	OrderID   int64      `json:"order_id"`
	AmountFen int64      `json:"amount_fen"`
	ExpiresAt time.Time  `json:"expires_at"`
	Request   PayRequest `json:"request"`
}

// PayRequest is wx.requestPayment's parameters.
type PayRequest struct {
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

// OrderFor is an order the engine asks the desk to open for some bookings.
type OrderFor struct {
	UserID     int64
	ProgramID  int64
	Title      string
	BookingIDs []int64
	AmountFen  int64
	// NotAfter caps the order's expiry: a place is not held past the start.
	NotAfter time.Time
}

// RefundFor is one booking's money to give back.
type RefundFor struct {
	BookingID int64
	OrderID   int64
	AmountFen int64
}

// PaymentDesk is what the engine needs from the payment domain.
type PaymentDesk interface {
	// OpenOrder records an unpaid order inside the booking's transaction and
	// returns its id; it is not yet at WeChat.
	OpenOrder(ctx context.Context, tx *sql.Tx, o OrderFor, now time.Time) (int64, error)
	// PlaceOrder creates the order at WeChat (after commit) or re-signs the
	// request of one already there. ErrPaymentsUnavailable when WeChat failed.
	PlaceOrder(ctx context.Context, orderID int64) (PaymentInfo, error)
	// DiscardOrder marks an order WeChat never took as failed, inside tx.
	DiscardOrder(ctx context.Context, tx *sql.Tx, orderID int64, now time.Time) error
	// Abandon marks an unpaid order whose bookings all went away (cancelled,
	// expired with the session) for closing at WeChat; a payment that still
	// arrives is refunded.
	Abandon(ctx context.Context, tx *sql.Tx, orderID int64, now time.Time) error
	// Refund enqueues refunds inside tx (the refund outbox).
	Refund(ctx context.Context, tx *sql.Tx, items []RefundFor, reason string, now time.Time) error
}

// paid reports whether this engine collects m's fee before confirming.
func (b *Bookings) paid(m sessionMeta) bool { return b.Payments != nil && m.FeeFen > 0 }

// placeStatus is the status a booking that just got a place takes.
func (b *Bookings) placeStatus(m sessionMeta) string {
	switch {
	case m.RequiresApproval:
		return BookingPending
	case b.paid(m):
		return BookingAwaitingPayment
	}
	return BookingConfirmed
}

// openOrder opens one order for bookings just inserted in tx and links them.
func (b *Bookings) openOrder(ctx context.Context, tx *sql.Tx, userID int64, metas []sessionMeta, ids []int64, now time.Time) (int64, error) {
	var amount int64
	notAfter := metas[0].StartsAt
	for _, m := range metas {
		amount += m.FeeFen
		if m.StartsAt.Before(notAfter) {
			notAfter = m.StartsAt
		}
	}
	title := metas[0].Title
	if len(metas) > 1 {
		title = fmt.Sprintf("%s（%d节）", title, len(metas))
	}
	orderID, err := b.Payments.OpenOrder(ctx, tx, OrderFor{UserID: userID, ProgramID: metas[0].ProgramID, Title: title,
		BookingIDs: ids, AmountFen: amount, NotAfter: notAfter}, now)
	if err != nil {
		return 0, err
	}
	args := []any{orderID, now}
	for _, id := range ids {
		args = append(args, id)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE bookings SET order_id = ?, payment_status = 'unpaid', updated_at = ?
		WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...); err != nil {
		return 0, fmt.Errorf("link order: %w", err)
	}
	return orderID, nil
}

// place puts a just-committed order at WeChat. When WeChat fails the bookings are
// undone (deleted: the resident never had them) and their places released, so a
// 503 holds nothing.
func (b *Bookings) place(ctx context.Context, orderID int64, metas []sessionMeta, part string, bookingIDs []int64) (PaymentInfo, error) {
	info, err := b.Payments.PlaceOrder(ctx, orderID)
	if err == nil {
		return info, nil
	}
	ctx = context.WithoutCancel(ctx)
	undo := b.tx(ctx, func(tx *sql.Tx) error {
		now := b.Now()
		for _, m := range metas {
			if _, err := tx.ExecContext(ctx, `SELECT id FROM sessions WHERE id = ? FOR UPDATE`, m.SessionID); err != nil {
				return err
			}
		}
		for i, id := range bookingIDs {
			res, err := tx.ExecContext(ctx, `DELETE FROM bookings WHERE id = ? AND status = 'awaiting_payment' AND payment_status = 'unpaid'`, id)
			if err != nil {
				return fmt.Errorf("undo booking: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked - 1, updated_at = ? WHERE id = ?`, now, metas[i].SessionID); err != nil {
					return err
				}
			}
		}
		return b.Payments.DiscardOrder(ctx, tx, orderID, now)
	})
	if undo != nil {
		return PaymentInfo{}, errors.Join(err, fmt.Errorf("undo unplaced booking: %w", undo))
	}
	for _, m := range metas {
		if b.GateEnabled {
			b.Gate.Release(ctx, m.ProgramID, m.SessionID, part)
		}
		b.forget(m.SessionID, m.ProgramID)
	}
	return PaymentInfo{}, err
}

// attachPayment places bk's order and sets bk.Payment; used by Book.
func (b *Bookings) attachPayment(ctx context.Context, bk Booking, m sessionMeta, part string) (Booking, error) {
	if bk.Status != BookingAwaitingPayment || bk.OrderID == nil {
		return bk, nil
	}
	info, err := b.place(ctx, *bk.OrderID, []sessionMeta{m}, part, []int64{bk.ID})
	if err != nil {
		return Booking{}, err
	}
	bk.Payment = &info
	return bk, nil
}

// Payment is POST /bookings/{id}/payment: the payment object again (a fresh
// request), for the owner of an awaiting_payment booking.
func (b *Bookings) Payment(ctx context.Context, p models.Principal, id int64) (PaymentInfo, error) {
	x, err := b.get(ctx, id)
	if err != nil {
		return PaymentInfo{}, err
	}
	if x.UserID != p.UserID {
		return PaymentInfo{}, models.ErrNotFound
	}
	if x.Status != BookingAwaitingPayment || x.OrderID == nil || b.Payments == nil {
		return PaymentInfo{}, models.ErrInvalidTransition
	}
	return b.Payments.PlaceOrder(ctx, *x.OrderID)
}

// SettlePaid applies a payment of orderID inside the payment domain's transaction
// (which holds the order row): each booking still awaiting payment is confirmed
// (and told); any other (expired, cancelled meanwhile) is returned to be refunded,
// with its payment_status set to refunding. Sessions are locked before bookings,
// in id order, like every other transition.
func (b *Bookings) SettlePaid(ctx context.Context, tx *sql.Tx, orderID int64, now time.Time) ([]RefundFor, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, session_id FROM bookings WHERE order_id = ? ORDER BY session_id, id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("order bookings: %w", err)
	}
	type ref struct{ id, session int64 }
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.id, &r.session); err != nil {
			rows.Close()
			return nil, err
		}
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var refunds []RefundFor
	for _, r := range refs {
		if _, err := tx.ExecContext(ctx, `SELECT id FROM sessions WHERE id = ? FOR UPDATE`, r.session); err != nil {
			return nil, fmt.Errorf("lock session: %w", err)
		}
		x, err := b.scan(tx.QueryRowContext(ctx, `SELECT `+bookingColumns+bookingFrom+` WHERE b.id = ? FOR UPDATE`, r.id))
		if err != nil {
			return nil, fmt.Errorf("lock booking: %w", err)
		}
		if x.Status == BookingAwaitingPayment {
			if err := setStatus(ctx, tx, x.ID, BookingAwaitingPayment, BookingConfirmed, now, "payment_status = 'paid'"); err != nil {
				return nil, err
			}
			m, err := b.loadMeta(ctx, tx, x.SessionID)
			if err != nil {
				return nil, err
			}
			if err := b.notify(ctx, tx, x.UserID, x.ID, m, "booking_confirmed", "已支付，已确认"); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET payment_status = 'refunding', updated_at = ? WHERE id = ?`, now, x.ID); err != nil {
			return nil, err
		}
		refunds = append(refunds, RefundFor{BookingID: x.ID, OrderID: orderID, AmountFen: x.FeeFen})
	}
	return refunds, nil
}

// ExpireUnpaid ends an order's bookings still awaiting payment after the order was
// closed at WeChat: they expire, their places go to the waiting list's first (who
// are asked to pay), and inTx (the payment domain marking the order closed) runs
// in the same transaction.
func (b *Bookings) ExpireUnpaid(ctx context.Context, orderID int64, inTx func(tx *sql.Tx) error) error {
	type done struct {
		m        sessionMeta
		freed    []string
		promoted []promotion
	}
	var out []done
	err := b.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		now := b.Now()
		sessions, err := models.QueryColumn[int64](ctx, tx, `SELECT DISTINCT session_id FROM bookings WHERE order_id = ? ORDER BY session_id`, orderID)
		if err != nil {
			return err
		}
		for _, sid := range sessions {
			if _, err := tx.ExecContext(ctx, `SELECT id FROM sessions WHERE id = ? FOR UPDATE`, sid); err != nil {
				return err
			}
		}
		for _, sid := range sessions {
			parts, err := models.QueryColumn[string](ctx, tx, `SELECT participant FROM bookings WHERE order_id = ? AND session_id = ? AND status = 'awaiting_payment' FOR UPDATE`, orderID, sid)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE bookings SET status = 'expired', payment_status = 'closed', live_participant = NULL, updated_at = ?
				WHERE order_id = ? AND session_id = ? AND status = 'awaiting_payment'`, now, orderID, sid); err != nil {
				return fmt.Errorf("expire unpaid: %w", err)
			}
			// Others of the order (cancelled while unpaid) are closed too.
			if _, err := tx.ExecContext(ctx, `UPDATE bookings SET payment_status = 'closed', updated_at = ? WHERE order_id = ? AND session_id = ? AND payment_status = 'unpaid'`, now, orderID, sid); err != nil {
				return err
			}
			m, err := b.loadMeta(ctx, tx, sid)
			if err != nil {
				return err
			}
			d := done{m: m, freed: parts}
			if len(parts) > 0 {
				if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked - ?, updated_at = ? WHERE id = ?`, len(parts), now, sid); err != nil {
					return err
				}
				if d.promoted, err = b.fillFromWaitlist(ctx, tx, m, now); err != nil {
					return err
				}
			}
			out = append(out, d)
		}
		return inTx(tx)
	})
	if err != nil {
		return err
	}
	for _, d := range out {
		b.afterFree(ctx, d.m, d.freed, d.promoted)
	}
	return nil
}

// RefundBooking (staff) refunds a paid booking's fee. A booking still to come is
// cancelled too (its place goes to the waiting list), without counting as a
// no-show; one in the past keeps its status. Not paid → 409.
func (b *Bookings) RefundBooking(ctx context.Context, id int64, reason string) (Booking, error) {
	if b.Payments == nil {
		return Booking{}, models.ErrInvalidTransition
	}
	var m sessionMeta
	var freed []string
	var promoted []promotion
	err := b.tx(ctx, func(tx *sql.Tx) error {
		freed, promoted = nil, nil
		now := b.Now()
		x, meta, err := b.lockBooking(ctx, tx, id)
		if err != nil {
			return err
		}
		m = meta
		if x.PaymentStatus != PaymentPaid || x.OrderID == nil {
			return models.ErrInvalidTransition
		}
		if x.Status == BookingConfirmed && now.Before(m.StartsAt) {
			if err := setStatus(ctx, tx, id, x.Status, BookingCancelled, now, "late_cancel = 0"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked - 1, updated_at = ? WHERE id = ?`, now, m.SessionID); err != nil {
				return err
			}
			freed = []string{x.participant}
			if promoted, err = b.fillFromWaitlist(ctx, tx, m, now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET payment_status = 'refunding', updated_at = ? WHERE id = ?`, now, id); err != nil {
			return err
		}
		return b.Payments.Refund(ctx, tx, []RefundFor{{BookingID: id, OrderID: *x.OrderID, AmountFen: x.FeeFen}}, reason, now)
	})
	if err != nil {
		return Booking{}, err
	}
	if freed != nil {
		b.afterFree(ctx, m, freed, promoted)
	}
	return b.get(ctx, id)
}

// leaveMoney is what happens to a booking's money when it leaves (cancel by the
// resident, or by staff with the session): a paid one is refunded (refund says
// how much: all, or per the late-cancel rule), an unpaid one's order is abandoned.
// It returns the payment_status to set.
func (b *Bookings) leaveMoney(ctx context.Context, tx *sql.Tx, x Booking, refundFen int64, reason string, now time.Time) error {
	if b.Payments == nil || x.OrderID == nil {
		return nil
	}
	switch x.PaymentStatus {
	case PaymentPaid:
		if refundFen <= 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET payment_status = 'refunding', updated_at = ? WHERE id = ?`, now, x.ID); err != nil {
			return err
		}
		return b.Payments.Refund(ctx, tx, []RefundFor{{BookingID: x.ID, OrderID: *x.OrderID, AmountFen: refundFen}}, reason, now)
	case PaymentUnpaid:
		// The whole order goes once none of its bookings still awaits payment.
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings WHERE order_id = ? AND status = 'awaiting_payment' AND id <> ?`, *x.OrderID, x.ID).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE bookings SET payment_status = 'closed', updated_at = ? WHERE order_id = ? AND payment_status = 'unpaid'`, now, *x.OrderID); err != nil {
				return err
			}
			return b.Payments.Abandon(ctx, tx, *x.OrderID, now)
		}
	}
	return nil
}

// refundSession refunds every paid booking of a session staff cancel (in full)
// and abandons the orders of those still awaiting payment, inside the cancel's
// transaction.
func (b *Bookings) refundSession(ctx context.Context, tx *sql.Tx, sessionID int64, now time.Time) error {
	return b.sessionMoney(ctx, tx, sessionID, `b.payment_status IN ('paid', 'unpaid') AND b.status IN ('awaiting_payment', 'confirmed')`,
		true, "活动取消，全额退款", now)
}

// abandonUnpaid abandons the orders of a session's bookings still awaiting
// payment when the session closes (they expire with it).
func (b *Bookings) abandonUnpaid(ctx context.Context, tx *sql.Tx, sessionID int64, now time.Time) error {
	return b.sessionMoney(ctx, tx, sessionID, `b.status = 'awaiting_payment'`, false, "", now)
}

// sessionMoney runs leaveMoney for the session's bookings matching where (a
// constant condition), refunding their whole fee when refund is set.
func (b *Bookings) sessionMoney(ctx context.Context, tx *sql.Tx, sessionID int64, where string, refund bool, reason string, now time.Time) error {
	if b.Payments == nil {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+bookingColumns+bookingFrom+` WHERE b.session_id = ? AND `+where+` FOR UPDATE`, sessionID)
	if err != nil {
		return fmt.Errorf("session payments: %w", err)
	}
	xs, err := models.ScanAll(rows, "scan booking", b.scan)
	if err != nil {
		return err
	}
	for _, x := range xs {
		var fen int64
		if refund {
			fen = x.FeeFen
		}
		if err := b.leaveMoney(ctx, tx, x, fen, reason, now); err != nil {
			return err
		}
	}
	return nil
}
