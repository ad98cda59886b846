package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/source"
)

// LegacyDropVersion is the migration that drops the plaintext *_legacy columns
// (0015). Before it is applied, Migrate checks that every value in them was
// encrypted (is NULL) and refuses otherwise; see checkLegacyEncrypted.
const LegacyDropVersion = 15

// legacyColumns are the plaintext columns 0008 and 0012 renamed *_legacy; versions
// before 0015 encrypted whatever was left in them at startup and set them NULL.
var legacyColumns = []struct{ table, column string }{
	{"users", "phone_legacy"},
	{"children", "name_legacy"},
	{"children", "allergies_legacy"},         // 0012
	{"children", "emergency_contact_legacy"}, // 0012
	{"complaints", "contact_phone_legacy"},
}

// LegacyPlaintextError is Migrate's refusal to drop a *_legacy column that still
// holds plaintext: dropping it would lose those values, which only the app (with
// DATA_KEY) can encrypt.
type LegacyPlaintextError struct {
	Table, Column string
	Rows          int
}

func (e *LegacyPlaintextError) Error() string {
	return fmt.Sprintf("migration %04d refused: %s.%s still holds %d plaintext value(s) not yet encrypted; "+
		"start the previous release once with this DATA_KEY (it encrypts them at startup), then this one; the database is left at the version before %04d",
		LegacyDropVersion, e.Table, e.Column, e.Rows, LegacyDropVersion)
}

// checkLegacyEncrypted returns a *LegacyPlaintextError for the first *_legacy
// column (that still exists) with a non-NULL value.
func checkLegacyEncrypted(ctx context.Context, db *sql.DB) error {
	for _, lc := range legacyColumns {
		var present int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, lc.table, lc.column).Scan(&present); err != nil {
			return fmt.Errorf("check %s.%s: %w", lc.table, lc.column, err)
		}
		if present == 0 {
			continue
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+lc.table+` WHERE `+lc.column+` IS NOT NULL`).Scan(&n); err != nil {
			return fmt.Errorf("check %s.%s: %w", lc.table, lc.column, err)
		}
		if n > 0 {
			return &LegacyPlaintextError{Table: lc.table, Column: lc.column, Rows: n}
		}
	}
	return nil
}

// upChecked applies the pending migrations (up to until, unless 0) one at a time, running the check that
// guards LegacyDropVersion just before it, so a refusal leaves the database clean
// at the version before (golang-migrate marks a failed migration dirty, which
// needs a manual force). The whole walk holds an advisory lock of its own: the
// driver's lock covers one step, and without ours another instance could apply
// the guarded step between our check and our step.
func upChecked(ctx context.Context, db *sql.DB, m *migrate.Migrate, src source.Driver, until uint) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration lock connection: %w", err)
	}
	defer conn.Close()
	const lockName = "nantian-migrate-walk"
	for {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(CONCAT(DATABASE(), ':', ?), 10)`, lockName).Scan(&got); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if got.Valid && got.Int64 == 1 {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT RELEASE_LOCK(CONCAT(DATABASE(), ':', ?))`, lockName)
	for {
		v, dirty, err := m.Version()
		var next uint
		switch {
		case errors.Is(err, migrate.ErrNilVersion):
			next, err = src.First()
		case err != nil:
			return fmt.Errorf("migration version: %w", err)
		case dirty:
			return fmt.Errorf("migrations: database is dirty at version %d (a migration failed half-way); fix it and run `migrate force`", v)
		default:
			next, err = src.Next(v)
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil // up to date
		}
		if err != nil {
			return fmt.Errorf("next migration: %w", err)
		}
		if until != 0 && next > until {
			return nil // stopped where the caller asked
		}
		if next == LegacyDropVersion {
			if err := checkLegacyEncrypted(ctx, db); err != nil {
				return err
			}
		}
		if err := stepRetryingLock(ctx, m); err != nil {
			return fmt.Errorf("apply migration %d: %w", next, err)
		}
	}
}

// stepRetryingLock applies one migration; an instance of an older release
// holding the driver's lock (it does not take ours) is waited for.
func stepRetryingLock(ctx context.Context, m *migrate.Migrate) error {
	for attempt := 0; ; attempt++ {
		err := m.Steps(1)
		if err == nil || errors.Is(err, migrate.ErrNoChange) {
			return nil
		}
		if (errors.Is(err, migrate.ErrLocked) || errors.Is(err, database.ErrLocked)) && attempt < 10 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		return err
	}
}
