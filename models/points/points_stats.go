package points

import (
	"context"
	"database/sql"
	"fmt"

	"nantian/models"
)

// DepositFigures are the report's points figures over a set of deposits:
// deposits = count, kilograms = sum(weight)/1000, participants = distinct
// residents, points_awarded = sum. Contaminated deposits count as deposits and
// weight; they just earn nothing.
type DepositFigures struct {
	Deposits      int     `json:"deposits"`
	Grams         int64   `json:"grams"`
	Kilograms     float64 `json:"kilograms"`
	Participants  int     `json:"participants"`
	PointsAwarded int64   `json:"points_awarded"`
}

// DepositRow is the figures of one estate in one month (YYYY-MM, APP_TIMEZONE).
type DepositRow struct {
	Estate string `json:"estate"`
	Month  string `json:"month"`
	DepositFigures
}

// DepositStatistics are the totals over the period plus the estate × month
// breakdown. Participants in Totals are distinct over the whole period, so they
// are not the sum of the rows.
type DepositStatistics struct {
	From   models.Date    `json:"from"`
	To     models.Date    `json:"to"`
	Totals DepositFigures `json:"totals"`
	Rows   []DepositRow   `json:"rows"`
}

// DepositStats computes the figures for deposits whose business day (local_day,
// APP_TIMEZONE) lies in [from, to] inclusive. It takes the *sql.DB directly so
// the annual report can call it for a year: DepositStats(ctx, db, Jan 1, Dec 31).
//
// It reads the rollups of migration 0028 (deposit_rollups.go); the figures are
// those of DepositStatsFromRecords, the definition.
func DepositStats(ctx context.Context, db *sql.DB, from, to models.Date) (DepositStatistics, error) {
	return depositStatsFromRollups(ctx, db, from, to)
}

// DepositStatsFromRecords computes DepositStats from bin_deposits itself: the
// reference the rollups are tested against, and the fallback for participants
// over a range that cuts a month's deposits in two.
func DepositStatsFromRecords(ctx context.Context, db *sql.DB, from, to models.Date) (DepositStatistics, error) {
	out := DepositStatistics{From: from, To: to, Rows: []DepositRow{}}
	err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(weight_grams), 0), COUNT(DISTINCT user_id), COALESCE(SUM(points_awarded), 0)
		FROM bin_deposits WHERE local_day BETWEEN ? AND ?`, from.String(), to.String()).
		Scan(&out.Totals.Deposits, &out.Totals.Grams, &out.Totals.Participants, &out.Totals.PointsAwarded)
	if err != nil {
		return out, fmt.Errorf("deposit totals: %w", err)
	}
	out.Totals.Kilograms = float64(out.Totals.Grams) / 1000
	rows, err := db.QueryContext(ctx, `SELECT estate, DATE_FORMAT(local_day, '%Y-%m') AS month, COUNT(*), COALESCE(SUM(weight_grams), 0),
			COUNT(DISTINCT user_id), COALESCE(SUM(points_awarded), 0)
		FROM bin_deposits WHERE local_day BETWEEN ? AND ?
		GROUP BY estate, month ORDER BY month, estate`, from.String(), to.String())
	if err != nil {
		return out, fmt.Errorf("deposit stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r DepositRow
		if err := rows.Scan(&r.Estate, &r.Month, &r.Deposits, &r.Grams, &r.Participants, &r.PointsAwarded); err != nil {
			return out, fmt.Errorf("scan deposit stats: %w", err)
		}
		r.Kilograms = float64(r.Grams) / 1000
		out.Rows = append(out.Rows, r)
	}
	return out, rows.Err()
}
