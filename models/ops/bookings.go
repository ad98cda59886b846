package ops

import (
	"context"
	"errors"
	"strconv"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/booking"
)

// Audit action names of the booking operations (see ActionProgramCreate).
const (
	ActionBookingConfirm = "POST /api/v1/staff/bookings/:id/confirm"
	ActionBookingReject  = "POST /api/v1/staff/bookings/:id/reject"
	ActionBookingRefund  = "POST /api/v1/staff/bookings/:id/refund"
	ActionWalkInCreate   = "POST /api/v1/staff/residents"
	ActionWalkInChild    = "POST /api/v1/staff/residents/:id/children"
	ActionWalkInBook     = "POST /api/v1/staff/residents/:id/bookings"
	ActionWalkInEnroll   = "POST /api/v1/staff/residents/:id/enrollments"
	ActionWalkInCancel   = "POST /api/v1/staff/residents/:id/bookings/:booking_id/cancel"
	ActionWalkInCheckIn  = "POST /api/v1/staff/residents/:id/bookings/:booking_id/checkin"
)

// Bookings are the staff decisions on one booking.
type Bookings struct {
	rec      recorder
	bookings *booking.Bookings
}

var asStaff = models.Principal{Role: models.RoleStaff}

// Confirm approves a pending booking; the resident is told.
func (o *Bookings) Confirm(ctx context.Context, actor models.Actor, id int64) (booking.Booking, error) {
	return run(ctx, o.rec, actor, staffOnly, o.describe(ctx, ActionBookingConfirm, id, nil),
		func() (booking.Booking, error) { return o.bookings.Confirm(ctx, id) })
}

// describe is the attempt on one booking: its state before, what was asked.
func (o *Bookings) describe(ctx context.Context, action string, id int64, input any) func() attempt {
	return func() attempt {
		return attempt{action: action, target: idTarget(id), input: input, before: orNil(o.bookings.Get(ctx, asStaff, id))}
	}
}

// Reject refuses a pending booking with an optional reason the resident is
// told; the place goes to the first in line on the waiting list.
func (o *Bookings) Reject(ctx context.Context, actor models.Actor, id int64, reason string) (booking.Booking, error) {
	return run(ctx, o.rec, actor, staffOnly, o.describe(ctx, ActionBookingReject, id, map[string]string{"reason": reason}),
		func() (booking.Booking, error) { return o.bookings.Reject(ctx, id, reason) })
}

// Refund cancels a paid booking and refunds it in full, with the reason.
func (o *Bookings) Refund(ctx context.Context, actor models.Actor, id int64, reason string) (booking.Booking, error) {
	return run(ctx, o.rec, actor, staffOnly, o.describe(ctx, ActionBookingRefund, id, map[string]string{"reason": reason}),
		func() (booking.Booking, error) { return o.bookings.RefundBooking(ctx, id, reason) })
}

// Residents are staff acting for walk-in residents (代预约): registering them
// and their children, booking, enrolling, cancelling and checking in for them.
type Residents struct {
	rec      recorder
	walkIns  *booking.WalkIns
	children *account.Children
}

func residentBooking(residentID, bookingID int64) string {
	return idTarget(residentID) + "&booking_id=" + strconv.FormatInt(bookingID, 10)
}

// Create registers a walk-in resident by name and phone.
func (o *Residents) Create(ctx context.Context, actor models.Actor, in booking.ResidentInput) (booking.Resident, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt { return attempt{action: ActionWalkInCreate, input: in, ok: 201} },
		func() (booking.Resident, error) { return o.walkIns.Create(ctx, actor.UserID, in) })
}

// CreateChild stores a walk-in's child (the guardian consents at the desk).
// The entry masks the child's name, emergency contact and allergies.
func (o *Residents) CreateChild(ctx context.Context, actor models.Actor, residentID int64, in account.ChildInput) (account.Child, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: ActionWalkInChild, target: idTarget(residentID), input: in, ok: 201, childData: true}
		},
		func() (account.Child, error) {
			if _, err := o.walkIns.Get(ctx, residentID); err != nil {
				return account.Child{}, err
			}
			return o.children.Create(ctx, residentID, in)
		})
}

// Book books a session for a walk-in under the resident rules.
func (o *Residents) Book(ctx context.Context, actor models.Actor, residentID int64, in booking.BookInput) (booking.Booking, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: ActionWalkInBook, target: idTarget(residentID), input: in, ok: 201}
		},
		func() (booking.Booking, error) { return o.walkIns.Book(ctx, residentID, in) })
}

// Enroll enrolls a walk-in in every upcoming session of a course, all or nothing.
func (o *Residents) Enroll(ctx context.Context, actor models.Actor, residentID, programID int64, in booking.EnrollInput) ([]booking.Booking, error) {
	if err := staffOnly(actor); err != nil {
		return nil, err
	}
	a := attempt{action: ActionWalkInEnroll, target: idTarget(residentID), ok: 201,
		input: map[string]any{"program_id": programID, "child_id": in.ChildID}}
	bs, err := o.walkIns.Enroll(ctx, residentID, programID, in)
	o.rec.done(ctx, actor, a, map[string]any{"bookings": bs}, err)
	return bs, err
}

// Cancel cancels a walk-in's booking under the resident rules (the waiting
// list moves up).
func (o *Residents) Cancel(ctx context.Context, actor models.Actor, residentID, bookingID int64) (booking.Booking, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: ActionWalkInCancel, target: residentBooking(residentID, bookingID)}
		},
		func() (booking.Booking, error) { return o.walkIns.Cancel(ctx, residentID, bookingID) })
}

// CheckIn checks a walk-in in for their booking.
func (o *Residents) CheckIn(ctx context.Context, actor models.Actor, residentID, bookingID int64) (booking.Booking, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: ActionWalkInCheckIn, target: residentBooking(residentID, bookingID)}
		},
		func() (booking.Booking, error) { return o.walkIns.CheckIn(ctx, residentID, bookingID) })
}

// DeskWalkIn is the session desk's 代预约: the visitor is found by phone, or
// registered first, then booked into the session. One entry records it.
// created says the resident was registered here.
func (o *Residents) DeskWalkIn(ctx context.Context, actor models.Actor, sessionID int64, in booking.ResidentInput, waitlist bool) (b booking.Booking, res booking.Resident, created bool, err error) {
	if err := staffOnly(actor); err != nil {
		return booking.Booking{}, booking.Resident{}, false, err
	}
	a := attempt{action: ActionDeskWalkInBook, target: idTarget(sessionID)}
	defer func() { o.rec.done(ctx, actor, a, b, err) }()
	res, err = o.walkIns.FindWalkInByPhone(ctx, in.Phone)
	if errors.Is(err, models.ErrNotFound) {
		res, err = o.walkIns.Create(ctx, actor.UserID, in)
		created = err == nil
	}
	if err != nil {
		return booking.Booking{}, res, created, err
	}
	b, err = o.walkIns.Book(ctx, res.ID, booking.BookInput{SessionID: sessionID, Waitlist: waitlist})
	return b, res, created, err
}
