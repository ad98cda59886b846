package console

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
}
