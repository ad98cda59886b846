package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"nantian/config"
	"nantian/console"
	"nantian/models"
	"nantian/models/account"
	"nantian/models/catalog"
	"nantian/models/complaint"
	"nantian/models/consolelogin"
	"nantian/models/notify"
	"nantian/models/ops"
	"nantian/models/payment"
	"nantian/models/report"
	"nantian/models/staffalert"
	"nantian/wechat"
)

// app holds one instance's dependencies: the stores, the WeChat client, the router
// and the background workers. Nothing in it is global, so tests run several apps
// in one process against one database, as several replicas would.
type app struct {
	cfg    config.Config
	logger *slog.Logger
	db     *sql.DB
	// reportDB is what report and export endpoints read: the replica pool when
	// MYSQL_REPLICA_DSN is set, else db itself.
	reportDB *sql.DB
	rdb      redis.UniversalClient
	redis    *models.Redis
	wx       *wechat.Client
	reg      *prometheus.Registry
	ops      *opsCollector // backlog gauges on /metrics

	users     *account.Users
	children  *account.Children
	catalog   *catalog.Catalog
	tokens    *account.Tokens
	authCache *account.AuthCache
	audit     *models.Audit

	// --- area fields ---
	complaints *complaint.Complaints
	uploads    *complaint.Uploads
	pts        pointsArea           // food-waste points (app_points.go)
	outbox     *notify.OutboxWorker // notifications: the subscribe-message sender
	bookings   *bookingsArea
	reports    *report.Reports
	walkin     *walkInArea        // walk-in residents and reminders (app_walkin.go)
	privacy    *privacyArea       // PIPL: data cipher, child-read audit, export/delete (app_privacy.go)
	payments   *payment.Service   // WeChat Pay (app_payments.go); nil without a merchant
	alerts     *staffalert.Alerts // 企业微信 group alerts; nil when off (app_alerts.go)
	// staff web console (app_console.go)
	console       *console.Console
	consoleLogins *consolelogin.Store
	imports       *report.Imports
	// operations are the staff and admin operations (audited, with their
	// follow-ups) both doors call: the API's handlers and the console.
	operations *ops.Ops

	handler http.Handler
	// workers run for the life of Serve; each returns when its ctx ends.
	workers []func(ctx context.Context)
}

// Dev credentials for the fake WeChat when none are configured (refused in production).
const (
	devWeChatAppID  = "wxdevappid"
	devWeChatSecret = "dev-wechat-secret"
)

func newApp(ctx context.Context, cfg config.Config, logger *slog.Logger) (*app, error) {
	return newAppWith(ctx, cfg, logger, appOptions{})
}

// appOptions are what tests change about how an app is built.
type appOptions struct {
	// wrapDB wraps the connectors of the app's MySQL pools (testdb.Recorder).
	wrapDB func(driver.Connector) driver.Connector
}

// openPools opens the primary pool and, with MYSQL_REPLICA_DSN, the replica pool
// the reports read; both bound every statement by MYSQL_STATEMENT_TIMEOUT, and
// those inside a transaction by MYSQL_TX_STATEMENT_TIMEOUT.
func openPools(ctx context.Context, cfg config.Config, opt appOptions) (db, reportDB *sql.DB, err error) {
	po := models.PoolOptions{StatementTimeout: cfg.Database.StatementTimeout, TxStatementTimeout: cfg.Database.TxStatementTimeout, Wrap: opt.wrapDB}
	if db, err = models.OpenDBWith(ctx, cfg.MySQLDSN.Reveal(), po); err != nil {
		return nil, nil, err
	}
	if cfg.Database.ReplicaDSN == "" {
		return db, db, nil
	}
	// A few connections: reports are few, cached and rate-limited per staff member.
	po.MaxOpen = 10
	if reportDB, err = models.OpenDBWith(ctx, cfg.Database.ReplicaDSN.Reveal(), po); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("MYSQL_REPLICA_DSN: %w", err)
	}
	return db, reportDB, nil
}

func newAppWith(ctx context.Context, cfg config.Config, logger *slog.Logger, opt appOptions) (*app, error) {
	db, reportDB, err := openPools(ctx, cfg, opt)
	if err != nil {
		return nil, err
	}
	rdb := newRedisClient(cfg)
	appID, secret := cfg.WeChatAppID, cfg.WeChatSecret.Reveal()
	if cfg.AppEnv != "production" && appID == "" {
		appID, secret = devWeChatAppID, devWeChatSecret
	}
	wx, err := wechat.New(wechat.Config{AppID: appID, Secret: secret, APIBase: cfg.WeChatAPIBase, Logger: logger},
		rdb, cfg.RedisKeyPrefix+"wechat:")
	if err != nil {
		db.Close()
		if reportDB != db {
			reportDB.Close()
		}
		rdb.Close()
		return nil, fmt.Errorf("wechat client: %w", err)
	}
	a := &app{cfg: cfg, logger: logger, db: db, reportDB: reportDB, rdb: rdb, wx: wx, reg: prometheus.NewRegistry()}
	a.ops = newOpsCollector(a)
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), a.ops, newDepsCollector(a))
	a.redis = &models.Redis{Client: rdb, Prefix: cfg.RedisKeyPrefix}
	now := models.SystemClock
	a.users = &account.Users{DB: db, Now: now, Templates: cfg.Templates.IDs()}
	a.children = &account.Children{DB: db, Now: now}
	a.catalog = &catalog.Catalog{DB: db, Now: now, Loc: cfg.Location,
		DefaultChildMinAge: cfg.Booking.ChildMinAgeMonths, DefaultChildMaxAge: cfg.Booking.ChildMaxAgeMonths}
	a.tokens = &account.Tokens{DB: db, Secret: []byte(cfg.JWTSecret.Reveal()), AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, Now: now}
	a.authCache = &account.AuthCache{DB: db, Redis: a.redis, TTL: 30 * time.Second}
	a.audit = &models.Audit{DB: db, Now: now}
	a.workers = append(a.workers, a.authCache.Listen)
	// --- area init: bookings ---
	a.initBookings()
	a.initWalkIn()
	// --- area init: complaints ---
	a.initComplaints()
	// --- area init: points ---
	if err := a.initPoints(); err != nil {
		a.Close()
		return nil, fmt.Errorf("points: %w", err)
	}
	// --- area init: notifications ---
	a.initNotifications()
	// --- area init: privacy ---
	if err := a.initPrivacy(ctx); err != nil {
		a.Close()
		return nil, fmt.Errorf("privacy: %w", err)
	}
	// --- area init: payments ---
	if err := a.initPayments(ctx); err != nil {
		a.Close()
		return nil, fmt.Errorf("payments: %w", err)
	}
	if err := a.initStaffAlerts(); err != nil {
		a.Close()
		return nil, err
	}
	a.reports = &report.Reports{DB: reportDB, Now: now, Loc: cfg.Location}
	a.imports = &report.Imports{DB: db, Now: now}
	a.consoleLogins = &consolelogin.Store{DB: db, Now: now}
	a.operations = ops.New(ops.Deps{
		Audit: a.audit, Log: logger, Catalog: a.catalog, CatalogCache: a.bookings.catalogCache,
		Bookings: a.bookings.engine, WalkIns: a.walkin.walkIns, Children: a.children,
		Users: a.users, AuthCache: a.authCache, Complaints: a.complaints,
		Devices: a.pts.devices, Points: a.pts.points, Logins: a.consoleLogins, Imports: a.imports,
	})
	if err := a.initConsole(); err != nil {
		a.Close()
		return nil, err
	}
	a.handler = a.routes()
	return a, nil
}

// startWorkers runs every worker; the returned channel closes when all returned.
func (a *app) startWorkers(ctx context.Context) <-chan struct{} {
	var wg sync.WaitGroup
	for _, w := range a.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w(ctx)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// Close releases the stores.
func (a *app) Close() {
	a.db.Close()
	if a.reportDB != a.db {
		a.reportDB.Close()
	}
	a.rdb.Close()
}

// complaintReports is the complaints store the statistics read: a.reportDB's.
func (a *app) complaintReports() *complaint.Complaints {
	if a.reportDB == a.db {
		return a.complaints
	}
	rep := *a.complaints
	rep.DB = a.reportDB
	return &rep
}

// paymentReports is the payments service the summary and the CSV export read:
// a.reportDB's; nil without a merchant.
func (a *app) paymentReports() *payment.Service {
	if a.payments == nil || a.reportDB == a.db {
		return a.payments
	}
	return &payment.Service{DB: a.reportDB, Now: a.payments.Now, Loc: a.payments.Loc}
}
