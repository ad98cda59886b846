package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// DatabaseRules bound what MySQL does for one request and say where reports read.
type DatabaseRules struct {
	// StatementTimeout (MYSQL_STATEMENT_TIMEOUT, default 5s; 0 turns it off) is
	// the server-side limit on every statement of the app's pools (MariaDB
	// max_statement_time): a statement still running after it is killed by
	// MySQL, so a plan gone wrong at district size costs one failed request, not
	// a thread grinding for minutes after the client left. It must stay below the
	// driver's read timeout (the DSN's readTimeout, 10s by default) so MySQL gives
	// up before the driver does, and well below the HTTP server's 60 s timeouts.
	StatementTimeout time.Duration
	// TxStatementTimeout (MYSQL_TX_STATEMENT_TIMEOUT, default 8s; 0 turns it off)
	// is the same limit for statements inside a transaction. It is its own,
	// longer limit because a statement there may rightly wait for a row lock (a
	// flash crowd booking one session, a bin's deposits on one account): that
	// queue moves a few milliseconds per holder, and cutting it at
	// StatementTimeout would turn a busy minute into 503s. But it is a limit: a
	// wait of seconds means a holder is stuck, and with none the waiter would
	// outlive its request (innodb_lock_wait_timeout is 50 s by default, past the
	// driver's read timeout), keeping its transaction's locks and stalling the
	// requests queued behind it. 8 s leaves the driver's 10 s read timeout room
	// to receive MySQL's error and answer 503, well inside the HTTP server's
	// 60 s; like StatementTimeout it must stay below the read timeout.
	TxStatementTimeout time.Duration
	// ReplicaDSN (MYSQL_REPLICA_DSN): a read replica for the report and export
	// endpoints (annual report, points and complaint statistics, payment summary
	// and CSV); empty: they read the primary. Replication lag shows in those
	// figures only, never in a booking or a work order.
	ReplicaDSN Secret
	// ReportCacheTTL (REPORT_CACHE_TTL, default 30s; 0 turns it off): how long a
	// report endpoint's answer is served from Redis to every staff member asking
	// the same question.
	ReportCacheTTL time.Duration
}

// defaultReadTimeout is models.OpenDBWith's read timeout when the DSN sets none.
const defaultReadTimeout = 10 * time.Second

func loadDatabase(e *envReader) DatabaseRules {
	return DatabaseRules{
		StatementTimeout:   e.dur("MYSQL_STATEMENT_TIMEOUT", 5*time.Second),
		TxStatementTimeout: e.dur("MYSQL_TX_STATEMENT_TIMEOUT", 8*time.Second),
		ReplicaDSN:         Secret(e.str("MYSQL_REPLICA_DSN", "")),
		ReportCacheTTL:     e.dur("REPORT_CACHE_TTL", 30*time.Second),
	}
}

func (d DatabaseRules) validate(primaryDSN string) []error {
	var errs []error
	if d.StatementTimeout < 0 {
		errs = append(errs, errors.New("MYSQL_STATEMENT_TIMEOUT must not be negative (0 turns the limit off)"))
	}
	if d.TxStatementTimeout < 0 {
		errs = append(errs, errors.New("MYSQL_TX_STATEMENT_TIMEOUT must not be negative (0 turns the limit off)"))
	}
	if d.ReportCacheTTL < 0 {
		errs = append(errs, errors.New("REPORT_CACHE_TTL must not be negative (0 turns the cache off)"))
	}
	for _, p := range [][2]string{{"MYSQL_DSN", primaryDSN}, {"MYSQL_REPLICA_DSN", d.ReplicaDSN.Reveal()}} {
		name, dsn := p[0], p[1]
		if dsn == "" {
			continue
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s does not parse: %w", name, err))
			continue
		}
		read := cfg.ReadTimeout
		if read == 0 {
			read = defaultReadTimeout
		}
		for _, l := range []struct {
			env string
			d   time.Duration
		}{{"MYSQL_STATEMENT_TIMEOUT", d.StatementTimeout}, {"MYSQL_TX_STATEMENT_TIMEOUT", d.TxStatementTimeout}} {
			if l.d > 0 && l.d >= read {
				errs = append(errs, fmt.Errorf("%s (%s) must be below %s's read timeout (%s): otherwise the driver gives up first and the statement keeps running", l.env, l.d, name, read))
			}
		}
	}
	return errs
}
