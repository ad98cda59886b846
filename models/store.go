package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// Redis is the shared go-redis client plus the deployment's key prefix; every key
// goes through Key so several deployments or test runs can share one Redis.
type Redis struct {
	Client redis.UniversalClient
	Prefix string
}

// Key joins parts with ':' behind the prefix.
func (r *Redis) Key(parts ...string) string {
	return r.Prefix + strings.Join(parts, ":")
}

// unlockScript deletes a lock only while it still holds the holder's token.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// TryLock takes the lock at key for ttl unless someone holds it: held is false
// when another holder has it, err set when Redis did not answer (the caller
// decides whether to go on without the lock). release frees it, but only while it
// is still ours: a holder whose ttl ran out cannot free the next holder's lock.
func (r *Redis) TryLock(ctx context.Context, key string, ttl time.Duration) (release func(), held bool, err error) {
	token := RandomHex(8)
	ok, err := r.Client.SetNX(ctx, key, token, ttl).Result()
	if err != nil || !ok {
		return func() {}, false, err
	}
	return func() { unlockScript.Run(context.WithoutCancel(ctx), r.Client, []string{key}, token) }, true, nil
}

// Clock returns the current time. Stores take one so tests can move time.
type Clock func() time.Time

// SystemClock is the real clock, in UTC with millisecond precision like the columns.
func SystemClock() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// InTx runs fn in a transaction, committing when it returns nil.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NullTime turns a *time.Time into a value the driver stores as NULL or a DATETIME.
func NullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

// deadlockAttempts bounds RetryDeadlock. A deadlock is detected at once, so eight
// tries cost tens of milliseconds, not seconds, even under a crowd.
const deadlockAttempts = 8

// RetryDeadlock runs fn again when InnoDB picked it as a deadlock victim (1213) or
// timed out on a lock (1205): both roll the statement back, and concurrent upserts
// on one unique key can hit them under load. Other errors return at once.
func RetryDeadlock(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; attempt < deadlockAttempts; attempt++ {
		if err = fn(); err == nil || !isRetryable(err) {
			return err
		}
		// Linear backoff with jitter: victims of one deadlock must not retry in
		// lockstep and collide again (seen with 100 concurrent alert senders).
		wait := time.Duration(attempt+1)*5*time.Millisecond + time.Duration(rand.Int64N(int64(5*time.Millisecond)))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return err
}

func isRetryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

// InTxRetry is inTx run again when InnoDB chose it as a deadlock victim: the
// transaction rolled back whole, so running it again sees the winner's result.
func InTxRetry(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	return RetryDeadlock(ctx, func() error { return InTx(ctx, db, fn) })
}

// ExecRetry is one autocommit statement run again when InnoDB chose it as a
// deadlock victim (the statement rolled back whole). Statements on the tables the
// report rollups watch (sessions, bookings, complaints, bin_deposits) need it even
// alone: their triggers upsert the shared day and month rows, so a session created
// or a check-in made while residents' payments land can meet another transaction
// in those rows' gaps (scripts/drill.sh's payments drill got a 503 "Deadlock
// found" creating a session that way).
func ExecRetry(ctx context.Context, db *sql.DB, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := RetryDeadlock(ctx, func() (err error) {
		res, err = db.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// RowScanner is what *sql.Row and *sql.Rows have in common.
type RowScanner = interface{ Scan(...any) error }

// ScanAll reads every row with scan and closes rows. It returns an empty, non-nil
// slice for no rows, so lists encode as [] rather than null.
func ScanAll[T any](rows *sql.Rows, what string, scan func(RowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ScanOne reads the single row of a query by id: no row is ErrNotFound (a 404,
// which is also what another resident's row looks like), any other error is
// wrapped with what.
func ScanOne[T any](row *sql.Row, what string, scan func(RowScanner) (T, error)) (T, error) {
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// EscapeLike escapes LIKE's wildcards (and its escape character) in user input,
// so a search for "50%" matches that text rather than everything starting "50".
func EscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Querier is what *sql.DB and *sql.Tx have in common for reading rows.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// QueryColumn runs a query returning one column and reads every value.
func QueryColumn[T any](ctx context.Context, q Querier, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return ScanAll(rows, "scan value", func(r RowScanner) (T, error) {
		var v T
		return v, r.Scan(&v)
	})
}
