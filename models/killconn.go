package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"

	"nantian/models/dbwrap"
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
// Statements inside a transaction get a limit of their own,
// MYSQL_TX_STATEMENT_TIMEOUT (PoolOptions.TxStatementTimeout), longer by
// default: there a statement may rightly wait for a row lock another booking
// holds (flash crowds, concurrent deposits), and cutting that wait at the
// read-path limit would turn a short queue into 503s. When the two limits
// differ, the connection switches the session's limit at BeginTx and back on
// its next statement outside a transaction (one SET per switch, not per
// statement).

// killTimeout bounds the KILL QUERY itself.
const killTimeout = 5 * time.Second

// killingConnector holds what a pool's connections share: the statement limit's
// SET statements and the small pool the kills go out on.
type killingConnector struct {
	base driver.Connector
	// limitOn sets the session's statement limit for statements outside a
	// transaction, limitTx for those inside one ("" both when the limits are the
	// same: the DSN set it on connect and nothing switches).
	limitOn, limitTx string

	once   sync.Once
	killer *sql.DB // opened on the first kill, from the same connector settings
}

func newKillingConnector(base driver.Connector) *killingConnector {
	return &killingConnector{base: base}
}

// connector is the pool's connector: base's connections, each with its thread id
// and the hooks of a killConn (the forwarding is dbwrap's).
func (k *killingConnector) connector() driver.Connector {
	return dbwrap.Connector(k.base, dbwrap.Wrapper{Conn: k.connect, Close: k.close})
}

// connect learns a new connection's server thread id.
func (k *killingConnector) connect(ctx context.Context, dc driver.Conn) (dbwrap.Hooks, error) {
	id, err := connectionID(ctx, dc)
	if err != nil {
		return dbwrap.Hooks{}, fmt.Errorf("read connection id: %w", err)
	}
	c := &killConn{conn: dc, id: id, k: k} // the DSN set the limit on connect
	return dbwrap.Hooks{Prepare: c.prepare, Run: c.run, Begin: c.begin, End: c.end}, nil
}

// close closes the kill pool with the main pool (sql.DB.Close calls it; dbwrap
// closes base after).
func (k *killingConnector) close() error {
	k.once.Do(func() {}) // no kill pool may open after this
	if k.killer != nil {
		return k.killer.Close()
	}
	return nil
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

// killConn is one connection's state: its thread id, whether a transaction is
// open and which limit the session has. Its methods are the connection's dbwrap
// hooks.
type killConn struct {
	conn driver.Conn
	id   uint64
	k    *killingConnector

	// A connection is used by one goroutine at a time (database/sql), so these
	// need no lock.
	inTx    bool // between BeginTx and Commit/Rollback
	txLimit bool // the session has the transaction limit (set by a BeginTx)
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

// limited puts the statement limit back before a statement outside a
// transaction, if a transaction switched the session to its own.
func (c *killConn) limited(ctx context.Context) error {
	if c.inTx || !c.txLimit {
		return nil
	}
	if err := c.session(ctx, c.k.limitOn); err != nil {
		return err
	}
	c.txLimit = false
	return nil
}

// watch kills the connection's statement if ctx ends before the returned stop
// is called; dbwrap calls stop when the statement is over, for a query when
// its rows are closed (the server may still be computing a long result while
// the first rows are read).
//
// The kill belongs to this one statement. stop waits for a kill under way, and
// sends it itself when the context has ended but the kill has not begun (the
// driver, which drops the connection on cancel, often returns first), so the
// connection goes back to the pool (and runs another request's statement)
// only after any KILL QUERY sent for it has landed; one that lands after the
// statement ended finds the connection idle, which MariaDB ignores. (A kill
// decided by a connection-wide "is anything running" count, as before, could
// fire late, when the count was already the next statement's, and stop that
// one with error 1317: the payment flash crowd test saw it under load.)
func (c *killConn) watch(ctx context.Context) (stop func(error)) {
	if ctx.Done() == nil {
		return nil
	}
	killed := make(chan struct{})
	cancelKill := context.AfterFunc(ctx, func() {
		defer close(killed)
		c.k.kill(c.id)
	})
	return func(error) {
		if !cancelKill() {
			<-killed // the kill began: wait until it has landed
			return
		}
		if ctx.Err() != nil {
			// The context ended and the statement returned before the kill
			// began: most often it returned because of that (the driver drops
			// the connection on cancel, and MySQL runs on), so kill it here.
			c.k.kill(c.id)
		}
	}
}

// prepare: a statement prepared outside a transaction gets that limit back.
func (c *killConn) prepare(ctx context.Context, _ string) error { return c.limited(ctx) }

// run watches a statement's context while it runs; one sent directly first
// gets the limit back (a prepared one got it when it was prepared).
func (c *killConn) run(ctx context.Context, s dbwrap.Stmt) (func(error), error) {
	if !s.Prepared {
		if err := c.limited(ctx); err != nil {
			return nil, err
		}
	}
	return c.watch(ctx), nil
}

// begin gives the transaction's statements the transaction limit.
func (c *killConn) begin(ctx context.Context) (func(error), error) {
	if c.k.limitTx != "" && !c.txLimit {
		if err := c.session(ctx, c.k.limitTx); err != nil {
			return nil, err
		}
		c.txLimit = true
	}
	return func(err error) { c.inTx = err == nil }, nil
}

// end marks the end of the connection's transaction.
func (c *killConn) end() { c.inTx = false }
