package main

// Bug-hunt regressions (review B): each test failed before its fix.

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A work order rated 2 (reopened), reworked and resolved again is unrated in its
// new cycle: left unrated for the auto-close period it must close like any other.
// Before the fix the old rating kept it out of AutoClose (rating IS NULL) forever.
func TestReviewBAutoCloseAfterRework(t *testing.T) {
	a := newTestApp(t)
	t0 := time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Millisecond)
	clk := a.useClock(t0)
	alice, _ := a.resident("alice")
	staff, _ := a.staff("clerk")
	id := a.fileComplaint(alice, nil)
	handle := func() {
		a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
		a.step(staff, cpath(id, "contact"), map[string]any{"note": "called"}, http.StatusOK)
		a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "fixed"}, http.StatusOK)
	}
	handle()
	clk.Advance(time.Hour)
	a.step(alice, cpath(id, "rating"), map[string]any{"score": 1}, http.StatusOK)
	clk.Advance(time.Hour)
	handle() // resolved again, not rated this time

	a.app.complaints.Now = func() time.Time { return clk.Now().Add(7*24*time.Hour + time.Minute) }
	n, err := a.app.complaints.AutoClose(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	c := a.complaint(alice, id)
	if n != 1 || c.Status != "closed" || c.ClosedAt == nil {
		t.Fatalf("auto-close closed %d; complaint %d is %s", n, id, c.Status)
	}
	if last := c.Timeline[len(c.Timeline)-1]; last.ActorRole != "system" {
		t.Fatalf("last step %+v", last)
	}

	// A rating given in the current cycle still keeps AutoClose away (it closes or
	// reopens the order itself), and the low-rated order of another resident that
	// has not been resolved again is not touched either.
	bob, _ := a.resident("bob")
	a.app.complaints.Now = clk.Now
	id2 := a.fileComplaint(bob, nil)
	id = id2
	handle()
	a.step(bob, cpath(id2, "rating"), map[string]any{"score": 2}, http.StatusOK)
	a.app.complaints.Now = func() time.Time { return clk.Now().Add(30 * 24 * time.Hour) }
	if _, err := a.app.complaints.AutoClose(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	if c := a.complaint(bob, id2); c.Status != "reopened" {
		t.Fatalf("reopened order became %s", c.Status)
	}
}

// Times outside what a DATETIME column holds (years 1000-9999) are client input
// like any other: 400, never the driver's "year is not in the range" as a 500.
func TestReviewBSessionTimesOutOfRange(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("clerk")
	pid := a.createProgram(staff, map[string]any{"kind": "activity", "title": "范围"})
	sessions := fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid)
	for _, b := range []map[string]any{
		{"starts_at": "0000-06-01T00:00:00Z", "ends_at": "0000-06-01T02:00:00Z", "capacity": 3},
		{"starts_at": "0999-06-01T00:00:00Z", "ends_at": "0999-06-01T02:00:00Z", "capacity": 3},
		{"starts_at": "9999-12-31T20:00:00-08:00", "ends_at": "9999-12-31T22:00:00-08:00", "capacity": 3},
		{"starts_at": "2030-12-31T20:00:00Z", "ends_at": "2030-12-31T22:00:00Z", "capacity": 3, "booking_opens_at": "0000-01-01T00:00:00Z"},
	} {
		if r := a.do("POST", sessions, staff, b); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
			t.Fatalf("create %v: %d %s", b, r.Status, r.Body)
		}
	}
	var n int
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM sessions WHERE program_id = ?`, pid).Scan(&n); err != nil || n != 0 {
		t.Fatalf("sessions stored: %d (%v)", n, err)
	}
	sid := a.createSession(staff, pid, 48*time.Hour, 5)
	before := a.do("GET", fmt.Sprintf("/api/v1/sessions/%d", sid), "", nil).JSON(t)
	for _, b := range []map[string]any{
		{"starts_at": "0000-06-01T00:00:00Z"},
		{"ends_at": "9999-12-31T22:00:00-08:00"},
		{"booking_opens_at": "0000-01-01T00:00:00Z"},
	} {
		if r := a.do("PATCH", fmt.Sprintf("/api/v1/staff/sessions/%d", sid), staff, b); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
			t.Fatalf("patch %v: %d %s", b, r.Status, r.Body)
		}
	}
	var starts, ends time.Time
	if err := a.app.db.QueryRow(`SELECT starts_at, ends_at FROM sessions WHERE id = ?`, sid).Scan(&starts, &ends); err != nil {
		t.Fatal(err)
	}
	if got := starts.In(time.UTC).Format(time.RFC3339); got != mustTime(t, before["starts_at"]).UTC().Format(time.RFC3339) {
		t.Fatalf("starts_at changed to %s", got)
	}
}

func mustTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	return tm
}

// The history import refuses such years row by row (422 import_invalid naming the
// line) instead of failing the whole transaction with a 500.
func TestReviewBImportYearOutOfRange(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("importer")
	r := importCSV(a, staff, importHeader+
		"activity,范围导入,all,x,y,2024-01-01 05:00,2024-01-01 06:00,10,1,\n"+
		"activity,范围导入,all,x,y,0001-01-01 05:00,0001-01-01 06:00,10,1,\n")
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "import_invalid" {
		t.Fatalf("import: %d %s", r.Status, r.Body)
	}
	var body struct {
		Error struct {
			Rows []struct {
				Line int `json:"line"`
			} `json:"rows"`
		} `json:"error"`
	}
	r.Decode(t, &body)
	if len(body.Error.Rows) != 1 || body.Error.Rows[0].Line != 3 {
		t.Fatalf("bad rows %+v", body.Error.Rows)
	}
	if n, _, _ := importedSessions(t, a, "范围导入"); n != 0 {
		t.Fatalf("%d sessions imported", n)
	}
}

// The staff complaint queue and statistics take dates from the query string: a
// year the database cannot compare with is a 400, not a 500.
func TestReviewBComplaintDatesOutOfRange(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("clerk")
	for _, p := range []string{
		"/api/v1/staff/complaints?from=0000-01-01",
		"/api/v1/staff/complaints?to=0000-01-01",
		"/api/v1/staff/complaints/stats?from=0000-01-01&to=0000-02-01",
		"/api/v1/staff/complaints/stats?to=0000-02-01",
	} {
		if r := a.do("GET", p, staff, nil); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
			t.Fatalf("%s: %d %s", p, r.Status, r.Body)
		}
	}
	if r := a.do("GET", "/api/v1/staff/complaints/stats?from=2024-01-01&to=2024-12-31", staff, nil); r.Status != http.StatusOK {
		t.Fatalf("normal range: %d %s", r.Status, r.Body)
	}
}

// Creating a session refuses booking_opens_at after starts_at (nobody could ever
// book it); changing a session must refuse the same, whichever of the two moves.
func TestReviewBPatchSessionOpensAfterStart(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("clerk")
	pid := a.createProgram(staff, map[string]any{"kind": "activity", "title": "开放时间"})
	start := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	r := a.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), staff, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339), "capacity": 5,
		"booking_opens_at": start.Add(-24 * time.Hour).Format(time.RFC3339),
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	sid := int64(r.JSON(t)["id"].(float64))
	path := fmt.Sprintf("/api/v1/staff/sessions/%d", sid)
	for _, b := range []map[string]any{
		{"booking_opens_at": start.Add(time.Hour).Format(time.RFC3339)},
		{"starts_at": start.Add(-48 * time.Hour).Format(time.RFC3339)},
	} {
		if r := a.do("PATCH", path, staff, b); r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
			t.Fatalf("patch %v: %d %s", b, r.Status, r.Body)
		}
	}
	var opens, starts time.Time
	if err := a.app.db.QueryRow(`SELECT booking_opens_at, starts_at FROM sessions WHERE id = ?`, sid).Scan(&opens, &starts); err != nil {
		t.Fatal(err)
	}
	if !opens.Equal(start.Add(-24*time.Hour)) || !starts.Equal(start) {
		t.Fatalf("stored opens %s starts %s", opens, starts)
	}
	if r := a.do("PATCH", path, staff, map[string]any{"booking_opens_at": start.Add(-time.Hour).Format(time.RFC3339)}); r.Status != http.StatusOK {
		t.Fatalf("valid patch: %d %s", r.Status, r.Body)
	}
}
