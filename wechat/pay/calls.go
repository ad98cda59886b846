package pay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/silenceper/wechat/v2/pay/config"
	"github.com/silenceper/wechat/v2/pay/notify"
	"github.com/silenceper/wechat/v2/pay/refund"

	"nantian/models/payment"
)

// The API paths, as silenceper's gateways name them.
const (
	pathUnifiedOrder = "/pay/unifiedorder"
	pathOrderQuery   = "/pay/orderquery"
	pathCloseOrder   = "/pay/closeorder"
	pathRefund       = "/secapi/pay/refund"
)

// CreateOrder is the unified order (trade_type JSAPI), with time_expire so WeChat
// stops taking money when the held place is gone. The field set is silenceper's
// order.PrePayOrder's.
func (c *Client) CreateOrder(ctx context.Context, o payment.OrderRequest) (string, error) {
	if o.TotalFen <= 0 {
		return "", fmt.Errorf("wechat/pay: order %s: amount %d fen", o.OutTradeNo, o.TotalFen)
	}
	ip := o.ClientIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	fields := map[string]string{
		"body":             truncateBytes(o.Body, 127),
		"out_trade_no":     o.OutTradeNo,
		"total_fee":        strconv.FormatInt(o.TotalFen, 10),
		"spbill_create_ip": ip,
		"notify_url":       c.cfg.NotifyURL,
		"trade_type":       "JSAPI",
		"openid":           o.OpenID,
		"time_expire":      formatTime(o.ExpiresAt),
	}
	ans, err := c.call(ctx, pathUnifiedOrder, fields, false)
	if err != nil {
		return "", err
	}
	if ans["prepay_id"] == "" {
		return "", fmt.Errorf("%w: unified order answered without prepay_id", payment.ErrUnavailable)
	}
	return ans["prepay_id"], nil
}

// PayRequest signs wx.requestPayment's parameters for prepayID, as silenceper's
// order.BridgeConfig does (appId, nonceStr, package, signType, timeStamp), without
// placing a new order: a prepay id is valid two hours, far longer than a held place.
func (c *Client) PayRequest(prepayID string) payment.PayRequest {
	r := payment.PayRequest{
		TimeStamp: strconv.FormatInt(time.Now().Unix(), 10),
		NonceStr:  nonce(),
		Package:   "prepay_id=" + prepayID,
		SignType:  c.cfg.SignType,
	}
	r.PaySign, _ = Sign(map[string]string{
		"appId": c.cfg.AppID, "nonceStr": r.NonceStr, "package": r.Package,
		"signType": r.SignType, "timeStamp": r.TimeStamp,
	}, c.cfg.SignType, c.cfg.APIKey) // the sign type was checked in New
	return r
}

// QueryOrder is the order query by out_trade_no.
func (c *Client) QueryOrder(ctx context.Context, outTradeNo string) (payment.OrderState, error) {
	ans, err := c.call(ctx, pathOrderQuery, map[string]string{"out_trade_no": outTradeNo}, false)
	if err != nil {
		return payment.OrderState{}, err
	}
	st := payment.OrderState{
		OutTradeNo:    ans["out_trade_no"],
		TradeState:    ans["trade_state"],
		TransactionID: ans["transaction_id"],
		MchID:         ans["mch_id"],
		PaidAt:        parseTime(ans["time_end"]),
	}
	if st.OutTradeNo != outTradeNo {
		return payment.OrderState{}, fmt.Errorf("%w: query for %s answered for %q", payment.ErrUnavailable, outTradeNo, st.OutTradeNo)
	}
	if v := ans["total_fee"]; v != "" {
		if st.TotalFen, err = fen(v); err != nil {
			return payment.OrderState{}, fmt.Errorf("%w: query: %v", payment.ErrUnavailable, err)
		}
	}
	if v := ans["cash_fee"]; v != "" {
		if st.CashFen, err = fen(v); err != nil {
			return payment.OrderState{}, fmt.Errorf("%w: query: %v", payment.ErrUnavailable, err)
		}
	}
	return st, nil
}

// CloseOrder closes an unpaid order. ORDERCLOSED counts as done; ORDERPAID is
// payment.ErrOrderPaid so the caller settles it as paid instead of releasing.
func (c *Client) CloseOrder(ctx context.Context, outTradeNo string) error {
	_, err := c.call(ctx, pathCloseOrder, map[string]string{"out_trade_no": outTradeNo}, false)
	var be *BusinessError
	if errors.As(err, &be) && be.Code == "ORDERCLOSED" {
		return nil
	}
	return err
}

// Refund requests a refund over mutual TLS with the merchant certificate. The
// signed parameters are silenceper's refund.GetSignParam.
func (c *Client) Refund(ctx context.Context, r payment.RefundRequest) (payment.RefundAccepted, error) {
	if r.RefundFen <= 0 || r.RefundFen > r.TotalFen {
		return payment.RefundAccepted{}, fmt.Errorf("wechat/pay: refund %s: %d of %d fen", r.OutRefundNo, r.RefundFen, r.TotalFen)
	}
	rf := refund.NewRefund(&config.Config{AppID: c.cfg.AppID, MchID: c.cfg.MchID, Key: c.cfg.APIKey})
	fields := rf.GetSignParam(&refund.Params{
		OutTradeNo:  r.OutTradeNo,
		OutRefundNo: r.OutRefundNo,
		TotalFee:    strconv.FormatInt(r.TotalFen, 10),
		RefundFee:   strconv.FormatInt(r.RefundFen, 10),
		RefundDesc:  truncateBytes(r.Reason, 80),
		NotifyURL:   c.cfg.RefundNotifyURL,
	})
	fields["nonce_str"] = nonce()
	ans, err := c.call(ctx, pathRefund, fields, true)
	if err != nil {
		return payment.RefundAccepted{}, err
	}
	return payment.RefundAccepted{RefundID: ans["refund_id"]}, nil
}

// ParsePaidNotify verifies a payment notification over every field received and
// reads it. A notification that does not verify, or is not for this merchant and
// app, is payment.ErrBadNotify.
func (c *Client) ParsePaidNotify(body []byte) (payment.PaidNotice, error) {
	f, err := ParseXML(body)
	if err != nil {
		return payment.PaidNotice{}, fmt.Errorf("%w: %v", payment.ErrBadNotify, err)
	}
	if f["return_code"] != "SUCCESS" {
		return payment.PaidNotice{}, fmt.Errorf("%w: return_code %q", payment.ErrBadNotify, f["return_code"])
	}
	if !Verify(f, c.cfg.SignType, c.cfg.APIKey) {
		return payment.PaidNotice{}, fmt.Errorf("%w: signature", payment.ErrBadNotify)
	}
	n := payment.PaidNotice{
		OutTradeNo:    f["out_trade_no"],
		TransactionID: f["transaction_id"],
		MchID:         f["mch_id"],
		AppID:         f["appid"],
		OpenID:        f["openid"],
		Success:       f["result_code"] == "SUCCESS",
		PaidAt:        parseTime(f["time_end"]),
	}
	if n.OutTradeNo == "" || (n.Success && n.TransactionID == "") {
		return payment.PaidNotice{}, fmt.Errorf("%w: out_trade_no or transaction_id missing", payment.ErrBadNotify)
	}
	if n.TotalFen, err = fen(f["total_fee"]); err != nil {
		return payment.PaidNotice{}, fmt.Errorf("%w: total_fee: %v", payment.ErrBadNotify, err)
	}
	if v := f["cash_fee"]; v != "" {
		if n.CashFen, err = fen(v); err != nil {
			return payment.PaidNotice{}, fmt.Errorf("%w: cash_fee: %v", payment.ErrBadNotify, err)
		}
	}
	return n, nil
}

// ParseRefundNotify decrypts req_info (AES-256-ECB, key md5(API key), silenceper's
// notify.DecryptReqInfo) and reads it. The outer message carries no signature; the
// encryption with the API key is what authenticates it, so a message that does not
// decrypt to well-formed XML with the required fields is payment.ErrBadNotify.
func (c *Client) ParseRefundNotify(body []byte) (payment.RefundNotice, error) {
	f, err := ParseXML(body)
	if err != nil {
		return payment.RefundNotice{}, fmt.Errorf("%w: %v", payment.ErrBadNotify, err)
	}
	if f["return_code"] != "SUCCESS" {
		return payment.RefundNotice{}, fmt.Errorf("%w: return_code %q", payment.ErrBadNotify, f["return_code"])
	}
	if f["mch_id"] != c.cfg.MchID || f["appid"] != c.cfg.AppID {
		return payment.RefundNotice{}, fmt.Errorf("%w: for mch_id %q appid %q", payment.ErrBadNotify, f["mch_id"], f["appid"])
	}
	info, err := decryptReqInfo(f["req_info"], c.cfg.APIKey)
	if err != nil {
		return payment.RefundNotice{}, fmt.Errorf("%w: req_info: %v", payment.ErrBadNotify, err)
	}
	n := payment.RefundNotice{MchID: f["mch_id"]}
	if info.OutTradeNO != nil {
		n.OutTradeNo = *info.OutTradeNO
	}
	if info.OutRefundNO != nil {
		n.OutRefundNo = *info.OutRefundNO
	}
	if info.RefundID != nil {
		n.RefundID = *info.RefundID
	}
	if info.RefundStatus != nil {
		n.Status = *info.RefundStatus
	}
	if info.TotalFee != nil {
		n.TotalFen = int64(*info.TotalFee)
	}
	if info.RefundFee != nil {
		n.RefundFen = int64(*info.RefundFee)
	}
	if info.SuccessTime != nil {
		n.SuccessAt, _ = time.ParseInLocation(time.DateTime, *info.SuccessTime, beijing)
	}
	if n.OutRefundNo == "" || n.OutTradeNo == "" || n.Status == "" || n.RefundFen <= 0 {
		return payment.RefundNotice{}, fmt.Errorf("%w: req_info lacks out_refund_no, out_trade_no, refund_status or refund_fee", payment.ErrBadNotify)
	}
	return n, nil
}

// decryptReqInfo runs silenceper's decryption, turning the panic its unchecked
// PKCS#7 unpadding raises on a forged ciphertext into an error.
func decryptReqInfo(reqInfo, key string) (info *notify.RefundedReqInfo, err error) {
	if reqInfo == "" {
		return nil, errors.New("empty")
	}
	defer func() {
		if r := recover(); r != nil {
			info, err = nil, fmt.Errorf("bad padding: %v", r)
		}
	}()
	n := notify.NewNotify(&config.Config{Key: key})
	return n.DecryptReqInfo(&notify.RefundedResult{ReqInfo: &reqInfo})
}

// truncateBytes cuts s to at most n bytes on a rune boundary (WeChat Pay limits body
// and refund_desc in bytes).
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
