package testdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"

	"nantian/models/dbwrap"
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

// Wrap wraps a connector so its queries are recorded: every query the driver
// ran, prepared or sent directly (one the driver skipped, driver.ErrSkip, comes
// back prepared and is recorded then). Execs are not recorded: the plan test
// EXPLAINs reads.
func (r *Recorder) Wrap(c driver.Connector) driver.Connector {
	hooks := dbwrap.Hooks{Run: func(_ context.Context, s dbwrap.Stmt) (func(error), error) {
		if !s.Rows {
			return nil, nil
		}
		return func(err error) {
			if !errors.Is(err, driver.ErrSkip) {
				r.record(s.Query, s.Args)
			}
		}, nil
	}}
	return dbwrap.Connector(c, dbwrap.Wrapper{Conn: func(context.Context, driver.Conn) (dbwrap.Hooks, error) {
		return hooks, nil
	}})
}
