package main

// Payments (issue 13) against real MySQL, Redis and the fake WeChat Pay server.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"nantian/scripts/fakepay"
)

func TestPaymentPayConfirms(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 5, 5000, false)
	tok, _ := a.resident("payer")
	other, _ := a.resident("other")

	// The amount comes from the program; a fee in the body changes nothing.
	r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid, "fee_fen": 1})
	wantStatus(t, r, http.StatusCreated, "")
	var b booked
	r.Decode(t, &b)
	if b.Status != "awaiting_payment" || b.PaymentStatus != "unpaid" || b.Payment == nil || b.Payment.AmountFen != 5000 ||
		!strings.HasPrefix(b.Payment.Request.Package, "prepay_id=") || b.Payment.Request.PaySign == "" {
		t.Fatalf("booking: %s", r.Body)
	}
	if n := a.holding(sid); n != 1 {
		t.Fatalf("%d places held, want 1", n)
	}
	no := a.tradeNo(b.Payment.OrderID)
	if o, _ := a.fake.Order(no); o.TotalFen != 5000 || time.Until(o.TimeExpire) < 14*time.Minute {
		t.Fatalf("order at WeChat: %+v", o)
	}

	// The payment object again: a fresh request for the same prepay id, no new order.
	r = a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/payment", b.ID), tok, nil)
	wantStatus(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), b.Payment.Request.Package) || a.fake.Calls("/pay/unifiedorder") != 1 {
		t.Fatalf("payment again: %s (unified orders %d)", r.Body, a.fake.Calls("/pay/unifiedorder"))
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/payment", b.ID), other, nil), http.StatusNotFound, "not_found")

	if err := a.fake.Pay(no, fakepay.PayOptions{CouponFen: 500}); err != nil {
		t.Fatal(err)
	}
	a.eventually("confirmed", func() bool { st, ps := a.bookingState(b.ID); return st == "confirmed" && ps == "paid" })
	a.fake.Wait()
	if n := a.sqlInt(`SELECT COUNT(*) FROM payment_ledger WHERE order_id = ? AND kind = 'paid' AND amount_fen = 5000`, b.Payment.OrderID); n != 1 {
		t.Fatalf("%d paid ledger entries", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE event = 'booking_confirmed' AND page LIKE ?`, fmt.Sprintf("%%id=%d", b.ID)); n != 1 {
		t.Fatalf("%d confirmations queued, want 1", n)
	}
	r = a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", b.ID), tok, nil)
	if !strings.Contains(string(r.Body), `"payment_status":"paid"`) {
		t.Fatalf("booking after payment: %s", r.Body)
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/payment", b.ID), tok, nil), http.StatusConflict, "invalid_transition")
}

func TestPaymentTimeoutReleasesPlaceToWaitlist(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 1, 3000, false)
	tokA, _ := a.resident("slow")
	tokB, _ := a.resident("next")
	_, first := a.book(tokA, sid)
	r := a.do("POST", "/api/v1/bookings", tokB, map[string]any{"session_id": sid, "waitlist": true})
	wantStatus(t, r, http.StatusCreated, "")
	second := idOf(t, r)
	if st, _ := a.bookingState(second); st != "waitlisted" {
		t.Fatalf("second: %s", st)
	}
	no := a.tradeNo(first.Payment.OrderID)
	a.expireNow(first.Payment.OrderID)
	a.eventually("expired", func() bool { st, ps := a.bookingState(first.ID); return st == "expired" && ps == "closed" })
	if o, _ := a.fake.Order(no); o.State != "CLOSED" || o.Closes < 1 {
		t.Fatalf("order not closed at WeChat: %+v", o)
	}
	if err := a.fake.Pay(no, fakepay.PayOptions{}); err == nil {
		t.Fatal("WeChat took money for a closed order")
	}
	// The place went to the first in line, who is asked to pay.
	st, ps := a.bookingState(second)
	if st != "awaiting_payment" || ps != "unpaid" {
		t.Fatalf("promoted: %s %s", st, ps)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE event = 'booking_promoted' AND page LIKE ?`, fmt.Sprintf("%%id=%d", second)); n != 1 {
		t.Fatalf("promotion not told: %d", n)
	}
	if n := a.holding(sid); n != 1 {
		t.Fatalf("%d held", n)
	}
	r = a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/payment", second), tokB, nil)
	wantStatus(t, r, http.StatusOK, "")
	var p struct {
		OrderID int64 `json:"order_id"`
	}
	r.Decode(t, &p)
	if err := a.fake.Pay(a.tradeNo(p.OrderID), fakepay.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	a.eventually("promoted paid", func() bool { st, _ := a.bookingState(second); return st == "confirmed" })
}

func TestPaymentNotifyAfterExpiryRefunds(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 2, 4200, false)
	tok, _ := a.resident("late")
	_, b := a.book(tok, sid)
	no := a.tradeNo(b.Payment.OrderID)
	a.expireNow(b.Payment.OrderID)
	a.eventually("expired", func() bool { st, _ := a.bookingState(b.ID); return st == "expired" })
	// WeChat took the money anyway (the race with the close): it must come back.
	if err := a.fake.Pay(no, fakepay.PayOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	a.eventually("refunded", func() bool { _, ps := a.bookingState(b.ID); return ps == "refunded" })
	if st, _ := a.bookingState(b.ID); st != "expired" {
		t.Fatalf("a late payment revived the booking: %s", st)
	}
	paid, refunded := a.money(sid)
	if paid != 4200 || refunded != 4200 {
		t.Fatalf("ledger paid %d refunded %d", paid, refunded)
	}
	if rf := a.fake.Refunds(); len(rf) != 1 || rf[0].RefundFen != 4200 {
		t.Fatalf("refunds at WeChat: %+v", rf)
	}
	if n := a.holding(sid); n != 0 {
		t.Fatalf("%d held", n)
	}
}

func TestPaymentDuplicateNotifyAppliesOnce(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 2, 5000, false)
	tok, _ := a.resident("dup")
	a.fake.SetMode(fakepay.Mode{Notify: "none"})
	_, b := a.book(tok, sid)
	no := a.tradeNo(b.Payment.OrderID)
	if err := a.fake.Pay(no, fakepay.PayOptions{}); err != nil {
		t.Fatal(err)
	}
	o, _ := a.fake.Order(no)
	body := paidNotice(no, o.TransactionID, 5000, testPayKey)
	answers := make([]string, 20)
	concurrently(20, func(i int) { answers[i] = a.notify("/api/v1/payments/wechat/notify", body) })
	for i, ans := range answers {
		if ans != "SUCCESS" {
			t.Fatalf("notification %d: %s", i, ans)
		}
	}
	if st, ps := a.bookingState(b.ID); st != "confirmed" || ps != "paid" {
		t.Fatalf("booking %s %s", st, ps)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM payment_ledger WHERE order_id = ? AND kind = 'paid'`, b.Payment.OrderID); n != 1 {
		t.Fatalf("%d paid entries, want 1", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE event = 'booking_confirmed' AND page LIKE ?`, fmt.Sprintf("%%id=%d", b.ID)); n != 1 {
		t.Fatalf("%d confirmations, want 1", n)
	}
	if got := a.svc.Applied.Load(); got != 1 {
		t.Fatalf("applied %d times", got)
	}
	// The fake's own duplicates (5 copies at once, then out of order) change nothing more.
	a.fake.SetMode(fakepay.Mode{Duplicates: 5})
	_, b2 := a.book(mustResident(a), sid)
	a.pay(b2.Payment.OrderID)
	a.fake.Wait()
	if n := a.sqlInt(`SELECT COUNT(*) FROM payment_ledger WHERE order_id = ? AND kind = 'paid'`, b2.Payment.OrderID); n != 1 {
		t.Fatalf("fake duplicates: %d paid entries", n)
	}
}

func mustResident(a *payApp) string {
	tok, _ := a.resident("someone")
	return tok
}

func TestPaymentForgedAndMismatchedNotify(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 2, 5000, false)
	tok, _ := a.resident("forged")
	a.fake.SetMode(fakepay.Mode{Notify: "none"})
	_, b := a.book(tok, sid)
	no := a.tradeNo(b.Payment.OrderID)
	unchanged := func(what string) {
		t.Helper()
		if st, ps := a.bookingState(b.ID); st != "awaiting_payment" || ps != "unpaid" {
			t.Fatalf("%s changed the booking: %s %s", what, st, ps)
		}
		if n := a.sqlInt(`SELECT COUNT(*) FROM payment_ledger WHERE order_id = ? AND kind = 'paid'`, b.Payment.OrderID); n != 0 {
			t.Fatalf("%s: %d paid entries", what, n)
		}
	}
	if ans := a.notify("/api/v1/payments/wechat/notify", paidNotice(no, "4200forged", 5000, strings.Repeat("k", 32))); ans != "FAIL" {
		t.Fatalf("forged signature: %s", ans)
	}
	unchanged("a forged signature")
	if a.svc.BadNotifies.Load() != 1 {
		t.Fatalf("bad notifications %d", a.svc.BadNotifies.Load())
	}
	if ans := a.notify("/api/v1/payments/wechat/notify", []byte("<xml><garbage")); ans != "FAIL" {
		t.Fatalf("garbage: %s", ans)
	}
	// Genuinely signed, but for 1 fen: refused and logged.
	if ans := a.notify("/api/v1/payments/wechat/notify", paidNotice(no, "4200cheap", 1, testPayKey)); ans != "FAIL" {
		t.Fatalf("amount mismatch: %s", ans)
	}
	unchanged("an amount mismatch")
	if a.svc.Mismatches.Load() != 1 || !strings.Contains(a.logs.String(), "notified amount differs from the order") {
		t.Fatalf("mismatch not counted or logged: %d\n%s", a.svc.Mismatches.Load(), a.logs.String())
	}
	if strings.Contains(a.logs.String(), testPayKey) {
		t.Fatal("the API key is in the log")
	}
	if !strings.Contains(a.metricsPage(), "nantian_payment_mismatches_total 1") { // METRICS_ADDR's handler
		t.Fatal("metric nantian_payment_mismatches_total not 1")
	}
	// A forged refund notification changes nothing either.
	if ans := a.notify("/api/v1/payments/wechat/refund-notify", fakepay.Encode(map[string]string{
		"return_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "req_info": "bm90IGVuY3J5cHRlZCBhdCBhbGwhISEhISEhISEhIQ=="})); ans != "FAIL" {
		t.Fatalf("forged refund: %s", ans)
	}
	unchanged("a forged refund notification")
}

func TestPaymentRefundOnCancel(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 3, 6000, false)
	tok, _ := a.resident("canceller")
	_, b := a.book(tok, sid)
	a.pay(b.Payment.OrderID)
	a.eventually("paid", func() bool { st, _ := a.bookingState(b.ID); return st == "confirmed" })
	r := a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", b.ID), tok, nil)
	wantStatus(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), `"payment_status":"refunding"`) || !strings.Contains(string(r.Body), `"status":"cancelled"`) {
		t.Fatalf("cancel: %s", r.Body)
	}
	a.eventually("refunded", func() bool { _, ps := a.bookingState(b.ID); return ps == "refunded" })
	if paid, refunded := a.money(sid); paid != 6000 || refunded != 6000 {
		t.Fatalf("ledger %d/%d", paid, refunded)
	}

	// After the free window the fee is kept (PAYMENT_LATE_CANCEL_REFUND_PERCENT 0).
	_, b2 := a.book(mustResident(a), sid)
	tok2 := ""
	_ = tok2
	a.pay(b2.Payment.OrderID)
	a.eventually("paid", func() bool { st, _ := a.bookingState(b2.ID); return st == "confirmed" })
	a.openCheckIn(sid) // starts in an hour: inside the 2 h window
	var owner int64
	_ = a.app.db.QueryRow(`SELECT user_id FROM bookings WHERE id = ?`, b2.ID).Scan(&owner)
	if _, err := a.app.bookings.engine.Cancel(t.Context(), owner, b2.ID); err != nil {
		t.Fatal(err)
	}
	if st, ps := a.bookingState(b2.ID); st != "cancelled" || ps != "paid" {
		t.Fatalf("late cancel: %s %s", st, ps)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM payment_refunds WHERE booking_id = ?`, b2.ID); n != 0 {
		t.Fatalf("late cancel refunded")
	}
}

func TestPaymentRefundOnSessionCancel(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 5, 2500, false)
	var paid []int64
	for range 3 {
		_, b := a.book(mustResident(a), sid)
		a.pay(b.Payment.OrderID)
		paid = append(paid, b.ID)
	}
	_, unpaid := a.book(mustResident(a), sid)
	for _, id := range paid {
		a.eventually("paid", func() bool { st, _ := a.bookingState(id); return st == "confirmed" })
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/cancel", sid), staffTok, nil), http.StatusOK, "")
	for _, id := range paid {
		a.eventually("refunded", func() bool { st, ps := a.bookingState(id); return st == "cancelled" && ps == "refunded" })
	}
	no := a.tradeNo(unpaid.Payment.OrderID)
	a.eventually("unpaid order closed", func() bool { o, _ := a.fake.Order(no); return o.State == "CLOSED" })
	if st, ps := a.bookingState(unpaid.ID); st != "cancelled" || ps != "closed" {
		t.Fatalf("unpaid booking: %s %s", st, ps)
	}
	a.eventually("closed", func() bool {
		return a.sqlInt(`SELECT COUNT(*) FROM payment_orders WHERE id = ? AND status = 'closed'`, unpaid.Payment.OrderID) == 1
	})
	if p, r := a.money(sid); p != 7500 || r != 7500 {
		t.Fatalf("ledger %d/%d", p, r)
	}
}

func TestPaymentReconciliationSettlesWithoutNotify(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 2, 5000, false)
	a.fake.SetMode(fakepay.Mode{Notify: "none"})
	_, b := a.book(mustResident(a), sid)
	a.pay(b.Payment.OrderID)
	a.eventually("settled by reconciliation", func() bool { st, ps := a.bookingState(b.ID); return st == "confirmed" && ps == "paid" })
	if a.fake.Calls("/pay/orderquery") < 1 {
		t.Fatal("no order query")
	}
	if o, _ := a.fake.Order(a.tradeNo(b.Payment.OrderID)); o.PaidNotifies != 0 {
		t.Fatal("a notification was delivered after all")
	}
}

func TestPaymentProviderDownHoldsNothing(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	pid, sid := a.paidSession(staffTok, 2, 5000, false)
	tok, uid := a.resident("unlucky")
	for _, mode := range []fakepay.Mode{{Down: true}, {Fail: "SYSTEMERROR"}} {
		a.fake.SetMode(mode)
		r, _ := a.book(tok, sid)
		wantStatus(t, r, http.StatusServiceUnavailable, "payments_unavailable")
		if n := a.holding(sid); n != 0 {
			t.Fatalf("%+v: %d places held", mode, n)
		}
		if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, uid); n != 0 {
			t.Fatalf("%+v: %d bookings left", mode, n)
		}
		r = a.do("POST", fmt.Sprintf("/api/v1/programs/%d/enrollments", pid), tok, map[string]any{})
		wantStatus(t, r, http.StatusServiceUnavailable, "payments_unavailable")
	}
	a.fake.SetMode(fakepay.Mode{})
	// The gate let go too: the same resident books at once.
	r, b := a.book(tok, sid)
	wantStatus(t, r, http.StatusCreated, "")
	if b.Status != "awaiting_payment" {
		t.Fatalf("after recovery: %s", r.Body)
	}
}

func TestPaymentApprovalAndEnrolment(t *testing.T) {
	a := newPayApp(t)
	staffTok, _ := a.staff("pay-staff")
	// Approval: pending, then confirmed by staff → awaiting payment, told to pay.
	_, sid := a.paidSession(staffTok, 3, 8000, true)
	tok, _ := a.resident("approve")
	r, b := a.book(tok, sid)
	if b.Status != "pending" || b.Payment != nil {
		t.Fatalf("approval booking: %s", r.Body)
	}
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", b.ID), staffTok, nil)
	wantStatus(t, r, http.StatusOK, "")
	if st, ps := a.bookingState(b.ID); st != "awaiting_payment" || ps != "unpaid" {
		t.Fatalf("after confirm: %s %s", st, ps)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE event = 'booking_approved_pay' AND page LIKE ?`, fmt.Sprintf("%%id=%d", b.ID)); n != 1 {
		t.Fatal("not told to pay")
	}
	r = a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/payment", b.ID), tok, nil)
	wantStatus(t, r, http.StatusOK, "")
	var p struct {
		OrderID   int64 `json:"order_id"`
		AmountFen int64 `json:"amount_fen"`
	}
	r.Decode(t, &p)
	a.pay(p.OrderID)
	a.eventually("approved and paid", func() bool { st, _ := a.bookingState(b.ID); return st == "confirmed" })

	// Enrolment: one order for every lesson.
	pid := a.createProgram(staffTok, map[string]any{"kind": "night_school", "title": "爵士舞", "fee_fen": 1500, "requires_approval": false})
	for i := range 3 {
		a.createSession(staffTok, pid, time.Duration(48+24*i)*time.Hour, 10)
	}
	etok, _ := a.resident("enrol")
	r = a.do("POST", fmt.Sprintf("/api/v1/programs/%d/enrollments", pid), etok, map[string]any{})
	wantStatus(t, r, http.StatusCreated, "")
	var e struct {
		Bookings []booked `json:"bookings"`
	}
	r.Decode(t, &e)
	if len(e.Bookings) != 3 || e.Bookings[0].Payment == nil || e.Bookings[0].Payment.AmountFen != 4500 ||
		e.Bookings[1].Payment.OrderID != e.Bookings[0].Payment.OrderID {
		t.Fatalf("enrolment: %s", r.Body)
	}
	a.pay(e.Bookings[0].Payment.OrderID)
	for _, bk := range e.Bookings {
		a.eventually("lesson paid", func() bool { st, ps := a.bookingState(bk.ID); return st == "confirmed" && ps == "paid" })
	}
	// Cancelling one lesson refunds that lesson only.
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", e.Bookings[2].ID), etok, nil), http.StatusOK, "")
	a.eventually("lesson refunded", func() bool { _, ps := a.bookingState(e.Bookings[2].ID); return ps == "refunded" })
	if rf := a.sqlInt(`SELECT refunded_fen FROM payment_orders WHERE id = ?`, e.Bookings[0].Payment.OrderID); rf != 1500 {
		t.Fatalf("refunded %d fen of the course", rf)
	}
}

func TestPaymentStaffAPI(t *testing.T) {
	a := newPayApp(t, isolatedDB(t)) // the day's totals and check cover the whole database
	staffTok, _ := a.staff("pay-staff")
	_, sid := a.paidSession(staffTok, 3, 5000, false)
	tok, _ := a.resident("staffview")
	_, b := a.book(tok, sid)
	a.pay(b.Payment.OrderID)
	a.eventually("paid", func() bool { st, _ := a.bookingState(b.ID); return st == "confirmed" })

	wantStatus(t, a.do("GET", "/api/v1/staff/payments", tok, nil), http.StatusForbidden, "forbidden")
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/refund", b.ID), tok, map[string]any{"reason": "x"}), http.StatusForbidden, "forbidden")
	wantStatus(t, a.do("GET", "/api/v1/staff/payments?status=nope", staffTok, nil), http.StatusBadRequest, "invalid_request")
	wantStatus(t, a.do("GET", "/api/v1/staff/payments/summary?date=2024-13-01", staffTok, nil), http.StatusBadRequest, "invalid_request")

	today := time.Now().In(a.app.cfg.Location).Format(time.DateOnly)
	r := a.do("GET", "/api/v1/staff/payments?status=paid&from="+today+"&to="+today, staffTok, nil)
	wantStatus(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), a.tradeNo(b.Payment.OrderID)) {
		t.Fatalf("list: %s", r.Body)
	}
	r = a.do("GET", "/api/v1/staff/payments/summary?date="+today, staffTok, nil)
	wantStatus(t, r, http.StatusOK, "")
	var s struct {
		PaidFen     int `json:"paid_fen"`
		RefundedFen int `json:"refunded_fen"`
		Orders      int `json:"orders"`
		Refunds     int `json:"refunds"`
		Mismatches  int `json:"mismatches"`
	}
	r.Decode(t, &s)
	if s.PaidFen != 5000 || s.Orders != 1 || s.RefundedFen != 0 || s.Mismatches != 0 {
		t.Fatalf("summary: %s", r.Body)
	}

	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/refund", b.ID), staffTok, map[string]any{}), http.StatusBadRequest, "invalid_request")
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/refund", b.ID), staffTok, map[string]any{"reason": "课程调整"})
	wantStatus(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.Body), `"status":"cancelled"`) {
		t.Fatalf("staff refund of a future lesson cancels it: %s", r.Body)
	}
	a.eventually("refunded", func() bool { _, ps := a.bookingState(b.ID); return ps == "refunded" })
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/refund", b.ID), staffTok, map[string]any{"reason": "again"}), http.StatusConflict, "invalid_transition")

	r = a.do("GET", "/api/v1/staff/payments.csv?from="+today, staffTok, nil)
	wantStatus(t, r, http.StatusOK, "")
	if !strings.HasPrefix(string(r.Body), "\ufeff订单ID") || !strings.Contains(string(r.Body), "50.00") {
		t.Fatalf("csv: %s", r.Body)
	}
	r = a.do("GET", "/api/v1/staff/payments/summary?date="+today, staffTok, nil)
	r.Decode(t, &s)
	if s.RefundedFen != 5000 || s.Refunds != 1 || s.Mismatches != 0 {
		t.Fatalf("summary after refund: %s", r.Body)
	}
	ms, err := a.svc.Check(t.Context(), mustDate(t, today))
	if err != nil || len(ms) != 0 {
		t.Fatalf("check: %v %v", ms, err)
	}
	// A ledger entry with no order behind it is a mismatch the check reports.
	if _, err := a.app.db.Exec(`INSERT INTO payment_ledger (order_id, kind, amount_fen, ref, created_at) VALUES (?, 'paid', 1, 'bogus', ?)`,
		b.Payment.OrderID, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	if ms, _ := a.svc.Check(t.Context(), mustDate(t, today)); len(ms) == 0 {
		t.Fatal("check missed a ledger entry without its order")
	}
}

// The annual report's night-school fees are what the ledger kept: a paid lesson
// counts its fee, a refunded one nothing, a late cancel (fee kept) its fee.
func TestPaymentAnnualReportCountsLedger(t *testing.T) {
	a := newPayApp(t, isolatedDB(t))
	staffTok, _ := a.staff("report-staff")
	_, sid := a.paidSession(staffTok, 5, 4000, false)
	var bs []booked
	toks := make([]string, 3)
	for i := range toks {
		toks[i], _ = a.resident("rep")
		_, b := a.book(toks[i], sid)
		a.pay(b.Payment.OrderID)
		bs = append(bs, b)
	}
	for _, b := range bs {
		a.eventually("paid", func() bool { st, _ := a.bookingState(b.ID); return st == "confirmed" })
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", bs[0].ID), toks[0], nil), http.StatusOK, "") // free: refunded
	a.eventually("refunded", func() bool { _, ps := a.bookingState(bs[0].ID); return ps == "refunded" })
	a.openCheckIn(sid)
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", bs[1].ID), toks[1], nil), http.StatusOK, "") // late: fee kept
	// The lesson is held: it ended earlier this year.
	end := time.Now().Add(-time.Hour).UTC()
	if _, err := a.app.db.Exec(`UPDATE sessions SET starts_at = ?, ends_at = ? WHERE id = ?`, end.Add(-2*time.Hour), end, sid); err != nil {
		t.Fatal(err)
	}
	year := time.Now().In(a.app.cfg.Location).Year()
	if end.In(a.app.cfg.Location).Year() != year {
		t.Skip("an hour ago was last year")
	}
	r := a.do("GET", fmt.Sprintf("/api/v1/staff/reports/annual?year=%d", year), staffTok, nil)
	wantStatus(t, r, http.StatusOK, "")
	var rep struct {
		NightSchool struct {
			FeesFen int `json:"fees_fen"`
		} `json:"night_school"`
	}
	r.Decode(t, &rep)
	if rep.NightSchool.FeesFen != 2*4000 {
		t.Fatalf("night-school fees %d fen, want %d (one paid, one kept, one refunded)", rep.NightSchool.FeesFen, 2*4000)
	}
}
