package main

import (
	"fmt"
	"net/http"
	"testing"
)

// A closed session happened: cancelling it afterwards would drop it from the
// annual report's held sessions, so it is refused.
func TestClosedSessionCannotBeCancelled(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("closecancel")
	_, sid := a.hotSession(staff, 5, false)
	if r := a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/close", sid), staff, nil); r.Status != http.StatusOK {
		t.Fatalf("close: %d %s", r.Status, r.Body)
	}
	r := a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/cancel", sid), staff, nil)
	if r.Status != http.StatusConflict || r.ErrorCode() != "invalid_transition" {
		t.Fatalf("cancel a closed session: %d %s", r.Status, r.Body)
	}
	s, err := a.app.catalog.GetSession(t.Context(), sid)
	if err != nil || s.Status != "closed" {
		t.Fatalf("session now %q (%v)", s.Status, err)
	}
}

// The audit list's from/to outside what MySQL can store is a 400, not a 500.
func TestAuditDatesOutOfRange(t *testing.T) {
	a := newTestApp(t)
	admin, _ := a.staff("auditrange", "admin")
	for _, q := range []string{"from=0000-01-01T00:00:00Z", "to=9999-12-31T23:00:00-08:00"} {
		if r := a.do("GET", "/api/v1/admin/audit?"+q, admin, nil); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
}
