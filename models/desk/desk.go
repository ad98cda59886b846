// Package desk holds the read views of the staff console's desk pages: the
// day's sessions with their counts, what waits for staff. They are reads over
// the booking, complaint and points tables shaped for one screen each, which no
// API response has; every rule (who may book, what a transition does) stays
// in the operations the console calls, and nothing here writes.
package desk

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"nantian/models"
	"nantian/models/catalog"
)

// Reader runs the desk's queries.
type Reader struct {
	DB  *sql.DB
	Now models.Clock
	Loc *time.Location
	// ComplaintWarn is how close to a complaint deadline the desk starts
	// warning (the accept limit is 10 minutes, so a few minutes).
	ComplaintWarn time.Duration
	// Cipher opens phones and children's names; ChildReads audits staff reads
	// of children's data (as the roster does).
	Cipher     *models.DataCipher
	ChildReads *models.ChildReads
}

// DaySession is one session on the day's board.
type DaySession struct {
	ID           int64
	ProgramID    int64
	ProgramTitle string
	Kind         string
	StartsAt     time.Time
	EndsAt       time.Time
	Venue        string
	Capacity     int
	Booked       int
	Waitlisted   int
	Pending      int
	Attended     int
	Status       string
}

// Counts are the numbers on the day's board that change while the clerk looks.
type Counts struct {
	PendingApprovals   int // bookings waiting for a staff decision
	ComplaintsDueSoon  int // open complaints whose current limit ends within ComplaintWarn
	ComplaintsOverdue  int // open complaints past their current limit
	RedemptionsWaiting int // rewards redeemed and not yet picked up
	CheckedInToday     int
	ExpectedToday      int // places held in today's sessions
}

// Today is the day's board.
type Today struct {
	Day      time.Time // local midnight
	Sessions []DaySession
	Counts   Counts
}

// DayBounds returns the UTC bounds of the local day containing t.
func (r *Reader) DayBounds(t time.Time) (time.Time, time.Time) {
	lt := t.In(r.Loc)
	start := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, r.Loc)
	return start.UTC(), start.AddDate(0, 0, 1).UTC()
}

// Day returns the sessions starting on the local day of t, with counts.
func (r *Reader) Day(ctx context.Context, t time.Time) (Today, error) {
	from, to := r.DayBounds(t)
	out := Today{Day: from.In(r.Loc)}
	rows, err := r.DB.QueryContext(ctx, `SELECT s.id, s.program_id, p.title, p.kind, s.starts_at, s.ends_at,
			COALESCE(NULLIF(s.venue, ''), p.venue), s.capacity, s.booked, s.waitlisted, s.status,
			COALESCE(SUM(b.status = 'pending'), 0), COALESCE(SUM(b.status = 'attended'), 0)
		FROM sessions s JOIN programs p ON p.id = s.program_id
		LEFT JOIN bookings b ON b.session_id = s.id AND b.status IN ('pending', 'attended')
		WHERE s.starts_at >= ? AND s.starts_at < ?
		GROUP BY s.id ORDER BY s.starts_at, s.id`, from, to)
	if err != nil {
		return Today{}, fmt.Errorf("%w: day sessions: %w", models.ErrUnavailable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var s DaySession
		if err := rows.Scan(&s.ID, &s.ProgramID, &s.ProgramTitle, &s.Kind, &s.StartsAt, &s.EndsAt, &s.Venue,
			&s.Capacity, &s.Booked, &s.Waitlisted, &s.Status, &s.Pending, &s.Attended); err != nil {
			return Today{}, fmt.Errorf("scan day session: %w", err)
		}
		out.Sessions = append(out.Sessions, s)
		if s.Status != catalog.SessionCancelled {
			out.Counts.ExpectedToday += s.Booked
			out.Counts.CheckedInToday += s.Attended
		}
	}
	if err := rows.Err(); err != nil {
		return Today{}, fmt.Errorf("day sessions: %w", err)
	}
	c, err := r.waiting(ctx)
	if err != nil {
		return Today{}, err
	}
	c.ExpectedToday, c.CheckedInToday = out.Counts.ExpectedToday, out.Counts.CheckedInToday
	out.Counts = c
	return out, nil
}

// LiveCounts is Day's counts alone, for the board's refresh every few seconds.
func (r *Reader) LiveCounts(ctx context.Context, t time.Time) (Counts, error) {
	c, err := r.waiting(ctx)
	if err != nil {
		return Counts{}, err
	}
	from, to := r.DayBounds(t)
	err = r.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(s.booked), 0),
			(SELECT COUNT(*) FROM bookings b JOIN sessions s2 ON s2.id = b.session_id
			 WHERE s2.starts_at >= ? AND s2.starts_at < ? AND s2.status <> 'cancelled' AND b.status = 'attended')
		FROM sessions s WHERE s.starts_at >= ? AND s.starts_at < ? AND s.status <> 'cancelled'`,
		from, to, from, to).Scan(&c.ExpectedToday, &c.CheckedInToday)
	if err != nil {
		return Counts{}, fmt.Errorf("%w: day counts: %w", models.ErrUnavailable, err)
	}
	return c, nil
}

// waiting counts what waits for staff, whatever the day.
func (r *Reader) waiting(ctx context.Context) (Counts, error) {
	now := r.Now()
	soon := now.Add(r.ComplaintWarn)
	var c Counts
	// A complaint's current limit is the due time of the step it waits for
	// (the same reading as the complaint list's overdue filter).
	err := r.DB.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM bookings WHERE status = 'pending'),
			(SELECT COUNT(*) FROM complaints c WHERE `+dueSQL+` >= ? AND `+dueSQL+` < ?),
			(SELECT COUNT(*) FROM complaints c WHERE `+dueSQL+` < ?),
			(SELECT COUNT(*) FROM redemptions WHERE status = 'pending')`,
		now, soon, now).Scan(&c.PendingApprovals, &c.ComplaintsDueSoon, &c.ComplaintsOverdue, &c.RedemptionsWaiting)
	if err != nil {
		return Counts{}, fmt.Errorf("%w: waiting counts: %w", models.ErrUnavailable, err)
	}
	return c, nil
}

// dueSQL is an open complaint's current limit (NULL once resolved or closed).
const dueSQL = `(CASE WHEN c.status IN ('submitted','reopened') THEN c.accept_due_at
	WHEN c.status = 'accepted' THEN c.contact_due_at
	WHEN c.status = 'contacted' THEN c.resolve_due_at END)`
