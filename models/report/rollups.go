package report

import (
	"context"
	"fmt"
	"time"

	"nantian/models"
	"nantian/models/catalog"
)

// rollupDaysFit reports whether the rollups' days are the local days of loc over
// [from, to) (models.RollupDaysFit). Otherwise the report is computed from the
// raw tables.
func rollupDaysFit(loc *time.Location, from, to time.Time) bool {
	return models.RollupDaysFit(loc, from, to)
}

// localDay is the date (as a DATE parameter) of the local day starting at t, a
// local midnight in loc.
func localDay(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02") }

// annualFromRollups fills rep from the rollup tables. Held sessions count whole
// local days from report_session_days and the part of today that has passed
// (sessions that ended since midnight) from the raw tables, so "held by now" is
// exact; complaints and deposits are whole days of the year.
func (r *Reports) annualFromRollups(ctx context.Context, rep AnnualReport, from, to time.Time) (AnnualReport, error) {
	if to.After(from) {
		l := to.In(r.Loc)
		midnight := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, r.Loc).UTC()
		if midnight.Before(from) {
			midnight = from
		}
		// Whole months before this one from the monthly rollup, this month's
		// days before today from the daily one.
		ml := midnight.In(r.Loc)
		monthCut := time.Date(ml.Year(), ml.Month(), 1, 0, 0, 0, 0, r.Loc).UTC()
		if monthCut.Before(from) {
			monthCut = from
		}
		if err := r.sessionRollup(ctx, &rep, "report_session_months", "month", localDay(from, r.Loc), localDay(monthCut, r.Loc)); err != nil {
			return rep, err
		}
		if err := r.sessionRollup(ctx, &rep, "report_session_days", "day", localDay(monthCut, r.Loc), localDay(midnight, r.Loc)); err != nil {
			return rep, err
		}
		if midnight.Before(to) { // today so far
			var today AnnualReport
			var err error
			if today.NightSchool, err = r.nightSchool(ctx, midnight, to); err != nil {
				return rep, err
			}
			if today.ElderlyActivities, err = r.sessions(ctx, catalog.KindActivity, catalog.AudienceElderly, midnight, to); err != nil {
				return rep, err
			}
			if today.ChildrenActivities, err = r.sessions(ctx, catalog.KindActivity, catalog.AudienceChildren, midnight, to); err != nil {
				return rep, err
			}
			if today.Childcare, err = r.sessions(ctx, catalog.KindChildcare, "", midnight, to); err != nil {
				return rep, err
			}
			rep.NightSchool.SessionsHeld += today.NightSchool.SessionsHeld
			rep.NightSchool.Attendances += today.NightSchool.Attendances
			rep.NightSchool.FeesFen += today.NightSchool.FeesFen
			for _, p := range []struct{ dst, src *SessionFigure }{
				{&rep.ElderlyActivities, &today.ElderlyActivities}, {&rep.ChildrenActivities, &today.ChildrenActivities}, {&rep.Childcare, &today.Childcare},
			} {
				p.dst.SessionsHeld += p.src.SessionsHeld
				p.dst.Attendances += p.src.Attendances
			}
		}
	}
	yFrom, yTo := YearBounds(rep.Year, r.Loc)
	first, next := localDay(yFrom, r.Loc), localDay(yTo, r.Loc)
	err := r.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(received), 0), COALESCE(SUM(closed), 0), COALESCE(SUM(closed_on_time), 0), COALESCE(SUM(mediation), 0)
		FROM report_complaint_months WHERE month >= ? AND month < ?`, first, next).
		Scan(&rep.Complaints.Received, &rep.Complaints.Closed, &rep.Complaints.ClosedOnTime, &rep.Complaints.MediationAgreements)
	if err != nil {
		return rep, fmt.Errorf("report complaints (rollup): %w", err)
	}
	var grams int64
	err = r.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(deposits), 0), COALESCE(SUM(grams), 0), COALESCE(SUM(points), 0)
		FROM report_deposit_months WHERE month >= ? AND month < ?`, first, next).
		Scan(&rep.Points.Deposits, &grams, &rep.Points.PointsAwarded)
	if err != nil {
		return rep, fmt.Errorf("report points (rollup): %w", err)
	}
	rep.Points.Kilograms = float64(grams) / 1000
	err = r.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(participants), 0) FROM report_deposit_years WHERE year = ?`, rep.Year).
		Scan(&rep.Points.Participants)
	if err != nil {
		return rep, fmt.Errorf("report participants (rollup): %w", err)
	}
	return rep, nil
}

// sessionRollup adds the held sessions of table's rows (report_session_months by
// month, report_session_days by day) in [first, next) to rep, one pass grouped by
// program kind and audience.
func (r *Reports) sessionRollup(ctx context.Context, rep *AnnualReport, table, column, first, next string) error {
	if first >= next {
		return nil
	}
	rows, err := r.DB.QueryContext(ctx, `SELECT p.kind, p.audience, SUM(d.sessions_held), SUM(d.attendances), SUM(d.fees_fen)
		FROM `+table+` d JOIN programs p ON p.id = d.program_id
		WHERE d.`+column+` >= ? AND d.`+column+` < ? GROUP BY p.kind, p.audience`, first, next)
	if err != nil {
		return fmt.Errorf("report sessions (rollup): %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, audience string
		var held, att int
		var fees int64
		if err := rows.Scan(&kind, &audience, &held, &att, &fees); err != nil {
			return fmt.Errorf("scan report sessions (rollup): %w", err)
		}
		var dst *SessionFigure
		switch {
		case kind == catalog.KindNightSchool:
			rep.NightSchool.SessionsHeld += held
			rep.NightSchool.Attendances += att
			rep.NightSchool.FeesFen += fees
		case kind == catalog.KindActivity && audience == catalog.AudienceElderly:
			dst = &rep.ElderlyActivities
		case kind == catalog.KindActivity && audience == catalog.AudienceChildren:
			dst = &rep.ChildrenActivities
		case kind == catalog.KindChildcare:
			dst = &rep.Childcare
		}
		if dst != nil {
			dst.SessionsHeld += held
			dst.Attendances += att
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report sessions (rollup): %w", err)
	}
	return nil
}
