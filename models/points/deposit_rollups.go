package points

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"nantian/models"
)

// depositStatsFromRollups answers DepositStats from the rollups kept by the
// bin_deposits triggers (migration 0028): sums from report_deposit_days (one row
// per day and estate), distinct participants from the per-month and per-year
// sets' counters. Participants are exact only over whole sets, so a month (or
// for the totals, the year) counts as whole when no deposit of it lies outside
// [from, to] (the default "this year so far" is whole: nothing is deposited
// after today). Otherwise that figure is counted from bin_deposits.
func depositStatsFromRollups(ctx context.Context, db *sql.DB, from, to models.Date) (DepositStatistics, error) {
	out := DepositStatistics{From: from, To: to, Rows: []DepositRow{}}
	f, t := from.String(), to.String()
	err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(deposits), 0), COALESCE(SUM(grams), 0), COALESCE(SUM(points), 0)
		FROM report_deposit_days WHERE local_day BETWEEN ? AND ?`, f, t).
		Scan(&out.Totals.Deposits, &out.Totals.Grams, &out.Totals.PointsAwarded)
	if err != nil {
		return out, fmt.Errorf("deposit totals (rollup): %w", err)
	}
	out.Totals.Kilograms = float64(out.Totals.Grams) / 1000
	if out.Totals.Deposits == 0 {
		return out, nil
	}
	ft, tt := from.Time(), to.Time()
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
	firstWhole, err := whole(firstMonth, ft)
	if err != nil {
		return out, err
	}
	lastWhole, err := whole(tt.AddDate(0, 0, 1), lastMonth.AddDate(0, 1, 0))
	if err != nil {
		return out, err
	}

	rows, err := db.QueryContext(ctx, `SELECT d.estate, DATE_FORMAT(d.local_day, '%Y-%m') AS month, SUM(d.deposits), SUM(d.grams), SUM(d.points)
		FROM report_deposit_days d WHERE d.local_day BETWEEN ? AND ?
		GROUP BY d.estate, month HAVING SUM(d.deposits) > 0 ORDER BY month, d.estate`, f, t)
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
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("deposit stats (rollup): %w", err)
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
		yearWhole, err := whole(time.Date(ft.Year(), 1, 1, 0, 0, 0, 0, time.UTC), firstMonth)
		if err == nil && yearWhole {
			yearWhole, err = whole(lastMonth.AddDate(0, 1, 0), time.Date(ft.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC))
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
		err = db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT user_id) FROM bin_deposits WHERE local_day BETWEEN ? AND ?`, f, t).
			Scan(&out.Totals.Participants)
		if err != nil {
			return out, fmt.Errorf("deposit participants: %w", err)
		}
	}
	return out, nil
}
