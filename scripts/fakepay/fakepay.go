// Package fakepay is a local fake of the WeChat Pay API v2 endpoints the nantian
// backend calls (JSAPI), because the real api.mch.weixin.qq.com needs a merchant
// account, moves real money and cannot be made to fail on demand.
//
// It checks requests the way the real one does: the XML body's signature (MD5 or
// HMAC-SHA256 with the merchant API key, over every field), appid and mch_id, and for
// /secapi/pay/refund a TLS client certificate issued to the mch id. It keeps orders
// in memory, and when told that a resident paid (the mini-program's part, which has
// no API) it posts signed notifications to the order's notify_url, retrying until
// the answer is SUCCESS as WeChat Pay does. Refunds are accepted and then notified
// with req_info encrypted (AES-256-ECB, key md5(API key)).
//
// Endpoints: POST /pay/unifiedorder, /pay/orderquery, /pay/closeorder,
// /secapi/pay/refund. Control (JSON, for dev and tests; also methods on *Server):
//
//	POST /fake/pay     {"out_trade_no", "coupon_fen"?, "force"?}  the resident pays
//	POST /fake/mode    Mode                                       slow, fail, down, notify modes
//	POST /fake/flush   {"reverse"?}                               send held notifications
//	GET  /fake/orders/{out_trade_no}                              an order's state
//
// A *Server is an http.Handler and safe for concurrent use. Serve it over TLS
// (CA.ServerTLS) so the refund's client certificate can be checked.
package fakepay

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options are the merchant's credentials the fake accepts.
type Options struct {
	AppID  string
	MchID  string
	APIKey string
	// Client posts notifications; nil means a client with a 5 s timeout.
	Client *http.Client
	// RetryEvery is the pause between notification retries (WeChat: 15 s, 15 s,
	// 30 s, 3 min, ...); zero means 200 ms. Retries stop after 8 attempts.
	RetryEvery time.Duration
	Log        *slog.Logger
}

// Mode is how the fake misbehaves. The zero Mode is a healthy WeChat Pay.
type Mode struct {
	// DelayMS makes every API answer wait this long (slow WeChat Pay).
	DelayMS int `json:"delay_ms"`
	// Down makes every API call answer HTTP 503 (unreachable).
	Down bool `json:"down"`
	// Fail makes API calls answer result_code FAIL with this err_code (e.g.
	// SYSTEMERROR); "" means succeed.
	Fail string `json:"fail"`
	// Notify is "" (send once, retry until SUCCESS), "none" (never notify) or
	// "hold" (queue until Flush, which can send them in reverse order).
	Notify string `json:"notify"`
	// Duplicates sends each notification this many times at once (≥ 1).
	Duplicates int `json:"duplicates"`
}

// Order is the fake's record of an order.
type Order struct {
	OutTradeNo    string    `json:"out_trade_no"`
	TotalFen      int64     `json:"total_fee"`
	OpenID        string    `json:"openid"`
	NotifyURL     string    `json:"notify_url"`
	SignType      string    `json:"sign_type"`
	PrepayID      string    `json:"prepay_id"`
	TimeExpire    time.Time `json:"time_expire"`
	State         string    `json:"trade_state"` // NOTPAY, SUCCESS, CLOSED, REFUND
	TransactionID string    `json:"transaction_id,omitempty"`
	CashFen       int64     `json:"cash_fee,omitempty"`
	RefundedFen   int64     `json:"refunded_fen"`
	Closes        int       `json:"closes"`
	PaidNotifies  int       `json:"paid_notifies"` // deliveries answered SUCCESS
	params        map[string]string
}

// Refund is the fake's record of a refund.
type Refund struct {
	OutRefundNo string `json:"out_refund_no"`
	OutTradeNo  string `json:"out_trade_no"`
	RefundID    string `json:"refund_id"`
	RefundFen   int64  `json:"refund_fee"`
	TotalFen    int64  `json:"total_fee"`
	NotifyURL   string `json:"notify_url"`
	Requests    int    `json:"requests"`
}

type notification struct {
	url  string
	body []byte
}

// Server is the fake. Create it with New.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu             sync.Mutex
	mode           Mode
	orders         map[string]*Order
	refunds        map[string]*Refund
	held           []notification
	calls          map[string]int
	failedNotifies int            // deliveries not answered SUCCESS (retried)
	rejected       map[string]int // reason → count (bad signature, wrong mch_id, no cert, ...)
	seq            int
	wg             sync.WaitGroup
}

// New returns a fake accepting opts' credentials.
func New(opts Options) *Server {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 200 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{opts: opts, orders: map[string]*Order{}, refunds: map[string]*Refund{}, calls: map[string]int{}, rejected: map[string]int{}}
	m := http.NewServeMux()
	m.HandleFunc("POST /pay/unifiedorder", s.api(s.unifiedOrder, false))
	m.HandleFunc("POST /pay/orderquery", s.api(s.orderQuery, false))
	m.HandleFunc("POST /pay/closeorder", s.api(s.closeOrder, false))
	m.HandleFunc("POST /secapi/pay/refund", s.api(s.refund, true))
	m.HandleFunc("POST /fake/pay", s.ctlPay)
	m.HandleFunc("POST /fake/mode", s.ctlMode)
	m.HandleFunc("POST /fake/flush", s.ctlFlush)
	m.HandleFunc("GET /fake/orders/{no}", s.ctlOrder)
	s.mux = m
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SetMode replaces the misbehaviour.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	s.mode = m
	s.mu.Unlock()
}

// Order returns a copy of an order's state.
func (s *Server) Order(outTradeNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return Order{}, false
	}
	return *o, true
}

// Refunds returns copies of every refund, in no particular order.
func (s *Server) Refunds() []Refund {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Refund, 0, len(s.refunds))
	for _, r := range s.refunds {
		out = append(out, *r)
	}
	return out
}

// Calls counts accepted API calls by path.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// Rejected counts refused API calls by reason ("sign", "appid", "mch_id", "cert").
func (s *Server) Rejected(reason string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected[reason]
}

// FailedNotifies counts notification deliveries that got no SUCCESS (each is
// retried, as WeChat Pay does).
func (s *Server) FailedNotifies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failedNotifies
}

// Wait blocks until every notification sent so far has been delivered or given up.
func (s *Server) Wait() { s.wg.Wait() }

// PayOptions are how a resident pays.
type PayOptions struct {
	// CouponFen is paid by a coupon: cash_fee = total − coupon, and the
	// notification carries coupon_count, coupon_type_0, coupon_id_0, coupon_fee_0.
	CouponFen int64 `json:"coupon_fen"`
	// Force pays even a closed or expired order: the race where WeChat took the
	// money just as the merchant gave the place away.
	Force bool `json:"force"`
}

// Pay is the resident paying in the mini-program: the order becomes SUCCESS and a
// notification goes to its notify_url (as the mode says).
func (s *Server) Pay(outTradeNo string, po PayOptions) error {
	s.mu.Lock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("no order %s", outTradeNo)
	}
	if o.State != "NOTPAY" && !(po.Force && o.State == "CLOSED") {
		s.mu.Unlock()
		return fmt.Errorf("order %s is %s", outTradeNo, o.State)
	}
	if !po.Force && time.Now().After(o.TimeExpire) {
		s.mu.Unlock()
		return fmt.Errorf("order %s expired at %s", outTradeNo, o.TimeExpire)
	}
	s.seq++
	o.State = "SUCCESS"
	o.TransactionID = "4200" + time.Now().In(beijing).Format("20060102") + randDigits(14)
	o.CashFen = o.TotalFen - po.CouponFen
	f := map[string]string{
		"return_code": "SUCCESS", "result_code": "SUCCESS",
		"appid": s.opts.AppID, "mch_id": s.opts.MchID, "nonce_str": randHex(16),
		"openid": o.OpenID, "is_subscribe": "N", "trade_type": "JSAPI", "bank_type": "OTHERS",
		"total_fee": itoa(o.TotalFen), "fee_type": "CNY", "cash_fee": itoa(o.CashFen),
		"transaction_id": o.TransactionID, "out_trade_no": o.OutTradeNo,
		"time_end": time.Now().In(beijing).Format("20060102150405"),
	}
	if o.SignType == "HMAC-SHA256" {
		f["sign_type"] = "HMAC-SHA256"
	}
	if po.CouponFen > 0 {
		f["coupon_fee"] = itoa(po.CouponFen)
		f["coupon_count"] = "1"
		f["coupon_type_0"] = "CASH"
		f["coupon_id_0"] = "10000" + randHex(4)
		f["coupon_fee_0"] = itoa(po.CouponFen)
	}
	f["sign"] = sign(f, o.SignType, s.opts.APIKey)
	n := notification{url: o.NotifyURL, body: encode(f)}
	s.mu.Unlock()
	s.dispatch(n, o.OutTradeNo)
	return nil
}

// Flush sends the notifications held in "hold" mode, newest first if reverse.
func (s *Server) Flush(reverse bool) {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	if reverse {
		for i, j := 0, len(held)-1; i < j; i, j = i+1, j-1 {
			held[i], held[j] = held[j], held[i]
		}
	}
	for _, n := range held {
		s.deliver(n, "")
	}
}

// dispatch sends n as the mode says.
func (s *Server) dispatch(n notification, paidOrder string) {
	s.mu.Lock()
	mode := s.mode
	switch mode.Notify {
	case "none":
		s.mu.Unlock()
		return
	case "hold":
		s.held = append(s.held, n)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	copies := max(mode.Duplicates, 1)
	for range copies {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.deliverRetrying(n, paidOrder)
		}()
	}
}

// deliver posts n once and reports whether the answer was SUCCESS.
func (s *Server) deliver(n notification, paidOrder string) bool {
	resp, err := s.opts.Client.Post(n.url, "text/xml", bytes.NewReader(n.body))
	if err != nil {
		s.opts.Log.Info("fakepay: notify failed", "url", n.url, "err", err)
		s.mu.Lock()
		s.failedNotifies++
		s.mu.Unlock()
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	f, err := parse(b)
	ok := err == nil && resp.StatusCode == http.StatusOK && f["return_code"] == "SUCCESS"
	if !ok {
		s.mu.Lock()
		s.failedNotifies++
		s.mu.Unlock()
	}
	if ok && paidOrder != "" {
		s.mu.Lock()
		if o := s.orders[paidOrder]; o != nil {
			o.PaidNotifies++
		}
		s.mu.Unlock()
	}
	return ok
}

func (s *Server) deliverRetrying(n notification, paidOrder string) {
	for attempt := 0; attempt < 8; attempt++ {
		if s.deliver(n, paidOrder) {
			return
		}
		time.Sleep(s.opts.RetryEvery)
	}
}

// api wraps an endpoint with the checks every call gets: mode, XML, appid, mch_id,
// signature, and for secure endpoints the client certificate.
func (s *Server) api(h func(f map[string]string) map[string]string, secure bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mode := s.mode
		s.mu.Unlock()
		if mode.DelayMS > 0 {
			select {
			case <-time.After(time.Duration(mode.DelayMS) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		if mode.Down {
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err != nil {
			return
		}
		f, err := parse(body)
		if err != nil {
			s.reply(w, fail("XML格式错误"), "")
			return
		}
		reject := func(reason, msg string) {
			s.mu.Lock()
			s.rejected[reason]++
			s.mu.Unlock()
			s.reply(w, fail(msg), "")
		}
		switch {
		case f["appid"] != s.opts.AppID:
			reject("appid", "appid不存在")
			return
		case f["mch_id"] != s.opts.MchID:
			reject("mch_id", "商户号mch_id与appid不匹配")
			return
		case f["nonce_str"] == "" || len(f["nonce_str"]) > 32:
			reject("nonce", "nonce_str参数错误")
			return
		}
		st := f["sign_type"]
		if st == "" {
			st = "MD5"
		}
		if st != "MD5" && st != "HMAC-SHA256" {
			reject("sign", "签名类型错误")
			return
		}
		if !hmac.Equal([]byte(sign(f, st, s.opts.APIKey)), []byte(f["sign"])) {
			reject("sign", "签名错误")
			return
		}
		if secure && !s.certOK(r) {
			reject("cert", "证书错误")
			return
		}
		s.mu.Lock()
		s.calls[r.URL.Path]++
		s.mu.Unlock()
		ans := h(f)
		if mode.Fail != "" {
			ans = map[string]string{"return_code": "SUCCESS", "result_code": "FAIL", "err_code": mode.Fail, "err_code_des": "fakepay: told to fail"}
		}
		s.reply(w, ans, st)
	}
}

// certOK checks the refund's client certificate: verified against the CA by the
// TLS layer (VerifyClientCertIfGiven), and issued to this mch id.
func (s *Server) certOK(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return false
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName == s.opts.MchID
}

func (s *Server) reply(w http.ResponseWriter, ans map[string]string, signType string) {
	if ans["return_code"] == "SUCCESS" {
		ans["appid"] = s.opts.AppID
		ans["mch_id"] = s.opts.MchID
		ans["nonce_str"] = randHex(16)
		ans["sign"] = sign(ans, signType, s.opts.APIKey)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(encode(ans))
}

func fail(msg string) map[string]string {
	return map[string]string{"return_code": "FAIL", "return_msg": msg}
}

func bizFail(code, msg string) map[string]string {
	return map[string]string{"return_code": "SUCCESS", "result_code": "FAIL", "err_code": code, "err_code_des": msg}
}

func ok(f map[string]string) map[string]string {
	f["return_code"] = "SUCCESS"
	f["return_msg"] = "OK"
	f["result_code"] = "SUCCESS"
	return f
}

// orderParams are the fields that make two unified orders "the same order".
var orderParams = []string{"body", "total_fee", "openid", "notify_url", "trade_type", "time_expire"}

func (s *Server) unifiedOrder(f map[string]string) map[string]string {
	for _, k := range []string{"body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type"} {
		if f[k] == "" {
			return fail("缺少参数" + k)
		}
	}
	if f["trade_type"] == "JSAPI" && f["openid"] == "" {
		return bizFail("PARAM_ERROR", "JSAPI支付必须传openid")
	}
	if len(f["out_trade_no"]) > 32 {
		return bizFail("PARAM_ERROR", "out_trade_no长度超过32")
	}
	total, err := strconv.ParseInt(f["total_fee"], 10, 64)
	if err != nil || total <= 0 {
		return bizFail("PARAM_ERROR", "total_fee格式错误")
	}
	var expire time.Time
	if v := f["time_expire"]; v != "" {
		expire, err = time.ParseInLocation("20060102150405", v, beijing)
		if err != nil {
			return bizFail("PARAM_ERROR", "time_expire格式错误")
		}
		if time.Until(expire) < time.Minute {
			return bizFail("PARAM_ERROR", "time_expire时间过短，刷卡至少1分钟，其他5分钟")
		}
	} else {
		expire = time.Now().Add(2 * time.Hour)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, dup := s.orders[f["out_trade_no"]]; dup {
		switch o.State {
		case "SUCCESS", "REFUND":
			return bizFail("ORDERPAID", "该订单已支付")
		case "CLOSED":
			return bizFail("ORDERCLOSED", "该订单已关")
		}
		for _, k := range orderParams {
			if o.params[k] != f[k] {
				return bizFail("INVALID_REQUEST", "201 商户订单号重复")
			}
		}
		return ok(map[string]string{"trade_type": "JSAPI", "prepay_id": o.PrepayID})
	}
	s.seq++
	st := f["sign_type"]
	if st == "" {
		st = "MD5"
	}
	o := &Order{
		OutTradeNo: f["out_trade_no"], TotalFen: total, OpenID: f["openid"], NotifyURL: f["notify_url"],
		SignType: st, PrepayID: fmt.Sprintf("wx%s%s", time.Now().In(beijing).Format("02150405"), randHex(12)), TimeExpire: expire,
		State: "NOTPAY", params: map[string]string{},
	}
	for _, k := range orderParams {
		o.params[k] = f[k]
	}
	s.orders[o.OutTradeNo] = o
	return ok(map[string]string{"trade_type": "JSAPI", "prepay_id": o.PrepayID})
}

func (s *Server) orderQuery(f map[string]string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, found := s.orders[f["out_trade_no"]]
	if !found {
		return bizFail("ORDERNOTEXIST", "此交易订单号不存在")
	}
	ans := map[string]string{
		"out_trade_no": o.OutTradeNo, "trade_state": o.State, "total_fee": itoa(o.TotalFen),
		"openid": o.OpenID, "trade_type": "JSAPI",
	}
	if o.TransactionID != "" {
		ans["transaction_id"] = o.TransactionID
		ans["cash_fee"] = itoa(o.CashFen)
		ans["time_end"] = time.Now().In(beijing).Format("20060102150405")
	}
	return ok(ans)
}

func (s *Server) closeOrder(f map[string]string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, found := s.orders[f["out_trade_no"]]
	if !found {
		return bizFail("ORDERNOTEXIST", "订单不存在")
	}
	o.Closes++
	switch o.State {
	case "SUCCESS", "REFUND":
		return bizFail("ORDERPAID", "订单已支付，不能发起关单")
	case "CLOSED":
		return bizFail("ORDERCLOSED", "订单已关闭，无法重复关闭")
	}
	o.State = "CLOSED"
	return ok(map[string]string{})
}

func (s *Server) refund(f map[string]string) map[string]string {
	total, err1 := strconv.ParseInt(f["total_fee"], 10, 64)
	amount, err2 := strconv.ParseInt(f["refund_fee"], 10, 64)
	if err1 != nil || err2 != nil || amount <= 0 || f["out_refund_no"] == "" {
		return bizFail("PARAM_ERROR", "参数错误")
	}
	s.mu.Lock()
	o, found := s.orders[f["out_trade_no"]]
	if !found {
		s.mu.Unlock()
		return bizFail("ORDERNOTEXIST", "订单不存在")
	}
	if rf, again := s.refunds[f["out_refund_no"]]; again {
		rf.Requests++
		defer s.mu.Unlock()
		if rf.RefundFen != amount || rf.OutTradeNo != o.OutTradeNo {
			return bizFail("INVALID_REQUEST", "同一笔退款单号参数不一致")
		}
		return ok(map[string]string{"out_trade_no": o.OutTradeNo, "out_refund_no": rf.OutRefundNo, "refund_id": rf.RefundID,
			"refund_fee": itoa(amount), "total_fee": itoa(o.TotalFen), "transaction_id": o.TransactionID})
	}
	switch {
	case o.State != "SUCCESS" && o.State != "REFUND":
		s.mu.Unlock()
		return bizFail("TRADE_STATE_ERROR", "订单状态错误")
	case total != o.TotalFen:
		s.mu.Unlock()
		return bizFail("INVALID_REQUEST", "订单金额或退款金额与之前请求不一致")
	case o.RefundedFen+amount > o.TotalFen:
		s.mu.Unlock()
		return bizFail("NOTENOUGH", "退款金额大于可退金额")
	}
	s.seq++
	rf := &Refund{OutRefundNo: f["out_refund_no"], OutTradeNo: o.OutTradeNo, RefundID: "5030" + time.Now().In(beijing).Format("20060102") + randDigits(14),
		RefundFen: amount, TotalFen: o.TotalFen, NotifyURL: f["notify_url"], Requests: 1}
	s.refunds[rf.OutRefundNo] = rf
	o.RefundedFen += amount
	o.State = "REFUND"
	n, err := s.refundNotification(rf)
	txn := o.TransactionID
	s.mu.Unlock()
	if err == nil && rf.NotifyURL != "" {
		s.dispatch(n, "")
	}
	return ok(map[string]string{"out_trade_no": rf.OutTradeNo, "out_refund_no": rf.OutRefundNo, "refund_id": rf.RefundID,
		"refund_fee": itoa(amount), "total_fee": itoa(rf.TotalFen), "transaction_id": txn})
}

// refundNotification builds the refund notification: plain outer fields, the
// result in req_info encrypted with AES-256-ECB under md5(API key) (lowercase hex,
// 32 bytes), PKCS#7 padded, base64.
func (s *Server) refundNotification(rf *Refund) (notification, error) {
	inner := map[string]string{
		"transaction_id": s.orders[rf.OutTradeNo].TransactionID, "out_trade_no": rf.OutTradeNo,
		"refund_id": rf.RefundID, "out_refund_no": rf.OutRefundNo,
		"total_fee": itoa(rf.TotalFen), "refund_fee": itoa(rf.RefundFen), "settlement_refund_fee": itoa(rf.RefundFen),
		"refund_status": "SUCCESS", "success_time": time.Now().In(beijing).Format(time.DateTime),
		"refund_recv_accout": "支付用户零钱", "refund_account": "REFUND_SOURCE_RECHARGE_FUNDS", "refund_request_source": "API",
	}
	enc, err := EncryptReqInfo(encodeRoot(inner, "root"), s.opts.APIKey)
	if err != nil {
		return notification{}, err
	}
	outer := map[string]string{"return_code": "SUCCESS", "appid": s.opts.AppID, "mch_id": s.opts.MchID, "nonce_str": randHex(16), "req_info": enc}
	return notification{url: rf.NotifyURL, body: encode(outer)}, nil
}

// EncryptReqInfo encrypts a refund notification's req_info as WeChat Pay does.
func EncryptReqInfo(plain []byte, apiKey string) (string, error) {
	sum := md5.Sum([]byte(apiKey))
	block, err := aes.NewCipher([]byte(hex.EncodeToString(sum[:])))
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(pad)}, pad)...)
	out := make([]byte, len(plain))
	for i := 0; i < len(plain); i += aes.BlockSize {
		block.Encrypt(out[i:i+aes.BlockSize], plain[i:i+aes.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// SignFields is WeChat Pay v2's signature, exported so tests can forge and sign
// notifications. Written independently of wechat/pay so the fake checks the adapter
// rather than sharing its mistakes.
func SignFields(f map[string]string, signType, key string) string { return sign(f, signType, key) }

func sign(f map[string]string, signType, key string) string {
	keys := make([]string, 0, len(f))
	for k, v := range f {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + f[k] + "&")
	}
	b.WriteString("key=" + key)
	if signType == "HMAC-SHA256" {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(b.String()))
		return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
	}
	sum := md5.Sum([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Encode writes a WeChat Pay XML message (fields as CDATA-free escaped text).
func Encode(f map[string]string) []byte { return encode(f) }

func encode(f map[string]string) []byte { return encodeRoot(f, "xml") }

func encodeRoot(f map[string]string, root string) []byte {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("<" + root + ">")
	for _, k := range keys {
		b.WriteString("<" + k + "><![CDATA[")
		b.WriteString(strings.ReplaceAll(f[k], "]]>", "]]]]><![CDATA[>"))
		b.WriteString("]]></" + k + ">")
	}
	b.WriteString("</" + root + ">")
	return b.Bytes()
}

func parse(body []byte) (map[string]string, error) {
	var doc struct {
		XMLName xml.Name
		Fields  []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.XMLName.Local != "xml" {
		return nil, fmt.Errorf("root %q", doc.XMLName.Local)
	}
	f := map[string]string{}
	for _, x := range doc.Fields {
		f[x.XMLName.Local] = x.Value
	}
	return f, nil
}

var beijing = time.FixedZone("CST", 8*3600)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// randDigits makes n random decimal digits: WeChat's ids are unique across every
// merchant and run, and so are the fake's (tests share one database).
func randDigits(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Control endpoints.

func (s *Server) ctlPay(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OutTradeNo string `json:"out_trade_no"`
		PayOptions
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.Pay(req.OutTradeNo, req.PayOptions); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlMode(w http.ResponseWriter, r *http.Request) {
	var m Mode
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.SetMode(m)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlFlush(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reverse bool `json:"reverse"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	s.Flush(req.Reverse)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ctlOrder(w http.ResponseWriter, r *http.Request) {
	o, found := s.Order(r.PathValue("no"))
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(o)
}
