package testdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"sync"
)

// Statement is one query a recorded pool ran, with the arguments as the driver
// received them.
type Statement struct {
	Query string
	Args  []any
}

// Recorder records the queries run on the pools it wraps (models.PoolOptions.Wrap),
// while it is on. The plan test turns it on around one request, so whatever SQL
// the real handler and store run is what gets EXPLAINed: a new query is covered
// without anyone listing it.
type Recorder struct {
	mu    sync.Mutex
	on    bool
	stmts []Statement
}

// Start clears what was recorded and starts recording.
func (r *Recorder) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on, r.stmts = true, nil
}

// Stop stops recording and returns the statements seen since Start.
func (r *Recorder) Stop() []Statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	out := r.stmts
	r.stmts = nil
	return out
}

func (r *Recorder) record(query string, args []driver.NamedValue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.Value
	}
	r.stmts = append(r.stmts, Statement{Query: query, Args: vals})
}

// Wrap wraps a connector so its queries are recorded.
func (r *Recorder) Wrap(c driver.Connector) driver.Connector {
	return &recConnector{base: c, r: r}
}

type recConnector struct {
	base driver.Connector
	r    *Recorder
}

func (c *recConnector) Driver() driver.Driver { return c.base.Driver() }

func (c *recConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &recConn{conn: conn, r: c.r}, nil
}

func (c *recConnector) Close() error {
	if cl, ok := c.base.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

type recConn struct {
	conn driver.Conn
	r    *Recorder
}

func (c *recConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *recConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
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
	return &recStmt{stmt: s, query: query, r: c.r}, nil
}

func (c *recConn) Close() error { return c.conn.Close() }

func (c *recConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *recConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return nil, errors.New("driver connection cannot BeginTx")
}

// QueryContext records a query the driver runs directly (no arguments, or
// client-side interpolation); one it skips comes back through PrepareContext.
func (c *recConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	rows, err := q.QueryContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		c.r.record(query, args)
	}
	return rows, err
}

func (c *recConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return e.ExecContext(ctx, query, args)
}

func (c *recConn) Ping(ctx context.Context) error {
	if p, ok := c.conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *recConn) ResetSession(ctx context.Context) error {
	if r, ok := c.conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *recConn) IsValid() bool {
	if v, ok := c.conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *recConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

type recStmt struct {
	stmt  driver.Stmt
	query string
	r     *Recorder
}

func (s *recStmt) Close() error  { return s.stmt.Close() }
func (s *recStmt) NumInput() int { return s.stmt.NumInput() }

func (s *recStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.stmt.Exec(args) //nolint:staticcheck // required by driver.Stmt
}

func (s *recStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.stmt.Query(args) //nolint:staticcheck // required by driver.Stmt
}

func (s *recStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if e, ok := s.stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	return nil, errors.New("driver statement cannot ExecContext")
}

func (s *recStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("driver statement cannot QueryContext")
	}
	s.r.record(s.query, args)
	return q.QueryContext(ctx, args)
}

func (s *recStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.stmt.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
