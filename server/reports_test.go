package main

import (
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// insert runs an INSERT and returns the new id.
func insert(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	id, _ := res.LastInsertId()
	return id
}

// TestAnnualReportKnownDataset builds a small year of records by hand, including
// the edges (a session ending just before and just after midnight on New Year's
// Eve in Shanghai, cancelled sessions, cancelled and no-show bookings, a reopened
// complaint, a contaminated deposit) and checks every figure of the report. It
// has a database of its own, so no other test's records can fall into its year.
func TestAnnualReportKnownDataset(t *testing.T) {
	a := newIsolatedTestApp(t)
	db := a.app.db
	staffTok, _ := a.staff("report")
	_, u1 := a.resident("r1")
	_, u2 := a.resident("r2")
	year := 2019
	sh := a.app.cfg.Location
	at := func(month, day, hour, min int) time.Time {
		return time.Date(year, time.Month(month), day, hour, min, 0, 0, sh).UTC()
	}
	now := time.Now().UTC()
	program := func(kind, audience string, fee int) int64 {
		return insert(t, db, `INSERT INTO programs (kind, title, description, category, audience, venue, fee_fen, requires_approval, status, created_at, updated_at)
			VALUES (?, ?, '', '', ?, '', ?, 0, 'active', ?, ?)`, kind, fmt.Sprintf("报表-%s-%s-%d", kind, audience, year), audience, fee, now, now)
	}
	session := func(p int64, ends time.Time, status string) int64 {
		return insert(t, db, `INSERT INTO sessions (program_id, starts_at, ends_at, venue, capacity, booked, waitlisted, status, created_at, updated_at)
			VALUES (?, ?, ?, '', 50, 0, 0, ?, ?, ?)`, p, ends.Add(-2*time.Hour), ends, status, now, now)
	}
	seq := 0
	booking := func(s, p, user int64, status string, fee int) {
		seq++
		insert(t, db, `INSERT INTO bookings (session_id, program_id, user_id, participant, status, fee_fen, code, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, s, p, user, fmt.Sprintf("u%dx%d", user, seq), status, fee, fmt.Sprintf("R%09d", (time.Now().UnixNano()+int64(seq))%1e9), now, now)
	}

	night := program("night_school", "youth", 5000)
	s1 := session(night, at(3, 5, 21, 0), "closed")
	for range 3 {
		booking(s1, night, u1, "attended", 5000)
	}
	booking(s1, night, u2, "confirmed", 5000) // paid, did not come: counts in fees only
	booking(s1, night, u2, "no_show", 5000)
	booking(s1, night, u2, "cancelled", 5000)
	s2 := session(night, at(4, 1, 21, 0), "cancelled")
	booking(s2, night, u1, "attended", 5000)
	s3 := session(night, time.Date(year-1, 12, 31, 23, 30, 0, 0, sh).UTC(), "closed") // previous year
	booking(s3, night, u1, "attended", 5000)
	s4 := session(night, at(12, 31, 23, 30), "closed")                             // 15:30 UTC on 31 Dec: this year
	booking(s4, night, u1, "attended", 4000)                                       // fee at booking time
	s5 := session(night, time.Date(year+1, 1, 1, 0, 30, 0, 0, sh).UTC(), "closed") // 16:30 UTC on 31 Dec: next year
	booking(s5, night, u1, "attended", 5000)

	elderly := program("activity", "elderly", 0)
	s6 := session(elderly, at(6, 1, 11, 0), "closed")
	booking(s6, elderly, u1, "attended", 0)
	booking(s6, elderly, u2, "attended", 0)
	s7 := session(elderly, at(7, 1, 11, 0), "closed")
	insert(t, db, `INSERT INTO session_imports (session_id, row_hash, attendances, fees_fen, imported_by, created_at) VALUES (?, ?, 10, 0, 1, ?)`,
		s7, fmt.Sprintf("%064d", time.Now().UnixNano()), now)

	children := program("activity", "children", 0)
	session(children, at(8, 1, 11, 0), "closed")
	everyone := program("activity", "all", 0) // neither elderly nor children
	s9 := session(everyone, at(8, 2, 11, 0), "closed")
	booking(s9, everyone, u1, "attended", 0)

	care := program("childcare", "children", 0)
	s10 := session(care, at(9, 1, 12, 0), "closed")
	booking(s10, care, u1, "attended", 0)
	booking(s10, care, u2, "attended", 0)

	complaint := func(created, due time.Time, status string, resolved *time.Time, mediation bool) {
		insert(t, db, `INSERT INTO complaints (user_id, category, content, estate, status, created_at, cycle_started_at, accept_due_at, contact_due_at, resolve_due_at, resolved_at, mediation_agreement, updated_at)
			VALUES (?, '物业管理', 'x', '南天一花园', ?, ?, ?, ?, ?, ?, ?, ?, ?)`, u1, status, created, created, created, created, due, resolved, mediation, now)
	}
	tp := func(x time.Time) *time.Time { return &x }
	c1 := at(2, 1, 9, 0)
	complaint(c1, c1.Add(24*time.Hour), "closed", tp(c1.Add(3*time.Hour)), true)     // on time, mediation
	complaint(c1, c1.Add(24*time.Hour), "resolved", tp(c1.Add(30*time.Hour)), false) // late
	complaint(c1, c1.Add(24*time.Hour), "resolved", tp(c1.Add(20*time.Hour)), false) // on time
	complaint(c1, c1.Add(24*time.Hour), "reopened", tp(c1.Add(2*time.Hour)), false)  // sent back: not closed
	old := time.Date(year-1, 12, 31, 12, 0, 0, 0, sh).UTC()
	complaint(old, old.Add(24*time.Hour), "closed", tp(old.Add(time.Hour)), false) // previous year

	dev := insert(t, db, `INSERT INTO devices (estate, name, secret_enc, status, created_by, created_at, updated_at) VALUES ('南天一花园', 'bin', x'00', 'active', 1, ?, ?)`, now, now)
	deposit := func(user int64, when time.Time, grams, points int, quality string) {
		insert(t, db, `INSERT INTO bin_deposits (event_id, device_id, user_id, estate, weight_grams, quality, points_awarded, local_day, occurred_at, created_at)
			VALUES (?, ?, ?, '南天一花园', ?, ?, ?, ?, ?, ?)`, fmt.Sprintf("ev-%d-%d", time.Now().UnixNano(), grams), dev, user, grams, quality, points, when, when, now)
	}
	deposit(u1, at(3, 1, 8, 0), 1500, 15, "ok")
	deposit(u1, at(3, 2, 8, 0), 250, 0, "contaminated")
	deposit(u2, at(3, 3, 8, 0), 999, 9, "ok")
	deposit(u2, time.Date(year-1, 12, 31, 23, 0, 0, 0, sh).UTC(), 5000, 20, "ok") // previous year

	r := a.do("GET", fmt.Sprintf("/api/v1/staff/reports/annual?year=%d", year), staffTok, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("report: %d %s", r.Status, r.Body)
	}
	var got struct {
		Year        int
		NightSchool struct {
			SessionsHeld, Attendances int
			FeesFen                   int64
		} `json:"night_school"`
		Elderly    struct{ SessionsHeld, Attendances int } `json:"elderly_activities"`
		Children   struct{ SessionsHeld, Attendances int } `json:"children_activities"`
		Childcare  struct{ SessionsHeld, Attendances int } `json:"childcare"`
		Complaints struct {
			Received, Closed, ClosedOnTime, MediationAgreements int
		}
		Points struct {
			Deposits     int
			Kilograms    float64
			Participants int
			Points       int `json:"points_awarded"`
		}
	}
	r.Decode(t, &got)
	// encoding/json matches snake_case keys to these names case-insensitively only
	// without underscores, so read the multi-word ones explicitly.
	m := r.JSON(t)
	num := func(path ...string) float64 {
		var v any = m
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v.(float64)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"night sessions_held", num("night_school", "sessions_held"), 2},
		{"night attendances", num("night_school", "attendances"), 4},
		{"night fees_fen", num("night_school", "fees_fen"), 3*5000 + 5000 + 4000},
		{"elderly sessions_held", num("elderly_activities", "sessions_held"), 2},
		{"elderly attendances", num("elderly_activities", "attendances"), 12},
		{"children sessions_held", num("children_activities", "sessions_held"), 1},
		{"children attendances", num("children_activities", "attendances"), 0},
		{"childcare sessions_held", num("childcare", "sessions_held"), 1},
		{"childcare attendances", num("childcare", "attendances"), 2},
		{"complaints received", num("complaints", "received"), 4},
		{"complaints closed", num("complaints", "closed"), 3},
		{"complaints closed_on_time", num("complaints", "closed_on_time"), 2},
		{"complaints mediation", num("complaints", "mediation_agreements"), 1},
		{"points deposits", num("points", "deposits"), 3},
		{"points kilograms", num("points", "kilograms"), 2.749},
		{"points participants", num("points", "participants"), 2},
		{"points awarded", num("points", "points_awarded"), 24},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got.Year != year {
		t.Errorf("year %d", got.Year)
	}

	t.Run("csv", func(t *testing.T) {
		r := a.do("GET", fmt.Sprintf("/api/v1/staff/reports/annual?year=%d&format=csv", year), staffTok, nil)
		body := string(r.Body)
		if r.Status != http.StatusOK || !strings.HasPrefix(body, "\ufeff") || !strings.Contains(body, "青年夜校,fees_yuan,240.00") ||
			!strings.Contains(body, "厨余垃圾积分,kilograms,2.749") {
			t.Fatalf("csv: %d %s", r.Status, body)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for _, q := range []string{"year=abc", "year=1800", "format=pdf"} {
			if r := a.do("GET", "/api/v1/staff/reports/annual?"+q, staffTok, nil); r.Status != http.StatusBadRequest {
				t.Errorf("%s: %d", q, r.Status)
			}
		}
	})
}
