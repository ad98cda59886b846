package models_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"nantian/models"
)

// runningLike counts the server threads whose current statement contains marker.
func runningLike(t *testing.T, marker string) int {
	t.Helper()
	var n int
	// The watcher's own statement contains the marker too, hence the id filter.
	if err := testDB.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM information_schema.PROCESSLIST
		WHERE INFO LIKE CONCAT('%', ?, '%') AND ID <> CONNECTION_ID()`, marker).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A statement that runs past the pool's StatementTimeout is stopped by the
// server (MariaDB max_statement_time) with error 1969, not left running.
func TestStatementTimeoutKillsSlowQuery(t *testing.T) {
	ctx := context.Background()
	db, err := models.OpenDBWith(ctx, testDSN, models.PoolOptions{StatementTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	var slept int
	err = db.QueryRowContext(ctx, `SELECT SLEEP(5)`).Scan(&slept)
	took := time.Since(start)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || (me.Number != 1969 && me.Number != 3024) {
		t.Fatalf("SELECT SLEEP(5) under a 300 ms limit: err %v (slept %d), want MySQL error 1969", err, slept)
	}
	if took > 3*time.Second {
		t.Fatalf("the limited statement took %s", took)
	}
	// A quick statement on the same pool is unaffected.
	var one int
	if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d %v", one, err)
	}
}

// A limit at or above the driver's read timeout is refused: the driver would
// give up first and leave the statement running.
func TestStatementTimeoutBelowReadTimeout(t *testing.T) {
	cfg, err := mysql.ParseDSN(testDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReadTimeout = 2 * time.Second
	_, err = models.OpenDBWith(context.Background(), cfg.FormatDSN(), models.PoolOptions{StatementTimeout: 2 * time.Second})
	if err == nil {
		t.Fatal("a 2 s statement limit with a 2 s read timeout was accepted")
	}
}

// When a statement's context ends (the request's client went away), the
// statement stops on the server too: KILL QUERY, not just a dropped connection
// while MySQL keeps running it.
func TestCancelledQueryStopsOnServer(t *testing.T) {
	db, err := models.OpenDB(context.Background(), testDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	marker := fmt.Sprintf("cancel-test-%d", time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var v int
		// An argument, so the statement takes the prepared path database/sql uses
		// for most queries.
		done <- db.QueryRowContext(ctx, `SELECT SLEEP(30) /* `+marker+` */ + ?`, 0).Scan(&v)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runningLike(t, marker) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow statement never showed in the process list")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled query: %v, want context.Canceled", err)
	}
	// A kill takes milliseconds; 10 s leaves room for a machine under heavy
	// load (the first kill also opens the kill pool's connection).
	deadline = time.Now().Add(10 * time.Second)
	for runningLike(t, marker) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled statement is still running on the server 10 s later (it would sleep 30 s)")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The pool still works afterwards.
	var one int
	if err := db.QueryRowContext(context.Background(), `SELECT 1`).Scan(&one); err != nil {
		t.Fatal(err)
	}
}

// A query's statement runs until its last row is sent, and the driver returns
// from QueryContext as soon as the server flushes its first network buffer:
// here a first row over the buffer's size is sent at once while the second is
// still to be computed. The caller waits in rows.Next and its context ends (the
// client hung up): the statement must still be stopped on the server, not left
// to run to the end because the watch ended with QueryContext.
func TestCancelledQueryStopsOnServerWhileRowsAreRead(t *testing.T) {
	db, err := models.OpenDB(context.Background(), testDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := testDB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rows_cancel_probe (id INT PRIMARY KEY) ENGINE=InnoDB`); err != nil {
		t.Fatal(err)
	}
	defer testDB.ExecContext(context.Background(), `DROP TABLE IF EXISTS rows_cancel_probe`)
	if _, err := testDB.ExecContext(ctx, `INSERT IGNORE INTO rows_cancel_probe VALUES (1), (2)`); err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("rows-cancel-test-%d", time.Now().UnixNano())
	returned := make(chan time.Duration, 1)
	done := make(chan error, 1)
	go func() {
		start := time.Now()
		// BENCHMARK, not SLEEP: MariaDB's SLEEP notices a closed client
		// connection by itself (it checks every 5 s), a computation does not.
		rows, err := db.QueryContext(ctx, `SELECT REPEAT('x', 200000) AS v, IF(id = 1, 0, BENCHMARK(100000000, MD5(id))) AS s /* `+marker+` */
			FROM rows_cancel_probe WHERE id > ? ORDER BY id`, 0)
		returned <- time.Since(start)
		if err != nil {
			done <- err
			return
		}
		defer rows.Close()
		for rows.Next() {
		}
		done <- rows.Err()
	}()
	if took := <-returned; took > 5*time.Second {
		t.Fatalf("QueryContext took %s: the server computed every row before answering, so this test proves nothing", took)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runningLike(t, marker) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the statement never showed in the process list")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("reading the cancelled query's rows: %v, want context.Canceled", err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for runningLike(t, marker) > 0 {
		if time.Now().After(deadline) {
			// Stop it here: it would compute for tens of seconds more.
			killLike(t, marker)
			t.Fatal("the statement whose rows were being read is still running on the server 10 s after its context ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killLike stops every statement containing marker (a failed test's leftovers).
func killLike(t *testing.T, marker string) {
	t.Helper()
	ids, err := models.QueryColumn[int64](context.Background(), testDB, `SELECT ID FROM information_schema.PROCESSLIST
		WHERE INFO LIKE CONCAT('%', ?, '%') AND ID <> CONNECTION_ID()`, marker)
	if err != nil {
		t.Error(err)
	}
	for _, id := range ids {
		_, _ = testDB.ExecContext(context.Background(), fmt.Sprintf("KILL QUERY %d", id))
	}
}

// Inside a transaction a statement may wait (for a row lock) past the read
// path's limit, up to the transaction limit; past that it is stopped like any
// other; the read path's limit is back for the next statement outside it.
func TestTxStatementTimeout(t *testing.T) {
	ctx := context.Background()
	db, err := models.OpenDBWith(ctx, testDSN, models.PoolOptions{StatementTimeout: 300 * time.Millisecond, TxStatementTimeout: time.Second, MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = models.InTx(ctx, db, func(tx *sql.Tx) error {
		var v int
		return tx.QueryRowContext(ctx, `SELECT SLEEP(0.6)`).Scan(&v)
	})
	if err != nil {
		t.Fatalf("a 600 ms statement in a transaction under a 300 ms / 1 s limit: %v", err)
	}
	start := time.Now()
	err = models.InTx(ctx, db, func(tx *sql.Tx) error {
		var v int
		return tx.QueryRowContext(ctx, `SELECT SLEEP(5) + ?`, 0).Scan(&v)
	})
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1969 {
		t.Fatalf("a 5 s statement in a transaction under a 1 s limit: %v, want 1969", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 4*time.Second {
		t.Fatalf("the statement in the transaction was stopped after %s, want about 1 s", took)
	}
	var v int
	err = db.QueryRowContext(ctx, `SELECT SLEEP(2)`).Scan(&v)
	if !errors.As(err, &me) || me.Number != 1969 {
		t.Fatalf("after the transaction, on the same connection: %v (%d), want the 300 ms limit back (1969)", err, v)
	}
}

// A row-lock wait inside a transaction: one shorter than the transaction limit
// waits and succeeds; one the holder keeps past it is stopped by the server
// with 1969 (not left waiting for innodb_lock_wait_timeout), and the
// transaction's own locks are released with its rollback.
func TestTxStatementTimeoutBoundsLockWaits(t *testing.T) {
	ctx := context.Background()
	if _, err := testDB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tx_limit_probe (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB`); err != nil {
		t.Fatal(err)
	}
	defer testDB.ExecContext(ctx, `DROP TABLE IF EXISTS tx_limit_probe`)
	if _, err := testDB.ExecContext(ctx, `INSERT INTO tx_limit_probe VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	db, err := models.OpenDBWith(ctx, testDSN, models.PoolOptions{StatementTimeout: 200 * time.Millisecond, TxStatementTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// hold locks row 1 for d from another session.
	hold := func(d time.Duration) <-chan error {
		locked := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- models.InTx(ctx, testDB, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `SELECT id FROM tx_limit_probe WHERE id = 1 FOR UPDATE`); err != nil {
					close(locked)
					return err
				}
				close(locked)
				time.Sleep(d)
				return nil
			})
		}()
		<-locked
		return done
	}
	bump := func() error {
		return models.InTx(ctx, db, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE tx_limit_probe SET v = v + 1 WHERE id = 2`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE tx_limit_probe SET v = v + 1 WHERE id = 1`)
			return err
		})
	}

	held := hold(500 * time.Millisecond) // past the 200 ms read limit, within the 1 s one
	if err := bump(); err != nil {
		t.Fatalf("a 500 ms lock wait in a transaction under a 1 s limit: %v", err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}

	held = hold(4 * time.Second)
	start := time.Now()
	err = bump()
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1969 {
		t.Fatalf("a lock held 4 s against a 1 s transaction limit: %v, want 1969", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("the lock wait was stopped after %s, want about 1 s", took)
	}
	// The stopped transaction rolled back: row 2 is free again at once.
	var v int
	if err := testDB.QueryRowContext(ctx, `SELECT v FROM tx_limit_probe WHERE id = 2 FOR UPDATE`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("row 2 after the stopped transaction: v %d, %v; want 1 (only the first bump)", v, err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
}

// Without a transaction limit (0), a transaction's statements run unlimited
// while the read path keeps its own.
func TestTxStatementTimeoutOff(t *testing.T) {
	ctx := context.Background()
	db, err := models.OpenDBWith(ctx, testDSN, models.PoolOptions{StatementTimeout: 300 * time.Millisecond, MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = models.InTx(ctx, db, func(tx *sql.Tx) error {
		var v int
		return tx.QueryRowContext(ctx, `SELECT SLEEP(0.6)`).Scan(&v)
	})
	if err != nil {
		t.Fatalf("a 600 ms statement in a transaction with no transaction limit: %v", err)
	}
	var v int
	var me *mysql.MySQLError
	if err := db.QueryRowContext(ctx, `SELECT SLEEP(2)`).Scan(&v); !errors.As(err, &me) || me.Number != 1969 {
		t.Fatalf("outside the transaction: %v, want 1969", err)
	}
}

// A transaction limit at or past the read timeout is refused, like the other.
func TestTxStatementTimeoutBelowReadTimeout(t *testing.T) {
	cfg, err := mysql.ParseDSN(testDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReadTimeout = 2 * time.Second
	_, err = models.OpenDBWith(context.Background(), cfg.FormatDSN(), models.PoolOptions{TxStatementTimeout: 2 * time.Second})
	if err == nil {
		t.Fatal("a 2 s transaction statement limit with a 2 s read timeout was accepted")
	}
}
