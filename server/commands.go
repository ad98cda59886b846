package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"nantian/config"
	"nantian/models"
	"nantian/models/catalog"
	"nantian/models/points"
)

func loadConfig(getenv func(string) string) (config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// cmdServe runs the API until ctx ends, then lets in-flight requests finish.
func cmdServe(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(stdout)
	slog.SetDefault(logger)
	logger.Info("starting", "config", cfg)
	if cfg.AutoMigrate {
		if err := models.Migrate(ctx, cfg.MySQLDSN.Reveal()); err != nil {
			return err
		}
	}
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.DemoSeed {
		n, err := seedDemo(ctx, a)
		if err != nil {
			return err
		}
		logger.Info("demo catalogue loaded", "programs_created", n)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "off" {
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
	}
	return a.Serve(ctx, ln, metricsLn)
}

// Serve serves the API on ln (and /metrics on metricsLn, unless nil) until ctx
// ends, runs the background workers meanwhile, and shuts down gracefully: the
// listeners close, in-flight requests get ShutdownTimeout to finish, then workers
// stop.
func (a *app) Serve(ctx context.Context, ln, metricsLn net.Listener) error {
	if metricsLn != nil {
		msrv := &http.Server{Handler: a.metricsHandler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn)}
		go func() {
			if err := msrv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.logger.Error("metrics listener failed", "err", err)
			}
		}()
		defer msrv.Close() // a scrape needs no graceful end
		a.logger.Info("metrics listening", "addr", metricsLn.Addr().String())
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	workCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	done := a.startWorkers(workCtx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.logger.Info("listening", "addr", ln.Addr().String())
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		a.logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		serveErr = srv.Shutdown(sctx)
		cancel()
	}
	stopWorkers()
	<-done
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	a.logger.Info("stopped", "err", serveErr)
	return serveErr
}

// openForCommand is what the one-shot commands (seed-demo, grant-role,
// rotate-data-key) start with: the config, checked by check when given, the
// schema brought up to date, and an app without workers, logging nowhere.
func openForCommand(ctx context.Context, getenv func(string) string, check func(config.Config) error) (*app, error) {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return nil, err
		}
	}
	if err := models.Migrate(ctx, cfg.MySQLDSN.Reveal()); err != nil {
		return nil, err
	}
	return newApp(ctx, cfg, newLogger(io.Discard))
}

func cmdMigrate(ctx context.Context, getenv func(string) string, stdout, _ io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if err := models.Migrate(ctx, cfg.MySQLDSN.Reveal()); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

func cmdSeedDemo(ctx context.Context, getenv func(string) string, stdout, _ io.Writer) error {
	a, err := openForCommand(ctx, getenv, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := seedDemo(ctx, a)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo catalogue: %d programs created\n", n)
	return nil
}

func cmdGrantRole(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("grant-role", flag.ContinueOnError)
	fs.SetOutput(stderr)
	openid := fs.String("openid", "", "the user's WeChat openid")
	role := fs.String("role", "", "resident, staff or admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *openid == "" || !models.ValidRole(*role) {
		fs.Usage()
		return errors.New("grant-role needs --openid and --role resident|staff|admin")
	}
	a, err := openForCommand(ctx, getenv, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.users.EnsureOpenID(ctx, *openid)
	if err != nil {
		return err
	}
	if _, err := a.users.SetRole(ctx, u.ID, *role); err != nil {
		return err
	}
	a.authCache.InvalidateUser(ctx, u.ID)
	fmt.Fprintf(stdout, "user %d (%s) is now %s\n", u.ID, *openid, *role)
	return nil
}

// cmdHealthcheck probes the local /healthz; the container image has no curl.
func cmdHealthcheck(ctx context.Context, getenv func(string) string) error {
	addr := getenv("HTTP_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthz: %w", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: status %d", res.StatusCode)
	}
	return nil
}

// cmdRotateDataKey re-seals personal data sealed under DATA_KEY_PREVIOUS with
// DATA_KEY (see models.RotateDataKey). Safe while the service runs.
func cmdRotateDataKey(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	a, err := openForCommand(ctx, getenv, func(cfg config.Config) error {
		if cfg.DataKeyPrevious == "" {
			return errors.New("set DATA_KEY_PREVIOUS to the old key and DATA_KEY to the new one")
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := models.RotateDataKey(ctx, a.db, a.privacy.cipher)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-sealed %d values under the new DATA_KEY; DATA_KEY_PREVIOUS can be removed once every instance runs with the new key\n", n)
	return nil
}

// seedDemo loads the demo catalogue and the demo rewards, both idempotent; it
// returns how many programs it created.
func seedDemo(ctx context.Context, a *app) (int, error) {
	n, err := catalog.SeedDemo(ctx, a.catalog)
	if err != nil {
		return n, err
	}
	return n, points.SeedDemoRewards(ctx, a.db, models.SystemClock)
}
