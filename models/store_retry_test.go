package models_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"nantian/models"
)

// TestExecRetryRunsADeadlockVictimAgain builds a real InnoDB deadlock around one
// autocommit statement: a heavier transaction holds row 2, the statement locks row
// 1 and waits for row 2, then the transaction asks for row 1. InnoDB rolls back the
// lighter side, the statement. A plain Exec returns 1213 (so the set-up does
// deadlock); ExecRetry runs the statement again once the transaction is through,
// and both changes are there.
func TestExecRetryRunsADeadlockVictimAgain(t *testing.T) {
	ctx := context.Background()
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	pair, heavy := "retry_pair_"+suffix, "retry_heavy_"+suffix
	for _, q := range []string{
		`CREATE TABLE ` + pair + ` (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB`,
		`CREATE TABLE ` + heavy + ` (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB`,
		`INSERT INTO ` + heavy + ` (id, v) SELECT seq, 0 FROM seq_1_to_200`,
	} {
		if _, err := testDB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = testDB.Exec(`DROP TABLE IF EXISTS ` + pair + `, ` + heavy) })

	run := func(t *testing.T, exec func(q string) error) error {
		t.Helper()
		for _, q := range []string{`DELETE FROM ` + pair, `INSERT INTO ` + pair + ` VALUES (1, 0), (2, 0)`} {
			if _, err := testDB.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		tx, err := testDB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		// 200 rows changed: InnoDB picks the statement, not this, as the victim.
		for _, q := range []string{`UPDATE ` + heavy + ` SET v = v + 1`, `UPDATE ` + pair + ` SET v = v + 1 WHERE id = 2`} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error, 1)
		go func() { done <- exec(`UPDATE ` + pair + ` SET v = v + 10 WHERE id IN (1, 2) ORDER BY id`) }()
		// Wait until the statement holds row 1 and waits for row 2.
		deadline := time.Now().Add(8 * time.Second)
		for {
			var waiting int
			// Seen in PROCESSLIST still at it: a two-row update is otherwise done in
			// microseconds, and nobody holds row 1, so it holds row 1 and waits
			// for row 2. (INNODB_TRX does not list an autocommit statement's
			// transaction reliably enough to wait on.)
			if err := testDB.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PROCESSLIST
				WHERE INFO LIKE CONCAT('UPDATE ', ?, ' SET v = v + 10%')`, pair).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting > 0 {
				time.Sleep(50 * time.Millisecond)
				break
			}
			select {
			case err := <-done:
				t.Fatalf("the statement ended without waiting for row 2: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("the statement never waited for row 2")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+pair+` SET v = v + 1 WHERE id = 1`); err != nil {
			t.Fatalf("the heavier transaction was chosen as the victim: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return <-done
	}

	t.Run("plain exec is the victim", func(t *testing.T) {
		err := run(t, func(q string) error { _, err := testDB.ExecContext(ctx, q); return err })
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1213 {
			t.Fatalf("plain exec: %v, want error 1213 (the set-up must deadlock)", err)
		}
	})
	t.Run("ExecRetry runs it again", func(t *testing.T) {
		err := run(t, func(q string) error { _, err := models.ExecRetry(ctx, testDB, q); return err })
		if err != nil {
			t.Fatalf("ExecRetry: %v", err)
		}
		var v1, v2 int
		if err := testDB.QueryRowContext(ctx, `SELECT (SELECT v FROM `+pair+` WHERE id = 1), (SELECT v FROM `+pair+` WHERE id = 2)`).Scan(&v1, &v2); err != nil {
			t.Fatal(err)
		}
		if v1 != 11 || v2 != 11 {
			t.Errorf("rows after the retry: %d, %d; want 11, 11 (the transaction's +1 and the statement's +10 each)", v1, v2)
		}
	})
}
