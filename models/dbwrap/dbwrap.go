// Package dbwrap is the one driver.Conn wrapper of the service: a connector whose
// connections forward everything to the driver's own and call hooks around each
// statement and transaction. Two things need to see every statement a pool runs —
// the killing connector in models (KILL QUERY when a statement's context ends, the
// per-session statement limit) and the SQL recorder of the plan test
// (testdb.Recorder) — and the forwarding of the dozen optional driver interfaces
// is the same for both, so it lives here once. It sits below models and testdb
// (testdb cannot import models: models' own tests import testdb).
package dbwrap

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
)

// Stmt describes one statement about to run on a wrapped connection.
type Stmt struct {
	Query string
	Args  []driver.NamedValue
	// Rows: a query (it returns rows), not an exec.
	Rows bool
	// Prepared: it runs as a prepared statement (database/sql prepares every
	// statement with arguments the driver will not interpolate); false: sent
	// directly on the connection, where the driver may answer driver.ErrSkip and
	// database/sql then prepares it instead.
	Prepared bool
}

// Hooks are one connection's callbacks; any may be nil. A connection is used by
// one goroutine at a time (database/sql), so the state behind them needs no lock
// unless another goroutine reads it.
type Hooks struct {
	// Prepare runs before a statement is prepared; an error fails the prepare.
	Prepare func(ctx context.Context, query string) error
	// Run runs before a statement is sent; an error fails it unsent. done, when
	// not nil, is called once the statement is over: for an exec, or a query
	// that failed, with its error when the driver returned; for a query that
	// succeeded, with nil when its rows are closed. A query's statement runs on
	// the server until its last row is sent, and the driver returns as soon as
	// the first rows arrive (a result over the server's network buffer, 16 KiB,
	// is sent while it is still being computed), so "over" is the rows' Close.
	Run func(ctx context.Context, s Stmt) (done func(err error), err error)
	// Begin runs before a transaction starts; an error fails BeginTx. done, when
	// not nil, is called with BeginTx's error.
	Begin func(ctx context.Context) (done func(err error), err error)
	// End runs before the transaction's Commit or Rollback is sent.
	End func()
}

// Wrapper says how to wrap a connector.
type Wrapper struct {
	// Conn is called with each new driver connection and returns its hooks; an
	// error closes the connection and fails Connect.
	Conn func(ctx context.Context, c driver.Conn) (Hooks, error)
	// Close, when set, runs when the pool closes (sql.DB.Close), before the
	// wrapped connector itself is closed.
	Close func() error
}

// Connector wraps base: every connection it opens passes through w's hooks.
func Connector(base driver.Connector, w Wrapper) driver.Connector {
	return &connector{base: base, w: w}
}

type connector struct {
	base driver.Connector
	w    Wrapper
}

func (c *connector) Driver() driver.Driver { return c.base.Driver() }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	var h Hooks
	if c.w.Conn != nil {
		if h, err = c.w.Conn(ctx, dc); err != nil {
			dc.Close()
			return nil, err
		}
	}
	return &conn{conn: dc, h: h}, nil
}

// Close closes the wrapper's own resources, then the wrapped connector.
func (c *connector) Close() error {
	var err error
	if c.w.Close != nil {
		err = c.w.Close()
	}
	if cl, ok := c.base.(io.Closer); ok {
		err = errors.Join(err, cl.Close())
	}
	return err
}

type conn struct {
	conn driver.Conn
	h    Hooks
}

// run calls the Run hook around f.
func run[T any](ctx context.Context, h Hooks, s Stmt, f func() (T, error)) (T, error) {
	if h.Run == nil {
		return f()
	}
	done, err := h.Run(ctx, s)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f()
	if done == nil {
		return v, err
	}
	if r, ok := any(v).(driver.Rows); ok && err == nil && r != nil {
		return any(&rows{Rows: r, done: done}).(T), nil
	}
	done(err)
	return v, err
}

// rows calls done when it is closed. database/sql looks for the optional
// interfaces below on the rows it gets; each forwards to the driver's rows or
// answers what database/sql assumes when they are missing.
type rows struct {
	driver.Rows
	done func(error)
}

func (r *rows) Close() error {
	err := r.Rows.Close()
	if r.done != nil {
		r.done(nil)
		r.done = nil
	}
	return err
}

func (r *rows) HasNextResultSet() bool {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.HasNextResultSet()
	}
	return false
}

func (r *rows) NextResultSet() error {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.NextResultSet()
	}
	return io.EOF
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, is := r.Rows.(driver.RowsColumnTypeNullable); is {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, is := r.Rows.(driver.RowsColumnTypePrecisionScale); is {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.h.Prepare != nil {
		if err := c.h.Prepare(ctx, query); err != nil {
			return nil, err
		}
	}
	var s driver.Stmt
	var err error
	if p, ok := c.conn.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		s, err = c.conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &stmt{stmt: s, query: query, h: c.h}, nil
}

func (c *conn) Close() error { return c.conn.Close() }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var done func(error)
	if c.h.Begin != nil {
		var err error
		if done, err = c.h.Begin(ctx); err != nil {
			return nil, err
		}
	}
	var t driver.Tx
	var err error
	if b, ok := c.conn.(driver.ConnBeginTx); ok {
		t, err = b.BeginTx(ctx, opts)
	} else {
		t, err = c.conn.Begin() //nolint:staticcheck // fallback for drivers without BeginTx
	}
	if done != nil {
		done(err)
	}
	if err != nil {
		return nil, err
	}
	return &tx{tx: t, end: c.h.End}, nil
}

// tx tells the hooks where the connection's transaction ends.
type tx struct {
	tx  driver.Tx
	end func()
}

func (t *tx) Commit() error {
	if t.end != nil {
		t.end()
	}
	return t.tx.Commit()
}

func (t *tx) Rollback() error {
	if t.end != nil {
		t.end()
	}
	return t.tx.Rollback()
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return run(ctx, c.h, Stmt{Query: query, Args: args, Rows: true}, func() (driver.Rows, error) {
		return q.QueryContext(ctx, query, args)
	})
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return run(ctx, c.h, Stmt{Query: query, Args: args}, func() (driver.Result, error) {
		return e.ExecContext(ctx, query, args)
	})
}

func (c *conn) Ping(ctx context.Context) error {
	if p, ok := c.conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if r, ok := c.conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if v, ok := c.conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// CheckNamedValue keeps the driver's own argument conversion (uint64, Valuers).
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// stmt is a prepared statement of a wrapped connection.
type stmt struct {
	stmt  driver.Stmt
	query string
	h     Hooks
}

func (s *stmt) Close() error  { return s.stmt.Close() }
func (s *stmt) NumInput() int { return s.stmt.NumInput() }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.stmt.Exec(args) //nolint:staticcheck // required by driver.Stmt
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.stmt.Query(args) //nolint:staticcheck // required by driver.Stmt
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.stmt.(driver.StmtExecContext)
	if !ok {
		return nil, errors.New("driver statement cannot ExecContext")
	}
	return run(ctx, s.h, Stmt{Query: s.query, Args: args, Prepared: true}, func() (driver.Result, error) {
		return e.ExecContext(ctx, args)
	})
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("driver statement cannot QueryContext")
	}
	return run(ctx, s.h, Stmt{Query: s.query, Args: args, Rows: true, Prepared: true}, func() (driver.Rows, error) {
		return q.QueryContext(ctx, args)
	})
}

// CheckNamedValue, as on the connection.
func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.stmt.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
