// Package models is the domain and its storage: types, rules, SQL, transactions and
// the Redis capacity gate. Handlers call it; it never sees HTTP.
package models

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// OpenDB opens the MySQL pool. Connection lifetimes stay well under the server's
// wait_timeout (8 h by default, often lowered to minutes on managed MySQL) so the
// pool never hands out a connection the server already closed.
func OpenDB(ctx context.Context, dsn string) (*sql.DB, error) {
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
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql connector: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(50)
	db.SetMaxIdleConns(25)
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
