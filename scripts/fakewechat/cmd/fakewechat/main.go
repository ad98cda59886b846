// Command fakewechat serves the fake WeChat API (package nantian/scripts/fakewechat)
// on a local address so a dev backend can log in, fetch phone numbers and send
// subscribe messages without reaching api.weixin.qq.com. Point the backend at it with
// WECHAT_API_BASE=http://<addr> and the same WECHAT_APPID / WECHAT_SECRET.
//
//	go run ./scripts/fakewechat/cmd/fakewechat -addr 127.0.0.1:9100 -appid wxdev -secret devsecret
//
// It prints the address it listens on (useful with -addr 127.0.0.1:0) and shuts down
// cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"nantian/scripts/fakewechat"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "fakewechat:", err)
		os.Exit(1)
	}
}

// run is main without process globals, so a test can start and stop the command
// in-process. It returns when ctx is cancelled and the server has shut down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakewechat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9100", "listen address (port 0 picks a free port)")
	appID := fs.String("appid", "wxdev", "mini-program appid the fake accepts")
	secret := fs.String("secret", "devsecret", "app secret the fake accepts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{
		Handler:           logRequests(fakewechat.New(fakewechat.Options{AppID: *appID, Secret: *secret}), stderr),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(stderr, "fakewechat: ", log.LstdFlags),
	}
	// The secret is deliberately not printed: dev logs get pasted into chats.
	fmt.Fprintf(stdout, "fakewechat listening on http://%s (appid %s)\n", ln.Addr(), *appID)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(stdout, "fakewechat stopped")
	return nil
}

// logRequests logs method and path only: query strings carry the app secret,
// login codes and access tokens.
func logRequests(next http.Handler, w io.Writer) http.Handler {
	logger := log.New(w, "fakewechat: ", log.LstdFlags)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		logger.Printf("%s %s", r.Method, r.URL.Path)
		next.ServeHTTP(rw, r)
	})
}
