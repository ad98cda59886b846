package desk

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"nantian/models"
	"nantian/models/booking"
)

// PendingBooking is one line of the approval queue: who, for what, since when.
type PendingBooking struct {
	ID           int64
	CreatedAt    time.Time
	SessionID    int64
	StartsAt     time.Time
	ProgramTitle string
	Kind         string
	FeeFen       int64
	// Guardian is the booking's holder (the parent when a child takes part).
	GuardianID    int64
	Guardian      string
	GuardianPhone string // masked
	// Child is set when a child takes part: name and age on the session's day.
	Child    string
	ChildAge string
}

// maxQueue bounds one page of the queue; the desk works it oldest first.
const maxQueue = 200

// PendingQueue lists bookings waiting for staff, oldest first, optionally for
// one session. Children's names are decrypted and their read audited, as for
// the roster.
func (r *Reader) PendingQueue(ctx context.Context, sessionID int64) ([]PendingBooking, error) {
	q := `SELECT b.id, b.created_at, b.session_id, s.starts_at, p.title, p.kind, b.fee_fen,
			u.id, COALESCE(NULLIF(u.real_name, ''), u.nickname), u.phone_enc, c.id, c.name_enc, c.birth_date
		FROM bookings b JOIN sessions s ON s.id = b.session_id JOIN programs p ON p.id = b.program_id
		JOIN users u ON u.id = b.user_id LEFT JOIN children c ON c.id = b.child_id
		WHERE b.status = 'pending'`
	args := []any{}
	if sessionID > 0 {
		q += ` AND b.session_id = ?`
		args = append(args, sessionID)
	}
	q += ` ORDER BY b.created_at, b.id LIMIT ?`
	args = append(args, maxQueue)
	rows, err := r.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: pending queue: %w", models.ErrUnavailable, err)
	}
	defer rows.Close()
	var out []PendingBooking
	var childIDs []int64
	for rows.Next() {
		var b PendingBooking
		var phone, child []byte
		var childID sql.NullInt64
		var birth sql.NullTime
		if err := rows.Scan(&b.ID, &b.CreatedAt, &b.SessionID, &b.StartsAt, &b.ProgramTitle, &b.Kind, &b.FeeFen,
			&b.GuardianID, &b.Guardian, &phone, &childID, &child, &birth); err != nil {
			return nil, fmt.Errorf("scan pending: %w", err)
		}
		p, err := r.Cipher.Open("users", "phone", b.GuardianID, phone)
		if err != nil {
			return nil, err
		}
		b.GuardianPhone = models.MaskPhone(p)
		if b.Guardian == "" {
			b.Guardian = fmt.Sprintf("居民 #%d", b.GuardianID)
		}
		if childID.Valid {
			if b.Child, err = r.Cipher.Open("children", "name", childID.Int64, child); err != nil {
				return nil, err
			}
			if birth.Valid {
				on := models.DateOf(b.StartsAt.In(r.Loc))
				b.ChildAge = booking.AgeText(models.AgeInMonths(models.DateOf(birth.Time), on))
			}
			childIDs = append(childIDs, childID.Int64)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending queue: %w", err)
	}
	if err := r.ChildReads.Record(ctx, childIDs); err != nil {
		return nil, err
	}
	return out, nil
}
