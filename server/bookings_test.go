package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func book(a *testApp, tok string, body map[string]any) response {
	a.t.Helper()
	return a.do("POST", "/api/v1/bookings", tok, body)
}

func TestBookingRules(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	tok, uid := a.resident("mum")
	other, _ := a.resident("other")

	// Childcare: needs a child of your own, aged 18–36 months on the day.
	cc := a.createProgram(staff, map[string]any{"kind": "childcare", "title": "临时托", "fee_fen": 3000})
	ccs := a.createSession(staff, cc, 72*time.Hour, 12)
	day := time.Now().Add(72 * time.Hour).In(a.app.cfg.Location)
	kid := idOf(t, a.do("POST", "/api/v1/me/children", tok, map[string]any{"name": "小明", "birth_date": day.AddDate(-2, 0, 0).Format("2006-01-02"), "guardian_consent": true}))
	baby := idOf(t, a.do("POST", "/api/v1/me/children", tok, map[string]any{"name": "小宝", "birth_date": day.AddDate(0, -17, 0).Format("2006-01-02"), "guardian_consent": true}))
	wantStatus(t, book(a, tok, map[string]any{"session_id": ccs}), 422, "not_eligible")
	wantStatus(t, book(a, other, map[string]any{"session_id": ccs, "child_id": kid}), 404, "not_found")
	wantStatus(t, book(a, tok, map[string]any{"session_id": ccs, "child_id": baby}), 422, "not_eligible")
	r := book(a, tok, map[string]any{"session_id": ccs, "child_id": kid})
	wantStatus(t, r, 201, "")
	m := r.JSON(t)
	if m["status"] != "pending" || m["fee_fen"].(float64) != 3000 || m["child_id"].(float64) != float64(kid) || len(m["code"].(string)) != 10 {
		t.Errorf("childcare booking: %s", r.Body)
	}
	wantStatus(t, book(a, tok, map[string]any{"session_id": ccs, "child_id": kid}), 409, "already_booked")
	// The guardian's own place is a different participant from the child's.
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, uid); n != 1 {
		t.Errorf("bookings = %d", n)
	}

	// Age limits on the resident themself need a birth date.
	elder := a.createProgram(staff, map[string]any{"kind": "activity", "title": "书画", "min_age_months": 720})
	es := a.createSession(staff, elder, 24*time.Hour, 10)
	wantStatus(t, book(a, tok, map[string]any{"session_id": es}), 422, "not_eligible")
	wantStatus(t, a.do("PATCH", "/api/v1/me", tok, map[string]any{"birth_date": "1950-01-01"}), 200, "")
	r = book(a, tok, map[string]any{"session_id": es})
	wantStatus(t, r, 201, "")
	if r.JSON(t)["status"] != "confirmed" {
		t.Errorf("activity without approval: %s", r.Body)
	}

	// Closed, started, unknown sessions, bad input.
	act := a.createProgram(staff, map[string]any{"kind": "activity", "title": "围棋"})
	// Staff cannot create a session in the past; one that has started is closed.
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", act), staff, map[string]any{
		"starts_at": time.Now().Add(-time.Hour).Format(time.RFC3339), "ends_at": time.Now().Add(time.Hour).Format(time.RFC3339), "capacity": 10,
	}), 400, "invalid_request")
	past := a.createSession(staff, act, time.Hour, 10)
	a.startSession(past)
	future := a.createSession(staff, act, 24*time.Hour, 10)
	wantStatus(t, a.do("PATCH", fmt.Sprintf("/api/v1/staff/sessions/%d", future), staff, map[string]any{
		"starts_at": time.Now().Add(-time.Minute).Format(time.RFC3339)}), 400, "invalid_request")
	wantStatus(t, book(a, tok, map[string]any{"session_id": past}), 422, "booking_closed")
	s2 := a.createSession(staff, act, 24*time.Hour, 10)
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/cancel", s2), staff, nil), 200, "")
	wantStatus(t, book(a, tok, map[string]any{"session_id": s2}), 422, "booking_closed")
	wantStatus(t, book(a, tok, map[string]any{"session_id": 99999999}), 404, "not_found")
	wantStatus(t, book(a, tok, map[string]any{}), 400, "invalid_request")
	wantStatus(t, a.do("POST", "/api/v1/bookings", tok, `{"session_id": "x"}`), 400, "invalid_request")
	wantStatus(t, a.do("POST", "/api/v1/bookings", "", map[string]any{"session_id": es}), 401, "unauthorized")

	// Privacy: another resident cannot see or cancel it; staff can see it.
	id := idOf(t, book(a, tok, map[string]any{"session_id": a.createSession(staff, act, 24*time.Hour, 10)}))
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", id), other, nil), 404, "not_found")
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", id), other, nil), 404, "not_found")
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", id), staff, nil), 200, "")
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", id), tok, nil), 403, "forbidden")
	r = a.do("GET", "/api/v1/bookings?status=confirmed", tok, nil)
	wantStatus(t, r, 200, "")
	if n := len(r.JSON(t)["items"].([]any)); n != 2 {
		t.Errorf("my confirmed bookings = %d, want 2", n)
	}
	wantStatus(t, a.do("GET", "/api/v1/bookings?status=bogus", tok, nil), 400, "invalid_request")
	if r := a.do("GET", "/api/v1/bookings", other, nil); len(r.JSON(t)["items"].([]any)) != 0 {
		t.Errorf("other resident sees bookings: %s", r.Body)
	}
}

func TestBookingWaitlistPromotion(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	pid, sid := a.hotSession(staff, 1, false)
	toks, ids := a.quickResidents(3)
	first := idOf(t, book(a, toks[0], map[string]any{"session_id": sid}))
	wantStatus(t, book(a, toks[1], map[string]any{"session_id": sid}), 409, "session_full")
	var w [3]int64
	for i := 1; i <= 2; i++ {
		r := book(a, toks[i], map[string]any{"session_id": sid, "waitlist": true})
		wantStatus(t, r, 201, "")
		m := r.JSON(t)
		if m["status"] != "waitlisted" || m["waitlist_position"].(float64) != float64(i) {
			t.Fatalf("waitlist join: %s", r.Body)
		}
		w[i] = int64(m["id"].(float64))
	}
	wantStatus(t, book(a, toks[1], map[string]any{"session_id": sid, "waitlist": true}), 409, "already_booked")
	a.assertCounts(sid)
	// The catalogue shows the counts at once on this instance.
	r := a.do("GET", fmt.Sprintf("/api/v1/programs/%d", pid), "", nil)
	s := r.JSON(t)["sessions"].([]any)[0].(map[string]any)
	if s["booked"].(float64) != 1 || s["remaining"].(float64) != 0 || s["waitlisted"].(float64) != 2 {
		t.Errorf("catalogue: %v", s)
	}

	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", first), toks[0], nil), 200, "")
	r = a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", w[1]), toks[1], nil)
	if r.JSON(t)["status"] != "confirmed" {
		t.Errorf("first in line not promoted: %s", r.Body)
	}
	r = a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", w[2]), toks[2], nil)
	if r.JSON(t)["waitlist_position"].(float64) != 1 {
		t.Errorf("second in line position not updated: %s", r.Body)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND event = 'booking_promoted' AND template_key = 'booking_result'`, ids[1]); n != 1 {
		t.Errorf("promotion notifications = %d", n)
	}
	a.assertCounts(sid)
	// The gate followed: the promoted resident holds the place, so a newcomer is refused.
	nt, _ := a.resident("late")
	wantStatus(t, book(a, nt, map[string]any{"session_id": sid}), 409, "session_full")

	// Raising capacity promotes the rest of the line; lowering below booked is refused.
	wantStatus(t, a.do("PATCH", fmt.Sprintf("/api/v1/staff/sessions/%d", sid), staff, map[string]any{"capacity": 3}), 200, "")
	if r := a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", w[2]), toks[2], nil); r.JSON(t)["status"] != "confirmed" {
		t.Errorf("capacity raise did not promote: %s", r.Body)
	}
	wantStatus(t, a.do("PATCH", fmt.Sprintf("/api/v1/staff/sessions/%d", sid), staff, map[string]any{"capacity": 1}), 422, "capacity_below_booked")
	// One place left, and the gate knows it.
	wantStatus(t, book(a, nt, map[string]any{"session_id": sid}), 201, "")
	n2, _ := a.resident("later")
	wantStatus(t, book(a, n2, map[string]any{"session_id": sid}), 409, "session_full")
	a.assertCounts(sid)
}

func TestBookingWaitlistPromotionConcurrent(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 10, false)
	toks, _ := a.quickResidents(60)
	a.crowd([]string{a.URL}, toks, func(int) any { return map[string]any{"session_id": sid, "waitlist": true} })
	if a.liveBookings(sid) != 10 || a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'waitlisted'`, sid) != 50 {
		t.Fatalf("crowd with waitlist: live %d", a.liveBookings(sid))
	}
	// Every place holder cancels at once; the line moves up by exactly ten.
	rows, err := a.app.db.Query(`SELECT b.id, b.user_id FROM bookings b WHERE session_id = ? AND status = 'confirmed'`, sid)
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ id, uid int64 }
	var holders []pair
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.id, &p.uid); err != nil {
			t.Fatal(err)
		}
		holders = append(holders, p)
	}
	rows.Close()
	tokOf := map[int64]string{}
	for _, tk := range toks {
		r := a.do("GET", "/api/v1/bookings", tk, nil)
		items := r.JSON(t)["items"].([]any)
		tokOf[int64(items[0].(map[string]any)["id"].(float64))] = tk
	}
	var wg sync.WaitGroup
	for _, h := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := doRequest(t, a.URL, "POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", h.id), tokOf[h.id], nil)
			if r.Status != 200 {
				t.Errorf("cancel: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if n := a.liveBookings(sid); n != 10 {
		t.Errorf("live after cancels = %d, want 10", n)
	}
	// The ten promoted are the first ten in line (lowest ids among the waitlisted).
	if n := a.sqlInt(`SELECT COUNT(*) FROM (SELECT id, status FROM bookings WHERE session_id = ? AND status IN ('confirmed','waitlisted') ORDER BY id LIMIT 10) x WHERE status = 'confirmed'`, sid); n != 10 {
		t.Errorf("promotion out of order: %d of the first ten in line confirmed", n)
	}
	a.assertCounts(sid)
}

// Concurrent enrolments on a course whose sessions have 5 places: each resident
// holds every session or none; each session is exactly full.
// enrolmentCrowd: 40 residents enrol at once in a course of three sessions with
// 5 places, one already holding a place in the last: exactly 4 get the whole
// course, 36 get session_full, nobody holds part of it, and counts match rows.
func enrolmentCrowd(t *testing.T, a *testApp, staff string) {
	t.Helper()
	pid := a.createProgram(staff, map[string]any{"kind": "night_school", "title": "粤语", "fee_fen": 5000})
	var sids []int64
	for i := range 3 {
		sids = append(sids, a.createSession(staff, pid, time.Duration(24*(i+1))*time.Hour, 5))
	}
	// One resident already holds a place in the last session only: it has 4 left.
	pre, _ := a.resident("pre")
	wantStatus(t, book(a, pre, map[string]any{"session_id": sids[2]}), 201, "")
	toks, _ := a.quickResidents(40)
	var wg sync.WaitGroup
	var mu sync.Mutex
	tally := map[string]int{}
	for _, tk := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := doRequest(t, a.URL, "POST", fmt.Sprintf("/api/v1/programs/%d/enrollments", pid), tk, map[string]any{})
			mu.Lock()
			tally[fmt.Sprint(r.Status, r.ErrorCode())]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if tally["201"] != 4 || tally["409session_full"] != 36 {
		t.Errorf("tally %v, want 4 enrolled and 36 session_full", tally)
	}
	for i, s := range sids {
		want := 4
		if i == 2 {
			want = 5
		}
		if n := a.liveBookings(s); n != want {
			t.Errorf("session %d live = %d, want %d", i, n, want)
		}
		a.assertCounts(s)
	}
	// Nobody holds a partial enrolment.
	if n := a.sqlInt(`SELECT COUNT(*) FROM (SELECT user_id, COUNT(*) c FROM bookings WHERE program_id = ? AND status = 'pending' GROUP BY user_id) x WHERE c NOT IN (1, 3)`, pid); n != 0 {
		t.Errorf("%d residents with a partial enrolment", n)
	}
}

func TestEnrollmentAllOrNothing(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	enrolmentCrowd(t, a, staff)
	// A successful enrolment answers every booking; again → already_booked.
	p2 := a.createProgram(staff, map[string]any{"kind": "night_school", "title": "木工"})
	a.createSession(staff, p2, 24*time.Hour, 5)
	a.createSession(staff, p2, 48*time.Hour, 5)
	tok, _ := a.resident("e")
	r := a.do("POST", fmt.Sprintf("/api/v1/programs/%d/enrollments", p2), tok, nil)
	wantStatus(t, r, 201, "")
	if n := len(r.JSON(t)["bookings"].([]any)); n != 2 {
		t.Errorf("enrolment bookings = %d", n)
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/programs/%d/enrollments", p2), tok, nil), 409, "already_booked")
	wantStatus(t, a.do("POST", "/api/v1/programs/99999999/enrollments", tok, nil), 404, "not_found")
}

func TestBookingCheckInCloseAndBan(t *testing.T) {
	a := newTestApp(t, map[string]string{"BOOKING_NO_SHOW_LIMIT": "2"})
	staff, _ := a.staff("s")
	tok, uid := a.resident("r")
	pid := a.createProgram(staff, map[string]any{"kind": "night_school", "title": "爵士舞"})
	var sids []int64
	var bids []int64
	for i := range 3 {
		sids = append(sids, a.createSession(staff, pid, time.Duration(24*(i+1))*time.Hour, 5))
		bids = append(bids, idOf(t, book(a, tok, map[string]any{"session_id": sids[i]})))
	}
	// A day ahead, check-in is not open yet (see TestCheckInWindow).
	r := a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", bids[0]), tok, nil)
	code := r.JSON(t)["code"].(string)
	wantStatus(t, a.do("POST", "/api/v1/staff/checkins", staff, map[string]any{"code": code}), 422, "checkin_not_open")
	// Pending until staff confirm; check-in needs confirmed.
	a.openCheckIn(sids[0])
	wantStatus(t, a.do("POST", "/api/v1/staff/checkins", staff, map[string]any{"code": code}), 409, "invalid_transition")
	for _, id := range bids {
		wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", id), staff, nil), 200, "")
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", bids[0]), staff, nil), 409, "invalid_transition")
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/reject", bids[0]), staff, nil), 409, "invalid_transition")
	r = a.do("POST", "/api/v1/staff/checkins", staff, map[string]any{"code": strings.ToLower(code)})
	wantStatus(t, r, 200, "")
	if m := r.JSON(t); m["status"] != "attended" || m["checked_in_at"] == nil {
		t.Errorf("check-in: %s", r.Body)
	}
	wantStatus(t, a.do("POST", "/api/v1/staff/checkins", staff, map[string]any{"code": code}), 409, "invalid_transition")
	wantStatus(t, a.do("POST", "/api/v1/staff/checkins", staff, map[string]any{"code": "NOSUCHCODE"}), 404, "not_found")

	// Roster: BOM, masked phone.
	if _, err := a.app.db.Exec(`UPDATE users SET real_name = '=王芳' WHERE id = ?`, uid); err != nil {
		t.Fatal(err)
	}
	if _, err := a.app.users.SetVerifiedPhone(context.Background(), uid, "13812345678"); err != nil { // stored encrypted
		t.Fatal(err)
	}
	r = a.do("GET", fmt.Sprintf("/api/v1/staff/sessions/%d/roster.csv", sids[0]), staff, nil)
	wantStatus(t, r, 200, "")
	body := string(r.Body)
	if !strings.HasPrefix(body, "\ufeff签到码") || !strings.Contains(body, "*******5678") || strings.Contains(body, "13812345678") ||
		!strings.Contains(body, "'=王芳") || !strings.Contains(body, "已签到") {
		t.Errorf("roster: %q", body)
	}
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/staff/sessions/%d/roster.csv", sids[0]), tok, nil), 403, "forbidden")

	// Closing: attended stays, confirmed → no_show. Two no-shows → suspended.
	a.startSession(sids[0])
	a.startSession(sids[1])
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/close", sids[0]), staff, nil)
	wantStatus(t, r, 200, "")
	if m := r.JSON(t); m["attended"].(float64) != 1 || m["no_shows"].(float64) != 0 {
		t.Errorf("close: %s", r.Body)
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/close", sids[0]), staff, nil), 409, "invalid_transition")
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/close", sids[1]), staff, nil), 200, "")
	a.assertCounts(sids[1])
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'no_show'`, bids[1]); n != 1 {
		t.Errorf("no_show not recorded")
	}
	fresh := a.createSession(staff, pid, 96*time.Hour, 5)
	wantStatus(t, book(a, tok, map[string]any{"session_id": fresh}), 201, "") // one no-show: fine
	if me := a.do("GET", "/api/v1/me", tok, nil).JSON(t); me["booking_suspended_until"] != nil {
		t.Errorf("not banned yet, but /me says %v", me["booking_suspended_until"])
	}
	// Late cancel counts as the second no-show.
	wantStatus(t, a.do("PATCH", fmt.Sprintf("/api/v1/staff/sessions/%d", sids[2]), staff, map[string]any{
		"starts_at": time.Now().Add(time.Hour).Format(time.RFC3339), "ends_at": time.Now().Add(3 * time.Hour).Format(time.RFC3339)}), 200, "")
	r = a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", bids[2]), tok, nil)
	wantStatus(t, r, 200, "")
	if m := r.JSON(t); m["status"] != "cancelled" || m["late_cancel"] != true {
		t.Errorf("late cancel: %s", r.Body)
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", bids[2]), tok, nil), 409, "invalid_transition")
	other := a.createSession(staff, pid, 120*time.Hour, 5)
	wantStatus(t, book(a, tok, map[string]any{"session_id": other}), 403, "booking_suspended")
	// The mini-program can show the ban up front.
	until, _ := a.do("GET", "/api/v1/me", tok, nil).JSON(t)["booking_suspended_until"].(string)
	if ts, err := time.Parse(time.RFC3339, until); err != nil || ts.Before(time.Now().Add(29*24*time.Hour)) {
		t.Errorf("/me booking_suspended_until = %q, want about 30 days ahead", until)
	}
}

func TestStaffCancelSessionAndLists(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 2, true)
	toks, ids := a.quickResidents(3)
	for i, tk := range toks {
		wantStatus(t, book(a, tk, map[string]any{"session_id": sid, "waitlist": i == 2}), 201, "")
	}
	r := a.do("GET", fmt.Sprintf("/api/v1/staff/bookings?status=pending&session_id=%d&limit=1", sid), staff, nil)
	wantStatus(t, r, 200, "")
	m := r.JSON(t)
	if len(m["items"].([]any)) != 1 || m["next_cursor"] == "" {
		t.Fatalf("staff list page: %s", r.Body)
	}
	r = a.do("GET", fmt.Sprintf("/api/v1/staff/bookings?status=pending&session_id=%d&cursor=%s", sid, m["next_cursor"]), staff, nil)
	if len(r.JSON(t)["items"].([]any)) != 1 {
		t.Errorf("second page: %s", r.Body)
	}
	wantStatus(t, a.do("GET", "/api/v1/staff/bookings?session_id=abc", staff, nil), 400, "invalid_request")
	wantStatus(t, a.do("GET", "/api/v1/staff/bookings", toks[0], nil), 403, "forbidden")

	r = a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/cancel", sid), staff, nil)
	wantStatus(t, r, 200, "")
	if m := r.JSON(t); m["status"] != "cancelled" || m["booked"].(float64) != 0 || m["waitlisted"].(float64) != 0 {
		t.Errorf("cancelled session: %s", r.Body)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'cancelled'`, sid); n != 3 {
		t.Errorf("cancelled bookings = %d", n)
	}
	for _, u := range ids {
		if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND event = 'booking_cancelled'`, u); n != 1 {
			t.Errorf("user %d cancellation notices = %d", u, n)
		}
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/cancel", sid), staff, nil), 409, "invalid_transition")
	wantStatus(t, a.do("POST", "/api/v1/staff/sessions/99999999/cancel", staff, nil), 404, "not_found")
}

// The reconciler expires pending bookings whose session started, and repairs a
// gate that drifted.
func TestReconcilerExpiresAndRepairs(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	pid, sid := a.hotSession(staff, 3, true)
	toks, _ := a.quickResidents(3)
	for _, tk := range toks {
		wantStatus(t, book(a, tk, map[string]any{"session_id": sid}), 201, "")
	}
	ctx := context.Background()
	rec := a.app.bookings.reconciler
	pass := func() {
		t.Helper()
		a.app.rdb.Del(ctx, a.prefix+"bookings:reconciler:lease")
		if err := rec.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Drift: the gate lost a place holder (a failed release the other way round).
	a.app.rdb.SRem(ctx, fmt.Sprintf("%sgate:{p:%d}:s:%d:m", a.prefix, pid, sid), "u999999999")
	a.app.rdb.SAdd(ctx, fmt.Sprintf("%sgate:{p:%d}:s:%d:m", a.prefix, pid, sid), "u999999999")
	pass()
	pass()
	if _, taken, _, _, _ := a.app.bookings.gate.Inspect(ctx, pid, sid); taken != 3 {
		t.Errorf("gate taken after repair = %d, want 3", taken)
	}
	// The session starts: pending bookings expire, places are released.
	if _, err := a.app.db.Exec(`UPDATE sessions SET starts_at = ? WHERE id = ?`, time.Now().Add(-time.Minute).UTC(), sid); err != nil {
		t.Fatal(err)
	}
	pass()
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'expired'`, sid); n != 3 {
		t.Errorf("expired = %d, want 3", n)
	}
	a.assertCounts(sid)
}

// TestCheckInWindow: a booking can be checked in from BOOKING_CHECKIN_OPENS_BEFORE
// before its session starts until the end of the (Shanghai) day the session ends
// on. A resident who shows next week's QR by mistake gets 422, not attended there
// and then a no-show for today; the desk check-in by id obeys the same window.
func TestCheckInWindow(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("window")
	tok, _ := a.resident("window-r")
	pid := a.createProgram(staff, map[string]any{"kind": "night_school", "title": "签到窗口"})
	sid := a.createSession(staff, pid, 7*24*time.Hour, 5)
	bid := idOf(t, book(a, tok, map[string]any{"session_id": sid}))
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", bid), staff, nil), 200, "")
	code := a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", bid), tok, nil).JSON(t)["code"]
	move := func(start time.Time) {
		t.Helper()
		if _, err := a.app.db.Exec(`UPDATE sessions SET starts_at = ?, ends_at = ? WHERE id = ?`, start.UTC(), start.Add(2*time.Hour).UTC(), sid); err != nil {
			t.Fatal(err)
		}
	}
	checkIn := func() response { return a.do("POST", "/api/v1/staff/checkins", staff, map[string]any{"code": code}) }

	r := checkIn() // next week
	wantStatus(t, r, 422, "checkin_not_open")
	if msg := errorMessage(t, r); !strings.Contains(msg, "签到") {
		t.Errorf("message %q does not say when check-in is", msg)
	}
	move(time.Now().Add(2*time.Hour + time.Minute)) // just before the window opens
	wantStatus(t, checkIn(), 422, "checkin_not_open")
	// Ended yesterday (Shanghai): the window closed at midnight.
	loc := a.app.cfg.Location
	today := time.Now().In(loc)
	yesterday := time.Date(today.Year(), today.Month(), today.Day()-1, 20, 0, 0, 0, loc)
	move(yesterday)
	wantStatus(t, checkIn(), 422, "checkin_not_open")
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'confirmed' AND checked_in_at IS NULL`, bid); n != 1 {
		t.Fatal("a refused check-in changed the booking")
	}
	move(time.Now().Add(2*time.Hour - time.Minute)) // just inside
	r = checkIn()
	wantStatus(t, r, 200, "")
	if r.JSON(t)["status"] != "attended" {
		t.Fatalf("check-in: %s", r.Body)
	}

	// Desk check-in by booking id: same window.
	w := createWalkIn(t, a, staff, "窗口伯", newPhone())
	far := a.createSession(staff, pid, 3*24*time.Hour, 5)
	wb := idOf(t, deskBook(t, a, staff, w, map[string]any{"session_id": far}))
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", wb), staff, nil), 200, "")
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/checkin", w, wb), staff, nil), 422, "checkin_not_open")
	a.openCheckIn(far)
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/checkin", w, wb), staff, nil), 200, "")
}

// A closed session happened: cancelling it afterwards would drop it from the
// annual report's held sessions, so it is refused.
func TestClosedSessionCannotBeCancelled(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("closecancel")
	_, sid := a.hotSession(staff, 5, false)
	a.startSession(sid)
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

// Staff cannot confirm a pending booking once its session has started.
func TestConfirmAfterStartRefused(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("lateconfirm")
	tok, _ := a.resident("lateconfirm-res")
	_, sid := a.hotSession(staff, 5, true)
	r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid})
	if r.Status != http.StatusCreated || r.JSON(t)["status"] != "pending" {
		t.Fatalf("book: %d %s", r.Status, r.Body)
	}
	bid := int64(r.JSON(t)["id"].(float64))
	if _, err := a.app.db.Exec(`UPDATE sessions SET starts_at = ? WHERE id = ?`, time.Now().UTC().Add(-time.Minute), sid); err != nil {
		t.Fatal(err)
	}
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", bid), staff, nil)
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "booking_closed" {
		t.Fatalf("confirm after start: %d %s", r.Status, r.Body)
	}
}
