package complaint

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
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
// Everything is read in one read-only transaction, i.e. one snapshot, so a
// complaint changed meanwhile cannot be in a histogram and missing from its
// bucket's rows.

// statSteps are the three limits, with the columns of their bucket and time.
var statSteps = []struct{ name, bucket, at string }{
	{"accept", "accept_bucket", "accepted_at"},
	{"contact", "contact_bucket", "contacted_at"},
	{"resolve", "resolve_bucket", "resolved_at"},
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

func statsFromRollups(ctx context.Context, db *sql.DB, loc *time.Location, start, end, now time.Time) (ComplaintStats, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ComplaintStats{}, fmt.Errorf("complaint stats: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to undo
	st, months, err := newStats(ctx, tx, loc, start, end)
	if err != nil {
		return st, err
	}
	sp := splitSpan(loc, start, end)

	// Totals and the month trend.
	rows, err := tx.QueryContext(ctx, `SELECT month, received, closed, closed_on_time, mediation, accept_done, accept_on_time,
			contact_done, contact_on_time, resolve_done
		FROM report_complaint_stat_months WHERE `+monthWhere+`
		UNION ALL
		SELECT day, received, closed, closed_on_time, mediation, accept_done, accept_on_time,
			contact_done, contact_on_time, resolve_done
		FROM report_complaint_stat_days WHERE `+dayWhere, append(sp.monthArgs(), sp.dayArgs()...)...)
	if err != nil {
		return st, fmt.Errorf("complaint stats (rollup): %w", err)
	}
	var accDone, accOnTime, conDone, conOnTime, resDone int
	for rows.Next() {
		var d time.Time
		var received, closed, onTime, mediation, ad, ao, cd, co, rd int
		if err := rows.Scan(&d, &received, &closed, &onTime, &mediation, &ad, &ao, &cd, &co, &rd); err != nil {
			rows.Close()
			return st, fmt.Errorf("scan complaint stats (rollup): %w", err)
		}
		st.Received += received
		st.Closed += closed
		st.ClosedOnTime += onTime
		st.MediationAgreements += mediation
		accDone, accOnTime, conDone, conOnTime, resDone = accDone+ad, accOnTime+ao, conDone+cd, conOnTime+co, resDone+rd
		if m := months[d.Format("2006-01")]; m != nil {
			m.Received += received
			m.Closed += closed
		}
	}
	if err := closeRows(rows); err != nil {
		return st, fmt.Errorf("complaint stats (rollup): %w", err)
	}

	// Steps not done yet whose due time has passed, from the work orders in hand.
	// Stored times have millisecond precision: due < now exactly when due < now
	// rounded up to the millisecond (models.CeilMillisecond).
	nowMS := models.CeilMillisecond(now).UTC()
	var accLate, conLate, resLate int
	err = tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(accept_open_due < ?), 0), COALESCE(SUM(contact_open_due < ?), 0),
			COALESCE(SUM(resolve_open_due < ?), 0)
		FROM complaints FORCE INDEX (idx_complaints_steps_open)
		WHERE steps_open = 1 AND created_at >= ? AND created_at < ?`, nowMS, nowMS, nowMS, start.UTC(), end.UTC()).
		Scan(&accLate, &conLate, &resLate)
	if err != nil {
		return st, fmt.Errorf("complaint stats (open steps): %w", err)
	}
	st.OnTime["accept"] = onTimeRate(accDone+accLate, accOnTime)
	st.OnTime["contact"] = onTimeRate(conDone+conLate, conOnTime)
	st.OnTime["resolve"] = onTimeRate(resDone+resLate, st.ClosedOnTime)

	// Counts by category, estate and status.
	counts := map[string]map[string]int{"category": {}, "estate": {}, "status": {}}
	rows, err = tx.QueryContext(ctx, `SELECT dim, val, SUM(n) FROM report_complaint_count_months WHERE `+monthWhere+` GROUP BY dim, val
		UNION ALL
		SELECT dim, val, SUM(n) FROM report_complaint_count_days WHERE `+dayWhere+` GROUP BY dim, val`,
		append(sp.monthArgs(), sp.dayArgs()...)...)
	if err != nil {
		return st, fmt.Errorf("complaint counts (rollup): %w", err)
	}
	for rows.Next() {
		var dim, val string
		var n int
		if err := rows.Scan(&dim, &val, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("scan complaint counts (rollup): %w", err)
		}
		if c := counts[dim]; c != nil {
			c[val] += n
		}
	}
	if err := closeRows(rows); err != nil {
		return st, fmt.Errorf("complaint counts (rollup): %w", err)
	}
	for dim, dst := range map[string]map[string]int{"category": st.ByCategory, "estate": st.ByEstate, "status": st.ByStatus} {
		for val, n := range counts[dim] {
			if n != 0 { // a value whose complaints were all deleted or moved is absent, as from the records
				dst[val] += n
			}
		}
	}

	// Medians.
	hist := map[string]map[int]int{}
	rows, err = tx.QueryContext(ctx, `SELECT step, bucket, SUM(n) FROM report_complaint_duration_months WHERE `+monthWhere+` GROUP BY step, bucket
		UNION ALL
		SELECT step, bucket, SUM(n) FROM report_complaint_duration_days WHERE `+dayWhere+` GROUP BY step, bucket`,
		append(sp.monthArgs(), sp.dayArgs()...)...)
	if err != nil {
		return st, fmt.Errorf("complaint durations (rollup): %w", err)
	}
	for rows.Next() {
		var step string
		var bucket, n int
		if err := rows.Scan(&step, &bucket, &n); err != nil {
			rows.Close()
			return st, fmt.Errorf("scan complaint durations (rollup): %w", err)
		}
		if hist[step] == nil {
			hist[step] = map[int]int{}
		}
		hist[step][bucket] += n
	}
	if err := closeRows(rows); err != nil {
		return st, fmt.Errorf("complaint durations (rollup): %w", err)
	}
	for _, s := range statSteps {
		if st.MedianMinutes[s.name], err = bucketMedian(ctx, tx, s.bucket, s.at, hist[s.name], start, end); err != nil {
			return st, err
		}
	}

	if st.Rising, err = risingFromRollups(ctx, tx, loc, end); err != nil {
		return st, err
	}
	return st, nil
}

// closeRows closes rows and returns the error that ended their iteration.
func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// bucketMedian is median() of a step's durations over complaints received in
// [start, end), given their histogram: the middle position(s) are found by
// counting buckets, and only the complaints of the bucket(s) holding them are
// read (through idx_complaints_<step>_bucket, which covers the query) and
// sorted. Buckets are in the order of the durations (the bucket function of
// 0034 never decreases), so the k-th duration overall is the (k - complaints in
// lower buckets)-th of its bucket.
func bucketMedian(ctx context.Context, tx *sql.Tx, bucketCol, atCol string, hist map[int]int, start, end time.Time) (*float64, error) {
	total := 0
	buckets := make([]int, 0, len(hist))
	for b, n := range hist {
		if n < 0 {
			return nil, fmt.Errorf("complaint durations (rollup): bucket %d of %s holds %d", b, bucketCol, n)
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
	read := map[int][]float64{}
	values := make([]float64, 0, 2)
	for _, pos := range positions {
		below := 0
		for _, b := range buckets {
			n := hist[b]
			if pos >= below+n {
				below += n
				continue
			}
			vals, ok := read[b]
			if !ok {
				var err error
				if vals, err = bucketValues(ctx, tx, bucketCol, atCol, b, start, end); err != nil {
					return nil, err
				}
				if len(vals) != n {
					return nil, fmt.Errorf("complaint durations: bucket %d of %s holds %d complaints, its rollup says %d", b, bucketCol, len(vals), n)
				}
				read[b] = vals
			}
			values = append(values, vals[pos-below])
			break
		}
	}
	m := values[0]
	if len(values) == 2 {
		m = (values[0] + values[1]) / 2
	}
	m = math.Round(m*10) / 10
	return &m, nil
}

// bucketValues reads one bucket's step durations (minutes) over complaints
// received in [start, end), sorted.
func bucketValues(ctx context.Context, tx *sql.Tx, bucketCol, atCol string, bucket int, start, end time.Time) ([]float64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT cycle_started_at, `+atCol+` FROM complaints FORCE INDEX (idx_complaints_`+bucketCol+`)
		WHERE `+bucketCol+` = ? AND created_at >= ? AND created_at < ?`, bucket, start.UTC(), end.UTC())
	if err != nil {
		return nil, fmt.Errorf("complaint durations of bucket %d: %w", bucket, err)
	}
	var out []float64
	for rows.Next() {
		var cycle, at time.Time
		if err := rows.Scan(&cycle, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan complaint duration: %w", err)
		}
		out = append(out, stepMinutes(cycle, at))
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("complaint durations of bucket %d: %w", bucket, err)
	}
	sort.Float64s(out)
	return out, nil
}

// risingFromRollups is risingCategories from report_complaint_count_months: the
// six months compared are whole calendar months.
func risingFromRollups(ctx context.Context, tx *sql.Tx, loc *time.Location, end time.Time) (RisingComplaintsCategory, error) {
	out, prevStart, recentStart, recentEnd := newRising(loc, end)
	day := func(t time.Time) string { return t.In(loc).Format("2006-01-02") }
	rows, err := tx.QueryContext(ctx, `SELECT val, SUM(IF(month >= ?, n, 0)), SUM(IF(month < ?, n, 0))
		FROM report_complaint_count_months WHERE month >= ? AND month < ? AND dim = 'category' GROUP BY val`,
		day(recentStart), day(recentStart), day(prevStart), day(recentEnd))
	if err != nil {
		return out, fmt.Errorf("rising categories (rollup): %w", err)
	}
	for rows.Next() {
		var r RisingCounts
		if err := rows.Scan(&r.Category, &r.Recent, &r.Previous); err != nil {
			rows.Close()
			return out, fmt.Errorf("scan rising category (rollup): %w", err)
		}
		addRising(&out, r)
	}
	if err := closeRows(rows); err != nil {
		return out, fmt.Errorf("rising categories (rollup): %w", err)
	}
	sortRising(&out)
	return out, nil
}
