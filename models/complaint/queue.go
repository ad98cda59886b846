package complaint

import (
	"context"
	"fmt"
	"strings"
	"time"

	"nantian/models"
)

// Steps of the 10-30-24 clock, named by what staff must do next.
const (
	StepAccept  = "accept"
	StepContact = "contact"
	StepResolve = "resolve"
)

// CurrentStep is the step a work order in status waits for, and so the limit it
// is racing: a submitted or reopened order must be accepted, an accepted one
// contacted, a contacted one resolved. "" for resolved and closed orders, which
// no limit applies to any more. Because the limits are nested (accept ≤ contact ≤
// resolve), the current step's due time is the nearest one still open.
func CurrentStep(status string) string {
	switch status {
	case ComplaintSubmitted, ComplaintReopened:
		return StepAccept
	case ComplaintAccepted:
		return StepContact
	case ComplaintContacted:
		return StepResolve
	}
	return ""
}

// StepOpenStatuses lists the statuses in which step is not done yet: accept is
// open while submitted or reopened, contact also while accepted, resolve also
// while contacted. It is what "overdue" and the staff alerts read.
func StepOpenStatuses(step string) []string {
	switch step {
	case StepAccept:
		return []string{ComplaintSubmitted, ComplaintReopened}
	case StepContact:
		return []string{ComplaintSubmitted, ComplaintReopened, ComplaintAccepted}
	case StepResolve:
		return []string{ComplaintSubmitted, ComplaintReopened, ComplaintAccepted, ComplaintContacted}
	}
	return nil
}

// DueAt is the due time of the step's limit.
func (c Complaint) DueAt(step string) time.Time {
	switch step {
	case StepAccept:
		return c.AcceptDueAt
	case StepContact:
		return c.ContactDueAt
	}
	return c.ResolveDueAt
}

// currentDueSQL is the current step's due time in SQL (NULL when none), the
// order of the staff queue. It reads the statuses as CurrentStep does.
const currentDueSQL = `(CASE WHEN c.status IN ('submitted','reopened') THEN c.accept_due_at
	WHEN c.status = 'accepted' THEN c.contact_due_at
	WHEN c.status = 'contacted' THEN c.resolve_due_at END)`

// QueueItem is a work order in the staff queue with the limit it is racing.
type QueueItem struct {
	Complaint
	Step  string    // CurrentStep; "" when no limit applies
	DueAt time.Time // the current step's due time (zero when Step is "")
}

// QueueOpen is the default queue status filter: every order some limit still
// applies to (submitted, reopened, accepted, contacted).
const QueueOpen = "open"

// QueueMax bounds the queue: a desk never needs more than this on one screen.
const QueueMax = 200

// Queue is the staff queue: work orders matching f (Status "" or QueueOpen for
// the open ones, "all", or one status; Category; Estate), the open ones first
// ordered by the nearest deadline of their current step — overdue first — then
// the rest newest first. At most QueueMax. f.Page and f.UserID are ignored.
func (s *Complaints) Queue(ctx context.Context, f ComplaintFilter) ([]QueueItem, error) {
	now := s.Now()
	where := []string{"1=1"}
	var args []any
	switch f.Status {
	case "", QueueOpen:
		where = append(where, "c.is_open = 1") // idx_complaints_open: the open ones only
	case "all":
	default:
		if !ValidComplaintStatus(f.Status) {
			return nil, models.Invalid("status", "必须是 open|all|%s 之一", strings.Join(ComplaintStatuses, "|"))
		}
		where = append(where, "c.status = ?")
		args = append(args, f.Status)
	}
	if f.Category != "" {
		where = append(where, "c.category = ?")
		args = append(args, f.Category)
	}
	if f.Estate != "" {
		where = append(where, "c.estate = ?")
		args = append(args, f.Estate)
	}
	if f.Overdue {
		where = append(where, openOverdueSQL)
		args = append(args, now, now, now)
	}
	args = append(args, QueueMax)
	rows, err := s.DB.QueryContext(ctx, `SELECT `+complaintColumns+` FROM complaints c WHERE `+strings.Join(where, " AND ")+`
		ORDER BY `+currentDueSQL+` IS NULL, `+currentDueSQL+`, c.id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("complaint queue: %w", err)
	}
	cs, err := models.ScanAll(rows, "scan complaint", func(r models.RowScanner) (Complaint, error) { return scanComplaint(r, now, s.Cipher) })
	if err != nil {
		return nil, err
	}
	if err := attachPhotos(ctx, s.DB, cs); err != nil {
		return nil, err
	}
	out := make([]QueueItem, len(cs))
	for i, c := range cs {
		out[i] = QueueItem{Complaint: c, Step: CurrentStep(c.Status)}
		if out[i].Step != "" {
			out[i].DueAt = c.DueAt(out[i].Step)
		}
	}
	return out, nil
}
