package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"nantian/models/payment"
	"nantian/wechat/pay"
)

// initPayments builds WeChat Pay and the payment domain when a merchant is
// configured, and hooks it into the booking engine (booking.PaymentDesk). Without
// one, paid programs book as before (fees recorded, not collected), which
// production refuses once a paid program is published.
func (a *app) initPayments(ctx context.Context) error {
	cfg := a.cfg.Payments
	if !cfg.Configured() {
		if a.cfg.AppEnv != "production" {
			return nil
		}
		var paid bool
		if err := a.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM programs WHERE fee_fen > 0 AND status = 'active')`).Scan(&paid); err != nil {
			return fmt.Errorf("check paid programs: %w", err)
		}
		if paid {
			return errors.New("paid programs are published but no WeChat Pay merchant is configured (WECHATPAY_MCHID, WECHATPAY_API_KEY, WECHATPAY_CERT_P12, WECHATPAY_NOTIFY_BASE)")
		}
		return nil
	}
	p12, err := os.ReadFile(cfg.CertP12)
	if err != nil {
		return fmt.Errorf("WECHATPAY_CERT_P12: %w", err)
	}
	var roots *x509.CertPool
	if cfg.APICA != "" {
		pem, err := os.ReadFile(cfg.APICA)
		if err != nil {
			return fmt.Errorf("WECHATPAY_API_CA: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return errors.New("WECHATPAY_API_CA: no PEM certificate in the file")
		}
	}
	appID := a.cfg.WeChatAppID
	if appID == "" {
		appID = devWeChatAppID
	}
	gw, err := pay.New(pay.Config{
		AppID: appID, MchID: cfg.MchID, APIKey: cfg.APIKey.Reveal(), CertP12: p12, APIBase: cfg.APIBase,
		NotifyURL: cfg.NotifyBase + "/api/v1/payments/wechat/notify", RefundNotifyURL: cfg.NotifyBase + "/api/v1/payments/wechat/refund-notify",
		SignType: cfg.SignType, RootCAs: roots,
	})
	if err != nil {
		return err
	}
	cert := gw.Certificate()
	a.logger.InfoContext(ctx, "WeChat Pay merchant certificate loaded", "subject", cert.Subject, "serial", cert.Serial, "not_after", cert.NotAfter)
	eng := a.bookings.engine
	svc := &payment.Service{
		DB: a.db, Redis: a.redis, Gateway: gw, Bookings: eng, Now: eng.Now, Loc: a.cfg.Location,
		Timeout: cfg.Timeout, MchID: cfg.MchID, Log: a.logger, Every: cfg.WorkerEvery, ReconcileAfter: cfg.ReconcileAfter,
	}
	eng.Payments = svc
	eng.Rules.LateCancelRefundPercent = cfg.LateCancelRefundPercent
	a.payments = svc
	a.workers = append(a.workers, svc.Run)
	counter := func(name, help string, v func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
	}
	a.reg.MustRegister(
		counter("nantian_payment_mismatches_total", "Payment differences found: daily totals check, and notifications refused for amount, merchant or transaction mismatch.", svc.Mismatches.Load),
		counter("nantian_payment_bad_notifications_total", "WeChat Pay notifications that failed signature or decryption.", svc.BadNotifies.Load),
		counter("nantian_payments_applied_total", "Payments applied (by notification or reconciliation).", svc.Applied.Load),
		counter("nantian_payment_refunds_failed_total", "Refunds that failed for good and need staff.", svc.RefundsFailed.Load),
	)
	return nil
}
