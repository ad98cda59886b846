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
	if err := staffOnly(actor); err != nil {
		return catalog.Program{}, err
	}
	a := attempt{action: ActionProgramCreate, input: in, ok: 201}
	p, err := o.catalog.CreateProgram(ctx, in)
	o.rec.done(ctx, actor, a, p, err)
	if err == nil {
		invalidate(o.cache, p.ID)
	}
	return p, err
}

// Patch edits a program.
func (o *Programs) Patch(ctx context.Context, actor models.Actor, id int64, p catalog.ProgramPatch) (catalog.Program, error) {
	if err := staffOnly(actor); err != nil {
		return catalog.Program{}, err
	}
	a := attempt{action: ActionProgramPatch, target: idTarget(id), input: p, before: orNil(o.catalog.GetProgram(ctx, id))}
	out, err := o.catalog.PatchProgram(ctx, id, p)
	o.rec.done(ctx, actor, a, out, err)
	if err == nil {
		invalidate(o.cache, id)
	}
	return out, err
}

// CreateSession adds a session to a program.
func (o *Programs) CreateSession(ctx context.Context, actor models.Actor, programID int64, in catalog.SessionInput) (catalog.Session, error) {
	if err := staffOnly(actor); err != nil {
		return catalog.Session{}, err
	}
	a := attempt{action: ActionSessionCreate, target: idTarget(programID), input: in, ok: 201}
	s, err := o.catalog.CreateSession(ctx, programID, in)
	o.rec.done(ctx, actor, a, s, err)
	if err == nil {
		invalidate(o.cache, programID)
	}
	return s, err
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
	if err := staffOnly(actor); err != nil {
		return catalog.Session{}, err
	}
	a := attempt{action: ActionSessionPatch, target: idTarget(id), input: p, before: orNil(o.catalog.GetSession(ctx, id))}
	s, err := o.catalog.PatchSession(ctx, id, p)
	if err == nil {
		invalidate(o.cache, s.ProgramID)
		// Detached: the change is made; its follow-up must not stop halfway
		// because the client went away.
		if err = o.bookings.SessionChanged(context.WithoutCancel(ctx), id, p.StartsAt != nil || p.EndsAt != nil); err == nil {
			s, err = o.catalog.GetSession(ctx, id)
		}
	}
	o.rec.done(ctx, actor, a, s, err)
	return s, err
}

// Close ends a started session: confirmed bookings not checked in become
// no-shows (counting toward the ban), pending and waitlisted ones expire.
func (o *Sessions) Close(ctx context.Context, actor models.Actor, id int64) (booking.CloseResult, error) {
	if err := staffOnly(actor); err != nil {
		return booking.CloseResult{}, err
	}
	a := attempt{action: ActionSessionClose, target: idTarget(id), before: orNil(o.catalog.GetSession(ctx, id))}
	res, err := o.bookings.CloseSession(ctx, o.catalog, id)
	o.rec.done(ctx, actor, a, res, err)
	if err == nil {
		invalidate(o.cache, res.Session.ProgramID)
	}
	return res, err
}

// Cancel cancels a session and every live booking in it; each resident is
// told (the outbox) and paid places are refunded.
func (o *Sessions) Cancel(ctx context.Context, actor models.Actor, id int64) (catalog.Session, error) {
	if err := staffOnly(actor); err != nil {
		return catalog.Session{}, err
	}
	a := attempt{action: ActionSessionCancel, target: idTarget(id), before: orNil(o.catalog.GetSession(ctx, id))}
	s, err := o.bookings.CancelSession(ctx, o.catalog, id)
	o.rec.done(ctx, actor, a, s, err)
	if err == nil {
		invalidate(o.cache, s.ProgramID)
	}
	return s, err
}

// CheckIn marks the booking with the scanned code attended (any session).
func (o *Sessions) CheckIn(ctx context.Context, actor models.Actor, code string) (booking.Booking, error) {
	if err := staffOnly(actor); err != nil {
		return booking.Booking{}, err
	}
	a := attempt{action: ActionCheckIn, input: map[string]string{"code": code}}
	b, err := o.bookings.CheckIn(ctx, code)
	o.rec.done(ctx, actor, a, b, err)
	return b, err
}

// DeskCheckIn is the check-in at one session's desk: the same transition, with
// the answers a clerk needs at the door (a code of another session, already
// in, cancelled, ...), each its own error.
func (o *Sessions) DeskCheckIn(ctx context.Context, actor models.Actor, sessionID int64, code string) (booking.DeskCheckIn, error) {
	if err := staffOnly(actor); err != nil {
		return booking.DeskCheckIn{}, err
	}
	a := attempt{action: ActionDeskCheckIn, target: idTarget(sessionID)}
	res, err := o.bookings.CheckInAtSession(ctx, sessionID, code)
	o.rec.done(ctx, actor, a, res.Booking, err)
	return res, err
}
