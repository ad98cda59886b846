// Package payment is the payment domain: orders, the append-only money ledger,
// notifications from the provider applied exactly once, expiry of unpaid places,
// reconciliation, and refunds through an outbox. It implements
// booking.PaymentDesk, the booking engine's view of it, and talks to WeChat Pay only
// through Gateway (wechat/pay, wired in by the server). Money is integer fen.
//
// The rules (architecture.md, Payments):
//   - the amount comes from the program (the bookings' fee_fen), never the client;
//   - a paid place is held by the booking engine's gate and guard while
//     awaiting_payment; expiry closes the order at WeChat before the place goes;
//   - a notification is verified, checked against the order (amount, mch_id) and
//     applied in one transaction keyed by WeChat's transaction id; applied again it
//     changes nothing and still answers SUCCESS;
//   - money for a booking that no longer awaits payment is refunded automatically.
package payment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync/atomic"
	"time"

	"nantian/models"
	"nantian/models/booking"
)

// Service is the payment domain. Build it once per app.
type Service struct {
	DB       *sql.DB
	Redis    *models.Redis
	Gateway  Gateway
	Bookings *booking.Bookings
	Now      models.Clock
	Loc      *time.Location
	// Timeout is how long an unpaid place is held (PAYMENT_TIMEOUT).
	Timeout time.Duration
	// MchID is the merchant notifications must name.
	MchID string
	Log   *slog.Logger
	// Every is the worker's pass interval (expiry, reconciliation, refunds).
	Every time.Duration
	// ReconcileAfter: an unpaid order older than this with no notification is
	// queried at WeChat (1 min).
	ReconcileAfter time.Duration

	// Counters read by /metrics.
	Mismatches    atomic.Int64 // daily-check differences and refused notifications
	BadNotifies   atomic.Int64 // notifications that did not verify
	Applied       atomic.Int64 // payments applied (notification or reconciliation)
	RefundsFailed atomic.Int64

	queried queryTimes // reconciliation: when each order was last queried
}

// Order statuses.
const (
	OrderUnpaid  = "unpaid"
	OrderPaid    = "paid"
	OrderClosing = "closing"
	OrderClosed  = "closed"
	OrderFailed  = "failed"
)

// Ledger kinds.
const (
	LedgerOrderCreated    = "order_created"
	LedgerPaid            = "paid"
	LedgerRefundRequested = "refund_requested"
	LedgerRefunded        = "refunded"
)

var _ booking.PaymentDesk = (*Service)(nil)

// prepayValid is how long a prepay id is trusted before a new unified order is
// placed (WeChat: two hours).
const prepayValid = 110 * time.Minute

// newTradeNo makes an out_trade_no: NT + Beijing time to the second + 12 random
// digits (26 characters, ≤ 32; unique by the table's key, retried on collision).
func newTradeNo(now time.Time, loc *time.Location) string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000_000))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("NT%s%012d", now.In(loc).Format("20060102150405"), n.Int64())
}

// OpenOrder records an unpaid order inside the booking's transaction, with the
// ledger's order_created entry.
func (s *Service) OpenOrder(ctx context.Context, tx *sql.Tx, o booking.OrderFor, now time.Time) (int64, error) {
	if o.AmountFen <= 0 {
		return 0, fmt.Errorf("open order: amount %d fen", o.AmountFen)
	}
	expires := now.Add(s.Timeout)
	if !o.NotAfter.IsZero() && o.NotAfter.Before(expires) {
		expires = o.NotAfter
	}
	for range 3 {
		no := newTradeNo(now, s.Loc)
		res, err := tx.ExecContext(ctx, `INSERT INTO payment_orders (out_trade_no, user_id, program_id, amount_fen, status, description, expires_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'unpaid', ?, ?, ?, ?)`, no, o.UserID, o.ProgramID, o.AmountFen, truncate("南天社区-"+o.Title, 40), expires, now, now)
		if models.IsDuplicate(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("open order: %w", err)
		}
		id, _ := res.LastInsertId()
		if err := ledger(ctx, tx, id, nil, LedgerOrderCreated, o.AmountFen, no, now); err != nil {
			return 0, err
		}
		return id, nil
	}
	return 0, errors.New("open order: no unique out_trade_no after 3 tries")
}

// ledger appends one entry. A duplicate (kind, ref) is ErrAlreadyApplied: the
// event was recorded before.
func ledger(ctx context.Context, tx *sql.Tx, orderID int64, bookingID *int64, kind string, fen int64, ref string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO payment_ledger (order_id, booking_id, kind, amount_fen, ref, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		orderID, bookingID, kind, fen, ref, now)
	if models.IsDuplicate(err) {
		return errAlreadyApplied
	}
	if err != nil {
		return fmt.Errorf("ledger %s: %w", kind, err)
	}
	return nil
}

var errAlreadyApplied = errors.New("already applied")

// order is a payment_orders row.
type order struct {
	ID            int64
	OutTradeNo    string
	UserID        int64
	ProgramID     int64
	AmountFen     int64
	Status        string
	Description   string
	PrepayID      sql.NullString
	PrepaidAt     sql.NullTime
	ExpiresAt     time.Time
	TransactionID sql.NullString
	PaidAt        sql.NullTime
	RefundedFen   int64
	CreatedAt     time.Time
}

const orderColumns = `id, out_trade_no, user_id, program_id, amount_fen, status, description, prepay_id, prepaid_at, expires_at,
	transaction_id, paid_at, refunded_fen, created_at`

func scanOrder(row interface{ Scan(...any) error }) (order, error) {
	var o order
	err := row.Scan(&o.ID, &o.OutTradeNo, &o.UserID, &o.ProgramID, &o.AmountFen, &o.Status, &o.Description, &o.PrepayID, &o.PrepaidAt,
		&o.ExpiresAt, &o.TransactionID, &o.PaidAt, &o.RefundedFen, &o.CreatedAt)
	return o, err
}

func (s *Service) getOrder(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, where string, arg any) (order, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM payment_orders WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return o, models.ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("get order: %w", err)
	}
	return o, nil
}

// ErrNoOpenID: a walk-in resident registered at the desk has no WeChat account to
// pay with.
var ErrNoOpenID = models.Rule("payment_needs_wechat", "该居民没有微信账号，无法在线支付")

// PlaceOrder creates the order at WeChat (unified order with time_expire) or, when
// it is there already and its prepay id still valid, signs a fresh request for it.
func (s *Service) PlaceOrder(ctx context.Context, orderID int64) (booking.PaymentInfo, error) {
	o, err := s.getOrder(ctx, s.DB, "id = ?", orderID)
	if err != nil {
		return booking.PaymentInfo{}, err
	}
	if o.Status != OrderUnpaid {
		return booking.PaymentInfo{}, models.ErrInvalidTransition
	}
	now := s.Now()
	if !now.Before(o.ExpiresAt.Add(-time.Minute)) {
		// WeChat refuses a time_expire less than a minute away; the expiry
		// worker is about to give the place back.
		return booking.PaymentInfo{}, models.ErrInvalidTransition
	}
	prepay := o.PrepayID.String
	if !o.PrepayID.Valid || now.Sub(o.PrepaidAt.Time) > prepayValid {
		var openID sql.NullString
		if err := s.DB.QueryRowContext(ctx, `SELECT openid FROM users WHERE id = ?`, o.UserID).Scan(&openID); err != nil {
			return booking.PaymentInfo{}, fmt.Errorf("payer: %w", err)
		}
		if !openID.Valid || openID.String == "" {
			return booking.PaymentInfo{}, ErrNoOpenID
		}
		prepay, err = s.Gateway.CreateOrder(ctx, OrderRequest{
			OutTradeNo: o.OutTradeNo, TotalFen: o.AmountFen, Body: o.Description, OpenID: openID.String, ExpiresAt: o.ExpiresAt,
		})
		if err != nil {
			s.Log.WarnContext(ctx, "payment: unified order failed", "order_id", o.ID, "out_trade_no", o.OutTradeNo, "err", err)
			return booking.PaymentInfo{}, fmt.Errorf("%w (%v)", booking.ErrPaymentsUnavailable, err)
		}
		if _, err := s.DB.ExecContext(ctx, `UPDATE payment_orders SET prepay_id = ?, prepaid_at = ?, updated_at = ? WHERE id = ?`, prepay, now, now, o.ID); err != nil {
			return booking.PaymentInfo{}, fmt.Errorf("store prepay id: %w", err)
		}
	}
	return booking.PaymentInfo{OrderID: o.ID, AmountFen: o.AmountFen, ExpiresAt: o.ExpiresAt.In(s.Loc), Request: s.Gateway.PayRequest(prepay)}, nil
}

// DiscardOrder marks an order WeChat never created as failed.
func (s *Service) DiscardOrder(ctx context.Context, tx *sql.Tx, orderID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE payment_orders SET status = 'failed', updated_at = ? WHERE id = ? AND status = 'unpaid'`, now, orderID)
	return err
}

// Abandon marks an unpaid order for closing at WeChat (the worker does it).
func (s *Service) Abandon(ctx context.Context, tx *sql.Tx, orderID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE payment_orders SET status = 'closing', updated_at = ? WHERE id = ? AND status = 'unpaid'`, now, orderID)
	return err
}

// Refund enqueues refunds (one per booking, never two: uq_payment_refunds_booking)
// and their refund_requested ledger entries, inside the caller's transaction.
func (s *Service) Refund(ctx context.Context, tx *sql.Tx, items []booking.RefundFor, reason string, now time.Time) error {
	for _, it := range items {
		if it.AmountFen <= 0 {
			continue
		}
		no := fmt.Sprintf("RF%d-%d", it.OrderID, it.BookingID)
		if _, err := tx.ExecContext(ctx, `INSERT INTO payment_refunds (order_id, booking_id, out_refund_no, amount_fen, reason, status, next_attempt_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`, it.OrderID, it.BookingID, no, it.AmountFen, truncate(reason, 40), now, now, now); err != nil {
			if models.IsDuplicate(err) {
				continue // this booking's refund exists already
			}
			return fmt.Errorf("enqueue refund: %w", err)
		}
		bid := it.BookingID
		if err := ledger(ctx, tx, it.OrderID, &bid, LedgerRefundRequested, it.AmountFen, no, now); err != nil && !errors.Is(err, errAlreadyApplied) {
			return err
		}
	}
	return nil
}

func truncate(s string, runes int) string {
	r := []rune(s)
	if len(r) <= runes {
		return s
	}
	return strings.TrimSpace(string(r[:runes]))
}
