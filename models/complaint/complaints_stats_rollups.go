package complaint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"nantian/models"
)

// Complaint statistics from the rollups of migration 0034. Every figure is over
// complaints received in the range, and every rollup row is keyed by the local
// day of receipt, so the range is read as whole months (report_complaint_*_months)
// plus the days of the months it cuts (report_complaint_*_days). What the rollups
// cannot hold is read raw, exactly:
//
//   - steps not done yet: they count as due once their due time has passed, which
//     depends on now. They are the work orders still in hand (and any odd row with
//     a step missing), read through the covering index idx_complaints_steps_open;
//   - the medians' middle values: the duration histograms say which bucket holds
//     the median's position; that bucket's complaints of the range are read
//     through the covering index on the step's bucket and sorted here.
//
// Two statements: on a loaded server each round trip costs more than the few
// hundred rows read. The first (rollupStatsSQL) reads the rollups, the open
// steps, the estates and the rising categories in one snapshot; the second the
// bucket(s) holding each median. A complaint changed in between can move a
// bucket's count: its rows are checked against the histogram and, if they
// differ, both statements run again.

// statSteps are the three limits, with the columns of their bucket and duration.
var statSteps = []struct{ name, bucket, us string }{
	{"accept", "accept_bucket", "accept_us"},
	{"contact", "contact_bucket", "contact_us"},
	{"resolve", "resolve_bucket", "resolve_us"},
}

// statSpan is a range of local days cut into whole months and the days of the
// months it cuts (each [from, to) as DATE strings; an empty part is from == to).
type statSpan struct {
	monthFrom, monthTo string
	headFrom, headTo   string // days before the first whole month
	tailFrom, tailTo   string // days after the last whole month
}

// splitSpan cuts [start, end), local midnights in loc, into whole months and
// the days around them.
func splitSpan(loc *time.Location, start, end time.Time) statSpan {
	day := func(t time.Time) string { return t.In(loc).Format("2006-01-02") }
	first := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, loc)
	if first.Before(start) {
		first = first.AddDate(0, 1, 0)
	}
	last := time.Date(end.Year(), end.Month(), 1, 0, 0, 0, 0, loc)
	if !first.Before(last) {
		const none = "1000-01-01"
		return statSpan{monthFrom: none, monthTo: none, headFrom: day(start), headTo: day(end), tailFrom: none, tailTo: none}
	}
	return statSpan{monthFrom: day(first), monthTo: day(last), headFrom: day(start), headTo: day(first), tailFrom: day(last), tailTo: day(end)}
}

// monthArgs and dayArgs are the placeholders' values of monthWhere and dayWhere.
func (s statSpan) monthArgs() []any { return []any{s.monthFrom, s.monthTo} }
func (s statSpan) dayArgs() []any   { return []any{s.headFrom, s.headTo, s.tailFrom, s.tailTo} }

const (
	monthWhere = `month >= ? AND month < ?`
	dayWhere   = `((day >= ? AND day < ?) OR (day >= ? AND day < ?))`
)

// monthsAndDays is one read of a rollup over a statSpan: the same select list
// from the table's _months rows (whole months) and its _days rows (the cut
// months' days), as two UNION ALL branches taking monthArgs then dayArgs. A %s
// in list stands for the row's date column (month, day) where the list has one.
func monthsAndDays(list, table, groupBy string) string {
	branch := func(col, suffix, where string) string {
		l := list
		if strings.Contains(l, "%s") {
			l = fmt.Sprintf(l, col)
		}
		return "SELECT " + l + "\n\tFROM " + table + suffix + " WHERE " + where + groupBy
	}
	return branch("month", "_months", monthWhere) + "\n\tUNION ALL\n\t" + branch("day", "_days", dayWhere)
}

// rollupStatsSQL is every rollup row the statistics need, tagged by kind, in
// one statement: e an estate (s1); t a month's or day's totals (d, v1..v9); o the
// open steps past their due time (v1..v3); c a count (s1 dim, s2 value, v1);
// h a histogram bucket (s1 step, n1 bucket, v1); r a category's recent and
// previous three months (s1, v1, v2). Strings are compared as the exact bytes.
var rollupStatsSQL = `
	SELECT 'e' AS kind, name COLLATE utf8mb4_nopad_bin AS s1, CAST(NULL AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_nopad_bin AS s2,
	       CAST(NULL AS SIGNED) AS n1, CAST(NULL AS DATE) AS d,
	       0 AS v1, 0 AS v2, 0 AS v3, 0 AS v4, 0 AS v5, 0 AS v6, 0 AS v7, 0 AS v8, 0 AS v9
	FROM estates
	UNION ALL
	` + monthsAndDays(`'t', NULL, NULL, NULL, %s, received, closed, closed_on_time, mediation, accept_done, accept_on_time,
	       contact_done, contact_on_time, resolve_done`, "report_complaint_stat", "") + `
	UNION ALL
	SELECT 'o', NULL, NULL, NULL, NULL, COALESCE(SUM(accept_open_due < ?), 0), COALESCE(SUM(contact_open_due < ?), 0),
	       COALESCE(SUM(resolve_open_due < ?), 0), 0, 0, 0, 0, 0, 0
	FROM complaints FORCE INDEX (idx_complaints_steps_open)
	WHERE steps_open = 1 AND created_at >= ? AND created_at < ?
	UNION ALL
	` + monthsAndDays(`'c', dim, val, NULL, NULL, SUM(n), 0, 0, 0, 0, 0, 0, 0, 0`, "report_complaint_count", " GROUP BY dim, val") + `
	UNION ALL
	` + monthsAndDays(`'h', step, NULL, bucket, NULL, SUM(n), 0, 0, 0, 0, 0, 0, 0, 0`, "report_complaint_duration", " GROUP BY step, bucket") + `
	UNION ALL
	SELECT 'r', val, NULL, NULL, NULL, SUM(IF(month >= ?, n, 0)), SUM(IF(month < ?, n, 0)), 0, 0, 0, 0, 0, 0, 0
	FROM report_complaint_count_months WHERE month >= ? AND month < ? AND dim = 'category' GROUP BY val`

// errBucketMoved: a bucket's rows did not match its histogram count (a
// complaint changed between the two statements).
var errBucketMoved = errors.New("a duration bucket changed while it was read")

func statsFromRollups(ctx context.Context, db *sql.DB, loc *time.Location, start, end, now time.Time) (ComplaintStats, error) {
	var err error
	for range 3 {
		var st ComplaintStats
		if st, err = statsFromRollupsOnce(ctx, db, loc, start, end, now); !errors.Is(err, errBucketMoved) {
			return st, err
		}
	}
	return ComplaintStats{}, fmt.Errorf("complaint stats: %w (three times)", err)
}

func statsFromRollupsOnce(ctx context.Context, db *sql.DB, loc *time.Location, start, end, now time.Time) (ComplaintStats, error) {
	st, months := emptyStats(loc, start, end)
	sp := splitSpan(loc, start, end)
	rising, prevStart, recentStart, recentEnd := newRising(loc, end)
	day := func(t time.Time) string { return t.In(loc).Format("2006-01-02") }
	// Stored times have millisecond precision: due < now exactly when due < now
	// rounded up to the millisecond (models.CeilMillisecond).
	nowMS := models.CeilMillisecond(now).UTC()
	args := append(sp.monthArgs(), sp.dayArgs()...)
	args = append(args, nowMS, nowMS, nowMS, start.UTC(), end.UTC())
	args = append(args, sp.monthArgs()...)
	args = append(args, sp.dayArgs()...)
	args = append(args, sp.monthArgs()...)
	args = append(args, sp.dayArgs()...)
	args = append(args, day(recentStart), day(recentStart), day(prevStart), day(recentEnd))
	rows, err := db.QueryContext(ctx, rollupStatsSQL, args...)
	if err != nil {
		return st, fmt.Errorf("complaint stats (rollup): %w", err)
	}
	var accDone, accOnTime, conDone, conOnTime, resDone, accLate, conLate, resLate int
	counts := map[string]map[string]int{"category": {}, "estate": {}, "status": {}}
	hist := map[string]map[int]int{}
	for rows.Next() {
		var kind string
		var s1, s2 sql.NullString
		var n1 sql.NullInt64
		var d sql.NullTime
		var v [9]int
		if err := rows.Scan(&kind, &s1, &s2, &n1, &d, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]); err != nil {
			rows.Close()
			return st, fmt.Errorf("scan complaint stats (rollup): %w", err)
		}
		switch kind {
		case "e":
			st.ByEstate[s1.String] = 0
		case "t":
			st.Received += v[0]
			st.Closed += v[1]
			st.ClosedOnTime += v[2]
			st.MediationAgreements += v[3]
			accDone, accOnTime, conDone, conOnTime, resDone = accDone+v[4], accOnTime+v[5], conDone+v[6], conOnTime+v[7], resDone+v[8]
			if m := months[d.Time.Format("2006-01")]; m != nil {
				m.Received += v[0]
				m.Closed += v[1]
			}
		case "o":
			accLate, conLate, resLate = v[0], v[1], v[2]
		case "c":
			if c := counts[s1.String]; c != nil {
				c[s2.String] += v[0]
			}
		case "h":
			if hist[s1.String] == nil {
				hist[s1.String] = map[int]int{}
			}
			hist[s1.String][int(n1.Int64)] += v[0]
		case "r":
			addRising(&rising, RisingCounts{Category: s1.String, Recent: v[0], Previous: v[1]})
		}
	}
	if err := closeRows(rows); err != nil {
		return st, fmt.Errorf("complaint stats (rollup): %w", err)
	}
	st.OnTime["accept"] = onTimeRate(accDone+accLate, accOnTime)
	st.OnTime["contact"] = onTimeRate(conDone+conLate, conOnTime)
	st.OnTime["resolve"] = onTimeRate(resDone+resLate, st.ClosedOnTime)
	for dim, dst := range map[string]map[string]int{"category": st.ByCategory, "estate": st.ByEstate, "status": st.ByStatus} {
		for val, n := range counts[dim] {
			if n != 0 { // a value whose complaints were all deleted or moved is absent, as from the records
				dst[val] += n
			}
		}
	}
	sortRising(&rising)
	st.Rising = rising
	if err := medians(ctx, db, &st, hist, start, end); err != nil {
		return st, err
	}
	return st, nil
}

// medianPick is one middle position of a step's durations: the bucket holding
// it and its index among that bucket's durations.
type medianPick struct {
	bucket, index int
}

// medianPicks finds the middle position(s) of a histogram (one for an odd
// total, two for an even one). Buckets are in the order of the durations (the
// bucket function of 0034 never decreases), so the k-th duration overall is
// the (k - durations in lower buckets)-th of its bucket. nil: no durations.
func medianPicks(hist map[int]int) ([]medianPick, error) {
	total := 0
	buckets := make([]int, 0, len(hist))
	for b, n := range hist {
		if n < 0 {
			return nil, fmt.Errorf("complaint durations (rollup): bucket %d holds %d", b, n)
		}
		if n > 0 {
			buckets = append(buckets, b)
			total += n
		}
	}
	if total == 0 {
		return nil, nil
	}
	sort.Ints(buckets)
	positions := []int{total / 2}
	if total%2 == 0 {
		positions = []int{total/2 - 1, total / 2}
	}
	var picks []medianPick
	for _, pos := range positions {
		below := 0
		for _, b := range buckets {
			if n := hist[b]; pos >= below+n {
				below += n
				continue
			}
			picks = append(picks, medianPick{bucket: b, index: pos - below})
			break
		}
	}
	return picks, nil
}

// medians fills st.MedianMinutes: median() of each step's durations over
// complaints received in [start, end), reading only the buckets that hold the
// middle positions, all in one statement (each part through the covering index
// on its step's bucket), and sorting them here. (Ordering and picking the row
// in SQL, ORDER BY ... LIMIT 1 OFFSET k, was slower: MariaDB's priority-queue
// filesort took 33 ms for a bucket of 7,369 rows whose index range it read in
// 2.7 ms.)
func medians(ctx context.Context, db *sql.DB, st *ComplaintStats, hist map[string]map[int]int, start, end time.Time) error {
	type key struct {
		step   string
		bucket int
	}
	picks := map[string][]medianPick{}
	var parts []string
	var args []any
	seen := map[key]bool{}
	for _, s := range statSteps {
		p, err := medianPicks(hist[s.name])
		if err != nil {
			return err
		}
		st.MedianMinutes[s.name] = nil
		picks[s.name] = p
		for _, pk := range p {
			k := key{s.name, pk.bucket}
			if seen[k] {
				continue
			}
			seen[k] = true
			parts = append(parts, `SELECT '`+s.name+`', `+s.bucket+`, `+s.us+`
				FROM complaints FORCE INDEX (idx_complaints_`+s.bucket+`)
				WHERE `+s.bucket+` = ? AND created_at >= ? AND created_at < ?`)
			args = append(args, pk.bucket, start.UTC(), end.UTC())
		}
	}
	if len(parts) == 0 {
		return nil
	}
	rows, err := db.QueryContext(ctx, strings.Join(parts, "\nUNION ALL\n"), args...)
	if err != nil {
		return fmt.Errorf("complaint durations of the middle buckets: %w", err)
	}
	values := map[key][]float64{}
	for rows.Next() {
		var k key
		var us int64
		if err := rows.Scan(&k.step, &k.bucket, &us); err != nil {
			rows.Close()
			return fmt.Errorf("scan complaint duration: %w", err)
		}
		values[k] = append(values[k], microsMinutes(us))
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("complaint durations of the middle buckets: %w", err)
	}
	for k := range seen {
		if len(values[k]) != hist[k.step][k.bucket] {
			return fmt.Errorf("complaint %s durations, bucket %d: %d rows, its rollup says %d: %w",
				k.step, k.bucket, len(values[k]), hist[k.step][k.bucket], errBucketMoved)
		}
		sort.Float64s(values[k])
	}
	for _, s := range statSteps {
		p := picks[s.name]
		if len(p) == 0 {
			continue
		}
		m := values[key{s.name, p[0].bucket}][p[0].index]
		if len(p) == 2 {
			m = (m + values[key{s.name, p[1].bucket}][p[1].index]) / 2
		}
		m = math.Round(m*10) / 10
		st.MedianMinutes[s.name] = &m
	}
	return nil
}

// microsMinutes is stepMinutes of a step that took us microseconds (the
// *_us columns): time.Time.Sub's duration, saturated as Sub saturates it, in
// minutes. Stored times have millisecond precision, so the nanoseconds are
// exactly us × 1000.
func microsMinutes(us int64) float64 {
	switch {
	case us > math.MaxInt64/1000:
		return time.Duration(math.MaxInt64).Minutes()
	case us < math.MinInt64/1000:
		return time.Duration(math.MinInt64).Minutes()
	}
	return (time.Duration(us) * time.Microsecond).Minutes()
}

// closeRows closes rows and returns the error that ended their iteration.
func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}
