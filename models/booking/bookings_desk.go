package booking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"nantian/models"
)

// DeskCheckIn is what the session desk's check-in box shows after a scan.
type DeskCheckIn struct {
	Booking Booking
	// Name is who came: the child for a child's booking, else the resident.
	Name string
}

// CheckInAtSession is CheckIn for the desk of one session: the same window and
// guarded transition, and before it the answers a clerk needs at the door, each
// its own error: a code of another session (naming it), already checked in
// (with the time), cancelled, rejected, waiting for approval or on the waiting
// list. A lost race with a second scan of the same code reads as "already in".
func (b *Bookings) CheckInAtSession(ctx context.Context, sessionID int64, code string) (DeskCheckIn, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != checkInCodeLen {
		return DeskCheckIn{}, &models.Error{Kind: models.KindNotFound, Code: "not_found", Message: "无效的签到码"}
	}
	var (
		id, other, uid int64
		status, title  string
		starts         time.Time
		checked        sql.NullTime
		name           string
		childID        sql.NullInt64
		child          []byte
	)
	err := b.DB.QueryRowContext(ctx, `SELECT b.id, b.session_id, b.status, b.checked_in_at, p.title, s.starts_at,
			u.id, COALESCE(NULLIF(u.real_name, ''), u.nickname), c.id, c.name_enc
		FROM bookings b JOIN sessions s ON s.id = b.session_id JOIN programs p ON p.id = b.program_id
		JOIN users u ON u.id = b.user_id LEFT JOIN children c ON c.id = b.child_id
		WHERE b.code = ?`, code).Scan(&id, &other, &status, &checked, &title, &starts, &uid, &name, &childID, &child)
	if errors.Is(err, sql.ErrNoRows) {
		return DeskCheckIn{}, &models.Error{Kind: models.KindNotFound, Code: "not_found", Message: "无效的签到码"}
	}
	if err != nil {
		return DeskCheckIn{}, fmt.Errorf("%w: find code: %w", models.ErrUnavailable, err)
	}
	if childID.Valid {
		if name, err = b.Cipher.Open("children", "name", childID.Int64, child); err != nil {
			return DeskCheckIn{}, err
		}
		if err := b.ChildReads.Record(ctx, []int64{childID.Int64}); err != nil {
			return DeskCheckIn{}, err
		}
	}
	if name == "" {
		name = fmt.Sprintf("居民 #%d", uid)
	}
	if other != sessionID {
		return DeskCheckIn{Name: name}, &models.Error{Kind: models.KindConflict, Code: "wrong_session", Message: fmt.Sprintf("%s：不是本场次的预约（是「%s」%s 的场次）", name, title, starts.In(b.Loc).Format("01-02 15:04"))}
	}
	if refusal := deskRefusal(name, status, checked, b.Loc); refusal != nil {
		return DeskCheckIn{Name: name}, refusal
	}
	bk, err := b.CheckIn(ctx, code)
	if errors.Is(err, models.ErrInvalidTransition) {
		// Someone scanned it a moment ago: say what it is now.
		var st string
		var at sql.NullTime
		if err := b.DB.QueryRowContext(ctx, `SELECT status, checked_in_at FROM bookings WHERE id = ?`, id).Scan(&st, &at); err != nil {
			return DeskCheckIn{Name: name}, fmt.Errorf("%w: reread booking: %w", models.ErrUnavailable, err)
		}
		if refusal := deskRefusal(name, st, at, b.Loc); refusal != nil {
			return DeskCheckIn{Name: name}, refusal
		}
	}
	if err != nil {
		return DeskCheckIn{Name: name}, err
	}
	return DeskCheckIn{Booking: bk, Name: name}, nil
}

// deskRefusal says why a booking in this status cannot be checked in, or nil.
func deskRefusal(name, status string, checked sql.NullTime, loc *time.Location) error {
	why := ""
	switch status {
	case BookingConfirmed:
		return nil
	case BookingAttended:
		at := ""
		if checked.Valid {
			at = " " + checked.Time.In(loc).Format("15:04")
		}
		return &models.Error{Kind: models.KindConflict, Code: "already_checked_in", Message: fmt.Sprintf("%s：已签到%s，请勿重复", name, at)}
	case BookingCancelled:
		why = "预约已取消"
	case BookingRejected:
		why = "预约未通过审核"
	case BookingPending:
		why = "预约尚未审核"
	case BookingWaitlisted:
		why = "仍在候补，没有名额"
	case BookingNoShow:
		why = "已记为爽约（场次已结束）"
	case BookingExpired:
		why = "预约已过期"
	default:
		why = "当前状态不能签到"
	}
	return &models.Error{Kind: models.KindConflict, Code: "invalid_transition", Message: name + "：" + why}
}
