package testdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// PlanRules say what one query may not do to a table of test size. A table is
// "big" when it holds at least BigTable rows; the rules apply to big tables only,
// so a lookup of the five estates or a rollup's few hundred rows pass.
type PlanRules struct {
	BigTable int64 // default 10,000
	// MaxRead is the most rows one access to a big table may read, as ANALYZE
	// counts them (rows per loop × loops): a page is at most 100 rows, so a
	// query reading thousands scales with the table, not with the page.
	MaxRead int64 // default 2,000
}

func (r PlanRules) withDefaults() PlanRules {
	if r.BigTable == 0 {
		r.BigTable = 10000
	}
	if r.MaxRead == 0 {
		r.MaxRead = 2000
	}
	return r
}

// OpenPlanDB opens a connection pool for EXPLAIN and ANALYZE on dsn's database.
// Arguments are interpolated by the client: EXPLAIN and ANALYZE of a statement
// with placeholders cannot be prepared on the server.
func OpenPlanDB(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.InterpolateParams = true
	cfg.ParseTime = true
	return sql.Open("mysql", cfg.FormatDSN())
}

// TableSizes counts the rows of every base table of the database (exactly: the
// statistics' estimates are what is being tested).
func TableSizes(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+n+"`").Scan(&c); err != nil {
			return nil, fmt.Errorf("count %s: %w", n, err)
		}
		out[n] = c
	}
	return out, nil
}

// IsRead reports whether a recorded statement is a SELECT (the only kind EXPLAINed).
func IsRead(query string) bool {
	q := strings.ToUpper(strings.TrimSpace(query))
	return strings.HasPrefix(q, "SELECT") || strings.HasPrefix(q, "WITH") || strings.HasPrefix(q, "(SELECT")
}

var aliasRE = regexp.MustCompile("(?i)\\b(?:from|join)\\s+`?([a-z_][a-z0-9_]*)`?(?:\\s+(?:as\\s+)?([a-z_][a-z0-9_]*))?")

var notAlias = map[string]bool{"where": true, "join": true, "left": true, "right": true, "inner": true, "on": true,
	"order": true, "group": true, "limit": true, "use": true, "force": true, "ignore": true, "straight_join": true,
	"union": true, "having": true, "for": true, "lock": true, "natural": true, "cross": true, "outer": true}

// tableOf maps the names EXPLAIN shows (aliases) to table names.
func tableOf(query string) map[string]string {
	m := map[string]string{}
	for _, g := range aliasRE.FindAllStringSubmatch(query, -1) {
		m[g[1]] = g[1]
		if g[2] != "" && !notAlias[strings.ToLower(g[2])] {
			m[g[2]] = g[1]
		}
	}
	return m
}

// PlanProblems EXPLAINs st on db, then runs it under ANALYZE FORMAT=JSON, and
// says what it does that does not scale: a full scan of a big table, a filesort
// over more than MaxRead of its rows, a dependent subquery (run once per outer
// row), or reading more than MaxRead rows of a big table. sizes are the tables'
// row counts (TableSizes). No problems: nil.
func PlanProblems(ctx context.Context, db *sql.DB, st Statement, rules PlanRules, sizes map[string]int64) ([]string, error) {
	rules = rules.withDefaults()
	tables := tableOf(st.Query)
	big := func(shown string) (string, bool) {
		t, ok := tables[shown]
		if !ok {
			t = shown
		}
		return t, sizes[t] >= rules.BigTable
	}
	var problems []string
	rows, err := db.QueryContext(ctx, "EXPLAIN "+st.Query, st.Args...)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan explain: %w", err)
		}
		get := func(name string) string {
			for i, c := range cols {
				if strings.EqualFold(c, name) {
					return vals[i].String
				}
			}
			return ""
		}
		selectType, shown, typ, extra := get("select_type"), get("table"), get("type"), get("Extra")
		var est int64
		fmt.Sscan(get("rows"), &est)
		table, isBig := big(shown)
		if strings.Contains(strings.ToUpper(selectType), "DEPENDENT") {
			problems = append(problems, fmt.Sprintf("dependent subquery on %s (select #%s, %s): runs once per outer row", table, get("id"), selectType))
		}
		if !isBig {
			continue
		}
		if typ == "ALL" {
			problems = append(problems, fmt.Sprintf("full scan of %s (%d rows)", table, sizes[table]))
		}
		if strings.Contains(extra, "filesort") && est > rules.MaxRead {
			problems = append(problems, fmt.Sprintf("filesort over ~%d rows of %s (key %q)", est, table, get("key")))
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var plan string
	if err := db.QueryRowContext(ctx, "ANALYZE FORMAT=JSON "+st.Query, st.Args...).Scan(&plan); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	var tree any
	// MariaDB prints binary constants in the plan as \xNN, which JSON has no
	// escape for; they are never what is checked.
	plan = strings.ReplaceAll(plan, `\x`, `\\x`)
	if err := json.Unmarshal([]byte(plan), &tree); err != nil {
		return nil, fmt.Errorf("analyze json: %w", err)
	}
	walkTables(tree, func(t map[string]any) {
		name, _ := t["table_name"].(string)
		table, isBig := big(name)
		if !isBig {
			return
		}
		loops, _ := t["r_loops"].(float64)
		perLoop, _ := t["r_rows"].(float64)
		if read := int64(loops * perLoop); read > rules.MaxRead {
			problems = append(problems, fmt.Sprintf("reads %d rows of %s (access %v, key %v)", read, table, t["access_type"], t["key"]))
		}
	})
	return problems, nil
}

// walkTables calls fn for every "table" object in an ANALYZE FORMAT=JSON tree.
func walkTables(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if t, ok := c.(map[string]any); ok && k == "table" {
				fn(t)
			}
			walkTables(c, fn)
		}
	case []any:
		for _, c := range x {
			walkTables(c, fn)
		}
	}
}
