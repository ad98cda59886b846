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
