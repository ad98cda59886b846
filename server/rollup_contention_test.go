package main

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestRollupRowsUnderConcurrentWrites: the report rollups' triggers make every
// check-in, booking and new session of a program upsert the same day and month
// rows, so writes that never touched each other before now meet in those rows and
// their gaps. Sixty check-ins, sixty bookings and thirty new sessions of one
// program at once must all succeed and leave the rollups equal to the raw tables.
// (A deadlock victim among them is run again: models.ExecRetry, whose own test
// builds a deadlock on purpose; this crowd does not reliably make one.)
func TestRollupRowsUnderConcurrentWrites(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("rollup-staff")
	pid, desk := a.hotSession(staff, 60, false)
	other := a.createSession(staff, pid, 72*time.Hour, 60)
	checkers, _ := a.quickResidents(60)
	for _, tok := range checkers {
		wantStatus(t, book(a, tok, map[string]any{"session_id": desk}), 201, "")
	}
	a.openCheckIn(desk)
	rows, err := a.app.db.Query(`SELECT code FROM bookings WHERE session_id = ? AND status = 'confirmed'`, desk)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, c)
	}
	rows.Close()
	if len(codes) != 60 {
		t.Fatalf("%d confirmed bookings to check in, want 60", len(codes))
	}
	bookers, _ := a.quickResidents(60)

	var mu sync.Mutex
	tally := map[string]int{}
	count := func(what string, status int) {
		mu.Lock()
		tally[fmt.Sprintf("%s %d", what, status)]++
		mu.Unlock()
	}
	start := time.Now().Add(5 * time.Hour).Truncate(time.Second)
	concurrently(150, func(i int) {
		switch {
		case i < 60:
			count("check-in", a.do("POST", "/api/v1/staff/checkins", staff, map[string]any{"code": codes[i]}).Status)
		case i < 120:
			count("booking", book(a, bookers[i-60], map[string]any{"session_id": other}).Status)
		default:
			s := start.Add(time.Duration(i) * time.Minute)
			count("session", a.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), staff, map[string]any{
				"starts_at": s.Format(time.RFC3339), "ends_at": s.Add(time.Hour).Format(time.RFC3339),
				"venue": "党群服务中心", "capacity": 10,
			}).Status)
		}
	})
	want := map[string]int{"check-in 200": 60, "booking 201": 60, "session 201": 30}
	if fmt.Sprint(tally) != fmt.Sprint(want) {
		t.Errorf("answers %v, want %v", tally, want)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'attended'`, desk); n != 60 {
		t.Errorf("%d attended, want 60", n)
	}
	a.assertCounts(desk)
	a.assertCounts(other)

	// The rollups (days and months) equal the raw tables for this program.
	raw := map[string]int{
		"sessions": a.sqlInt(`SELECT COUNT(*) FROM sessions WHERE program_id = ? AND status <> 'cancelled'`, pid),
		"attended": a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE program_id = ? AND status = 'attended'`, pid),
		"fees":     a.sqlInt(`SELECT COALESCE(SUM(fee_fen), 0) FROM bookings WHERE program_id = ? AND status IN ('confirmed', 'attended') AND order_id IS NULL`, pid),
	}
	for _, table := range []string{"report_session_days", "report_session_months"} {
		got := map[string]int{
			"sessions": a.sqlInt(`SELECT COALESCE(SUM(sessions_held), 0) FROM `+table+` WHERE program_id = ?`, pid),
			"attended": a.sqlInt(`SELECT COALESCE(SUM(attendances), 0) FROM `+table+` WHERE program_id = ?`, pid),
			"fees":     a.sqlInt(`SELECT COALESCE(SUM(fees_fen), 0) FROM `+table+` WHERE program_id = ?`, pid),
		}
		if fmt.Sprint(got) != fmt.Sprint(raw) {
			t.Errorf("%s: %v, raw tables: %v", table, got, raw)
		}
	}
	if raw["sessions"] != 32 || raw["attended"] != 60 {
		t.Errorf("raw figures %v: want 32 sessions and 60 attended", raw)
	}
}
