package main

// Issue 14 item 9: dates outside 1900–2100 are refused at the door (400), and
// what the database already holds, however odd, never makes a page answer 500.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDatesOutsideSaneRangeAre400(t *testing.T) {
	a := newTestApp(t)
	tok, uid := a.resident("dates")
	staffTok, _ := a.staff("dates-staff")
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "日期", "requires_approval": false})
	child := idOf(t, a.do("POST", "/api/v1/me/children", tok, map[string]any{"name": "日期", "birth_date": "2020-01-01", "guardian_consent": true}))
	sid := a.createSession(staffTok, pid, 48*time.Hour, 3)
	for _, c := range []struct {
		method, path, token string
		body                map[string]any
		field               string
	}{
		{"PATCH", "/api/v1/me", tok, map[string]any{"birth_date": "0000-01-01"}, "birth_date"},
		{"PATCH", "/api/v1/me", tok, map[string]any{"birth_date": "1899-12-31"}, "birth_date"},
		{"POST", "/api/v1/me/children", tok, map[string]any{"name": "x", "birth_date": "0000-01-01", "guardian_consent": true}, "birth_date"},
		{"PATCH", fmt.Sprintf("/api/v1/me/children/%d", child), tok, map[string]any{"birth_date": "1800-05-05"}, "birth_date"},
		{"POST", "/api/v1/staff/residents", staffTok, map[string]any{"real_name": "老", "phone": newPhone(), "birth_date": "0001-01-01"}, "birth_date"},
		{"POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), staffTok, map[string]any{"starts_at": "2030-01-01T10:00:00+08:00", "ends_at": "9999-12-31T23:59:59Z", "capacity": 5}, "ends_at"},
		{"POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), staffTok, map[string]any{"starts_at": "2101-01-01T10:00:00+08:00", "ends_at": "2101-01-01T11:00:00+08:00", "capacity": 5}, "starts_at"},
		{"PATCH", fmt.Sprintf("/api/v1/staff/sessions/%d", sid), staffTok, map[string]any{"ends_at": "9999-12-31T23:59:59Z"}, "ends_at"},
	} {
		r := a.do(c.method, c.path, c.token, c.body)
		if r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" || !strings.Contains(r.JSON(t)["error"].(map[string]any)["message"].(string), c.field) {
			t.Errorf("%s %s %v: %d %s, want 400 naming %s", c.method, c.path, c.body, r.Status, r.Body, c.field)
		}
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND birth_date IS NOT NULL`, uid); n != 0 {
		t.Fatal("a refused birth date was stored")
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM sessions WHERE program_id = ?`, pid); n != 1 {
		t.Fatalf("%d sessions, want the one valid", n)
	}
	// The edges are fine.
	for _, d := range []string{"1900-01-01", "2000-02-29"} {
		if r := a.do("PATCH", "/api/v1/me", tok, map[string]any{"birth_date": d}); r.Status != http.StatusOK {
			t.Errorf("birth date %s: %d %s", d, r.Status, r.Body)
		}
	}
}

// TestOddStoredDatesNeverFailAPage puts what an old version or a hand edit may
// have left in the database — birth dates of 0000-01-01 and 9999-12-31, a session
// from 0000-01-01 to 9999-12-31 — under every route of the matrix.
func TestOddStoredDatesNeverFailAPage(t *testing.T) {
	a := newTestApp(t)
	w := buildMatrixWorld(t, a)
	for _, q := range []string{
		`UPDATE users SET birth_date = '0000-01-01' WHERE id = ?`,
		`UPDATE children SET birth_date = '9999-12-31' WHERE user_id = ?`,
	} {
		if _, err := a.app.db.Exec(q, w.ownerID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.app.db.Exec(`UPDATE sessions SET starts_at = '0000-01-01 00:00:00', ends_at = '9999-12-31 23:59:59' WHERE id = ?`, w.ids["/api/v1/sessions/"]); err != nil {
		t.Fatal(err)
	}
	a.app.bookings.catalogCache.Invalidate(w.ids["/api/v1/programs/"])
	walkMatrix(t, a, w, func(string, response) {}) // any 5xx fails the walk
}

// Times outside what a DATETIME column holds (years 1000-9999) are client input
// like any other: 400, never the driver's "year is not in the range" as a 500.
func TestSessionTimesOutOfRange(t *testing.T) {
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
func TestImportYearOutOfRange(t *testing.T) {
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
func TestComplaintDatesOutOfRange(t *testing.T) {
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
func TestPatchSessionOpensAfterStart(t *testing.T) {
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
