package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// When a request's context ends while its statement runs (the client hung up, a
// deadline passed), go-sql-driver closes the connection and returns; MySQL does
// not notice a closed socket until it has a result to send, so a slow SELECT
// would keep running to the end, holding a thread and churning the buffer pool
// for nobody. killingConnector gives every connection its server thread id and,
// when a statement's context is done before the statement is, sends
// KILL QUERY <id> on a separate small pool: the statement stops within
// milliseconds. MYSQL_STATEMENT_TIMEOUT (PoolOptions) is the backstop for a
// statement whose context never ends.
//
// That limit covers statements outside transactions: the reads of lists,
// reports and lookups, where a long statement is a plan gone wrong. Inside a
// transaction a statement may rightly wait for a row lock another booking holds
// (flash crowds, concurrent deposits); killing it there would turn a wait into
// a 503. Those stay bounded by innodb_lock_wait_timeout and the driver's read
// timeout, as before, and the limit comes back on the connection's next
// statement outside a transaction (one SET per switch, not per statement).

// killTimeout bounds the KILL QUERY itself.
const killTimeout = 5 * time.Second

type killingConnector struct {
	base driver.Connector
	// limitOn and limitOff set the session's statement limit ("" without one).
	limitOn, limitOff string

	once   sync.Once
	killer *sql.DB // opened on the first kill, from the same connector settings
}

func newKillingConnector(base driver.Connector) *killingConnector {
	return &killingConnector{base: base}
}

func (k *killingConnector) Driver() driver.Driver { return k.base.Driver() }

// Connect opens a connection and learns its server thread id.
func (k *killingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := k.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	id, err := connectionID(ctx, c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read connection id: %w", err)
	}
	return &killConn{conn: c, id: id, k: k}, nil // the DSN set the limit on connect
}

// Close closes the kill pool with the main pool (sql.DB.Close calls it).
func (k *killingConnector) Close() error {
	var err error
	k.once.Do(func() {}) // no kill pool may open after this
	if k.killer != nil {
		err = k.killer.Close()
	}
	if c, ok := k.base.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}

// kill stops the statement running on server thread id. It runs after the
// caller gave up, so it has a context of its own.
func (k *killingConnector) kill(id uint64) {
	k.once.Do(func() {
		k.killer = sql.OpenDB(k.base) // plain connections: a kill is never itself killed
		k.killer.SetMaxOpenConns(2)
		k.killer.SetMaxIdleConns(1)
		k.killer.SetConnMaxIdleTime(time.Minute)
	})
	if k.killer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	_, _ = k.killer.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id))
}

func connectionID(ctx context.Context, c driver.Conn) (uint64, error) {
	q, ok := c.(driver.QueryerContext)
	if !ok {
		return 0, errors.New("driver connection cannot query")
	}
	rows, err := q.QueryContext(ctx, "SELECT CONNECTION_ID()", nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return 0, err
	}
	switch v := dest[0].(type) {
	case int64:
		return uint64(v), nil
	case uint64:
		return v, nil
	case []byte:
		var id uint64
		_, err := fmt.Sscan(string(v), &id)
		return id, err
	}
	return 0, fmt.Errorf("connection id of type %T", dest[0])
}

// killConn is one connection with its thread id. It forwards everything to the
// driver's connection and watches the context of each statement.
type killConn struct {
	conn   driver.Conn
	id     uint64
	k      *killingConnector
	killed atomic.Bool // a KILL QUERY was sent to it: never reuse it

	// A connection is used by one goroutine at a time (database/sql), so these
	// need no lock.
	inTx      bool // between BeginTx and Commit/Rollback
	unlimited bool // the session's statement limit is off (set for a transaction)
}

// session runs a SET on the connection itself.
func (c *killConn) session(ctx context.Context, stmt string) error {
	e, ok := c.conn.(driver.ExecerContext)
	if !ok {
		return errors.New("driver connection cannot exec")
	}
	_, err := e.ExecContext(ctx, stmt, nil)
	return err
}

// limited turns the statement limit back on before a statement outside a
// transaction, if a transaction turned it off.
func (c *killConn) limited(ctx context.Context) error {
	if c.inTx || !c.unlimited || c.k.limitOn == "" {
		return nil
	}
	if err := c.session(ctx, c.k.limitOn); err != nil {
		return err
	}
	c.unlimited = false
	return nil
}

// watch kills the connection's statement if ctx ends before the returned stop
// is called.
//
// The kill must never reach another statement. KILL QUERY names a connection, not
// a statement, and a request's context ends as a matter of course just after its
// last statement (Go's HTTP server cancels it when the handler returns), often
// before this goroutine has even run on a busy machine: it then finds both its
// channels ready. So: done wins over ctx when both are ready; stop waits until the
// goroutine has finished, so a kill it decided on is sent and answered before the
// connection can go back to the pool; and a connection a kill was sent to is not
// reused at all (IsValid, ResetSession), in case the kill landed just after its
// statement ended. Before this, bench-scale.sh saw one "Error 1317 Query execution
// was interrupted" 500 in about 2,000 list requests, none of them cancelled.
func (c *killConn) watch(ctx context.Context) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		if watchStartDelay > 0 {
			time.Sleep(watchStartDelay) // tests: the scheduler ran this late
		}
		select {
		case <-done:
			return
		default:
		}
		select {
		case <-ctx.Done():
			select {
			case <-done: // the statement ended as the context did: nothing to stop
			default:
				c.killed.Store(true)
				c.k.kill(c.id)
			}
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// watchStartDelay holds each watcher goroutine back before it looks at its
// channels (0 outside tests; see export_test.go).
var watchStartDelay time.Duration

func (c *killConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *killConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if err := c.limited(ctx); err != nil {
		return nil, err
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
	return &killStmt{stmt: s, c: c}, nil
}

func (c *killConn) Close() error { return c.conn.Close() }

func (c *killConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *killConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.k.limitOff != "" && !c.unlimited {
		if err := c.session(ctx, c.k.limitOff); err != nil {
			return nil, err
		}
		c.unlimited = true
	}
	var tx driver.Tx
	var err error
	if b, ok := c.conn.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		tx, err = c.conn.Begin() //nolint:staticcheck // fallback for drivers without BeginTx
	}
	if err != nil {
		return nil, err
	}
	c.inTx = true
	return &killTx{tx: tx, c: c}, nil
}

// killTx marks the end of the connection's transaction.
type killTx struct {
	tx driver.Tx
	c  *killConn
}

func (t *killTx) Commit() error {
	t.c.inTx = false
	return t.tx.Commit()
}

func (t *killTx) Rollback() error {
	t.c.inTx = false
	return t.tx.Rollback()
}

func (c *killConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if err := c.limited(ctx); err != nil {
		return nil, err
	}
	defer c.watch(ctx)()
	return q.QueryContext(ctx, query, args)
}

func (c *killConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if err := c.limited(ctx); err != nil {
		return nil, err
	}
	defer c.watch(ctx)()
	return e.ExecContext(ctx, query, args)
}

func (c *killConn) Ping(ctx context.Context) error {
	if p, ok := c.conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *killConn) ResetSession(ctx context.Context) error {
	if c.killed.Load() {
		return driver.ErrBadConn
	}
	if r, ok := c.conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *killConn) IsValid() bool {
	if c.killed.Load() {
		return false
	}
	if v, ok := c.conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// CheckNamedValue keeps the driver's own argument conversion (uint64, Valuers).
func (c *killConn) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := c.conn.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// killStmt is a prepared statement of a killConn (database/sql prepares every
// statement with arguments, so most queries run here).
type killStmt struct {
	stmt driver.Stmt
	c    *killConn
}

func (s *killStmt) Close() error  { return s.stmt.Close() }
func (s *killStmt) NumInput() int { return s.stmt.NumInput() }

func (s *killStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.stmt.Exec(args) //nolint:staticcheck // required by driver.Stmt
}

func (s *killStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.stmt.Query(args) //nolint:staticcheck // required by driver.Stmt
}

func (s *killStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.stmt.(driver.StmtExecContext)
	if !ok {
		return nil, errors.New("driver statement cannot ExecContext")
	}
	defer s.c.watch(ctx)()
	return e.ExecContext(ctx, args)
}

func (s *killStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("driver statement cannot QueryContext")
	}
	defer s.c.watch(ctx)()
	return q.QueryContext(ctx, args)
}

// CheckNamedValue, as on the connection.
func (s *killStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if ch, ok := s.stmt.(driver.NamedValueChecker); ok {
		return ch.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}
