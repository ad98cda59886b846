// Package models is the domain and its storage: types, rules, SQL, transactions and
// the Redis capacity gate. Handlers call it; it never sees HTTP.
package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// PoolOptions tune OpenDBWith.
type PoolOptions struct {
	// StatementTimeout bounds every statement on the pool's connections on the
	// server side (MariaDB max_statement_time, MySQL max_execution_time for
	// SELECTs): a statement still running after it is killed by MySQL itself, so
	// a request that gave up (or a query the optimizer got wrong) cannot keep a
	// server thread and its buffer-pool churn going for minutes. 0: no limit.
	// It must stay below the driver's read timeout (10 s unless the DSN says
	// otherwise), or the driver gives up first and leaves the statement running.
	StatementTimeout time.Duration
	// TxStatementTimeout is the same limit for statements inside a transaction.
	// It is separate because a statement there may rightly wait for a row lock
	// another request holds (a flash crowd on one session, concurrent deposits on
	// one account): such a wait lasts as long as the holders' transactions, a few
	// milliseconds each, queued. A longer wait means a holder is stuck, and
	// without a limit the waiter outlives its request: the driver gives up at its
	// read timeout and drops the connection, while MySQL keeps the statement
	// waiting (innodb_lock_wait_timeout is 50 s by default) with the
	// transaction's earlier locks held, stalling the next requests behind it. So
	// it too must stay below the read timeout. 0: no limit inside transactions.
	TxStatementTimeout time.Duration
	// MaxOpen caps the pool (default 50).
	MaxOpen int
	// Wrap, when set, wraps the connector the pool is built on; tests use it to
	// record the statements an app runs (testdb.Recorder).
	Wrap func(driver.Connector) driver.Connector
}

// OpenDB opens the MySQL pool without a statement time limit (one-shot commands,
// scripts, tests); the server uses OpenDBWith, MYSQL_STATEMENT_TIMEOUT and
// MYSQL_TX_STATEMENT_TIMEOUT.
func OpenDB(ctx context.Context, dsn string) (*sql.DB, error) {
	return OpenDBWith(ctx, dsn, PoolOptions{})
}

// OpenDBWith opens the MySQL pool. Connection lifetimes stay well under the
// server's wait_timeout (8 h by default, often lowered to minutes on managed
// MySQL) so the pool never hands out a connection the server already closed.
// Every connection is wrapped so that a statement whose context ends while it
// runs is stopped on the server with KILL QUERY (killconn.go): the driver alone
// only drops the connection, and MySQL keeps running what it was sent.
func OpenDBWith(ctx context.Context, dsn string, opt PoolOptions) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse MYSQL_DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// Rows affected = rows matched, so a guarded UPDATE that matched but changed
	// nothing still counts as having won.
	cfg.ClientFoundRows = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	for _, l := range []struct {
		name string
		d    time.Duration
	}{{"statement timeout", opt.StatementTimeout}, {"transaction statement timeout", opt.TxStatementTimeout}} {
		if l.d > 0 && l.d >= cfg.ReadTimeout {
			return nil, fmt.Errorf("%s %s must be below the MySQL read timeout %s", l.name, l.d, cfg.ReadTimeout)
		}
	}
	mariadb := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
	db, err := openPool(ctx, cfg, opt, "max_statement_time", mariadb)
	var me *mysql.MySQLError
	if (opt.StatementTimeout > 0 || opt.TxStatementTimeout > 0) && errors.As(err, &me) && me.Number == 1193 {
		// 1193 unknown system variable: MySQL, not MariaDB. Its limit covers
		// SELECTs only, in milliseconds.
		mysqlMs := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
		db, err = openPool(ctx, cfg, opt, "max_execution_time", mysqlMs)
	}
	return db, err
}

// openPool opens the pool with limitVar set per session: to the statement
// limit on connect (the DSN, which also finds out whether the server knows the
// variable), switched by the killing connector to the transaction limit for a
// transaction's statements when the two differ.
func openPool(ctx context.Context, base *mysql.Config, opt PoolOptions, limitVar string, value func(time.Duration) string) (*sql.DB, error) {
	cfg := base.Clone()
	limited := opt.StatementTimeout > 0 || opt.TxStatementTimeout > 0
	if limited {
		cfg.Params[limitVar] = value(opt.StatementTimeout)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql connector: %w", err)
	}
	kc := newKillingConnector(connector)
	if limited && opt.StatementTimeout != opt.TxStatementTimeout {
		kc.limitOn = "SET SESSION " + limitVar + " = " + value(opt.StatementTimeout)
		kc.limitTx = "SET SESSION " + limitVar + " = " + value(opt.TxStatementTimeout)
	}
	c := kc.connector()
	if opt.Wrap != nil {
		c = opt.Wrap(c)
	}
	db := sql.OpenDB(c)
	maxOpen := opt.MaxOpen
	if maxOpen <= 0 {
		maxOpen = 50
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen / 2)
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ping mysql: %w", err)
	}
	return db, nil
}

// Migrate applies pending migrations with golang-migrate. Its MySQL driver takes a
// GET_LOCK advisory lock, so several instances starting at once apply each migration
// exactly once; the others wait and then find nothing to do.
func Migrate(ctx context.Context, dsn string) error {
	return MigrateUpTo(ctx, dsn, 0)
}

// MigrateUpTo applies the pending migrations up to and including version until
// (0: all of them). scripts/scale-seed bulk-loads at a fixed schema version and
// then applies the rest, so later migrations (their backfills and indexes) run over
// the loaded rows exactly as they would on a deployment that upgrades.
func MigrateUpTo(ctx context.Context, dsn string, until uint) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("parse MYSQL_DSN: %w", err)
	}
	cfg.MultiStatements = true // migration files hold several statements
	cfg.ParseTime = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return fmt.Errorf("open migration connection: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping mysql for migrations: %w", err)
	}
	src, err := iofs.New(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migration source: %w", err)
	}
	driver, err := migratemysql.WithInstance(db, &migratemysql.Config{})
	if err != nil {
		return fmt.Errorf("migration driver: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, cfg.DBName, driver)
	if err != nil {
		return fmt.Errorf("migrator: %w", err)
	}
	return upChecked(ctx, db, m, src, until)
}
