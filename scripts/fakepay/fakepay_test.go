package fakepay

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	tApp = "wxfake"
	tMch = "1900000109"
	tKey = "0123456789abcdef0123456789ABCDEF"
)

type rig struct {
	srv  *Server
	ts   *httptest.Server
	got  chan []byte
	fail atomic.Int32 // the receiver answers FAIL this many more times
}

func newRig(t *testing.T) *rig {
	r := &rig{got: make(chan []byte, 100)}
	r.srv = New(Options{AppID: tApp, MchID: tMch, APIKey: tKey, RetryEvery: 5 * time.Millisecond})
	r.ts = httptest.NewServer(r.srv)
	t.Cleanup(r.ts.Close)
	return r
}

func (r *rig) post(t *testing.T, path string, f map[string]string, key string) map[string]string {
	t.Helper()
	f["sign"] = sign(f, f["sign_type"], key)
	resp, err := http.Post(r.ts.URL+path, "text/xml", bytes.NewReader(encode(f)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ans, err := parse(b)
	if err != nil {
		t.Fatalf("%s: %s", path, b)
	}
	return ans
}

func orderFields(no string) map[string]string {
	return map[string]string{"appid": tApp, "mch_id": tMch, "nonce_str": "abc", "body": "课", "out_trade_no": no, "total_fee": "100",
		"spbill_create_ip": "127.0.0.1", "notify_url": "", "trade_type": "JSAPI", "openid": "o1",
		"time_expire": time.Now().Add(10 * time.Minute).In(beijing).Format("20060102150405")}
}

func TestChecksCredentials(t *testing.T) {
	r := newRig(t)
	f := orderFields("A")
	f["notify_url"] = "http://127.0.0.1:1/n"
	if a := r.post(t, "/pay/unifiedorder", f, "wrong-key"); a["return_code"] != "FAIL" || r.srv.Rejected("sign") != 1 {
		t.Fatalf("wrong key accepted: %v", a)
	}
	g := orderFields("A")
	g["notify_url"] = "x"
	g["mch_id"] = "1"
	if a := r.post(t, "/pay/unifiedorder", g, tKey); a["return_code"] != "FAIL" || r.srv.Rejected("mch_id") != 1 {
		t.Fatalf("wrong mch_id accepted: %v", a)
	}
	h := orderFields("A")
	h["notify_url"] = "x"
	h["sign_type"] = "HMAC-SHA256"
	a := r.post(t, "/pay/unifiedorder", h, tKey)
	if a["result_code"] != "SUCCESS" || a["prepay_id"] == "" || a["sign"] != sign(a, "HMAC-SHA256", tKey) {
		t.Fatalf("HMAC order: %v", a)
	}
	// Refunds need a client certificate; plain HTTP has none.
	rf := map[string]string{"appid": tApp, "mch_id": tMch, "nonce_str": "n", "out_trade_no": "A", "out_refund_no": "R", "total_fee": "100", "refund_fee": "100"}
	if a := r.post(t, "/secapi/pay/refund", rf, tKey); a["return_code"] != "FAIL" || r.srv.Rejected("cert") != 1 {
		t.Fatalf("refund without certificate: %v", a)
	}
	// A short time_expire is refused like WeChat Pay does.
	s := orderFields("B")
	s["notify_url"] = "x"
	s["time_expire"] = time.Now().Add(10 * time.Second).In(beijing).Format("20060102150405")
	if a := r.post(t, "/pay/unifiedorder", s, tKey); a["result_code"] != "FAIL" {
		t.Fatalf("short time_expire: %v", a)
	}
}

func (r *rig) order(t *testing.T, no string, notify string) {
	f := orderFields(no)
	f["notify_url"] = notify
	if a := r.post(t, "/pay/unifiedorder", f, tKey); a["result_code"] != "SUCCESS" {
		t.Fatal(a)
	}
}

func drain(ch chan []byte, wait time.Duration) [][]byte {
	var out [][]byte
	for {
		select {
		case b := <-ch:
			out = append(out, b)
		case <-time.After(wait):
			return out
		}
	}
}

func TestNotificationModes(t *testing.T) {
	r := newRig(t)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		b, _ := io.ReadAll(q.Body)
		r.got <- b
		if r.fail.Add(-1) >= 0 {
			w.Write([]byte("<xml><return_code>FAIL</return_code></xml>"))
			return
		}
		w.Write([]byte("<xml><return_code>SUCCESS</return_code></xml>"))
	}))
	defer recv.Close()
	recvURL := recv.URL

	// Default: one signed notification; a FAIL answer is retried until SUCCESS.
	r.order(t, "N1", recvURL)
	r.fail.Store(2)
	if err := r.srv.Pay("N1", PayOptions{}); err != nil {
		t.Fatal(err)
	}
	r.srv.Wait()
	got := drain(r.got, 50*time.Millisecond)
	if len(got) != 3 {
		t.Fatalf("retries: %d deliveries, want 3", len(got))
	}
	f, _ := parse(got[0])
	if f["sign"] != sign(f, "MD5", tKey) || f["out_trade_no"] != "N1" || f["total_fee"] != "100" {
		t.Fatalf("notification: %v", f)
	}
	if err := r.srv.Pay("N1", PayOptions{}); err == nil {
		t.Fatal("paid twice")
	}

	// Duplicates: each notification sent 5 times at once.
	r.srv.SetMode(Mode{Duplicates: 5})
	r.order(t, "N2", recvURL)
	_ = r.srv.Pay("N2", PayOptions{})
	r.srv.Wait()
	if got := drain(r.got, 50*time.Millisecond); len(got) != 5 {
		t.Fatalf("duplicates: %d", len(got))
	}

	// None: never notified; the order is paid all the same (a query shows it).
	r.srv.SetMode(Mode{Notify: "none"})
	r.order(t, "N3", recvURL)
	_ = r.srv.Pay("N3", PayOptions{})
	r.srv.Wait()
	if got := drain(r.got, 50*time.Millisecond); len(got) != 0 {
		t.Fatalf("none: %d", len(got))
	}
	q := r.post(t, "/pay/orderquery", map[string]string{"appid": tApp, "mch_id": tMch, "nonce_str": "q", "out_trade_no": "N3"}, tKey)
	if q["trade_state"] != "SUCCESS" || q["transaction_id"] == "" {
		t.Fatalf("query: %v", q)
	}

	// Hold + reverse flush: out of order.
	r.srv.SetMode(Mode{Notify: "hold"})
	r.order(t, "N4", recvURL)
	r.order(t, "N5", recvURL)
	_ = r.srv.Pay("N4", PayOptions{})
	_ = r.srv.Pay("N5", PayOptions{})
	if got := drain(r.got, 30*time.Millisecond); len(got) != 0 {
		t.Fatalf("hold sent %d", len(got))
	}
	r.srv.Flush(true)
	got = drain(r.got, 50*time.Millisecond)
	if len(got) != 2 || !strings.Contains(string(got[0]), "N5") || !strings.Contains(string(got[1]), "N4") {
		t.Fatalf("reverse flush: %q", got)
	}

	// Slow and down.
	r.srv.SetMode(Mode{DelayMS: 150})
	start := time.Now()
	r.order(t, "N6", recvURL)
	if time.Since(start) < 150*time.Millisecond {
		t.Fatal("delay ignored")
	}
	r.srv.SetMode(Mode{Down: true})
	resp, _ := http.Post(r.ts.URL+"/pay/orderquery", "text/xml", strings.NewReader("<xml/>"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("down: %d", resp.StatusCode)
	}
	resp.Body.Close()
}
