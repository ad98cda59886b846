package points

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"nantian/models"
)

// depositStatsFromRollups answers DepositStats from the rollups kept by the
// bin_deposits triggers (migrations 0028, 0029): sums from report_deposit_months
// for calendar months inside the range and report_deposit_days for the cut
// months at its ends, distinct participants from the per-month and per-year
// sets' counters. Participants are exact only over whole sets, so a month (or
// for the totals, the year) counts as whole when no deposit of it lies outside
// [from, to] (the default "this year so far" is whole: nothing is deposited
// after today). Otherwise that figure is counted from bin_deposits.
func depositStatsFromRollups(ctx context.Context, db *sql.DB, from, to models.Date) (DepositStatistics, error) {
	out := DepositStatistics{From: from, To: to, Rows: []DepositRow{}}
	ft, tt := from.Time(), to.Time()
	day := func(t time.Time) string { return t.Format(time.DateOnly) }
	// Calendar months wholly inside [from, to] come from the monthly sums, the
	// cut months at either end from the daily ones; the two never share a row.
	fullFrom := time.Date(ft.Year(), ft.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !fullFrom.Equal(ft) {
		fullFrom = fullFrom.AddDate(0, 1, 0)
	}
	after := tt.AddDate(0, 0, 1) // exclusive end
	fullTo := time.Date(after.Year(), after.Month(), 1, 0, 0, 0, 0, time.UTC)
	cutA, cutB, cutC, cutD := ft, fullFrom, fullTo, after // days [A, B) and [C, D)
	if !fullFrom.Before(fullTo) {
		fullFrom, fullTo = ft, ft // no whole month: all days
		cutA, cutB, cutC, cutD = ft, after, after, after
	}
	rows, err := db.QueryContext(ctx, `SELECT estate, DATE_FORMAT(month, '%Y-%m') AS m, deposits, grams, points
		FROM report_deposit_months WHERE month >= ? AND month < ? AND deposits > 0
		UNION ALL
		SELECT estate, DATE_FORMAT(local_day, '%Y-%m') AS m, SUM(deposits), SUM(grams), SUM(points)
		FROM report_deposit_days WHERE (local_day >= ? AND local_day < ?) OR (local_day >= ? AND local_day < ?)
		GROUP BY estate, m HAVING SUM(deposits) > 0
		ORDER BY m, estate`, day(fullFrom), day(fullTo), day(cutA), day(cutB), day(cutC), day(cutD))
	if err != nil {
		return out, fmt.Errorf("deposit stats (rollup): %w", err)
	}
	for rows.Next() {
		var r DepositRow
		if err := rows.Scan(&r.Estate, &r.Month, &r.Deposits, &r.Grams, &r.PointsAwarded); err != nil {
			rows.Close()
			return out, fmt.Errorf("scan deposit stats (rollup): %w", err)
		}
		r.Kilograms = float64(r.Grams) / 1000
		out.Rows = append(out.Rows, r)
		out.Totals.Deposits += r.Deposits
		out.Totals.Grams += r.Grams
		out.Totals.PointsAwarded += r.PointsAwarded
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("deposit stats (rollup): %w", err)
	}
	out.Totals.Kilograms = float64(out.Totals.Grams) / 1000
	if out.Totals.Deposits == 0 {
		return out, nil
	}
	firstMonth := time.Date(ft.Year(), ft.Month(), 1, 0, 0, 0, 0, time.UTC)
	lastMonth := time.Date(tt.Year(), tt.Month(), 1, 0, 0, 0, 0, time.UTC)
	// whole reports whether no deposit lies in [a, b) outside the range.
	whole := func(a, b time.Time) (bool, error) {
		if !a.Before(b) {
			return true, nil
		}
		var n int
		err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(deposits), 0) FROM report_deposit_days WHERE local_day >= ? AND local_day < ?`,
			a.Format(time.DateOnly), b.Format(time.DateOnly)).Scan(&n)
		if err != nil {
			return false, fmt.Errorf("deposit days (rollup): %w", err)
		}
		return n == 0, nil
	}
	// wholeMonths is whole for a span of calendar months [a, b), from the
	// monthly sums.
	wholeMonths := func(a, b time.Time) (bool, error) {
		if !a.Before(b) {
			return true, nil
		}
		var n int
		err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(deposits), 0) FROM report_deposit_months WHERE month >= ? AND month < ?`,
			a.Format(time.DateOnly), b.Format(time.DateOnly)).Scan(&n)
		if err != nil {
			return false, fmt.Errorf("deposit months (rollup): %w", err)
		}
		return n == 0, nil
	}
	firstWhole, err := whole(firstMonth, ft)
	if err != nil {
		return out, err
	}
	lastWhole, err := whole(tt.AddDate(0, 0, 1), lastMonth.AddDate(0, 1, 0))
	if err != nil {
		return out, err
	}

	// Participants per row: the month's counter when the month is whole, else
	// counted over the range's part of that month.
	counters := map[[2]string]int{}
	crow, err := db.QueryContext(ctx, `SELECT estate, DATE_FORMAT(month, '%Y-%m'), participants FROM report_deposit_months WHERE month BETWEEN ? AND ?`,
		firstMonth.Format(time.DateOnly), lastMonth.Format(time.DateOnly))
	if err != nil {
		return out, fmt.Errorf("deposit participants (rollup): %w", err)
	}
	for crow.Next() {
		var e, m string
		var n int
		if err := crow.Scan(&e, &m, &n); err != nil {
			crow.Close()
			return out, fmt.Errorf("scan deposit participants (rollup): %w", err)
		}
		counters[[2]string{e, m}] = n
	}
	crow.Close()
	if err := crow.Err(); err != nil {
		return out, fmt.Errorf("deposit participants (rollup): %w", err)
	}
	partial := map[string]map[string]int{} // month → estate → participants, for cut months
	cut := func(month time.Time, a, b time.Time) error {
		m := month.Format("2006-01")
		rows, err := db.QueryContext(ctx, `SELECT estate, COUNT(DISTINCT user_id) FROM bin_deposits WHERE local_day BETWEEN ? AND ? GROUP BY estate`,
			a.Format(time.DateOnly), b.Format(time.DateOnly))
		if err != nil {
			return fmt.Errorf("deposit participants (cut month): %w", err)
		}
		defer rows.Close()
		partial[m] = map[string]int{}
		for rows.Next() {
			var e string
			var n int
			if err := rows.Scan(&e, &n); err != nil {
				return fmt.Errorf("scan deposit participants (cut month): %w", err)
			}
			partial[m][e] = n
		}
		return rows.Err()
	}
	if !firstWhole {
		end := firstMonth.AddDate(0, 1, -1)
		if end.After(tt) {
			end = tt
		}
		if err := cut(firstMonth, ft, end); err != nil {
			return out, err
		}
	}
	if !lastWhole && (!lastMonth.Equal(firstMonth) || firstWhole) {
		start := lastMonth
		if start.Before(ft) {
			start = ft
		}
		if err := cut(lastMonth, start, tt); err != nil {
			return out, err
		}
	}
	for i := range out.Rows {
		r := &out.Rows[i]
		if p, ok := partial[r.Month]; ok {
			r.Participants = p[r.Estate]
		} else {
			r.Participants = counters[[2]string{r.Estate, r.Month}]
		}
	}

	// Totals' participants: one whole year's counter, else the distinct residents
	// of whole months' sets, else from the deposits.
	switch {
	case firstWhole && lastWhole && ft.Year() == tt.Year():
		yearWhole, err := wholeMonths(time.Date(ft.Year(), 1, 1, 0, 0, 0, 0, time.UTC), firstMonth)
		if err == nil && yearWhole {
			yearWhole, err = wholeMonths(lastMonth.AddDate(0, 1, 0), time.Date(ft.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC))
		}
		if err != nil {
			return out, err
		}
		if yearWhole {
			err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(participants), 0) FROM report_deposit_years WHERE year = ?`, ft.Year()).
				Scan(&out.Totals.Participants)
			if err != nil {
				return out, fmt.Errorf("deposit participants (year rollup): %w", err)
			}
			return out, nil
		}
		fallthrough
	case firstWhole && lastWhole:
		err = db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT user_id) FROM report_deposit_month_users WHERE month BETWEEN ? AND ?`,
			firstMonth.Format(time.DateOnly), lastMonth.Format(time.DateOnly)).Scan(&out.Totals.Participants)
		if err != nil {
			return out, fmt.Errorf("deposit participants (month rollup): %w", err)
		}
	default:
		err = db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT user_id) FROM bin_deposits WHERE local_day BETWEEN ? AND ?`, from.String(), to.String()).
			Scan(&out.Totals.Participants)
		if err != nil {
			return out, fmt.Errorf("deposit participants: %w", err)
		}
	}
	return out, nil
}
