package pay_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"nantian/models/payment"
	"nantian/scripts/fakepay"
	"nantian/wechat/pay"
)

const (
	appID = "wxpaytest"
	mchID = "1900000109"
	key   = "0123456789abcdef0123456789ABCDEF"
)

type env struct {
	fake    *fakepay.Server
	client  *pay.Client
	ca      *fakepay.CA
	base    string
	mu      sync.Mutex
	paid    [][]byte
	refunds [][]byte
}

// newEnv starts the fake over TLS and a receiver for its notifications, and builds
// a Client with a freshly issued merchant certificate.
func newEnv(t *testing.T, signType string) *env {
	t.Helper()
	e := &env{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		if strings.HasSuffix(r.URL.Path, "/refund") {
			e.refunds = append(e.refunds, b)
		} else {
			e.paid = append(e.paid, b)
		}
		e.mu.Unlock()
		w.Write([]byte("<xml><return_code>SUCCESS</return_code></xml>"))
	}))
	t.Cleanup(recv.Close)
	ca, p12, err := sharedCerts()
	if err != nil {
		t.Fatal(err)
	}
	e.ca = ca
	e.fake = fakepay.New(fakepay.Options{AppID: appID, MchID: mchID, APIKey: key, RetryEvery: 10 * time.Millisecond})
	ts := httptest.NewUnstartedServer(e.fake)
	ts.TLS, err = ca.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	e.base = ts.URL
	e.client, err = pay.New(pay.Config{
		AppID: appID, MchID: mchID, APIKey: key, CertP12: p12, APIBase: ts.URL,
		NotifyURL: recv.URL + "/paid", RefundNotifyURL: recv.URL + "/refund", SignType: signType, RootCAs: ca.Pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) lastPaid(t *testing.T) []byte {
	t.Helper()
	e.fake.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.paid) == 0 {
		t.Fatal("no payment notification arrived")
	}
	return e.paid[len(e.paid)-1]
}

// sharedCerts is one CA and merchant certificate for every env (RSA 2048 key
// generation is slow under the race detector); tests needing other certificates
// make their own.
func sharedCerts() (*fakepay.CA, []byte, error) {
	certsOnce.Do(func() {
		if certsCA, certsErr = fakepay.NewCA(); certsErr == nil {
			certsP12, certsErr = certsCA.MerchantP12(mchID, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
		}
	})
	return certsCA, certsP12, certsErr
}

var (
	certsOnce sync.Once
	certsCA   *fakepay.CA
	certsP12  []byte
	certsErr  error
)

func order(no string) payment.OrderRequest {
	return payment.OrderRequest{OutTradeNo: no, TotalFen: 5000, Body: "南天社区青年夜校-粤语", OpenID: "openid-alice", ExpiresAt: time.Now().Add(15 * time.Minute)}
}

func TestOrderPayNotifyRefund(t *testing.T) {
	for _, st := range []string{pay.SignMD5, pay.SignHMACSHA256} {
		t.Run(st, func(t *testing.T) {
			e := newEnv(t, st)
			ctx := context.Background()
			first := order("NT1")
			prepay, err := e.client.CreateOrder(ctx, first)
			if err != nil || prepay == "" {
				t.Fatalf("create: %q %v", prepay, err)
			}
			// The same order again is the same prepay id (a retry after a lost
			// answer). The very same request: order() reads the clock, and a
			// time_expire one second later is another order to WeChat Pay.
			if again, err := e.client.CreateOrder(ctx, first); err != nil || again != prepay {
				t.Fatalf("retry: %q %v, want %q", again, err, prepay)
			}
			o, _ := e.fake.Order("NT1")
			if o.TimeExpire.IsZero() || time.Until(o.TimeExpire) < 14*time.Minute {
				t.Fatalf("time_expire not sent: %v", o.TimeExpire)
			}
			req := e.client.PayRequest(prepay)
			want := fakepay.SignFields(map[string]string{"appId": appID, "nonceStr": req.NonceStr, "package": "prepay_id=" + prepay,
				"signType": st, "timeStamp": req.TimeStamp}, st, key)
			if req.PaySign != want || req.Package != "prepay_id="+prepay || req.SignType != st {
				t.Fatalf("pay request %+v, want sign %s", req, want)
			}
			if s, err := e.client.QueryOrder(ctx, "NT1"); err != nil || s.TradeState != payment.TradeNotPay || s.TotalFen != 5000 {
				t.Fatalf("query before pay: %+v %v", s, err)
			}
			if err := e.fake.Pay("NT1", fakepay.PayOptions{}); err != nil {
				t.Fatal(err)
			}
			n, err := e.client.ParsePaidNotify(e.lastPaid(t))
			if err != nil || !n.Success || n.OutTradeNo != "NT1" || n.TotalFen != 5000 || n.MchID != mchID || n.TransactionID == "" {
				t.Fatalf("notify: %+v %v", n, err)
			}
			s, err := e.client.QueryOrder(ctx, "NT1")
			if err != nil || s.TradeState != payment.TradeSuccess || s.TransactionID != n.TransactionID {
				t.Fatalf("query after pay: %+v %v", s, err)
			}
			if err := e.client.CloseOrder(ctx, "NT1"); !errors.Is(err, payment.ErrOrderPaid) {
				t.Fatalf("close of a paid order: %v, want ErrOrderPaid", err)
			}
			acc, err := e.client.Refund(ctx, payment.RefundRequest{OutTradeNo: "NT1", OutRefundNo: "RF1", TotalFen: 5000, RefundFen: 5000, Reason: "免费取消"})
			if err != nil || acc.RefundID == "" {
				t.Fatalf("refund: %+v %v", acc, err)
			}
			// Repeating a refund (the outbox retrying after a lost answer) is the same refund.
			if again, err := e.client.Refund(ctx, payment.RefundRequest{OutTradeNo: "NT1", OutRefundNo: "RF1", TotalFen: 5000, RefundFen: 5000}); err != nil || again.RefundID != acc.RefundID {
				t.Fatalf("repeated refund: %+v %v", again, err)
			}
			e.fake.Wait()
			e.mu.Lock()
			rb := e.refunds[0]
			e.mu.Unlock()
			rn, err := e.client.ParseRefundNotify(rb)
			if err != nil || rn.OutRefundNo != "RF1" || rn.RefundFen != 5000 || rn.Status != "SUCCESS" || rn.RefundID != acc.RefundID {
				t.Fatalf("refund notify: %+v %v", rn, err)
			}
		})
	}
}

func TestCouponNotificationVerifies(t *testing.T) {
	e := newEnv(t, pay.SignMD5)
	if _, err := e.client.CreateOrder(context.Background(), order("NTC")); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.Pay("NTC", fakepay.PayOptions{CouponFen: 1000}); err != nil {
		t.Fatal(err)
	}
	body := e.lastPaid(t)
	if !strings.Contains(string(body), "coupon_id_0") {
		t.Fatalf("fake sent no coupon fields: %s", body)
	}
	n, err := e.client.ParsePaidNotify(body)
	if err != nil || n.TotalFen != 5000 || n.CashFen != 4000 {
		t.Fatalf("coupon notify: %+v %v", n, err)
	}
	// A coupon field this service never reads is still covered by the signature.
	forged := strings.Replace(string(body), "<coupon_fee_0><![CDATA[1000]]>", "<coupon_fee_0><![CDATA[1001]]>", 1)
	if forged == string(body) {
		t.Fatal("test did not change the body")
	}
	if _, err := e.client.ParsePaidNotify([]byte(forged)); !errors.Is(err, payment.ErrBadNotify) {
		t.Fatalf("tampered coupon field: %v, want ErrBadNotify", err)
	}
}

func TestForgedNotifications(t *testing.T) {
	e := newEnv(t, pay.SignMD5)
	base := map[string]string{"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": appID, "mch_id": mchID, "nonce_str": "n",
		"out_trade_no": "NT9", "transaction_id": "4200x", "total_fee": "5000", "cash_fee": "5000", "time_end": "20241201120000"}
	signed := func(f map[string]string, k string) []byte {
		g := map[string]string{}
		for a, b := range f {
			g[a] = b
		}
		g["sign"] = fakepay.SignFields(g, "MD5", k)
		return fakepay.Encode(g)
	}
	if _, err := e.client.ParsePaidNotify(signed(base, key)); err != nil {
		t.Fatalf("genuine: %v", err)
	}
	cases := map[string][]byte{
		"wrong key":     signed(base, strings.Repeat("x", 32)),
		"no sign":       fakepay.Encode(base),
		"amount edited": []byte(strings.Replace(string(signed(base, key)), "[5000]]></total_fee>", "[1]]></total_fee>", 1)),
		"field added":   []byte(strings.Replace(string(signed(base, key)), "</xml>", "<attach>x</attach></xml>", 1)),
		"field twice":   []byte(strings.Replace(string(signed(base, key)), "</xml>", "<total_fee>1</total_fee></xml>", 1)),
		"not xml":       []byte("return_code=SUCCESS"),
		"doctype":       []byte(`<!DOCTYPE xml [<!ENTITY a "b">]><xml><a>&a;</a></xml>`),
	}
	for name, body := range cases {
		if _, err := e.client.ParsePaidNotify(body); !errors.Is(err, payment.ErrBadNotify) {
			t.Errorf("%s: %v, want ErrBadNotify", name, err)
		}
	}
	for name, body := range map[string][]byte{
		"not encrypted": fakepay.Encode(map[string]string{"return_code": "SUCCESS", "appid": appID, "mch_id": mchID, "req_info": "aGVsbG8gd29ybGQhISEhISEhIQ=="}),
		"other mch":     fakepay.Encode(map[string]string{"return_code": "SUCCESS", "appid": appID, "mch_id": "1", "req_info": "x"}),
		"bad padding":   fakepay.Encode(map[string]string{"return_code": "SUCCESS", "appid": appID, "mch_id": mchID, "req_info": encrypted(t, strings.Repeat("\xff", 16), key)}),
	} {
		if _, err := e.client.ParseRefundNotify(body); !errors.Is(err, payment.ErrBadNotify) {
			t.Errorf("refund %s: %v, want ErrBadNotify", name, err)
		}
	}
}

// encrypted encrypts plain raw (its last byte is the "padding" length) so the
// decryption's unpadding is exercised with a forged value.
func encrypted(t *testing.T, plain, k string) string {
	t.Helper()
	s, err := fakepay.EncryptReqInfo([]byte(plain)[:15], k) // 15 bytes + 1 byte pad = one block
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestProviderFailures(t *testing.T) {
	e := newEnv(t, pay.SignMD5)
	ctx := context.Background()
	e.fake.SetMode(fakepay.Mode{Down: true})
	if _, err := e.client.CreateOrder(ctx, order("NTD")); !errors.Is(err, payment.ErrUnavailable) {
		t.Fatalf("down: %v", err)
	}
	e.fake.SetMode(fakepay.Mode{Fail: "SYSTEMERROR"})
	if _, err := e.client.CreateOrder(ctx, order("NTD")); !errors.Is(err, payment.ErrUnavailable) {
		t.Fatalf("SYSTEMERROR: %v", err)
	}
	e.fake.SetMode(fakepay.Mode{})
	if _, err := e.client.QueryOrder(ctx, "nope"); !errors.Is(err, payment.ErrOrderNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
	if _, err := e.client.CreateOrder(ctx, order("NTE")); err != nil {
		t.Fatal(err)
	}
	if err := e.client.CloseOrder(ctx, "NTE"); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := e.client.CloseOrder(ctx, "NTE"); err != nil {
		t.Fatalf("close again: %v", err)
	}
	if err := e.fake.Pay("NTE", fakepay.PayOptions{}); err == nil {
		t.Fatal("a closed order took payment")
	}

	// A client with the wrong API key: the fake refuses the signature.
	p12, _ := e.ca.MerchantP12(mchID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	bad, err := pay.New(pay.Config{AppID: appID, MchID: mchID, APIKey: strings.Repeat("k", 32), CertP12: p12, APIBase: e.base,
		NotifyURL: "http://x/n", RefundNotifyURL: "http://x/r", RootCAs: e.ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.CreateOrder(ctx, order("NTK")); !errors.Is(err, payment.ErrUnavailable) || e.fake.Rejected("sign") == 0 {
		t.Fatalf("wrong key: %v (rejected %d)", err, e.fake.Rejected("sign"))
	}

	// A refund with a certificate from another CA: the fake refuses it.
	other, _ := fakepay.NewCA()
	otherP12, _ := other.MerchantP12(mchID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	stranger, err := pay.New(pay.Config{AppID: appID, MchID: mchID, APIKey: key, CertP12: otherP12, APIBase: e.base,
		NotifyURL: "http://x/n", RefundNotifyURL: "http://x/r", RootCAs: e.ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateOrder(ctx, order("NTR")); err != nil {
		t.Fatal(err)
	}
	_ = e.fake.Pay("NTR", fakepay.PayOptions{})
	if _, err := stranger.Refund(ctx, payment.RefundRequest{OutTradeNo: "NTR", OutRefundNo: "R", TotalFen: 5000, RefundFen: 5000}); err == nil {
		t.Fatal("refund with a foreign certificate accepted")
	}
}

func TestCertificateCheckedAtStart(t *testing.T) {
	ca, _ := fakepay.NewCA()
	good, _ := ca.MerchantP12(mchID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	expired, _ := ca.MerchantP12(mchID, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	otherPassword, _ := ca.MerchantP12("1234", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	cfg := func(p12 []byte) pay.Config {
		return pay.Config{AppID: appID, MchID: mchID, APIKey: key, CertP12: p12, NotifyURL: "https://x/n", RefundNotifyURL: "https://x/r"}
	}
	if _, err := pay.New(cfg(good)); err != nil {
		t.Fatalf("good certificate: %v", err)
	}
	for name, p12 := range map[string][]byte{"expired": expired, "password is not the mch id": otherPassword, "garbage": []byte("nope"), "empty": nil} {
		if _, err := pay.New(cfg(p12)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	short := cfg(good)
	short.APIKey = "short"
	if _, err := pay.New(short); err == nil {
		t.Error("a short API key was accepted")
	}
}

func nowMinusHour() time.Time { return time.Now().Add(-time.Hour) }
func nowPlusDay() time.Time   { return time.Now().Add(24 * time.Hour) }
