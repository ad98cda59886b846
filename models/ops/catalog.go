package ops

import (
	"context"

	"nantian/models"
	"nantian/models/booking"
	"nantian/models/catalog"
)

// Audit action names. Each is the route that first recorded the action, kept
// so that entries written before and after the operations took over filter
// alike in the audit reader (GET /admin/audit?action=, the console's audit
// page); the entry's door says which front door it came through.
const (
	ActionProgramCreate  = "POST /api/v1/staff/programs"
	ActionProgramPatch   = "PATCH /api/v1/staff/programs/:id"
	ActionSessionCreate  = "POST /api/v1/staff/programs/:id/sessions"
	ActionSessionPatch   = "PATCH /api/v1/staff/sessions/:id"
	ActionSessionClose   = "POST /api/v1/staff/sessions/:id/close"
	ActionSessionCancel  = "POST /api/v1/staff/sessions/:id/cancel"
	ActionCheckIn        = "POST /api/v1/staff/checkins"
	ActionDeskCheckIn    = "POST /console/sessions/{id}/checkin" // the session desk's scan (console only)
	ActionDeskWalkInBook = "POST /console/sessions/{id}/walk-in" // find or register a walk-in and book (console only)
)

// Programs are the staff operations on the catalogue's programs.
type Programs struct {
	rec     recorder
	catalog *catalog.Catalog
	cache   *catalog.CatalogCache
}

// invalidate drops the catalogue cache's answers about the program, so the
// next read of it (any instance's, within the cache's TTL elsewhere) is fresh.
func invalidate(cache *catalog.CatalogCache, programID int64) {
	if cache != nil {
		cache.Invalidate(programID)
	}
}

// Create publishes a program.
func (o *Programs) Create(ctx context.Context, actor models.Actor, in catalog.ProgramInput) (catalog.Program, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt { return attempt{action: ActionProgramCreate, input: in, ok: 201} },
		func() (catalog.Program, error) { return o.catalog.CreateProgram(ctx, in) },
		func(p catalog.Program) { invalidate(o.cache, p.ID) })
}

// Patch edits a program.
func (o *Programs) Patch(ctx context.Context, actor models.Actor, id int64, p catalog.ProgramPatch) (catalog.Program, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: ActionProgramPatch, target: idTarget(id), input: p, before: orNil(o.catalog.GetProgram(ctx, id))}
		},
		func() (catalog.Program, error) { return o.catalog.PatchProgram(ctx, id, p) },
		func(catalog.Program) { invalidate(o.cache, id) })
}

// CreateSession adds a session to a program.
func (o *Programs) CreateSession(ctx context.Context, actor models.Actor, programID int64, in catalog.SessionInput) (catalog.Session, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: ActionSessionCreate, target: idTarget(programID), input: in, ok: 201}
		},
		func() (catalog.Session, error) { return o.catalog.CreateSession(ctx, programID, in) },
		func(catalog.Session) { invalidate(o.cache, programID) })
}

// Sessions are the staff operations on one session: changing it, closing or
// cancelling it, and the check-ins at its door.
type Sessions struct {
	rec      recorder
	catalog  *catalog.Catalog
	cache    *catalog.CatalogCache
	bookings *booking.Bookings
}

// Patch changes a session's times, venue, opening or capacity (never below its
// live bookings), then lets the booking engine follow: the gate is resized (or
// rebuilt when the times moved) and freed places go to the waiting list, whose
// residents are told. The answer is the session after all of it.
func (o *Sessions) Patch(ctx context.Context, actor models.Actor, id int64, p catalog.SessionPatch) (catalog.Session, error) {
	return run(ctx, o.rec, actor, staffOnly, o.describe(ctx, ActionSessionPatch, id, p), func() (catalog.Session, error) {
		s, err := o.catalog.PatchSession(ctx, id, p)
		if err != nil {
			return s, err
		}
		invalidate(o.cache, s.ProgramID)
		// Detached: the change is made; its follow-up must not stop halfway
		// because the client went away.
		if err := o.bookings.SessionChanged(context.WithoutCancel(ctx), id, p.StartsAt != nil || p.EndsAt != nil); err != nil {
			return catalog.Session{}, err
		}
		return o.catalog.GetSession(ctx, id)
	})
}

// describe is the attempt on one session: its state before, what was asked.
func (o *Sessions) describe(ctx context.Context, action string, id int64, input any) func() attempt {
	return func() attempt {
		return attempt{action: action, target: idTarget(id), input: input, before: orNil(o.catalog.GetSession(ctx, id))}
	}
}

// Close ends a started session: confirmed bookings not checked in become
// no-shows (counting toward the ban), pending and waitlisted ones expire.
func (o *Sessions) Close(ctx context.Context, actor models.Actor, id int64) (booking.CloseResult, error) {
	return run(ctx, o.rec, actor, staffOnly, o.describe(ctx, ActionSessionClose, id, nil),
		func() (booking.CloseResult, error) { return o.bookings.CloseSession(ctx, o.catalog, id) },
		func(res booking.CloseResult) { invalidate(o.cache, res.Session.ProgramID) })
}

// Cancel cancels a session and every live booking in it; each resident is
// told (the outbox) and paid places are refunded.
func (o *Sessions) Cancel(ctx context.Context, actor models.Actor, id int64) (catalog.Session, error) {
	return run(ctx, o.rec, actor, staffOnly, o.describe(ctx, ActionSessionCancel, id, nil),
		func() (catalog.Session, error) { return o.bookings.CancelSession(ctx, o.catalog, id) },
		func(s catalog.Session) { invalidate(o.cache, s.ProgramID) })
}

// CheckIn marks the booking with the scanned code attended (any session).
func (o *Sessions) CheckIn(ctx context.Context, actor models.Actor, code string) (booking.Booking, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt { return attempt{action: ActionCheckIn, input: map[string]string{"code": code}} },
		func() (booking.Booking, error) { return o.bookings.CheckIn(ctx, code) })
}

// DeskCheckIn is the check-in at one session's desk: the same transition, with
// the answers a clerk needs at the door (a code of another session, already
// in, cancelled, ...), each its own error. The entry's after is the booking.
func (o *Sessions) DeskCheckIn(ctx context.Context, actor models.Actor, sessionID int64, code string) (booking.DeskCheckIn, error) {
	if err := staffOnly(actor); err != nil {
		return booking.DeskCheckIn{}, err
	}
	a := attempt{action: ActionDeskCheckIn, target: idTarget(sessionID)}
	res, err := o.bookings.CheckInAtSession(ctx, sessionID, code)
	o.rec.done(ctx, actor, a, res.Booking, err)
	return res, err
}
