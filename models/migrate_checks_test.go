package models

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"nantian/models/testdb"
)

// migrateTo moves a database to exactly version v with golang-migrate, as an
// older release would have left it.
func migrateTo(t *testing.T, dsn string, v uint) {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MultiStatements = true
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	src, err := iofs.New(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	driver, err := migratemysql.WithInstance(db, &migratemysql.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewWithInstance("iofs", src, cfg.DBName, driver)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Migrate(v); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		t.Fatalf("migrate to %d: %v", v, err)
	}
}

func versionOf(t *testing.T, db *sql.DB) (uint, bool) {
	t.Helper()
	var v uint
	var dirty bool
	if err := db.QueryRow(`SELECT version, dirty FROM schema_migrations`).Scan(&v, &dirty); err != nil {
		t.Fatal(err)
	}
	return v, dirty
}

func legacyColumnsLeft(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME LIKE '%\_legacy'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Migration 0015 drops the *_legacy plaintext columns only when every value in
// them was encrypted: with plaintext left, Migrate refuses naming the table and
// column, changes nothing and leaves the database clean at the version before
// (so the previous release can start, encrypt, and this one try again); once
// they are all NULL it applies, and its down migration restores the columns.
func TestLegacyDropRefusesPlaintext(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := testdb.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	src, err := iofs.New(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	before, err := src.Prev(LegacyDropVersion)
	if err != nil {
		t.Fatal(err)
	}
	migrateTo(t, dsn, before)
	db, err := OpenDB(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := legacyColumnsLeft(t, db); n != 5 {
		t.Fatalf("%d *_legacy columns at version %d, want 5", n, before)
	}
	now := time.Now().UTC()
	res, err := db.Exec(`INSERT INTO users (role, real_name, phone_legacy, created_at, updated_at) VALUES ('resident', '老用户', '13866660006', ?, ?)`, now, now)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := res.LastInsertId()
	if _, err := db.Exec(`INSERT INTO children (user_id, name_enc, allergies_legacy, birth_date, consent_at, consent_by, created_at, updated_at)
		VALUES (?, x'00', '牛奶过敏', '2021-01-01', ?, ?, ?, ?)`, uid, now, uid, now, now); err != nil {
		t.Fatal(err)
	}

	refuse := func(table, column string) {
		t.Helper()
		err := Migrate(ctx, dsn)
		var le *LegacyPlaintextError
		if !errors.As(err, &le) || le.Table != table || le.Column != column || le.Rows != 1 ||
			!strings.Contains(err.Error(), table+"."+column) {
			t.Fatalf("want a refusal naming %s.%s, got %v", table, column, err)
		}
		if v, dirty := versionOf(t, db); v != before || dirty {
			t.Fatalf("after the refusal: version %d dirty %v, want %d clean", v, dirty, before)
		}
		if n := legacyColumnsLeft(t, db); n != 5 {
			t.Fatalf("refused, yet %d of 5 *_legacy columns left", n)
		}
	}
	refuse("users", "phone_legacy")
	// What the previous release does at startup: encrypt, clear the plaintext.
	if _, err := db.Exec(`UPDATE users SET phone_enc = x'01', phone_legacy = NULL WHERE id = ?`, uid); err != nil {
		t.Fatal(err)
	}
	refuse("children", "allergies_legacy")
	if _, err := db.Exec(`UPDATE children SET allergies_enc = x'01', allergies_legacy = NULL WHERE user_id = ?`, uid); err != nil {
		t.Fatal(err)
	}

	if err := Migrate(ctx, dsn); err != nil {
		t.Fatalf("everything encrypted, still refused: %v", err)
	}
	if v, dirty := versionOf(t, db); v < LegacyDropVersion || dirty {
		t.Fatalf("version %d dirty %v after the drop", v, dirty)
	}
	if n := legacyColumnsLeft(t, db); n != 0 {
		t.Fatalf("%d *_legacy columns left after %04d", n, LegacyDropVersion)
	}
	var enc []byte
	if err := db.QueryRow(`SELECT phone_enc FROM users WHERE id = ?`, uid).Scan(&enc); err != nil || string(enc) != "\x01" {
		t.Fatalf("encrypted value lost: %x %v", enc, err)
	}
	// Down to before 0015 and up again.
	migrateTo(t, dsn, before)
	if n := legacyColumnsLeft(t, db); n != 5 {
		t.Fatalf("down migration restored %d of 5 columns", n)
	}
	if err := Migrate(ctx, dsn); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
