// Package testdb gives tests a throwaway MySQL database and a unique Redis key
// prefix, so test runs never touch each other's (or anyone's real) data. It only
// ever drops databases it created, recognisable by their nantian_test_ prefix.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// BaseDSN is the server to create test databases on: TEST_MYSQL_DSN, else the
// local root account scripts/test.sh makes sure exists.
func BaseDSN() string {
	if v := os.Getenv("TEST_MYSQL_DSN"); v != "" {
		return v
	}
	return "root:@tcp(127.0.0.1:3306)/?parseTime=true&loc=UTC&charset=utf8mb4"
}

// RedisAddr is TEST_REDIS_ADDR or the local Redis.
func RedisAddr() string {
	if v := os.Getenv("TEST_REDIS_ADDR"); v != "" {
		return v
	}
	return "127.0.0.1:6379"
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateDatabase makes a fresh utf8mb4 database and returns a DSN for it and a
// function that drops it. TEST_RUN_ID (set by scripts/test.sh) is folded into the
// name so a crashed run's leftovers can be found and removed.
func CreateDatabase(ctx context.Context) (dsn string, drop func(), err error) {
	cfg, err := mysql.ParseDSN(BaseDSN())
	if err != nil {
		return "", nil, fmt.Errorf("TEST_MYSQL_DSN: %w", err)
	}
	run := os.Getenv("TEST_RUN_ID")
	if run == "" {
		run = "adhoc"
	}
	name := "nantian_test_" + sanitize(run) + "_" + random(4)
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", nil, fmt.Errorf("open mysql: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create test database (is MariaDB running? scripts/test.sh starts it): %w", err)
	}
	cfg.DBName = name
	cfg.ParseTime = true
	drop = func() {
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+name+"`")
		admin.Close()
	}
	return cfg.FormatDSN(), drop, nil
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		}
	}
	if b.Len() > 20 {
		return b.String()[:20]
	}
	return b.String()
}

// RedisPrefix returns a key prefix unique to this call.
func RedisPrefix() string {
	run := os.Getenv("TEST_RUN_ID")
	if run == "" {
		run = "adhoc"
	}
	return "test:" + sanitize(run) + ":" + random(4) + ":"
}

// DeletePrefix removes every key under prefix (SCAN, never FLUSHDB: other users
// of the same Redis keep their data).
func DeletePrefix(ctx context.Context, rdb redis.UniversalClient, prefix string) error {
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) >= 500 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("delete test keys: %w", err)
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan test keys: %w", err)
	}
	if len(keys) > 0 {
		return rdb.Del(ctx, keys...).Err()
	}
	return nil
}

// CreateMigrated is CreateDatabase followed by every migration: what a test
// package's TestMain wants.
func CreateMigrated(ctx context.Context, migrate func(ctx context.Context, dsn string) error) (dsn string, drop func(), err error) {
	dsn, drop, err = CreateDatabase(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := migrate(ctx, dsn); err != nil {
		drop()
		return "", nil, fmt.Errorf("migrate test database: %w", err)
	}
	return dsn, drop, nil
}

// CreateLike makes a fresh database with the tables of srcDSN's database (CREATE
// TABLE ... LIKE: columns, keys, generated columns; no foreign keys) and copies the
// rows of the tables named in copyRows. Far faster than running every migration
// again, for a test that needs a database of its own with the current schema.
func CreateLike(ctx context.Context, srcDSN string, copyRows ...string) (dsn string, drop func(), err error) {
	src, err := mysql.ParseDSN(srcDSN)
	if err != nil {
		return "", nil, fmt.Errorf("source DSN: %w", err)
	}
	dsn, drop, err = CreateDatabase(ctx)
	if err != nil {
		return "", nil, err
	}
	dst, _ := mysql.ParseDSN(dsn)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		drop()
		return "", nil, err
	}
	defer db.Close()
	fail := func(err error) (string, func(), error) { drop(); return "", nil, err }
	tables, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE'`, src.DBName)
	if err != nil {
		return fail(fmt.Errorf("list tables: %w", err))
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			tables.Close()
			return fail(err)
		}
		names = append(names, n)
	}
	tables.Close()
	for _, n := range names {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE `%s`.`%s` LIKE `%s`.`%s`", dst.DBName, n, src.DBName, n)); err != nil {
			return fail(fmt.Errorf("create %s: %w", n, err))
		}
	}
	for _, n := range copyRows {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("INSERT INTO `%s`.`%s` SELECT * FROM `%s`.`%s`", dst.DBName, n, src.DBName, n)); err != nil {
			return fail(fmt.Errorf("copy %s: %w", n, err))
		}
	}
	return dsn, drop, nil
}
