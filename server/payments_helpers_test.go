package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"

	"nantian/models"
	"nantian/models/payment"
	"nantian/models/testdb"
	"nantian/scripts/fakepay"
)

// The merchant every payment test uses (throwaway values; the certificate is
// issued at test time by the fake's CA).
const (
	testMchID  = "1900000109"
	testPayKey = "nantianTestKey0123456789abcdefAB"
)

// payApp is an app wired to its own fake WeChat Pay (over TLS, checking the
// refund's client certificate), which notifies the app's own callback URLs.
type payApp struct {
	*testApp
	fake    *fakepay.Server
	fakeURL string
	svc     *payment.Service
	logs    *testdb.SyncBuffer
}

// newPayApp starts a fake pay server and an app configured for it. The worker
// runs every 100 ms and reconciles orders unnotified for 1 s, so tests see
// expiry and reconciliation without waiting minutes.
func newPayApp(t *testing.T, overrides ...map[string]string) *payApp {
	t.Helper()
	ca, p12, err := payCerts()
	if err != nil {
		t.Fatal(err)
	}
	fake := fakepay.New(fakepay.Options{AppID: testAppID, MchID: testMchID, APIKey: testPayKey, RetryEvery: 50 * time.Millisecond})
	ts := httptest.NewUnstartedServer(fake)
	if ts.TLS, err = ca.ServerTLS(); err != nil {
		t.Fatal(err)
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "apiclient_cert.p12"), p12, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"WECHATPAY_MCHID": testMchID, "WECHATPAY_API_KEY": testPayKey,
		"WECHATPAY_CERT_P12": filepath.Join(dir, "apiclient_cert.p12"), "WECHATPAY_API_CA": filepath.Join(dir, "ca.pem"),
		"WECHATPAY_API_BASE": ts.URL, "WECHATPAY_NOTIFY_BASE": "self",
		"PAYMENT_WORKER_EVERY": "100ms", "PAYMENT_RECONCILE_AFTER": "1s",
	}
	for _, o := range overrides {
		for k, v := range o {
			env[k] = v
		}
	}
	logs := &testdb.SyncBuffer{}
	a := startTestApp(t, testdb.RedisPrefix(), env, logs)
	if a.app.payments == nil {
		t.Fatal("payments not wired")
	}
	return &payApp{testApp: a, fake: fake, fakeURL: ts.URL, svc: a.app.payments, logs: logs}
}

// payCerts makes the throwaway CA and merchant certificate once per test binary:
// an RSA 2048 key under the race detector takes a second or more.
var (
	payCertsOnce sync.Once
	payCA        *fakepay.CA
	payP12       []byte
	payCertsErr  error
)

func payCerts() (*fakepay.CA, []byte, error) {
	payCertsOnce.Do(func() {
		if payCA, payCertsErr = fakepay.NewCA(); payCertsErr == nil {
			payP12, payCertsErr = payCA.MerchantP12(testMchID, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
		}
	})
	return payCA, payP12, payCertsErr
}

// paidSession makes a night-school program of fee fen (no approval unless asked)
// with one session of capacity, starting in two days.
func (a *payApp) paidSession(staffTok string, capacity int, fee int, approval bool) (programID, sessionID int64) {
	a.t.Helper()
	pid := a.createProgram(staffTok, map[string]any{"kind": "night_school", "title": "粤语", "requires_approval": approval, "fee_fen": fee})
	return pid, a.createSession(staffTok, pid, 48*time.Hour, capacity)
}

// booked is a booking answer with its payment.
type booked struct {
	ID            int64  `json:"id"`
	Status        string `json:"status"`
	PaymentStatus string `json:"payment_status"`
	Payment       *struct {
		OrderID   int64 `json:"order_id"`
		AmountFen int64 `json:"amount_fen"`
		Request   struct {
			Package string `json:"package"`
			PaySign string `json:"paySign"`
		} `json:"request"`
	} `json:"payment"`
}

func (a *payApp) book(tok string, sessionID int64) (response, booked) {
	a.t.Helper()
	r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sessionID})
	var b booked
	if r.Status == http.StatusCreated {
		r.Decode(a.t, &b)
	}
	return r, b
}

// tradeNo is the out_trade_no of an order.
func (a *payApp) tradeNo(orderID int64) string {
	a.t.Helper()
	var no string
	if err := a.app.db.QueryRow(`SELECT out_trade_no FROM payment_orders WHERE id = ?`, orderID).Scan(&no); err != nil {
		a.t.Fatal(err)
	}
	return no
}

// bookingState reads a booking's status and payment_status from MySQL.
func (a *payApp) bookingState(id int64) (string, string) {
	a.t.Helper()
	var st, ps string
	if err := a.app.db.QueryRow(`SELECT status, payment_status FROM bookings WHERE id = ?`, id).Scan(&st, &ps); err != nil {
		a.t.Fatal(err)
	}
	return st, ps
}

// eventually polls cond until it holds or 30 s pass (the machine is shared and slow).
func (a *payApp) eventually(what string, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			a.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expireNow moves an order's expiry into the past, as if PAYMENT_TIMEOUT passed.
func (a *payApp) expireNow(orderID int64) {
	a.t.Helper()
	if _, err := a.app.db.Exec(`UPDATE payment_orders SET expires_at = ? WHERE id = ?`, time.Now().Add(-time.Second).UTC(), orderID); err != nil {
		a.t.Fatal(err)
	}
}

// money sums the ledger: paid − refunded, in fen, for orders of the given sessions.
func (a *payApp) money(sessionIDs ...int64) (paid, refunded int) {
	a.t.Helper()
	for _, sid := range sessionIDs {
		paid += a.sqlInt(`SELECT COALESCE(SUM(l.amount_fen), 0) FROM payment_ledger l WHERE l.kind = 'paid'
			AND l.order_id IN (SELECT order_id FROM bookings WHERE session_id = ?)`, sid)
		refunded += a.sqlInt(`SELECT COALESCE(SUM(l.amount_fen), 0) FROM payment_ledger l WHERE l.kind = 'refunded'
			AND l.booking_id IN (SELECT id FROM bookings WHERE session_id = ?)`, sid)
	}
	return paid, refunded
}

// holding counts bookings holding a place (pending, awaiting payment, confirmed,
// attended) and checks sessions.booked agrees.
func (a *payApp) holding(sessionID int64) int {
	a.t.Helper()
	n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status IN ('pending','awaiting_payment','confirmed','attended')`, sessionID)
	if booked := a.sqlInt(`SELECT booked FROM sessions WHERE id = ?`, sessionID); booked != n {
		a.t.Errorf("session %d: booked=%d but %d bookings hold places", sessionID, booked, n)
	}
	return n
}

// notify posts a raw callback body and returns WeChat's answer code.
func (a *payApp) notify(path string, body []byte) string {
	a.t.Helper()
	r := a.do("POST", path, "", body, "Content-Type", "text/xml")
	if r.Status != http.StatusOK {
		a.t.Fatalf("%s: HTTP %d %s", path, r.Status, r.Body)
	}
	switch {
	case contains(r.Body, "SUCCESS"):
		return "SUCCESS"
	case contains(r.Body, "FAIL"):
		return "FAIL"
	}
	a.t.Fatalf("%s: answer %s", path, r.Body)
	return ""
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

// paidNotice builds a notification as WeChat Pay would send it for an order,
// signed with key.
func paidNotice(outTradeNo, txn string, totalFen int, key string) []byte {
	f := map[string]string{
		"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": testAppID, "mch_id": testMchID, "nonce_str": fmt.Sprint(time.Now().UnixNano()),
		"openid": "o", "trade_type": "JSAPI", "bank_type": "OTHERS", "total_fee": fmt.Sprint(totalFen), "cash_fee": fmt.Sprint(totalFen),
		"fee_type": "CNY", "transaction_id": txn, "out_trade_no": outTradeNo, "time_end": time.Now().Format("20060102150405"),
	}
	f["sign"] = fakepay.SignFields(f, "MD5", key)
	return fakepay.Encode(f)
}

func mustDate(t *testing.T, s string) models.Date {
	t.Helper()
	d, err := models.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The callbacks answer WeChat's XML; the spec check reads it as text.
func init() {
	openapi3filter.RegisterBodyDecoder("text/xml", openapi3filter.PlainBodyDecoder)
}

// pay is the resident paying an order in the mini-program.
func (a *payApp) pay(orderID int64) {
	a.t.Helper()
	if err := a.fake.Pay(a.tradeNo(orderID), fakepay.PayOptions{}); err != nil {
		a.t.Fatalf("pay order %d: %v", orderID, err)
	}
}

// isolatedDB is an override giving the app a database of its own.
func isolatedDB(t *testing.T) map[string]string {
	t.Helper()
	dsn, drop, err := testdb.CreateMigrated(t.Context(), models.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	return map[string]string{"MYSQL_DSN": dsn}
}
