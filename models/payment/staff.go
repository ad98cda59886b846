package payment

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"nantian/models"
)

// dayBounds is [start, end) of a local day.
func (s *Service) dayBounds(d models.Date) (time.Time, time.Time) {
	t := d.Time()
	from := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.Loc)
	return from.UTC(), from.AddDate(0, 0, 1).UTC()
}

// Mismatch is one difference the totals check found.
type Mismatch struct {
	Kind    string `json:"kind"`
	OrderID int64  `json:"order_id,omitempty"`
	Detail  string `json:"detail"`
}

// Check compares a day's ledger with the orders and refunds it stands for, and
// each paid order with its bookings. Every difference is a Mismatch; none is the
// normal answer.
func (s *Service) Check(ctx context.Context, day models.Date) ([]Mismatch, error) {
	from, to := s.dayBounds(day)
	var out []Mismatch
	var ledgerPaid, ordersPaid, ledgerRefunded, refundsDone int64
	if err := s.DB.QueryRowContext(ctx, `SELECT
		(SELECT COALESCE(SUM(amount_fen), 0) FROM payment_ledger WHERE kind = 'paid' AND created_at >= ? AND created_at < ?),
		(SELECT COALESCE(SUM(amount_fen), 0) FROM payment_orders WHERE paid_at >= ? AND paid_at < ?),
		(SELECT COALESCE(SUM(amount_fen), 0) FROM payment_ledger WHERE kind = 'refunded' AND created_at >= ? AND created_at < ?),
		(SELECT COALESCE(SUM(amount_fen), 0) FROM payment_refunds WHERE status = 'succeeded' AND succeeded_at >= ? AND succeeded_at < ?)`,
		from, to, from, to, from, to, from, to).Scan(&ledgerPaid, &ordersPaid, &ledgerRefunded, &refundsDone); err != nil {
		return nil, fmt.Errorf("day totals: %w", err)
	}
	if ledgerPaid != ordersPaid {
		out = append(out, Mismatch{Kind: "paid_total", Detail: fmt.Sprintf("ledger %d fen, orders %d fen", ledgerPaid, ordersPaid)})
	}
	if ledgerRefunded != refundsDone {
		out = append(out, Mismatch{Kind: "refunded_total", Detail: fmt.Sprintf("ledger %d fen, refunds %d fen", ledgerRefunded, refundsDone)})
	}
	// Each order paid that day: one paid entry of its amount, bookings adding up
	// to it, none of them still unpaid.
	rows, err := s.DB.QueryContext(ctx, `SELECT o.id, o.amount_fen,
		(SELECT COALESCE(SUM(l.amount_fen), 0) FROM payment_ledger l WHERE l.order_id = o.id AND l.kind = 'paid'),
		(SELECT COALESCE(SUM(b.fee_fen), 0) FROM bookings b WHERE b.order_id = o.id),
		(SELECT COUNT(*) FROM bookings b WHERE b.order_id = o.id AND b.payment_status IN ('unpaid', 'closed', 'none')),
		(SELECT COALESCE(SUM(r.amount_fen), 0) FROM payment_refunds r WHERE r.order_id = o.id AND r.status = 'succeeded'),
		o.refunded_fen
		FROM payment_orders o WHERE o.paid_at >= ? AND o.paid_at < ?`, from, to)
	if err != nil {
		return nil, fmt.Errorf("day orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, amount, paid, fees, unpaid, refunded, orderRefunded int64
		if err := rows.Scan(&id, &amount, &paid, &fees, &unpaid, &refunded, &orderRefunded); err != nil {
			return nil, err
		}
		if paid != amount {
			out = append(out, Mismatch{"order_paid", id, fmt.Sprintf("ledger paid %d fen, order %d fen", paid, amount)})
		}
		if fees != amount {
			out = append(out, Mismatch{"order_bookings", id, fmt.Sprintf("bookings' fees %d fen, order %d fen", fees, amount)})
		}
		if unpaid > 0 {
			out = append(out, Mismatch{"order_bookings_unpaid", id, fmt.Sprintf("%d bookings of a paid order not marked paid", unpaid)})
		}
		if refunded != orderRefunded {
			out = append(out, Mismatch{"order_refunded", id, fmt.Sprintf("refunds %d fen, order says %d fen", refunded, orderRefunded)})
		}
	}
	return out, rows.Err()
}

// Summary is a day's totals (GET /staff/payments/summary).
type Summary struct {
	Date        string `json:"date"`
	PaidFen     int64  `json:"paid_fen"`
	RefundedFen int64  `json:"refunded_fen"`
	Orders      int64  `json:"orders"`
	Refunds     int64  `json:"refunds"`
	Mismatches  int    `json:"mismatches"`
}

// DaySummary sums the ledger for a local day and runs the check over it.
func (s *Service) DaySummary(ctx context.Context, day models.Date) (Summary, error) {
	from, to := s.dayBounds(day)
	out := Summary{Date: day.String()}
	if err := s.DB.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN kind = 'paid' THEN amount_fen END), 0), COALESCE(SUM(CASE WHEN kind = 'refunded' THEN amount_fen END), 0),
		COUNT(CASE WHEN kind = 'paid' THEN 1 END), COUNT(CASE WHEN kind = 'refunded' THEN 1 END)
		FROM payment_ledger WHERE created_at >= ? AND created_at < ? AND kind IN ('paid', 'refunded')`, from, to).
		Scan(&out.PaidFen, &out.RefundedFen, &out.Orders, &out.Refunds); err != nil {
		return out, fmt.Errorf("summary: %w", err)
	}
	ms, err := s.Check(ctx, day)
	if err != nil {
		return out, err
	}
	out.Mismatches = len(ms)
	return out, nil
}

// OrderView is an order as staff see it, with its refunds.
type OrderView struct {
	ID            int64        `json:"id"`
	OutTradeNo    string       `json:"out_trade_no"`
	UserID        int64        `json:"user_id"`
	ProgramID     int64        `json:"program_id"`
	Description   string       `json:"description"`
	AmountFen     int64        `json:"amount_fen"`
	RefundedFen   int64        `json:"refunded_fen"`
	Status        string       `json:"status"`
	TransactionID *string      `json:"transaction_id"`
	CreatedAt     time.Time    `json:"created_at"`
	ExpiresAt     time.Time    `json:"expires_at"`
	PaidAt        *time.Time   `json:"paid_at"`
	BookingIDs    []int64      `json:"booking_ids"`
	Refunds       []RefundView `json:"refunds"`
}

// RefundView is one refund as staff see it.
type RefundView struct {
	ID          int64      `json:"id"`
	BookingID   int64      `json:"booking_id"`
	OutRefundNo string     `json:"out_refund_no"`
	AmountFen   int64      `json:"amount_fen"`
	Reason      string     `json:"reason"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error"`
	SucceededAt *time.Time `json:"succeeded_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Filter narrows the staff list.
type Filter struct {
	Status   string // an order status, or refunding / refunded / refund_failed
	From, To models.Date
	Page     models.Page
}

// ValidFilterStatus lists what ?status= may be.
func ValidFilterStatus(s string) bool {
	switch s {
	case "", OrderUnpaid, OrderPaid, OrderClosing, OrderClosed, OrderFailed, "refunding", "refunded", "refund_failed":
		return true
	}
	return false
}

// List returns orders in id order, a page at a time (Page.Limit 0: all, for the CSV export).
func (s *Service) List(ctx context.Context, f Filter) ([]OrderView, error) {
	where := []string{"o.id > ?"}
	args := []any{f.Page.AfterID}
	switch f.Status {
	case "":
	case "refunding":
		where = append(where, "EXISTS (SELECT 1 FROM payment_refunds r WHERE r.order_id = o.id AND r.status IN ('pending', 'accepted'))")
	case "refunded":
		where = append(where, "EXISTS (SELECT 1 FROM payment_refunds r WHERE r.order_id = o.id AND r.status = 'succeeded')")
	case "refund_failed":
		where = append(where, "EXISTS (SELECT 1 FROM payment_refunds r WHERE r.order_id = o.id AND r.status = 'failed')")
	default:
		where = append(where, "o.status = ?")
		args = append(args, f.Status)
	}
	if !f.From.IsZero() {
		from, _ := s.dayBounds(f.From)
		where = append(where, "o.created_at >= ?")
		args = append(args, from)
	}
	if !f.To.IsZero() {
		_, to := s.dayBounds(f.To)
		where = append(where, "o.created_at < ?")
		args = append(args, to)
	}
	limit := f.Page.Limit
	if limit <= 0 {
		limit = 100_000 // the CSV export: everything in range
	}
	args = append(args, limit)
	rows, err := s.DB.QueryContext(ctx, `SELECT o.id, o.out_trade_no, o.user_id, o.program_id, o.description, o.amount_fen, o.refunded_fen, o.status,
		o.transaction_id, o.created_at, o.expires_at, o.paid_at FROM payment_orders o WHERE `+strings.Join(where, " AND ")+` ORDER BY o.id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	items, err := scanAllOrders(rows, s.Loc)
	if err != nil || len(items) == 0 {
		return items, err
	}
	return items, s.attach(ctx, items)
}

func scanAllOrders(rows *sql.Rows, loc *time.Location) ([]OrderView, error) {
	defer rows.Close()
	out := []OrderView{}
	for rows.Next() {
		var v OrderView
		if err := rows.Scan(&v.ID, &v.OutTradeNo, &v.UserID, &v.ProgramID, &v.Description, &v.AmountFen, &v.RefundedFen, &v.Status,
			&v.TransactionID, &v.CreatedAt, &v.ExpiresAt, &v.PaidAt); err != nil {
			return nil, err
		}
		v.CreatedAt, v.ExpiresAt = v.CreatedAt.In(loc), v.ExpiresAt.In(loc)
		if v.PaidAt != nil {
			t := v.PaidAt.In(loc)
			v.PaidAt = &t
		}
		v.BookingIDs, v.Refunds = []int64{}, []RefundView{}
		out = append(out, v)
	}
	return out, rows.Err()
}

// attach adds bookings and refunds to a page of orders (two queries).
func (s *Service) attach(ctx context.Context, items []OrderView) error {
	idx := map[int64]int{}
	args := make([]any, len(items))
	for i, v := range items {
		idx[v.ID] = i
		args[i] = v.ID
	}
	in := "(?" + strings.Repeat(", ?", len(items)-1) + ")"
	rows, err := s.DB.QueryContext(ctx, `SELECT order_id, id FROM bookings WHERE order_id IN `+in+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var o, b int64
		if err := rows.Scan(&o, &b); err != nil {
			rows.Close()
			return err
		}
		items[idx[o]].BookingIDs = append(items[idx[o]].BookingIDs, b)
	}
	rows.Close()
	rows, err = s.DB.QueryContext(ctx, `SELECT order_id, id, booking_id, out_refund_no, amount_fen, reason, status, attempts, last_error, succeeded_at, created_at
		FROM payment_refunds WHERE order_id IN `+in+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var o int64
		var r RefundView
		if err := rows.Scan(&o, &r.ID, &r.BookingID, &r.OutRefundNo, &r.AmountFen, &r.Reason, &r.Status, &r.Attempts, &r.LastError, &r.SucceededAt, &r.CreatedAt); err != nil {
			return err
		}
		r.CreatedAt = r.CreatedAt.In(s.Loc)
		if r.SucceededAt != nil {
			t := r.SucceededAt.In(s.Loc)
			r.SucceededAt = &t
		}
		items[idx[o]].Refunds = append(items[idx[o]].Refunds, r)
	}
	return rows.Err()
}
