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
		StatementTimeout: e.dur("MYSQL_STATEMENT_TIMEOUT", 5*time.Second),
		ReplicaDSN:       Secret(e.str("MYSQL_REPLICA_DSN", "")),
		ReportCacheTTL:   e.dur("REPORT_CACHE_TTL", 30*time.Second),
	}
}

func (d DatabaseRules) validate(primaryDSN string) []error {
	var errs []error
	if d.StatementTimeout < 0 {
		errs = append(errs, errors.New("MYSQL_STATEMENT_TIMEOUT must not be negative (0 turns the limit off)"))
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
		if d.StatementTimeout > 0 && d.StatementTimeout >= read {
			errs = append(errs, fmt.Errorf("MYSQL_STATEMENT_TIMEOUT (%s) must be below %s's read timeout (%s): otherwise the driver gives up first and the statement keeps running", d.StatementTimeout, name, read))
		}
	}
	return errs
}
