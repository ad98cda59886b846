package ops

import (
	"context"

	"nantian/models"
	"nantian/models/complaint"
)

// Audit action names of the work-order steps (see ActionProgramCreate).
const (
	ActionComplaintAccept  = "POST /api/v1/staff/complaints/:id/accept"
	ActionComplaintContact = "POST /api/v1/staff/complaints/:id/contact"
	ActionComplaintResolve = "POST /api/v1/staff/complaints/:id/resolve"
)

// Complaints are the staff steps of the 10-30-24 workflow (民意速办).
type Complaints struct {
	rec        recorder
	complaints *complaint.Complaints
}

// step runs one workflow step with its audit entry: the order before (contact
// phone masked), the note or resolution asked for, the order after.
func (o *Complaints) step(ctx context.Context, actor models.Actor, action string, id int64, input any,
	apply func(p models.Principal) (complaint.Complaint, error)) (complaint.Complaint, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: action, target: idTarget(id), input: input,
				before: orNil(o.complaints.Get(ctx, id, models.Principal{Role: models.RoleStaff}, false))}
		},
		func() (complaint.Complaint, error) { return apply(actor.Principal()) })
}

// Accept takes a submitted or reopened work order (an optional note).
func (o *Complaints) Accept(ctx context.Context, actor models.Actor, id int64, note string) (complaint.Complaint, error) {
	return o.step(ctx, actor, ActionComplaintAccept, id, map[string]string{"note": note}, func(p models.Principal) (complaint.Complaint, error) {
		return o.complaints.Accept(ctx, id, p, note)
	})
}

// Contact records that the resident was reached (the note is required).
func (o *Complaints) Contact(ctx context.Context, actor models.Actor, id int64, note string) (complaint.Complaint, error) {
	return o.step(ctx, actor, ActionComplaintContact, id, map[string]string{"note": note}, func(p models.Principal) (complaint.Complaint, error) {
		return o.complaints.Contact(ctx, id, p, note)
	})
}

// Resolve records the resolution; the resident is told and asked to rate it.
func (o *Complaints) Resolve(ctx context.Context, actor models.Actor, id int64, in complaint.ResolveInput) (complaint.Complaint, error) {
	return o.step(ctx, actor, ActionComplaintResolve, id, in, func(p models.Principal) (complaint.Complaint, error) {
		return o.complaints.Resolve(ctx, id, p, in)
	})
}
