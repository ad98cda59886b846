package booking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"nantian/models"
	"nantian/models/catalog"
)

// EnrollInput is POST /programs/{id}/enrollments.
type EnrollInput struct {
	ChildID *int64 `json:"child_id" binding:"omitempty,min=1"`
	// onBehalf is set by EnrollOnBehalf (staff enrolling a walk-in): the
	// transaction then also takes lockWalkIn, as BookOnBehalf does.
	onBehalf bool
}

// EnrollOnBehalf is Enroll for staff at the desk enrolling a walk-in resident in
// a whole course: the same rules, gate and guard, plus lockWalkIn against a merge.
func (b *Bookings) EnrollOnBehalf(ctx context.Context, residentID, programID int64, in EnrollInput) ([]Booking, error) {
	in.onBehalf = true
	return b.Enroll(ctx, residentID, programID, in)
}

// Enroll books every upcoming open session of a program for one participant, all
// or nothing: one gate call takes every place (the program's keys share a hash
// tag), one transaction runs every guard and insert; any refusal undoes all.
func (b *Bookings) Enroll(ctx context.Context, userID, programID int64, in EnrollInput) ([]Booking, error) {
	metas, err := b.upcomingMetas(ctx, programID)
	if err != nil {
		return nil, err
	}
	if len(metas) == 0 {
		return nil, &models.Error{Kind: models.KindRule, Code: "booking_closed", Message: "该项目没有可报名的场次"}
	}
	if metas[0].Kind == catalog.KindChildcare && in.ChildID == nil {
		return nil, NotEligible("托育预约必须选择一个孩子")
	}
	part := participantKey(userID, in.ChildID)
	ids := make([]int64, len(metas))
	for i, m := range metas {
		ids[i] = m.SessionID
	}
	res := GateSkipped
	if b.GateEnabled {
		var idx int
		if res, idx, err = b.Gate.TakeMany(ctx, programID, ids, part); err != nil {
			return nil, err
		}
		switch res {
		case GateDuplicate:
			return nil, ErrAlreadyBooked
		case GateClosed:
			return nil, ErrBookingClosed
		case GateFull:
			b.markSoldOut(ctx, programID, ids[idx])
			return nil, ErrSessionFull
		}
	}
	var bookingIDs []int64
	var orderID int64
	err = b.tx(ctx, func(tx *sql.Tx) error {
		bookingIDs = bookingIDs[:0]
		now := b.Now()
		if in.onBehalf {
			if err := lockWalkIn(ctx, tx, userID); err != nil {
				return err
			}
		}
		who, err := b.loadParticipant(ctx, tx, userID, in.ChildID)
		if err != nil {
			return err
		}
		for _, m := range metas {
			if err := b.check(who, m, now); err != nil {
				return err
			}
			if err := b.takeSeat(ctx, tx, m.SessionID, 1, now); err != nil {
				return heldOr(ctx, tx, err, part, m.SessionID)
			}
			status := b.placeStatus(m)
			id, err := b.insert(ctx, tx, userID, in.ChildID, m, part, status, now)
			if err != nil {
				return err
			}
			if status == BookingConfirmed {
				if err := b.notify(ctx, tx, userID, id, m, "booking_confirmed", "已确认"); err != nil {
					return err
				}
			}
			bookingIDs = append(bookingIDs, id)
		}
		if b.placeStatus(metas[0]) == BookingAwaitingPayment {
			orderID, err = b.openOrder(ctx, tx, userID, metas, bookingIDs, now)
			return err
		}
		return nil
	})
	if err != nil {
		if res == GateTaken {
			rctx := context.WithoutCancel(ctx)
			for _, m := range metas {
				b.Gate.Release(rctx, programID, m.SessionID, part)
			}
		}
		return nil, err
	}
	b.changed(programID)
	if orderID != 0 {
		// One order for every lesson: placed once, its payment object on each.
		info, err := b.place(ctx, orderID, metas, part, bookingIDs)
		if err != nil {
			return nil, err
		}
		bs, err := b.getMany(ctx, bookingIDs)
		for i := range bs {
			bs[i].Payment = &info
		}
		return bs, err
	}
	return b.getMany(ctx, bookingIDs)
}

// upcomingMetas lists the program's open sessions that have not started, in order.
func (b *Bookings) upcomingMetas(ctx context.Context, programID int64) ([]sessionMeta, error) {
	var active string
	err := b.DB.QueryRowContext(ctx, `SELECT status FROM programs WHERE id = ?`, programID).Scan(&active)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, models.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find program: %w", err)
	}
	if active != "active" {
		return nil, nil
	}
	now := b.Now()
	rows, err := b.DB.QueryContext(ctx, metaSelect+` WHERE s.program_id = ? AND s.status = 'open' AND s.starts_at > ?
		AND (s.booking_opens_at IS NULL OR s.booking_opens_at <= ?) ORDER BY s.starts_at, s.id LIMIT 200`, programID, now, now)
	if err != nil {
		return nil, fmt.Errorf("upcoming sessions: %w", err)
	}
	return models.ScanAll(rows, "scan session", scanMeta)
}
