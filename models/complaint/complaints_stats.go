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

// ComplaintStats are the figures staff review and the annual report reuses.
//
// Definitions (all over complaints received in [From, To)):
//   - Closed: status resolved or closed; ClosedOnTime: of those, resolved_at <=
//     resolve_due_at (the latest cycle's, after a rework).
//   - MediationAgreements: of the closed ones, those resolved with a 人民调解协议书,
//     as the annual report counts them: an order sent back for rework is not
//     counted until it is resolved again, so the figure never exceeds Closed.
//   - OnTime[limit]: Due counts complaints whose step is done or whose due time has
//     passed (a step still within its time is not judged yet); OnTime counts steps
//     done by their due time; Rate = OnTime/Due, null when Due is 0.
//   - MedianMinutes[limit]: median minutes from the start of the handling cycle
//     (filing, or the last reopen) to the step, over complaints that reached it.
//   - Monthly: per calendar month (APP_TIMEZONE) of receipt, received and closed.
//   - Rising: categories received more often in the three calendar months ending
//     with the month of To than in the three before, biggest increase first.
type ComplaintStats struct {
	From                string                   `json:"from"`
	To                  string                   `json:"to"` // inclusive, YYYY-MM-DD
	Received            int                      `json:"received"`
	Closed              int                      `json:"closed"`
	ClosedOnTime        int                      `json:"closed_on_time"`
	MediationAgreements int                      `json:"mediation_agreements"`
	ByCategory          map[string]int           `json:"by_category"`
	ByEstate            map[string]int           `json:"by_estate"`
	ByStatus            map[string]int           `json:"by_status"`
	OnTime              map[string]OnTimeRate    `json:"on_time"`
	MedianMinutes       map[string]*float64      `json:"median_minutes"`
	Monthly             []ComplaintMonth         `json:"monthly"`
	Rising              RisingComplaintsCategory `json:"rising_categories"`
}

// OnTimeRate is one limit's on-time figure.
type OnTimeRate struct {
	Due    int      `json:"due"`
	OnTime int      `json:"on_time"`
	Rate   *float64 `json:"rate"`
}

// ComplaintMonth is one month of the trend.
type ComplaintMonth struct {
	Month    string `json:"month"` // YYYY-MM
	Received int    `json:"received"`
	Closed   int    `json:"closed"`
}

// RisingComplaintsCategory compares the last three months with the three before.
type RisingComplaintsCategory struct {
	RecentFrom   string         `json:"recent_from"` // YYYY-MM
	RecentTo     string         `json:"recent_to"`
	PreviousFrom string         `json:"previous_from"`
	PreviousTo   string         `json:"previous_to"`
	Items        []RisingCounts `json:"items"`
}

// RisingCounts is one category that rose.
type RisingCounts struct {
	Category string `json:"category"`
	Recent   int    `json:"recent"`
	Previous int    `json:"previous"`
	Increase int    `json:"increase"`
	// Growth is Increase/Previous; null when the category is new (Previous 0).
	Growth *float64 `json:"growth"`
}

// Stats computes ComplaintStats for complaints received between the local dates
// from and to (inclusive), as of now.
func (s *Complaints) Stats(ctx context.Context, from, to models.Date) (ComplaintStats, error) {
	return ComputeComplaintStats(ctx, s.DB, s.Loc, from, to, s.Now())
}

// StatsFromRecords is Stats computed from the complaints themselves (no rollups).
func (s *Complaints) StatsFromRecords(ctx context.Context, from, to models.Date) (ComplaintStats, error) {
	return ComputeComplaintStatsFromRecords(ctx, s.DB, s.Loc, from, to, s.Now())
}

// ComputeComplaintStats is Stats for callers without a Complaints store: the
// local dates from..to inclusive in loc, judged as of now. It reads the rollups
// of migration 0034 (complaints_stats_rollups.go) when loc is UTC+8 over the
// range and the six months the rising categories compare, and otherwise
// computes from the records (ComputeComplaintStatsFromRecords, the definition
// the rollups reproduce).
func ComputeComplaintStats(ctx context.Context, db *sql.DB, loc *time.Location, from, to models.Date, now time.Time) (ComplaintStats, error) {
	start, end := statsBounds(loc, from, to)
	prevStart, recentEnd := risingBounds(loc, end)
	lo, hi := start, end
	if prevStart.Before(lo) {
		lo = prevStart
	}
	if recentEnd.After(hi) {
		hi = recentEnd
	}
	if !models.RollupDaysFit(loc, lo, hi) {
		return ComputeComplaintStatsFromRecords(ctx, db, loc, from, to, now)
	}
	return statsFromRollups(ctx, db, loc, start, end, now)
}

// statsBounds is [local midnight of from, local midnight after to).
func statsBounds(loc *time.Location, from, to models.Date) (time.Time, time.Time) {
	ft, tt := from.Time(), to.Time()
	start := time.Date(ft.Year(), ft.Month(), ft.Day(), 0, 0, 0, 0, loc)
	end := time.Date(tt.Year(), tt.Month(), tt.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	return start, end
}

// newStats is the empty answer for [start, end): every category, status and
// estate (of the estates table) at zero, one trend entry per month touched.
func newStats(ctx context.Context, q models.Querier, loc *time.Location, start, end time.Time) (ComplaintStats, map[string]*ComplaintMonth, error) {
	st, months := emptyStats(loc, start, end)
	estates, err := q.QueryContext(ctx, `SELECT name FROM estates ORDER BY id`)
	if err != nil {
		return st, nil, fmt.Errorf("list estates: %w", err)
	}
	for estates.Next() {
		var name string
		if err := estates.Scan(&name); err != nil {
			estates.Close()
			return st, nil, fmt.Errorf("scan estate: %w", err)
		}
		st.ByEstate[name] = 0
	}
	if err := closeRows(estates); err != nil {
		return st, nil, fmt.Errorf("list estates: %w", err)
	}
	return st, months, nil
}

// emptyStats is newStats without the estates: every category and status at
// zero, one trend entry per month touched (and the index of those by YYYY-MM).
func emptyStats(loc *time.Location, start, end time.Time) (ComplaintStats, map[string]*ComplaintMonth) {
	st := ComplaintStats{
		From: start.Format("2006-01-02"), To: end.AddDate(0, 0, -1).Format("2006-01-02"),
		ByCategory: map[string]int{}, ByEstate: map[string]int{}, ByStatus: map[string]int{},
		OnTime: map[string]OnTimeRate{}, MedianMinutes: map[string]*float64{},
		Monthly: []ComplaintMonth{},
	}
	for _, c := range ComplaintCategories {
		st.ByCategory[c] = 0
	}
	for _, s := range ComplaintStatuses {
		st.ByStatus[s] = 0
	}
	months := map[string]*ComplaintMonth{}
	for m := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, loc); m.Before(end); m = m.AddDate(0, 1, 0) {
		st.Monthly = append(st.Monthly, ComplaintMonth{Month: m.Format("2006-01")})
	}
	for i := range st.Monthly {
		months[st.Monthly[i].Month] = &st.Monthly[i]
	}
	return st, months
}

// onTimeRate is one limit's figure with its rate rounded to 4 places.
func onTimeRate(due, onTime int) OnTimeRate {
	r := OnTimeRate{Due: due, OnTime: onTime}
	if due > 0 {
		v := math.Round(float64(onTime)/float64(due)*10000) / 10000
		r.Rate = &v
	}
	return r
}

// ComputeComplaintStatsFromRecords computes ComplaintStats from every complaint
// of the range, read into Go: the definition (see ComplaintStats), the reference
// TestComplaintStatsEqualRecords compares the rollups with, and the path for a
// zone the rollups' days do not fit.
func ComputeComplaintStatsFromRecords(ctx context.Context, db *sql.DB, loc *time.Location, from, to models.Date, now time.Time) (ComplaintStats, error) {
	start, end := statsBounds(loc, from, to)
	st, months, err := newStats(ctx, db, loc, start, end)
	if err != nil {
		return st, err
	}
	rows, err := db.QueryContext(ctx, `SELECT category, estate, status, created_at, cycle_started_at, accept_due_at,
		contact_due_at, resolve_due_at, accepted_at, contacted_at, resolved_at, mediation_agreement
		FROM complaints WHERE created_at >= ? AND created_at < ?`, start.UTC(), end.UTC())
	if err != nil {
		return st, fmt.Errorf("complaint stats: %w", err)
	}
	defer rows.Close()
	type limit struct{ due, onTime int }
	var acc, con, res limit
	var accMin, conMin, resMin []float64
	judge := func(l *limit, doneAt *time.Time, done bool, due time.Time) {
		switch {
		case done && doneAt != nil:
			l.due++
			if !doneAt.After(due) {
				l.onTime++
			}
		case now.After(due):
			l.due++
		}
	}
	for rows.Next() {
		var (
			category, estate, status               string
			created, cycle, accDue, conDue, resDue time.Time
			acceptedAt, contactedAt, resolvedAt    *time.Time
			mediation                              bool
		)
		if err := rows.Scan(&category, &estate, &status, &created, &cycle, &accDue, &conDue, &resDue,
			&acceptedAt, &contactedAt, &resolvedAt, &mediation); err != nil {
			return st, fmt.Errorf("scan complaint stats: %w", err)
		}
		st.Received++
		st.ByCategory[category]++
		st.ByEstate[estate]++
		st.ByStatus[status]++
		closed := status == ComplaintResolved || status == ComplaintClosed
		if m := months[created.In(loc).Format("2006-01")]; m != nil {
			m.Received++
			if closed {
				m.Closed++
			}
		}
		if closed {
			st.Closed++
			if resolvedAt != nil && !resolvedAt.After(resDue) {
				st.ClosedOnTime++
			}
		}
		if closed && mediation {
			st.MediationAgreements++
		}
		judge(&acc, acceptedAt, acceptedAt != nil, accDue)
		judge(&con, contactedAt, contactedAt != nil, conDue)
		judge(&res, resolvedAt, closed, resDue)
		if acceptedAt != nil {
			accMin = append(accMin, stepMinutes(cycle, *acceptedAt))
		}
		if contactedAt != nil {
			conMin = append(conMin, stepMinutes(cycle, *contactedAt))
		}
		if closed && resolvedAt != nil {
			resMin = append(resMin, stepMinutes(cycle, *resolvedAt))
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("complaint stats: %w", err)
	}
	st.OnTime["accept"], st.OnTime["contact"], st.OnTime["resolve"] = onTimeRate(acc.due, acc.onTime), onTimeRate(con.due, con.onTime), onTimeRate(res.due, res.onTime)
	st.MedianMinutes["accept"], st.MedianMinutes["contact"], st.MedianMinutes["resolve"] = median(accMin), median(conMin), median(resMin)

	st.Rising, err = risingCategories(ctx, db, loc, end)
	return st, err
}

// stepMinutes is how long a step took from the start of its handling cycle, in
// minutes, as both paths compute it (so their medians are the same float).
func stepMinutes(cycle, at time.Time) float64 { return at.Sub(cycle).Minutes() }

// median returns the median rounded to 0.1, or nil for no values.
func median(v []float64) *float64 {
	if len(v) == 0 {
		return nil
	}
	sort.Float64s(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m = math.Round(m*10) / 10
	return &m
}

// risingBounds are the start of the three months before the recent three and
// the end of the recent three: the recent ones end with the month that contains
// the last instant before end.
func risingBounds(loc *time.Location, end time.Time) (prevStart, recentEnd time.Time) {
	last := end.Add(-time.Nanosecond).In(loc)
	recentEnd = time.Date(last.Year(), last.Month(), 1, 0, 0, 0, 0, loc).AddDate(0, 1, 0)
	return recentEnd.AddDate(0, -6, 0), recentEnd
}

// newRising is the empty comparison for the months before end.
func newRising(loc *time.Location, end time.Time) (out RisingComplaintsCategory, prevStart, recentStart, recentEnd time.Time) {
	prevStart, recentEnd = risingBounds(loc, end)
	recentStart = recentEnd.AddDate(0, -3, 0)
	out = RisingComplaintsCategory{
		RecentFrom: recentStart.Format("2006-01"), RecentTo: recentEnd.AddDate(0, -1, 0).Format("2006-01"),
		PreviousFrom: prevStart.Format("2006-01"), PreviousTo: recentStart.AddDate(0, -1, 0).Format("2006-01"),
		Items: []RisingCounts{},
	}
	return out, prevStart, recentStart, recentEnd
}

// addRising adds one category's counts to out if it rose.
func addRising(out *RisingComplaintsCategory, r RisingCounts) {
	r.Increase = r.Recent - r.Previous
	if r.Increase <= 0 {
		return
	}
	if r.Previous > 0 {
		g := math.Round(float64(r.Increase)/float64(r.Previous)*10000) / 10000
		r.Growth = &g
	}
	out.Items = append(out.Items, r)
}

// sortRising orders the items biggest increase first.
func sortRising(out *RisingComplaintsCategory) {
	sort.Slice(out.Items, func(i, j int) bool {
		a, b := out.Items[i], out.Items[j]
		if a.Increase != b.Increase {
			return a.Increase > b.Increase
		}
		if a.Recent != b.Recent {
			return a.Recent > b.Recent
		}
		return a.Category < b.Category
	})
}

// risingCategories compares the three calendar months ending with the month that
// contains the last instant before end against the three months before them,
// from the complaints themselves.
func risingCategories(ctx context.Context, db *sql.DB, loc *time.Location, end time.Time) (RisingComplaintsCategory, error) {
	out, prevStart, recentStart, recentEnd := newRising(loc, end)
	rows, err := db.QueryContext(ctx, `SELECT category,
		SUM(created_at >= ?) AS recent, SUM(created_at < ?) AS previous
		FROM complaints WHERE created_at >= ? AND created_at < ? GROUP BY category`,
		recentStart.UTC(), recentStart.UTC(), prevStart.UTC(), recentEnd.UTC())
	if err != nil {
		return out, fmt.Errorf("rising categories: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r RisingCounts
		if err := rows.Scan(&r.Category, &r.Recent, &r.Previous); err != nil {
			return out, fmt.Errorf("scan rising category: %w", err)
		}
		addRising(&out, r)
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("rising categories: %w", err)
	}
	sortRising(&out)
	return out, nil
}
