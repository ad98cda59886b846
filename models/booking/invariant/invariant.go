// Package invariant checks the booking engine's counting invariants against
// MySQL, for the tests and the drills that must prove them after a crowd, a
// crash or a race: no session holds more places than it has, and each
// session's counters (sessions.booked, sessions.waitlisted) equal what its
// bookings say. The engine keeps them true by writing both in one
// transaction; this package only reads.
package invariant

import (
	"context"
	"fmt"

	"nantian/models"
)

// LiveStatuses are the booking statuses that hold a place.
const LiveStatuses = `'pending', 'awaiting_payment', 'confirmed', 'attended'`

// Counts is one session as MySQL sees it.
type Counts struct {
	SessionID                  int64
	Capacity, Booked, Waitlist int // the session's own columns
	Live, Waiting              int // counted from its bookings
}

// Sessions reads the counts of the given sessions, or of every session when
// none is given.
func Sessions(ctx context.Context, q models.Querier, ids ...int64) ([]Counts, error) {
	query := `SELECT s.id, s.capacity, s.booked, s.waitlisted,
		(SELECT COUNT(*) FROM bookings b WHERE b.session_id = s.id AND b.status IN (` + LiveStatuses + `)),
		(SELECT COUNT(*) FROM bookings b WHERE b.session_id = s.id AND b.status = 'waitlisted')
		FROM sessions s`
	var args []any
	if len(ids) > 0 {
		query += ` WHERE s.id IN (?`
		for range ids[1:] {
			query += `, ?`
		}
		query += `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY s.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("session counts: %w", err)
	}
	defer rows.Close()
	var out []Counts
	for rows.Next() {
		var c Counts
		if err := rows.Scan(&c.SessionID, &c.Capacity, &c.Booked, &c.Waitlist, &c.Live, &c.Waiting); err != nil {
			return nil, fmt.Errorf("scan session counts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Violations says, one line each, how c breaks the invariants: oversold, or a
// counter that disagrees with the bookings. None for a sound session.
func (c Counts) Violations() []string {
	var bad []string
	if c.Booked > c.Capacity || c.Live > c.Capacity {
		bad = append(bad, fmt.Sprintf("session %d oversold: capacity %d, booked %d, live bookings %d", c.SessionID, c.Capacity, c.Booked, c.Live))
	}
	if c.Booked != c.Live {
		bad = append(bad, fmt.Sprintf("session %d: booked %d but %d live bookings", c.SessionID, c.Booked, c.Live))
	}
	if c.Waitlist != c.Waiting {
		bad = append(bad, fmt.Sprintf("session %d: waitlisted %d but %d waitlisted bookings", c.SessionID, c.Waitlist, c.Waiting))
	}
	return bad
}
