package payment

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"nantian/models"
)

// Run does a worker pass every s.Every until ctx ends: expiry of unpaid places,
// closing abandoned orders, reconciliation of orders whose notification never
// came, the refund outbox, and once a day the totals check.
func (s *Service) Run(ctx context.Context) {
	models.EveryTick(ctx, s.Every, s.Log, "payment pass failed", s.Pass)
}

var unlockLease = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Pass runs one pass if this instance gets the lease. Without Redis it runs
// anyway: every step is a guarded transition, and the refund outbox claims rows
// with SKIP LOCKED, so two passes at once do no harm, only double work.
func (s *Service) Pass(ctx context.Context) error {
	lease := s.Redis.Key("payments", "worker", "lease")
	token := randomToken()
	ok, err := s.Redis.Client.SetNX(ctx, lease, token, 2*s.Every+10*time.Second).Result()
	if err == nil && !ok {
		return nil
	}
	if err == nil {
		defer unlockLease.Run(context.WithoutCancel(ctx), s.Redis.Client, []string{lease}, token)
	}
	return errors.Join(s.expireDue(ctx), s.closeAbandoned(ctx), s.reconcile(ctx), s.sendRefunds(ctx), s.dailyCheck(ctx))
}

func randomToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// int64s reads one integer column.
func int64s(ctx context.Context, db interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, q string, args ...any) ([]int64, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// expireDue ends unpaid orders past their expiry: closed at WeChat first, then the
// places go back (ExpireUnpaid). A close that finds the order paid settles it
// instead; one that fails leaves the place held until the next pass, because
// releasing a place WeChat may still take money for would sell it twice.
func (s *Service) expireDue(ctx context.Context) error {
	return s.closeEach(ctx, OrderUnpaid, `SELECT id FROM payment_orders WHERE status = 'unpaid' AND expires_at <= ? ORDER BY expires_at LIMIT 200`, s.Now())
}

// closeAbandoned closes at WeChat the orders whose bookings went away unpaid.
func (s *Service) closeAbandoned(ctx context.Context) error {
	return s.closeEach(ctx, OrderClosing, `SELECT id FROM payment_orders WHERE status = 'closing' ORDER BY id LIMIT 200`)
}

func (s *Service) closeEach(ctx context.Context, from, q string, args ...any) error {
	ids, err := int64s(ctx, s.DB, q, args...)
	if err != nil {
		return fmt.Errorf("%s orders: %w", from, err)
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.closeAndRelease(ctx, id, from))
	}
	return errors.Join(errs...)
}

// ExpireOrder runs the expiry of one order now (tests, and staff settling a stuck
// order by hand through the worker's own path).
func (s *Service) ExpireOrder(ctx context.Context, orderID int64) error {
	return s.closeAndRelease(ctx, orderID, OrderUnpaid)
}

func (s *Service) closeAndRelease(ctx context.Context, id int64, from string) error {
	o, err := s.getOrder(ctx, s.DB, "id = ?", id)
	if err != nil || o.Status != from {
		return err
	}
	err = s.Gateway.CloseOrder(ctx, o.OutTradeNo)
	switch {
	case errors.Is(err, ErrOrderPaid):
		// Paid after all (the notification is late): settle, do not release.
		return s.SettleFromQuery(ctx, o.OutTradeNo)
	case errors.Is(err, ErrOrderNotFound), err == nil:
	default:
		s.Log.WarnContext(ctx, "payment: close at WeChat failed, place kept until it succeeds", "out_trade_no", o.OutTradeNo, "err", err)
		return nil
	}
	err = s.Bookings.ExpireUnpaid(ctx, o.ID, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE payment_orders SET status = 'closed', updated_at = ? WHERE id = ? AND status = ?`, s.Now(), o.ID, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errRaced
		}
		return nil
	})
	if errors.Is(err, errRaced) {
		return nil // paid (or closed) meanwhile: the other side's result stands
	}
	if err == nil {
		s.Log.InfoContext(ctx, "payment: order closed", "out_trade_no", o.OutTradeNo, "was", from)
	}
	return err
}

var errRaced = errors.New("order changed meanwhile")

// SettleFromQuery asks WeChat about an order and applies a payment it reports.
func (s *Service) SettleFromQuery(ctx context.Context, outTradeNo string) error {
	st, err := s.Gateway.QueryOrder(ctx, outTradeNo)
	if err != nil {
		return fmt.Errorf("query %s: %w", outTradeNo, err)
	}
	switch st.TradeState {
	case TradeSuccess, TradeRefund:
		return s.settle(ctx, outTradeNo, st.TransactionID, st.MchID, st.TotalFen, "query")
	}
	return nil
}

// reconcile queries WeChat for unpaid orders placed more than ReconcileAfter ago
// that no notification settled, each at most once per ReconcileAfter.
func (s *Service) reconcile(ctx context.Context) error {
	now := s.Now()
	rows, err := s.DB.QueryContext(ctx, `SELECT id, out_trade_no FROM payment_orders WHERE status = 'unpaid' AND prepay_id IS NOT NULL
		AND prepaid_at <= ? ORDER BY id LIMIT 500`, now.Add(-s.ReconcileAfter))
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	type due struct {
		id int64
		no string
	}
	var ds []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.no); err != nil {
			rows.Close()
			return err
		}
		ds = append(ds, d)
	}
	rows.Close()
	var errs []error
	for _, d := range ds {
		if !s.queried.due(d.id, now, s.ReconcileAfter) {
			continue
		}
		if err := s.SettleFromQuery(ctx, d.no); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// queryTimes remembers when this instance last queried an order.
type queryTimes struct {
	mu   sync.Mutex
	last map[int64]time.Time
}

func (q *queryTimes) due(id int64, now time.Time, every time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.last == nil || len(q.last) > 100_000 {
		q.last = map[int64]time.Time{}
	}
	if t, ok := q.last[id]; ok && now.Sub(t) < every {
		return false
	}
	q.last[id] = now
	return true
}

// Refund outbox: attempts and backoff.
const (
	refundMaxAttempts = 10
	refundBackoffBase = 10 * time.Second
	refundBackoffMax  = time.Hour
)

func refundBackoff(attempts int) time.Duration {
	d := refundBackoffBase << min(attempts, 12)
	return min(d, refundBackoffMax)
}

// sendRefunds sends due refunds. Each is claimed with SKIP LOCKED and its attempt
// recorded before the call, so a crash mid-call retries it (WeChat answers a
// repeated out_refund_no for the first request: nothing is refunded twice).
func (s *Service) sendRefunds(ctx context.Context) error {
	ids, err := int64s(ctx, s.DB, `SELECT id FROM payment_refunds WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT 50`, s.Now())
	if err != nil {
		return fmt.Errorf("due refunds: %w", err)
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, s.sendRefund(ctx, id))
	}
	return errors.Join(errs...)
}

func (s *Service) sendRefund(ctx context.Context, id int64) error {
	var r RefundRequest
	var attempts int
	var claimed bool
	err := models.InTxRetry(ctx, s.DB, func(tx *sql.Tx) error {
		now := s.Now()
		err := tx.QueryRowContext(ctx, `SELECT r.out_refund_no, r.amount_fen, r.reason, r.attempts, o.out_trade_no, o.amount_fen
			FROM payment_refunds r JOIN payment_orders o ON o.id = r.order_id
			WHERE r.id = ? AND r.status = 'pending' AND r.next_attempt_at <= ? FOR UPDATE SKIP LOCKED`, id, now).
			Scan(&r.OutRefundNo, &r.RefundFen, &r.Reason, &attempts, &r.OutTradeNo, &r.TotalFen)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		claimed = true
		attempts++
		_, err = tx.ExecContext(ctx, `UPDATE payment_refunds SET attempts = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`,
			attempts, now.Add(refundBackoff(attempts)), now, id)
		return err
	})
	if err != nil || !claimed {
		return err
	}
	acc, callErr := s.Gateway.Refund(ctx, r)
	now := s.Now()
	if callErr == nil {
		_, err := s.DB.ExecContext(ctx, `UPDATE payment_refunds SET status = 'accepted', refund_id = ?, last_error = '', updated_at = ? WHERE id = ? AND status = 'pending'`,
			acc.RefundID, now, id)
		return err
	}
	msg := truncate(callErr.Error(), 250)
	if attempts >= refundMaxAttempts {
		s.RefundsFailed.Add(1)
		s.Log.ErrorContext(ctx, "payment: refund failed for good, staff must settle it", "out_refund_no", r.OutRefundNo, "attempts", attempts, "err", callErr)
		_, err := s.DB.ExecContext(ctx, `UPDATE payment_refunds SET status = 'failed', last_error = ?, updated_at = ? WHERE id = ? AND status = 'pending'`, msg, now, id)
		return err
	}
	s.Log.WarnContext(ctx, "payment: refund failed, will retry", "out_refund_no", r.OutRefundNo, "attempts", attempts, "err", callErr)
	_, err = s.DB.ExecContext(ctx, `UPDATE payment_refunds SET last_error = ?, updated_at = ? WHERE id = ?`, msg, now, id)
	return err
}

// dailyCheck checks yesterday's totals once (per deployment: a Redis marker).
func (s *Service) dailyCheck(ctx context.Context) error {
	y := models.DateOf(s.Now().In(s.Loc).AddDate(0, 0, -1))
	key := s.Redis.Key("payments", "checked", y.String())
	ok, err := s.Redis.Client.SetNX(ctx, key, "1", 72*time.Hour).Result()
	if err != nil || !ok {
		return nil
	}
	ms, err := s.Check(ctx, y)
	if err != nil {
		_ = s.Redis.Client.Del(context.WithoutCancel(ctx), key).Err()
		return err
	}
	s.ReportMismatches(ctx, y, ms)
	return nil
}

// ReportMismatches logs each difference and counts it in the metric.
func (s *Service) ReportMismatches(ctx context.Context, day models.Date, ms []Mismatch) {
	for _, m := range ms {
		s.Log.ErrorContext(ctx, "payment: totals mismatch", "day", day.String(), "kind", m.Kind, "order_id", m.OrderID, "detail", m.Detail)
	}
	s.Mismatches.Add(int64(len(ms)))
	if len(ms) == 0 {
		s.Log.InfoContext(ctx, "payment: daily totals agree", "day", day.String())
	}
}
