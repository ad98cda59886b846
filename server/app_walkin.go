package main

import (
	"nantian/models"
	"nantian/models/booking"
	"nantian/models/notify"
)

// walkInArea is staff booking for walk-in residents (代预约) and booking
// reminders; both sit on the booking engine.
type walkInArea struct {
	walkIns   *booking.WalkIns
	reminders *notify.Reminders
}

// initWalkIn builds the walk-in store and the reminder worker (every instance
// runs one: each booking's reminder is claimed by a guarded UPDATE, so it is
// queued once however many run). Call after initBookings.
func (a *app) initWalkIn() {
	a.walkin = &walkInArea{
		walkIns: &booking.WalkIns{DB: a.db, Bookings: a.bookings.engine, Now: models.SystemClock, Loc: a.cfg.Location},
		reminders: &notify.Reminders{DB: a.db, Now: models.SystemClock, Loc: a.cfg.Location,
			Before: a.cfg.Booking.ReminderBefore, Every: a.cfg.Booking.ReminderEvery, Batch: 200, Log: a.logger},
	}
	a.workers = append(a.workers, a.walkin.reminders.Run)
}
