package main

// The payments drill (issue 13): paid bookings whose WeChat Pay notifications
// arrive while the server is SIGKILLed (between notify and commit: transactions
// die mid-flight) and while MySQL is cut, then cancels whose refunds are in the
// outbox when the server is killed again. WeChat Pay (the fake) retries every
// notification until it is answered SUCCESS, and sends each one three times at
// once; reconciliation queries what never got through. Afterwards every fen is
// checked: nothing lost, nothing doubled.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"nantian/scripts/fakepay"
)

const (
	drillMchID  = "1900000109"
	drillPayKey = "drillPayKey0123456789abcdefABCDE"
	drillFee    = 3000
)

// startFakePay starts the fake WeChat Pay over TLS and writes the merchant
// certificate and the fake's CA for the server child.
func (e *env) startFakePay() error {
	ca, err := fakepay.NewCA()
	if err != nil {
		return err
	}
	p12, err := ca.MerchantP12(drillMchID, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.work, "apiclient_cert.p12"), p12, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(e.work, "pay-ca.pem"), ca.PEM(), 0o644); err != nil {
		return err
	}
	e.pay = fakepay.New(fakepay.Options{AppID: "wxdevappid", MchID: drillMchID, APIKey: drillPayKey, RetryEvery: 400 * time.Millisecond})
	e.payTS = httptest.NewUnstartedServer(e.pay)
	if e.payTS.TLS, err = ca.ServerTLS(); err != nil {
		return err
	}
	e.payTS.StartTLS()
	return nil
}

func (e *env) payEnv() []string {
	return []string{
		"WECHATPAY_MCHID=" + drillMchID, "WECHATPAY_API_KEY=" + drillPayKey,
		"WECHATPAY_CERT_P12=" + filepath.Join(e.work, "apiclient_cert.p12"), "WECHATPAY_API_CA=" + filepath.Join(e.work, "pay-ca.pem"),
		"WECHATPAY_API_BASE=" + e.payTS.URL, "WECHATPAY_NOTIFY_BASE=" + e.base,
		"PAYMENT_WORKER_EVERY=300ms", "PAYMENT_RECONCILE_AFTER=2s",
	}
}

// paidBooking is one resident's paid booking in the drill.
type paidBooking struct {
	id, orderID int64
	token       string
	tradeNo     string
}

// paymentsDrill runs the three phases and checks the money.
func (e *env) paymentsDrill(ctx context.Context, outage time.Duration) *row {
	r := &row{name: "6 payments", book: &tally{}}
	fail := func(format string, args ...any) { r.failures = append(r.failures, fmt.Sprintf(format, args...)) }
	st, m := e.call("POST", "/api/v1/staff/programs", e.staff, map[string]any{
		"kind": "night_school", "title": "演练粤语课", "requires_approval": false, "fee_fen": drillFee,
		"description": "支付演练", "category": "语言", "venue": "党群服务中心"})
	if st != http.StatusCreated {
		fail("create paid program: %d %v", st, m)
		return r
	}
	pid := int64(m["id"].(float64))
	session := func(n int) int64 {
		start := time.Now().Add(time.Duration(72+n) * time.Hour).Truncate(time.Minute)
		st, m := e.call("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), e.staff, map[string]any{
			"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339), "capacity": 12})
		if st != http.StatusCreated {
			fail("create session: %d %v", st, m)
			return 0
		}
		return int64(m["id"].(float64))
	}
	e.pay.SetMode(fakepay.Mode{Duplicates: 3})
	next := 0
	book := func(sid int64, n int) []paidBooking {
		var out []paidBooking
		for range n {
			p := e.residents[next%len(e.residents)]
			next++
			st, m := e.call("POST", "/api/v1/bookings", p.token, map[string]any{"session_id": sid})
			r.book.add(st)
			if st != http.StatusCreated || m["payment"] == nil {
				fail("paid booking: %d %v", st, m)
				continue
			}
			pay := m["payment"].(map[string]any)
			b := paidBooking{id: int64(m["id"].(float64)), orderID: int64(pay["order_id"].(float64)), token: p.token}
			if err := e.db.QueryRowContext(ctx, `SELECT out_trade_no FROM payment_orders WHERE id = ?`, b.orderID).Scan(&b.tradeNo); err != nil {
				fail("order: %v", err)
				continue
			}
			out = append(out, b)
		}
		return out
	}
	// payAll: every resident pays, 60 ms apart; fault runs 250 ms in.
	payAll := func(bs []paidBooking, fault func()) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); time.Sleep(250 * time.Millisecond); fault() }()
		for _, b := range bs {
			if err := e.pay.Pay(b.tradeNo, fakepay.PayOptions{}); err != nil {
				fail("pay %s: %v", b.tradeNo, err)
			}
			time.Sleep(60 * time.Millisecond)
		}
		wg.Wait()
	}

	// A: SIGKILL while notifications are being applied.
	sidA := session(1)
	a := book(sidA, 12)
	payAll(a, func() {
		e.kill()
		if err := e.start(); err != nil {
			fail("restart: %v", err)
			return
		}
		d, err := e.waitReady(30 * time.Second)
		if err != nil {
			fail("not ready after restart: %v", err)
		}
		r.notes = append(r.notes, fmt.Sprintf("SIGKILL during notifications, ready again %s", d.Round(10*time.Millisecond)))
	})
	// B: MySQL cut while notifications are being applied.
	sidB := session(2)
	b := book(sidB, 12)
	payAll(b, func() { r.notes = append(r.notes, e.cut(e.mysqlProxy, outage, &r.ready)) })

	r.notes = append(r.notes, fmt.Sprintf("%d notification deliveries failed during the faults and were retried", e.pay.FailedNotifies()))
	all := append(append([]paidBooking{}, a...), b...)
	if !e.until(60*time.Second, func() bool { return e.countPaid(ctx, all) == len(all) }) {
		fail("only %d of %d paid bookings confirmed after 60 s", e.countPaid(ctx, all), len(all))
	}

	// C: half of A cancel inside the free window (full refunds through the
	// outbox); the server is killed right after.
	refunding := a[:len(a)/2]
	for _, x := range refunding {
		st, _ := e.call("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", x.id), x.token, nil)
		if st != http.StatusOK {
			fail("cancel %d: %d", x.id, st)
		}
	}
	var queued int
	_ = e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM payment_refunds WHERE status IN ('pending', 'accepted')`).Scan(&queued)
	e.kill()
	r.notes = append(r.notes, fmt.Sprintf("SIGKILL with %d of %d refunds not yet done", queued, len(refunding)))
	if err := e.start(); err != nil {
		fail("restart: %v", err)
	} else if _, err := e.waitReady(30 * time.Second); err != nil {
		fail("not ready after restart: %v", err)
	}
	if !e.until(60*time.Second, func() bool { return e.countRefunded(ctx, refunding) == len(refunding) }) {
		fail("only %d of %d refunds done after 60 s", e.countRefunded(ctx, refunding), len(refunding))
	}
	e.pay.Wait()
	r.failures = append(r.failures, e.checkMoney(ctx, []int64{sidA, sidB})...)
	more, err := e.checkAll(ctx, nil)
	if err != nil {
		fail("%v", err)
	}
	r.failures = append(r.failures, more...)
	var confirmed, refunded int
	_ = e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings WHERE session_id IN (?, ?) AND status = 'confirmed'`, sidA, sidB).Scan(&confirmed)
	_ = e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings WHERE session_id IN (?, ?) AND payment_status = 'refunded'`, sidA, sidB).Scan(&refunded)
	r.booked, r.live = fmt.Sprintf("%d paid", confirmed), fmt.Sprintf("%d refunded", refunded)
	return r
}

func (e *env) until(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func (e *env) countPaid(ctx context.Context, bs []paidBooking) int {
	n := 0
	for _, b := range bs {
		var st, ps string
		if e.db.QueryRowContext(ctx, `SELECT status, payment_status FROM bookings WHERE id = ?`, b.id).Scan(&st, &ps) == nil && st == "confirmed" && ps == "paid" {
			n++
		}
	}
	return n
}

func (e *env) countRefunded(ctx context.Context, bs []paidBooking) int {
	n := 0
	for _, b := range bs {
		var ps string
		if e.db.QueryRowContext(ctx, `SELECT payment_status FROM bookings WHERE id = ?`, b.id).Scan(&ps) == nil && ps == "refunded" {
			n++
		}
	}
	return n
}

// checkMoney compares the database with what WeChat Pay (the fake) holds: each
// order it took money for is paid once with its transaction id; each refund it
// made is recorded once; the ledger's paid − refunded equals the fees of the
// bookings still confirmed; no confirmation was queued twice.
func (e *env) checkMoney(ctx context.Context, sessions []int64) []string {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(sessions)), ", ") + ")"
	args := make([]any, len(sessions))
	for i, s := range sessions {
		args[i] = s
	}
	rows, err := e.db.QueryContext(ctx, `SELECT DISTINCT o.id, o.out_trade_no, o.status, COALESCE(o.transaction_id, ''), o.amount_fen, o.refunded_fen,
		(SELECT COUNT(*) FROM payment_ledger l WHERE l.order_id = o.id AND l.kind = 'paid')
		FROM payment_orders o JOIN bookings b ON b.order_id = o.id WHERE b.session_id IN `+in, args...)
	if err != nil {
		return []string{err.Error()}
	}
	type ord struct {
		id               int64
		no, status, txn  string
		amount, refunded int64
		paidEntries      int
	}
	var orders []ord
	for rows.Next() {
		var o ord
		if err := rows.Scan(&o.id, &o.no, &o.status, &o.txn, &o.amount, &o.refunded, &o.paidEntries); err != nil {
			rows.Close()
			return []string{err.Error()}
		}
		orders = append(orders, o)
	}
	rows.Close()
	refundsAtWeChat := map[string]int64{}
	for _, rf := range e.pay.Refunds() {
		refundsAtWeChat[rf.OutTradeNo] += rf.RefundFen
	}
	for _, o := range orders {
		w, ok := e.pay.Order(o.no)
		paidAtWeChat := ok && (w.State == "SUCCESS" || w.State == "REFUND")
		switch {
		case paidAtWeChat && (o.status != "paid" || o.txn != w.TransactionID || o.paidEntries != 1):
			add("order %s paid at WeChat (%s) but here %s, txn %q, %d paid entries", o.no, w.TransactionID, o.status, o.txn, o.paidEntries)
		case !paidAtWeChat && (o.status == "paid" || o.paidEntries != 0):
			add("order %s paid here but not at WeChat", o.no)
		}
		if refundsAtWeChat[o.no] != o.refunded {
			add("order %s: WeChat refunded %d fen, recorded %d", o.no, refundsAtWeChat[o.no], o.refunded)
		}
	}
	var paid, refunded, fees, doubles, dupRefunds int64
	q := `SELECT
		(SELECT COALESCE(SUM(l.amount_fen), 0) FROM payment_ledger l WHERE l.kind = 'paid' AND l.order_id IN (SELECT order_id FROM bookings WHERE session_id IN ` + in + `)),
		(SELECT COALESCE(SUM(l.amount_fen), 0) FROM payment_ledger l WHERE l.kind = 'refunded' AND l.booking_id IN (SELECT id FROM bookings WHERE session_id IN ` + in + `)),
		(SELECT COALESCE(SUM(fee_fen), 0) FROM bookings WHERE status = 'confirmed' AND session_id IN ` + in + `),
		(SELECT COUNT(*) FROM (SELECT b.id FROM bookings b JOIN outbox x ON x.page = CONCAT('pages/bookings/detail?id=', b.id)
			WHERE x.event = 'booking_confirmed' AND b.session_id IN ` + in + ` GROUP BY b.id HAVING COUNT(*) > 1) d),
		(SELECT COUNT(*) FROM (SELECT l.booking_id FROM payment_ledger l WHERE l.kind = 'refunded' GROUP BY l.booking_id HAVING COUNT(*) > 1) r)`
	all := append(append(append(append([]any{}, args...), args...), args...), args...)
	if err := e.db.QueryRowContext(ctx, q, all...).Scan(&paid, &refunded, &fees, &doubles, &dupRefunds); err != nil {
		return append(bad, err.Error())
	}
	if paid-refunded != fees {
		add("money: paid %d − refunded %d ≠ %d fen of confirmed bookings", paid, refunded, fees)
	}
	if doubles > 0 {
		add("%d bookings had their confirmation queued twice", doubles)
	}
	if dupRefunds > 0 {
		add("%d bookings refunded twice in the ledger", dupRefunds)
	}
	return bad
}
