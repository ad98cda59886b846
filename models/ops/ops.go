// Package ops is the door-independent face of every state change staff and
// admins make: one exported operation per action, taking who acts
// (models.Actor). Each operation checks the actor may act, does the change
// through the domain packages below it, writes the audit entry (before, after,
// the actor's door) and runs the follow-ups (catalogue cache invalidation,
// waiting-list promotion, notifications, sessions' gates, principal caches).
// The API's handlers and the staff console only decode, call one operation and
// encode, so a new door (a CLI, a callback) cannot skip a rule by forgetting a
// middleware. Nothing here knows HTTP or gin.
//
// Imports go one way: ops uses the domain packages through their exported
// faces; none of them imports ops.
package ops

import (
	"context"
	"log/slog"
	"strconv"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/booking"
	"nantian/models/catalog"
	"nantian/models/complaint"
	"nantian/models/consolelogin"
	"nantian/models/points"
	"nantian/models/report"
)

// Deps are the stores the operations act through. Build them once with New.
type Deps struct {
	Audit *models.Audit
	// Log receives the warning when an audit entry of a change that already
	// committed cannot be written (the change is not undone for it).
	Log *slog.Logger

	Catalog *catalog.Catalog
	// CatalogCache is the residents' catalogue cache the catalogue operations
	// invalidate; nil when there is none.
	CatalogCache *catalog.CatalogCache
	Bookings     *booking.Bookings
	WalkIns      *booking.WalkIns
	Children     *account.Children
	Users        *account.Users
	AuthCache    *account.AuthCache
	Complaints   *complaint.Complaints
	Devices      *points.Devices
	Points       *points.Points
	Logins       *consolelogin.Store
	Imports      *report.Imports
}

// Ops is every staff and admin operation, by area.
type Ops struct {
	Programs   *Programs
	Sessions   *Sessions
	Bookings   *Bookings
	Residents  *Residents
	Complaints *Complaints
	Points     *Points
	Admin      *Admin
	Imports    *Imports
}

// New builds the operations over d's stores, complete: there is no hook to
// set afterwards and none that may be left nil.
func New(d Deps) *Ops {
	r := recorder{audit: d.Audit, log: d.Log}
	return &Ops{
		Programs:   &Programs{rec: r, catalog: d.Catalog, cache: d.CatalogCache},
		Sessions:   &Sessions{rec: r, catalog: d.Catalog, cache: d.CatalogCache, bookings: d.Bookings},
		Bookings:   &Bookings{rec: r, bookings: d.Bookings},
		Residents:  &Residents{rec: r, walkIns: d.WalkIns, children: d.Children},
		Complaints: &Complaints{rec: r, complaints: d.Complaints},
		Points:     &Points{rec: r, devices: d.Devices, points: d.Points},
		Admin:      &Admin{rec: r, users: d.Users, auth: d.AuthCache, logins: d.Logins},
		Imports:    &Imports{rec: r, imports: d.Imports},
	}
}

// recorder writes the audit entry of one operation's attempt.
type recorder struct {
	audit *models.Audit
	log   *slog.Logger
}

// attempt is what an operation will tell the audit log, filled in as it goes.
type attempt struct {
	action, target string
	input, before  any
	childData      bool
	ok             int // the status of a success, as the contract answers it: 200 (0), 201 created, 204
}

// done records the attempt's outcome: the after-state on success, the
// refusal's status when err is set (refused attempts are audited as they
// always were; what the actor asked for and the state before are kept). An
// actor without the right never gets here (run checks it first): like a
// request refused before the handler, that is no attempt at the operation.
//
// The entry is written after the domain change committed, detached from the
// caller's cancellation: a client hanging up does not erase the trace of what
// it did. A failed write is logged, not returned, because the change stands.
func (r recorder) done(ctx context.Context, actor models.Actor, a attempt, after any, err error) {
	status := 200
	if a.ok != 0 {
		status = a.ok
	}
	if err != nil {
		status, after = models.StatusOf(err), nil
	}
	c := models.Change{Action: a.action, Target: a.target, Input: a.input, Before: a.before, After: after,
		ChildData: a.childData, Status: status}
	ctx = context.WithoutCancel(ctx)
	if werr := r.audit.Write(ctx, r.audit.DB, actor, c); werr != nil && r.log != nil {
		r.log.WarnContext(ctx, "audit entry not recorded", "action", a.action, "target", a.target, "request_id", actor.RequestID, "err", werr)
	}
}

// id is the audit target of an operation on one thing: "id=42".
func idTarget(n int64) string { return "id=" + strconv.FormatInt(n, 10) }

// run is the shape of every operation: the actor's right first (a refused
// actor reads and writes nothing), then the attempt's description (which may
// read the state before), the change, its entry, and on success the
// follow-ups. Going through it, an operation cannot forget its entry.
func run[T any](ctx context.Context, r recorder, actor models.Actor, allowed func(models.Actor) error,
	describe func() attempt, change func() (T, error), then ...func(T)) (T, error) {
	if err := allowed(actor); err != nil {
		var zero T
		return zero, err
	}
	a := describe()
	out, err := change()
	r.done(ctx, actor, a, out, err)
	if err == nil {
		for _, f := range then {
			f(out)
		}
	}
	return out, err
}

// staffOnly refuses an actor who may not do staff operations.
func staffOnly(a models.Actor) error {
	if !a.IsStaff() && a.Role != models.RoleSystem {
		return models.ErrForbidden
	}
	return nil
}

// adminOnly refuses an actor who is not an admin.
func adminOnly(a models.Actor) error {
	if a.Role != models.RoleAdmin && a.Role != models.RoleSystem {
		return models.ErrForbidden
	}
	return nil
}

// orNil is the value as an audit state, nil when it could not be loaded (a
// missing target: the operation will refuse it with its own error).
func orNil[T any](v T, err error) any {
	if err != nil {
		return nil
	}
	return v
}
