package booking

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"nantian/models"
)

// RosterRow is one line of a session's attendance roster.
type RosterRow struct {
	Code        string
	Status      string
	UserID      int64 // the booking's holder: "居民 #12" when they gave no name
	Resident    string
	Phone       string // masked: only the last four digits show
	Child       string
	CheckedInAt *time.Time
}

// Roster lists a session's bookings that hold or held a place (pending,
// confirmed, attended, no_show), for the staff roster. Phones are masked here so
// the full number never leaves the store.
func (b *Bookings) Roster(ctx context.Context, sessionID int64) ([]RosterRow, error) {
	var one int
	if err := b.DB.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, sessionID).Scan(&one); err == sql.ErrNoRows {
		return nil, models.ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	rows, err := b.DB.QueryContext(ctx, `SELECT b.code, b.status, COALESCE(NULLIF(u.real_name, ''), u.nickname), u.id, u.phone_enc, c.id, c.name_enc, b.checked_in_at
		FROM bookings b JOIN users u ON u.id = b.user_id LEFT JOIN children c ON c.id = b.child_id
		WHERE b.session_id = ? AND b.status IN ('pending', 'confirmed', 'attended', 'no_show') ORDER BY b.id`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	defer rows.Close()
	var out []RosterRow
	var childIDs []int64
	for rows.Next() {
		var r RosterRow
		var childID sql.NullInt64
		var phone, child []byte
		if err := rows.Scan(&r.Code, &r.Status, &r.Resident, &r.UserID, &phone, &childID, &child, &r.CheckedInAt); err != nil {
			return nil, fmt.Errorf("scan roster: %w", err)
		}
		p, err := b.Cipher.Open("users", "phone", r.UserID, phone)
		if err != nil {
			return nil, err
		}
		r.Phone = models.MaskPhone(p)
		if childID.Valid {
			if r.Child, err = b.Cipher.Open("children", "name", childID.Int64, child); err != nil {
				return nil, err
			}
			childIDs = append(childIDs, childID.Int64)
		}
		if r.CheckedInAt != nil {
			t := r.CheckedInAt.In(b.Loc)
			r.CheckedInAt = &t
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("roster: %w", err)
	}
	// Children's names are sensitive: the staff read is audited before the roster
	// leaves the store (and if it cannot be, the roster does not).
	if err := b.ChildReads.Record(ctx, childIDs); err != nil {
		return nil, err
	}
	return out, nil
}
