package report

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"nantian/models"
	"nantian/models/catalog"
)

// AnnualReport holds the figures the community puts in its yearly work report, each
// defined exactly as api.md defines it.
type AnnualReport struct {
	Year               int               `json:"year"`
	NightSchool        NightSchoolFigure `json:"night_school"`
	ElderlyActivities  SessionFigure     `json:"elderly_activities"`
	ChildrenActivities SessionFigure     `json:"children_activities"`
	Childcare          SessionFigure     `json:"childcare"`
	Complaints         ComplaintFigure   `json:"complaints"`
	Points             PointsFigure      `json:"points"`
}

// SessionFigure counts held sessions and attendances.
type SessionFigure struct {
	SessionsHeld int `json:"sessions_held"`
	Attendances  int `json:"attendances"`
}

// NightSchoolFigure adds fees collected.
type NightSchoolFigure struct {
	SessionsHeld int   `json:"sessions_held"`
	Attendances  int   `json:"attendances"`
	FeesFen      int64 `json:"fees_fen"`
}

// ComplaintFigure is the 民意速办 line of the report.
type ComplaintFigure struct {
	Received            int `json:"received"`
	Closed              int `json:"closed"`
	ClosedOnTime        int `json:"closed_on_time"`
	MediationAgreements int `json:"mediation_agreements"`
}

// PointsFigure is the food-waste line of the report.
type PointsFigure struct {
	Deposits      int     `json:"deposits"`
	Kilograms     float64 `json:"kilograms"`
	Participants  int     `json:"participants"`
	PointsAwarded int64   `json:"points_awarded"`
}

// Reports computes report figures from the records.
type Reports struct {
	DB  *sql.DB
	Now models.Clock
	Loc *time.Location
}

// YearBounds is [1 January, next 1 January) of year in the community's zone, in UTC.
func YearBounds(year int, loc *time.Location) (time.Time, time.Time) {
	from := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	return from.UTC(), from.AddDate(1, 0, 0).UTC()
}

// Annual computes the report for a year.
//
// A session is held when it was not cancelled and ended within the year (and has
// ended by now); an attendance is a booking checked in (status attended); fees are
// the fee_fen of confirmed-or-attended bookings of held night-school sessions.
// Sessions imported from the pre-system spreadsheets carry their attendances and
// fees in session_imports and count like live ones.
//
// The figures come from the report rollups (rollups.go) when APP_TIMEZONE allows
// it, which reads a few thousand daily rows instead of every booking and deposit
// of the year; AnnualFromRecords is the same report from the raw tables, the
// definition the rollups must reproduce.
func (r *Reports) Annual(ctx context.Context, year int) (AnnualReport, error) {
	return r.annual(ctx, year, true)
}

// AnnualFromRecords computes Annual from the raw tables only (no rollups): the
// reference the rollup test compares with, and the fallback for a zone the
// rollups' days do not fit.
func (r *Reports) AnnualFromRecords(ctx context.Context, year int) (AnnualReport, error) {
	return r.annual(ctx, year, false)
}

func (r *Reports) annual(ctx context.Context, year int, rollups bool) (AnnualReport, error) {
	if year < 2000 || year > 2100 {
		return AnnualReport{}, models.Invalid("year", "必须是 2000 到 2100 之间的年份")
	}
	from, to := YearBounds(year, r.Loc)
	if now := models.CeilMillisecond(r.Now()); to.After(now) {
		// A session that has not ended yet was not held. now rounded up to the
		// millisecond selects the same sessions and is a bound MariaDB's range
		// optimizer uses (see CeilMillisecond).
		to = now
	}
	rep := AnnualReport{Year: year}
	yearFrom, yearTo := YearBounds(year, r.Loc)
	if rollups && rollupDaysFit(r.Loc, yearFrom, yearTo) {
		return r.annualFromRollups(ctx, rep, from, to)
	}
	var err error
	if rep.NightSchool, err = r.nightSchool(ctx, from, to); err != nil {
		return AnnualReport{}, err
	}
	figures := []struct {
		dst            *SessionFigure
		kind, audience string
	}{
		{&rep.ElderlyActivities, catalog.KindActivity, catalog.AudienceElderly},
		{&rep.ChildrenActivities, catalog.KindActivity, catalog.AudienceChildren},
		{&rep.Childcare, catalog.KindChildcare, ""},
	}
	for _, f := range figures {
		if *f.dst, err = r.sessions(ctx, f.kind, f.audience, from, to); err != nil {
			return AnnualReport{}, err
		}
	}
	if rep.Complaints, err = r.complaints(ctx, year); err != nil {
		return AnnualReport{}, err
	}
	if rep.Points, err = r.points(ctx, year); err != nil {
		return AnnualReport{}, err
	}
	return rep, nil
}

// heldSessions selects the held sessions of a kind (and audience) with their live
// attendances and fees plus imported ones. A booking paid through WeChat Pay counts
// what the ledger says it brought in: its fee once its order is paid, less what was
// refunded to it (so a late cancel that kept the fee counts, a refunded one does
// not); a booking without an order (history from before payments, or a free
// program) counts its fee when it was confirmed or attended, as before.
const heldSessions = `
	SELECT COUNT(*),
	       COALESCE(SUM(x.live_att + x.imp_att), 0),
	       COALESCE(SUM(x.live_fees + x.imp_fees), 0)
	FROM (
		SELECT s.id,` + sessionFigures + `
		WHERE p.kind = ? AND (? = '' OR p.audience = ?)
		  AND s.status <> 'cancelled' AND s.ends_at >= ? AND s.ends_at < ?
	) x`

// sessionFigures is one session's attendances and fees, live and imported, with
// the joins they need: the select list's tail and FROM of both queries above and
// below, so the two cannot come to define a held session's figures differently.
const sessionFigures = `
		       (SELECT COUNT(*) FROM bookings b WHERE b.session_id = s.id AND b.status = 'attended') AS live_att,
		       (SELECT COALESCE(SUM(CASE
		            WHEN b.order_id IS NULL THEN IF(b.status IN ('confirmed', 'attended'), b.fee_fen, 0)
		            ELSE IF(EXISTS (SELECT 1 FROM payment_ledger lp WHERE lp.order_id = b.order_id AND lp.kind = 'paid'), b.fee_fen, 0)
		               - (SELECT COALESCE(SUM(lr.amount_fen), 0) FROM payment_ledger lr WHERE lr.booking_id = b.id AND lr.kind = 'refunded')
		            END), 0) FROM bookings b WHERE b.session_id = s.id) AS live_fees,
		       COALESCE(i.attendances, 0) AS imp_att,
		       COALESCE(i.fees_fen, 0) AS imp_fees
		FROM sessions s
		JOIN programs p ON p.id = s.program_id
		LEFT JOIN session_imports i ON i.session_id = s.id
`

// heldSessionsByKind is heldSessions for every program kind and audience at
// once, grouped by them (each session belongs to one program, so each group's
// figures are heldSessions' for that kind and audience): today's part of the
// current year's report in one statement instead of four.
const heldSessionsByKind = `
	SELECT x.kind, x.audience, COUNT(*),
	       COALESCE(SUM(x.live_att + x.imp_att), 0),
	       COALESCE(SUM(x.live_fees + x.imp_fees), 0)
	FROM (
		SELECT p.kind, p.audience,` + sessionFigures + `
		WHERE s.status <> 'cancelled' AND s.ends_at >= ? AND s.ends_at < ?
	) x
	GROUP BY x.kind, x.audience`

func (r *Reports) held(ctx context.Context, kind, audience string, from, to time.Time) (int, int, int64, error) {
	var n, att int
	var fees int64
	if err := r.DB.QueryRowContext(ctx, heldSessions, kind, audience, audience, from, to).Scan(&n, &att, &fees); err != nil {
		return 0, 0, 0, fmt.Errorf("report %s/%s sessions: %w", kind, audience, err)
	}
	return n, att, fees, nil
}

func (r *Reports) nightSchool(ctx context.Context, from, to time.Time) (NightSchoolFigure, error) {
	n, att, fees, err := r.held(ctx, catalog.KindNightSchool, "", from, to)
	return NightSchoolFigure{SessionsHeld: n, Attendances: att, FeesFen: fees}, err
}

func (r *Reports) sessions(ctx context.Context, kind, audience string, from, to time.Time) (SessionFigure, error) {
	n, att, _, err := r.held(ctx, kind, audience, from, to)
	return SessionFigure{SessionsHeld: n, Attendances: att}, err
}

// complaints counts work orders received in the year, and of those resolved in the
// year (status resolved or closed, not sent back for rework) how many met the
// resolve deadline and how many ended in a mediation agreement.
func (r *Reports) complaints(ctx context.Context, year int) (ComplaintFigure, error) {
	from, to := YearBounds(year, r.Loc)
	var f ComplaintFigure
	if err := r.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM complaints WHERE created_at >= ? AND created_at < ?`, from, to).Scan(&f.Received); err != nil {
		return f, fmt.Errorf("report complaints received: %w", err)
	}
	err := r.DB.QueryRowContext(ctx, `SELECT COUNT(*),
			COALESCE(SUM(resolved_at <= resolve_due_at), 0),
			COALESCE(SUM(mediation_agreement = 1), 0)
		FROM complaints
		WHERE status IN ('resolved', 'closed') AND resolved_at >= ? AND resolved_at < ?`, from, to).
		Scan(&f.Closed, &f.ClosedOnTime, &f.MediationAgreements)
	if err != nil {
		return f, fmt.Errorf("report complaints closed: %w", err)
	}
	return f, nil
}

// points sums the year's bin deposits by the day they happened in the community's
// zone.
func (r *Reports) points(ctx context.Context, year int) (PointsFigure, error) {
	from, to := YearBounds(year, r.Loc)
	var f PointsFigure
	var grams int64
	err := r.DB.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(weight_grams), 0), COUNT(DISTINCT user_id), COALESCE(SUM(points_awarded), 0)
		FROM bin_deposits WHERE occurred_at >= ? AND occurred_at < ?`, from, to).Scan(&f.Deposits, &grams, &f.Participants, &f.PointsAwarded)
	if err != nil {
		return f, fmt.Errorf("report points: %w", err)
	}
	f.Kilograms = float64(grams) / 1000
	return f, nil
}
