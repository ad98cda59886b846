// Command fakepay serves scripts/fakepay (a fake WeChat Pay API v2) over TLS for dev
// runs and drills. At start it makes a throwaway CA, writes its certificate and a
// merchant certificate issued to -mchid (apiclient_cert.p12, password = mch id) into
// -cert-dir, and prints the address. Point the backend at it with
// WECHATPAY_API_BASE=https://ADDR, WECHATPAY_CERT_P12=DIR/apiclient_cert.p12 and
// WECHATPAY_API_CA=DIR/ca.pem. Misbehaviour can be set by flags or later through
// POST /fake/mode.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"nantian/scripts/fakepay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakepay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakepay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:18501", "listen address")
	appID := fs.String("appid", "wxdev", "mini-program appid")
	mchID := fs.String("mchid", "1900000109", "merchant id")
	key := fs.String("key", "", "merchant API key (32 characters)")
	certDir := fs.String("cert-dir", "", "where to write ca.pem and apiclient_cert.p12 (required)")
	var mode fakepay.Mode
	fs.IntVar(&mode.DelayMS, "delay-ms", 0, "delay every API answer")
	fs.BoolVar(&mode.Down, "down", false, "answer every API call HTTP 503")
	fs.StringVar(&mode.Fail, "fail", "", "answer API calls result_code FAIL with this err_code")
	fs.StringVar(&mode.Notify, "notify", "", `notifications: "" (normal), "none" or "hold"`)
	fs.IntVar(&mode.Duplicates, "duplicates", 1, "send each notification this many times")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(*key) != 32 || *certDir == "" {
		return errors.New("-key (32 characters) and -cert-dir are required")
	}
	ca, err := fakepay.NewCA()
	if err != nil {
		return err
	}
	p12, err := ca.MerchantP12(*mchID, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*certDir, "ca.pem"), ca.PEM(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*certDir, "apiclient_cert.p12"), p12, 0o600); err != nil {
		return err
	}
	tlsCfg, err := ca.ServerTLS()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv := fakepay.New(fakepay.Options{AppID: *appID, MchID: *mchID, APIKey: *key, Log: log, RetryEvery: time.Second})
	srv.SetMode(mode)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, TLSConfig: tlsCfg, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "fakepay listening on https://%s (certificates in %s)\n", ln.Addr(), *certDir)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(ln, tlsCfg)) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}
