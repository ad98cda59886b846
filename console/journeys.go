package console

import (
	"html/template"
	"strconv"
	"time"

	"nantian/models"
	"nantian/models/complaint"
)

// routesJourneys mounts the journeys' pages beyond Today. Each journey keeps
// its handlers in its own file; its routes go here so the console's map stays
// in one place.
func (c *Console) routesJourneys() {
	m := c.mux
	// Journey 2: Approvals.
	m.Handle("GET /console/approvals", c.staff(c.approvalsPage))
	m.Handle("POST /console/approvals/confirm", c.staff(c.approvalsConfirm))
	m.Handle("POST /console/approvals/reject", c.staff(c.approvalsReject))
	// Journey 3: Session desk.
	m.Handle("GET /console/sessions", c.staff(c.sessionsPage))
	m.Handle("GET /console/sessions/{id}", c.staff(c.deskPage))
	m.Handle("GET /console/sessions/{id}/roster.csv", c.staff(c.deskRosterCSV))
	m.Handle("POST /console/sessions/{id}/checkin", c.staff(c.deskCheckIn))
	m.Handle("POST /console/sessions/{id}/close", c.staff(c.deskClose))
	m.Handle("POST /console/sessions/{id}/cancel", c.staff(c.deskCancel))
	m.Handle("POST /console/sessions/{id}/capacity", c.staff(c.deskCapacity))
	m.Handle("POST /console/sessions/{id}/walk-in", c.staff(c.deskWalkIn))
	// Journey 5: complaints (complaints.go).
	m.Handle("GET /console/complaints", c.staff(c.complaintsPage))
	m.Handle("GET /console/complaints/queue", c.staff(c.complaintsQueue))
	m.Handle("GET /console/complaints/{id}", c.staff(c.complaintPage))
	m.Handle("POST /console/complaints/{id}/{action}", c.staff(c.complaintAction))
	m.Handle("GET /console/uploads/{id}", c.staff(c.uploadFile))
	// Journey 6: points desk (points.go).
	m.Handle("GET /console/points", c.staff(c.pointsPage))
	m.Handle("POST /console/points/fulfil", c.staff(c.fulfil))
	m.Handle("POST /console/points/rewards", c.staff(c.createReward))
	m.Handle("POST /console/points/rewards/{id}", c.staff(c.patchReward))
	m.Handle("POST /console/points/devices", c.staff(c.createDevice))
	m.Handle("POST /console/points/devices/{id}/{action}", c.staff(c.deviceStatus))
	// Journey 7: reports (reports.go).
	m.Handle("GET /console/reports", c.staff(c.reportsPage))
	m.Handle("GET /console/reports.csv", c.staff(c.reportsCSV))
	// Journey 8: imports (imports.go).
	m.Handle("GET /console/imports", c.staff(c.importsPage))
	m.Handle("POST /console/imports/preview", limitBody(maxImportUpload, c.staff(c.importPreview)))
	m.Handle("POST /console/imports/commit", limitBody(maxImportUpload, c.staff(c.importCommit)))
	// Journey 9: admin (admin.go), admins only.
	m.Handle("GET /console/admin/users", c.admin(c.adminUsersPage))
	m.Handle("POST /console/admin/users/{id}/role", c.admin(c.setRole))
	m.Handle("GET /console/admin/audit", c.admin(c.auditPage))
}

// journeyFuncs are the template functions of journeys 5–9. Their names must not
// shadow the foundation's (render.go funcs); a test checks.
func (c *Console) journeyFuncs() template.FuncMap {
	return template.FuncMap{
		"complaintText": func(s string) string { return complaintStatusText[s] },
		"stepText":      func(s string) string { return stepText[s] },
		"actorText":     func(s string) string { return actorRoleText[s] },
		"remain":        remainText,
		"unixms":        func(t time.Time) int64 { return t.UnixMilli() },
		"roleText":      func(s string) string { return roleText[s] },
		"userName":      residentName,
		"maskPhone":     models.MaskPhone,
		"pretty":        pretty,
		"ratePct":       pctText,
		"minutes":       minutesText,
		"steps":         func() []string { return []string{complaint.StepAccept, complaint.StepContact, complaint.StepResolve} },
		"limitText":     c.limitText,
		"minutesLeft":   func(due, now time.Time) int { return int(due.Sub(now) / time.Minute) },
	}
}

// limitText is how long a step may take, as configured (COMPLAINT_*_WITHIN):
// "10 分钟", "24 小时".
func (c *Console) limitText(step string) string {
	d := c.d.Complaints.ResolveWithin
	switch step {
	case complaint.StepAccept:
		d = c.d.Complaints.AcceptWithin
	case complaint.StepContact:
		d = c.d.Complaints.ContactWithin
	}
	if d >= time.Hour && d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + " 小时"
	}
	return strconv.Itoa(int(d/time.Minute)) + " 分钟"
}
