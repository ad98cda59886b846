package booking

// Booking transitions after the booking itself: the waiting list taking freed
// places, cancel / confirm / reject / check-in, closing and cancelling a session,
// and keeping the gate in step with session edits. Every change is a guarded
// UPDATE; a lost race answers ErrInvalidTransition.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"nantian/models"
	"nantian/models/catalog"
)

// afterFree updates the gate after a transaction freed places and handed some to
// the waiting list: the leavers' places go, the promoted take theirs.
func (b *Bookings) afterFree(ctx context.Context, m sessionMeta, freed []string, promoted []promotion) {
	ctx = context.WithoutCancel(ctx)
	if b.GateEnabled && !b.Gate.Down() {
		b.Gate.Release(ctx, m.ProgramID, m.SessionID, freed...)
		for _, p := range promoted {
			b.Gate.Swap(ctx, m.ProgramID, m.SessionID, "", p.participant)
		}
	}
	b.forget(m.SessionID, m.ProgramID)
}

type promotion struct {
	bookingID   int64
	userID      int64
	participant string
}

// fillFromWaitlist gives free places of a session to the first in line, inside the
// caller's transaction (which must hold the session row lock). Programs needing
// approval promote to pending, others to confirmed; each promoted resident is told.
func (b *Bookings) fillFromWaitlist(ctx context.Context, tx *sql.Tx, m sessionMeta, now time.Time) ([]promotion, error) {
	var capacity, booked, waitlisted int
	var status string
	var starts time.Time
	if err := tx.QueryRowContext(ctx, `SELECT capacity, booked, waitlisted, status, starts_at FROM sessions WHERE id = ? FOR UPDATE`, m.SessionID).
		Scan(&capacity, &booked, &waitlisted, &status, &starts); err != nil {
		return nil, fmt.Errorf("lock session: %w", err)
	}
	free := capacity - booked
	if free <= 0 || waitlisted <= 0 || status != catalog.SessionOpen || !now.Before(starts) {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, user_id, participant FROM bookings WHERE session_id = ? AND status = 'waitlisted' ORDER BY id LIMIT ? FOR UPDATE`, m.SessionID, free)
	if err != nil {
		return nil, fmt.Errorf("waiting list: %w", err)
	}
	var out []promotion
	for rows.Next() {
		var p promotion
		if err := rows.Scan(&p.bookingID, &p.userID, &p.participant); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan waiting list: %w", err)
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	st, word := BookingConfirmed, "候补成功，已确认"
	switch b.placeStatus(m) {
	case BookingPending:
		st, word = BookingPending, "候补成功，待审核"
	case BookingAwaitingPayment:
		st, word = BookingAwaitingPayment, "候补成功，请尽快支付"
	}
	for _, p := range out {
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET status = ?, updated_at = ? WHERE id = ? AND status = 'waitlisted'`, st, now, p.bookingID); err != nil {
			return nil, fmt.Errorf("promote: %w", err)
		}
		if st == BookingAwaitingPayment {
			if _, err := b.openOrder(ctx, tx, p.userID, []sessionMeta{m}, []int64{p.bookingID}, now); err != nil {
				return nil, err
			}
		}
		if err := b.notify(ctx, tx, p.userID, p.bookingID, m, "booking_promoted", word); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked + ?, waitlisted = waitlisted - ?, updated_at = ? WHERE id = ?`, len(out), len(out), now, m.SessionID); err != nil {
		return nil, fmt.Errorf("count promotion: %w", err)
	}
	return out, nil
}

// lockBooking locks the session row first, then the booking (the guard's order:
// session, then bookings), so transitions never deadlock with bookings.
func (b *Bookings) lockBooking(ctx context.Context, tx *sql.Tx, id int64) (Booking, sessionMeta, error) {
	var sessionID int64
	err := tx.QueryRowContext(ctx, `SELECT session_id FROM bookings WHERE id = ?`, id).Scan(&sessionID)
	if errors.Is(err, sql.ErrNoRows) {
		return Booking{}, sessionMeta{}, models.ErrNotFound
	}
	if err != nil {
		return Booking{}, sessionMeta{}, fmt.Errorf("find booking: %w", err)
	}
	var locked int64
	if err := tx.QueryRowContext(ctx, `SELECT id FROM sessions WHERE id = ? FOR UPDATE`, sessionID).Scan(&locked); err != nil {
		return Booking{}, sessionMeta{}, fmt.Errorf("lock session: %w", err)
	}
	x, err := b.scan(tx.QueryRowContext(ctx, `SELECT `+bookingColumns+bookingFrom+` WHERE b.id = ? FOR UPDATE`, id))
	if err != nil {
		return Booking{}, sessionMeta{}, fmt.Errorf("lock booking: %w", err)
	}
	m, err := b.loadMeta(ctx, tx, sessionID)
	return x, m, err
}

// setStatus is the guarded transition: it changes the booking only if it is still
// in the status the caller saw; live says whether the new status keeps the place.
func setStatus(ctx context.Context, tx *sql.Tx, id int64, from, to string, now time.Time, extra string, args ...any) error {
	q := `UPDATE bookings SET status = ?, updated_at = ?`
	if to != BookingPending && to != BookingAwaitingPayment && to != BookingConfirmed && to != BookingAttended && to != BookingWaitlisted {
		q += `, live_participant = NULL`
	}
	if extra != "" {
		q += ", " + extra
	}
	all := append([]any{to, now}, args...)
	all = append(all, id, from)
	res, err := tx.ExecContext(ctx, q+` WHERE id = ? AND status = ?`, all...)
	if err != nil {
		return fmt.Errorf("booking %s→%s: %w", from, to, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return models.ErrInvalidTransition
	}
	return nil
}

// Cancel is the resident cancelling their own booking. Free until
// FreeCancelBefore the start; later it still cancels but counts as a no-show
// (late_cancel), which may trigger the ban. A freed place goes to the first in line.
func (b *Bookings) Cancel(ctx context.Context, userID, id int64) (Booking, error) {
	var m sessionMeta
	var freed []string
	var promoted []promotion
	err := b.tx(ctx, func(tx *sql.Tx) error {
		freed, promoted = nil, nil
		now := b.Now()
		x, meta, err := b.lockBooking(ctx, tx, id)
		if err != nil {
			return err
		}
		m = meta
		if x.UserID != userID {
			return models.ErrNotFound
		}
		switch x.Status {
		case BookingWaitlisted:
			if err := setStatus(ctx, tx, id, x.Status, BookingCancelled, now, ""); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE sessions SET waitlisted = waitlisted - 1, updated_at = ? WHERE id = ?`, now, m.SessionID)
			return err
		case BookingPending, BookingAwaitingPayment, BookingConfirmed:
		default:
			return models.ErrInvalidTransition
		}
		if !now.Before(m.StartsAt) {
			return ErrBookingClosed
		}
		late := now.After(m.StartsAt.Add(-b.Rules.FreeCancelBefore))
		refund, reason := x.FeeFen, "开课前免费取消，全额退款"
		if late {
			refund, reason = x.FeeFen*int64(b.Rules.LateCancelRefundPercent)/100, "开课前"+b.Rules.FreeCancelBefore.String()+"内取消，按规则退款"
		}
		if err := b.leaveMoney(ctx, tx, x, refund, reason, now); err != nil {
			return err
		}
		extra, args := "late_cancel = 0", []any{}
		if late {
			extra, args = "late_cancel = 1, no_show_at = ?", []any{now}
		}
		if err := setStatus(ctx, tx, id, x.Status, BookingCancelled, now, extra, args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked - 1, updated_at = ? WHERE id = ?`, now, m.SessionID); err != nil {
			return fmt.Errorf("free place: %w", err)
		}
		freed = []string{x.participant}
		if late {
			if err := b.applyBan(ctx, tx, userID, now); err != nil {
				return err
			}
		}
		promoted, err = b.fillFromWaitlist(ctx, tx, m, now)
		return err
	})
	if err != nil {
		return Booking{}, err
	}
	b.afterFree(ctx, m, freed, promoted)
	return b.get(ctx, id)
}

// applyBan suspends a resident who reached NoShowLimit no-shows (late cancels
// included) within NoShowWindow, for SuspendFor.
func (b *Bookings) applyBan(ctx context.Context, tx *sql.Tx, userID int64, now time.Time) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings WHERE user_id = ? AND no_show_at >= ?`, userID, now.Add(-b.Rules.NoShowWindow)).Scan(&n); err != nil {
		return fmt.Errorf("count no-shows: %w", err)
	}
	if n < b.Rules.NoShowLimit {
		return nil
	}
	until := now.Add(b.Rules.SuspendFor)
	if _, err := tx.ExecContext(ctx, `UPDATE users SET suspended_until = ?, updated_at = ? WHERE id = ? AND (suspended_until IS NULL OR suspended_until < ?)`, until, now, userID, until); err != nil {
		return fmt.Errorf("suspend: %w", err)
	}
	return nil
}

// Confirm (staff) moves a pending booking to confirmed; anything else is 409.
func (b *Bookings) Confirm(ctx context.Context, id int64) (Booking, error) {
	err := b.tx(ctx, func(tx *sql.Tx) error {
		x, m, err := b.lockBooking(ctx, tx, id)
		if err != nil {
			return err
		}
		if x.Status != BookingPending {
			return models.ErrInvalidTransition
		}
		// A pending booking whose session has started is about to expire (the
		// reconciler's job); confirming it then would tell the resident to come to
		// something already under way.
		if !b.Now().Before(m.StartsAt) {
			return ErrBookingClosed
		}
		if b.paid(m) {
			// Approved: the resident is asked to pay; the place is held meanwhile.
			if err := setStatus(ctx, tx, id, BookingPending, BookingAwaitingPayment, b.Now(), ""); err != nil {
				return err
			}
			if _, err := b.openOrder(ctx, tx, x.UserID, []sessionMeta{m}, []int64{id}, b.Now()); err != nil {
				return err
			}
			return b.notify(ctx, tx, x.UserID, id, m, "booking_approved_pay", "审核通过，请支付")
		}
		if err := setStatus(ctx, tx, id, BookingPending, BookingConfirmed, b.Now(), ""); err != nil {
			return err
		}
		return b.notify(ctx, tx, x.UserID, id, m, "booking_confirmed", "已确认")
	})
	if err != nil {
		return Booking{}, err
	}
	return b.get(ctx, id)
}

// Reject (staff) refuses a pending booking, freeing its place for the waiting list.
func (b *Bookings) Reject(ctx context.Context, id int64, reason string) (Booking, error) {
	var m sessionMeta
	var freed []string
	var promoted []promotion
	err := b.tx(ctx, func(tx *sql.Tx) error {
		now := b.Now()
		x, meta, err := b.lockBooking(ctx, tx, id)
		if err != nil {
			return err
		}
		m = meta
		if x.Status != BookingPending {
			return models.ErrInvalidTransition
		}
		if err := setStatus(ctx, tx, id, BookingPending, BookingRejected, now, "reject_reason = ?", reason); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked - 1, updated_at = ? WHERE id = ?`, now, m.SessionID); err != nil {
			return fmt.Errorf("free place: %w", err)
		}
		if err := b.notify(ctx, tx, x.UserID, id, m, "booking_rejected", "未通过"); err != nil {
			return err
		}
		freed = []string{x.participant}
		promoted, err = b.fillFromWaitlist(ctx, tx, m, now)
		return err
	})
	if err != nil {
		return Booking{}, err
	}
	b.afterFree(ctx, m, freed, promoted)
	return b.get(ctx, id)
}

// CheckIn (staff) marks the booking with this code attended. Unknown code → 404,
// not confirmed → 409.
func (b *Bookings) CheckIn(ctx context.Context, code string) (Booking, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != checkInCodeLen {
		return Booking{}, models.ErrNotFound // no booking has such a code
	}
	var id int64
	var startsAt, endsAt time.Time
	err := b.DB.QueryRowContext(ctx, `SELECT b.id, s.starts_at, s.ends_at FROM bookings b
		JOIN sessions s ON s.id = b.session_id WHERE b.code = ?`, code).Scan(&id, &startsAt, &endsAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Booking{}, models.ErrNotFound
	}
	if err != nil {
		return Booking{}, fmt.Errorf("find code: %w", err)
	}
	now := b.Now()
	if err := b.checkInWindow(now, startsAt, endsAt); err != nil {
		return Booking{}, err
	}
	res, err := models.ExecRetry(ctx, b.DB, `UPDATE bookings SET status = 'attended', checked_in_at = ?, updated_at = ? WHERE id = ? AND status = 'confirmed'`, now, now, id)
	if err != nil {
		return Booking{}, fmt.Errorf("check in: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Booking{}, models.ErrInvalidTransition
	}
	return b.get(ctx, id)
}

// checkInWindow refuses a check-in outside [start − CheckInOpensBefore, end of the
// local day the session ends on]. Without it a resident showing next week's QR
// by mistake is marked attended there, and then a no-show for today's lesson;
// the day's end (not the session's) leaves staff time to record latecomers
// before they close the session.
func (b *Bookings) checkInWindow(now, startsAt, endsAt time.Time) error {
	opens := startsAt.Add(-b.Rules.CheckInOpensBefore)
	end := endsAt.In(b.Loc)
	closes := time.Date(end.Year(), end.Month(), end.Day()+1, 0, 0, 0, 0, b.Loc)
	if now.Before(opens) || !now.Before(closes) {
		return &models.Error{Kind: models.KindRule, Code: "checkin_not_open", Message: fmt.Sprintf("不在签到时间内：该预约的场次 %s 开始，签到从开始前 %d 分钟到当天结束",
			startsAt.In(b.Loc).Format("2006-01-02 15:04"), int(b.Rules.CheckInOpensBefore.Minutes()))}
	}
	return nil
}

// CloseResult reports what closing a session did.
type CloseResult struct {
	Session  catalog.Session `json:"session"`
	NoShows  int             `json:"no_shows"`
	Expired  int             `json:"expired"`
	Attended int             `json:"attended"`
}

// ErrSessionNotStarted refuses to close a session before it starts: nobody can
// have missed it yet, so nobody may be marked no_show (and banned) for it.
var ErrSessionNotStarted = &models.Error{Kind: models.KindConflict, Code: "invalid_transition", Message: "场次尚未开始，不能结束签到；如需停止预约，请取消场次"}

// CloseSession (staff) ends a session that has started: confirmed bookings not
// checked in become no_show (each counting toward the ban), pending and
// waitlisted ones expire, and booked keeps only the attended. Closing twice, or
// before the start, is 409.
func (b *Bookings) CloseSession(ctx context.Context, cat *catalog.Catalog, sessionID int64) (CloseResult, error) {
	var out CloseResult
	var m sessionMeta
	err := b.tx(ctx, func(tx *sql.Tx) error {
		out = CloseResult{}
		now := b.Now()
		var err error
		if m, err = b.loadMeta(ctx, tx, sessionID); err != nil {
			return err
		}
		if now.Before(m.StartsAt) {
			return ErrSessionNotStarted
		}
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET status = 'closed', updated_at = ? WHERE id = ? AND status = 'open'`, now, sessionID)
		if err != nil {
			return fmt.Errorf("close session: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return models.ErrInvalidTransition
		}
		// Locking reads here and in the count below: they see a check-in that
		// committed meanwhile, where a plain read would use the snapshot.
		users, err := models.QueryColumn[int64](ctx, tx, `SELECT DISTINCT user_id FROM bookings WHERE session_id = ? AND status = 'confirmed' FOR UPDATE`, sessionID)
		if err != nil {
			return fmt.Errorf("no-shows: %w", err)
		}
		r, err := tx.ExecContext(ctx, `UPDATE bookings SET status = 'no_show', no_show_at = ?, live_participant = NULL, updated_at = ? WHERE session_id = ? AND status = 'confirmed'`, now, now, sessionID)
		if err != nil {
			return fmt.Errorf("mark no-shows: %w", err)
		}
		n, _ := r.RowsAffected()
		out.NoShows = int(n)
		if err := b.abandonUnpaid(ctx, tx, sessionID, now); err != nil {
			return err
		}
		r, err = tx.ExecContext(ctx, `UPDATE bookings SET status = 'expired', live_participant = NULL, updated_at = ? WHERE session_id = ? AND status IN ('pending', 'awaiting_payment', 'waitlisted')`, now, sessionID)
		if err != nil {
			return fmt.Errorf("expire: %w", err)
		}
		n, _ = r.RowsAffected()
		out.Expired = int(n)
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'attended' FOR UPDATE`, sessionID).Scan(&out.Attended); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = ?, waitlisted = 0 WHERE id = ?`, out.Attended, sessionID); err != nil {
			return fmt.Errorf("recount: %w", err)
		}
		for _, u := range users {
			if err := b.applyBan(ctx, tx, u, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	b.dropGate(ctx, m)
	out.Session, err = cat.GetSession(ctx, sessionID)
	return out, err
}

// CancelSession (staff) cancels a session and every booking in it, telling each
// resident.
func (b *Bookings) CancelSession(ctx context.Context, cat *catalog.Catalog, sessionID int64) (catalog.Session, error) {
	var m sessionMeta
	err := b.tx(ctx, func(tx *sql.Tx) error {
		now := b.Now()
		var err error
		if m, err = b.loadMeta(ctx, tx, sessionID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET status = 'cancelled', updated_at = ? WHERE id = ? AND status = 'open'`, now, sessionID)
		if err != nil {
			return fmt.Errorf("cancel session: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return models.ErrInvalidTransition
		}
		if err := b.refundSession(ctx, tx, sessionID, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, user_id FROM bookings WHERE session_id = ? AND status IN ('waitlisted', 'pending', 'awaiting_payment', 'confirmed') FOR UPDATE`, sessionID)
		if err != nil {
			return fmt.Errorf("session bookings: %w", err)
		}
		type victim struct{ id, user int64 }
		var vs []victim
		for rows.Next() {
			var v victim
			if err := rows.Scan(&v.id, &v.user); err != nil {
				rows.Close()
				return err
			}
			vs = append(vs, v)
		}
		rows.Close()
		for _, v := range vs {
			if _, err := tx.ExecContext(ctx, `UPDATE bookings SET status = 'cancelled', live_participant = NULL, updated_at = ? WHERE id = ?`, now, v.id); err != nil {
				return fmt.Errorf("cancel booking: %w", err)
			}
			if err := b.notify(ctx, tx, v.user, v.id, m, "booking_cancelled", "活动取消"); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET booked = (SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'attended'), waitlisted = 0 WHERE id = ?`, sessionID, sessionID)
		return err
	})
	if err != nil {
		return catalog.Session{}, err
	}
	b.dropGate(ctx, m)
	return cat.GetSession(ctx, sessionID)
}

func (b *Bookings) dropGate(ctx context.Context, m sessionMeta) {
	if b.GateEnabled {
		b.Gate.Drop(context.WithoutCancel(ctx), m.ProgramID, m.SessionID)
	}
	b.forget(m.SessionID, m.ProgramID)
}

// SessionChanged follows a staff change to a session (already applied by the
// catalogue's guarded UPDATE): the gate is resized at once (or dropped, to be
// rebuilt from MySQL, when the times moved) and, if places opened, the waiting
// list moves up.
func (b *Bookings) SessionChanged(ctx context.Context, sessionID int64, timesChanged bool) error {
	var m sessionMeta
	var promoted []promotion
	var capacity int
	err := b.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if m, err = b.loadMeta(ctx, tx, sessionID); err != nil {
			return err
		}
		promoted, err = b.fillFromWaitlist(ctx, tx, m, b.Now())
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT capacity FROM sessions WHERE id = ?`, sessionID).Scan(&capacity)
	})
	if err != nil {
		return err
	}
	if b.GateEnabled {
		if timesChanged {
			b.Gate.Drop(context.WithoutCancel(ctx), m.ProgramID, m.SessionID)
		} else {
			b.Gate.SetCapacity(context.WithoutCancel(ctx), m.ProgramID, m.SessionID, capacity)
		}
	}
	b.afterFree(ctx, m, nil, promoted)
	return nil
}

// GateState reads a session's gate state from MySQL (the gate's Load).
func (b *Bookings) GateState(ctx context.Context, sessionID int64) (GateState, error) {
	var st GateState
	var status string
	var starts, ends time.Time
	err := b.DB.QueryRowContext(ctx, `SELECT program_id, capacity, status, starts_at, ends_at FROM sessions WHERE id = ?`, sessionID).
		Scan(&st.ProgramID, &st.Capacity, &status, &starts, &ends)
	if errors.Is(err, sql.ErrNoRows) {
		return st, models.ErrNotFound
	}
	if err != nil {
		return st, fmt.Errorf("gate state: %w", err)
	}
	st.Open = status == catalog.SessionOpen && b.Now().Before(starts)
	st.ExpireAt = ends
	st.Participants, err = models.QueryColumn[string](ctx, b.DB, `SELECT participant FROM bookings WHERE session_id = ? AND status IN ('pending', 'awaiting_payment', 'confirmed', 'attended')`, sessionID)
	if err != nil {
		return st, fmt.Errorf("gate participants: %w", err)
	}
	return st, nil
}
