package config

import (
	"errors"
	"net/url"
	"strings"
	"time"
)

// PaymentRules configure WeChat Pay (api.md, Payments). Merchant fields all empty
// means no merchant: paid programs are booked without collecting (dev), which
// serve refuses in production once a paid program is published.
type PaymentRules struct {
	MchID      string        // WECHATPAY_MCHID
	APIKey     Secret        // WECHATPAY_API_KEY, 32 characters
	CertP12    string        // WECHATPAY_CERT_P12: path of apiclient_cert.p12 (password = mch id)
	NotifyBase string        // WECHATPAY_NOTIFY_BASE: public https base of this service
	APIBase    string        // WECHATPAY_API_BASE
	APICA      string        // WECHATPAY_API_CA: PEM CA for a local fake pay server over https (dev/test only)
	SignType   string        // WECHATPAY_SIGN_TYPE: MD5 (default) or HMAC-SHA256
	Timeout    time.Duration // PAYMENT_TIMEOUT: how long an unpaid place is held
	// LateCancelRefundPercent (PAYMENT_LATE_CANCEL_REFUND_PERCENT, default 0) is
	// the share of a paid fee refunded for a cancel after the free window.
	LateCancelRefundPercent int
	WorkerEvery             time.Duration // PAYMENT_WORKER_EVERY: expiry, reconciliation, refunds
	ReconcileAfter          time.Duration // PAYMENT_RECONCILE_AFTER: query orders unnotified this long
}

// Configured reports whether a merchant is configured.
func (p PaymentRules) Configured() bool { return p.MchID != "" }

func loadPayments(e *envReader) PaymentRules {
	return PaymentRules{
		MchID:                   e.str("WECHATPAY_MCHID", ""),
		APIKey:                  Secret(e.str("WECHATPAY_API_KEY", "")),
		CertP12:                 e.str("WECHATPAY_CERT_P12", ""),
		NotifyBase:              strings.TrimRight(e.str("WECHATPAY_NOTIFY_BASE", ""), "/"),
		APIBase:                 strings.TrimRight(e.str("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com"), "/"),
		APICA:                   e.str("WECHATPAY_API_CA", ""),
		SignType:                e.str("WECHATPAY_SIGN_TYPE", "MD5"),
		Timeout:                 e.dur("PAYMENT_TIMEOUT", 15*time.Minute),
		LateCancelRefundPercent: e.int("PAYMENT_LATE_CANCEL_REFUND_PERCENT", 0),
		WorkerEvery:             e.dur("PAYMENT_WORKER_EVERY", 5*time.Second),
		ReconcileAfter:          e.dur("PAYMENT_RECONCILE_AFTER", time.Minute),
	}
}

func (p PaymentRules) validate(appEnv string) []error {
	var errs []error
	if p.Timeout < 2*time.Minute || p.Timeout > 2*time.Hour {
		// WeChat refuses a time_expire under a minute away, and a prepay id lives 2 h.
		errs = append(errs, errors.New("PAYMENT_TIMEOUT must be between 2m and 2h"))
	}
	if p.LateCancelRefundPercent < 0 || p.LateCancelRefundPercent > 100 || p.WorkerEvery <= 0 || p.ReconcileAfter <= 0 {
		errs = append(errs, errors.New("payment rules out of range (PAYMENT_*)"))
	}
	if !p.Configured() {
		return errs
	}
	if len(p.APIKey) != 32 {
		errs = append(errs, errors.New("WECHATPAY_API_KEY must be the merchant's 32-character API key"))
	}
	if p.CertP12 == "" {
		errs = append(errs, errors.New("WECHATPAY_CERT_P12 (path of apiclient_cert.p12) is required with WECHATPAY_MCHID"))
	}
	if u, err := url.Parse(p.NotifyBase); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		errs = append(errs, errors.New("WECHATPAY_NOTIFY_BASE must be this service's public URL"))
	}
	if appEnv == "production" {
		if !strings.HasPrefix(p.NotifyBase, "https://") || !strings.HasPrefix(p.APIBase, "https://") {
			errs = append(errs, errors.New("WECHATPAY_NOTIFY_BASE and WECHATPAY_API_BASE must be https in production"))
		}
		if p.APICA != "" {
			errs = append(errs, errors.New("WECHATPAY_API_CA is for a local fake pay server, not production"))
		}
	}
	return errs
}
