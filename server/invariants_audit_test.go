package main

// Tests added by the mutation audit (each invariant of architecture.md was broken
// on purpose in its enforcing code; these are the ones no earlier test noticed).
// Each names the invariant it pins and the kind of change that made it fail.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"nantian/models/booking"
)

// The gate's Lua script itself refuses a duplicate participant, a full session and
// a closed one (architecture.md, gate step 1: "sold-out requests end here without
// touching MySQL"). The guard behind it hides a gate that lets everything through
// (the API answers stay right), so the script is asked directly here. Fails if the
// SCARD >= cap, SISMEMBER or open check is dropped from take or takeMany.
func TestGateScriptRefusesFullDuplicateAndClosed(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	pid, sid := a.hotSession(staff, 2, false)
	toks, ids := a.quickResidents(2)
	for _, tk := range toks {
		wantStatus(t, book(a, tk, map[string]any{"session_id": sid}), 201, "")
	}
	ctx := context.Background()
	g := a.app.bookings.gate
	holder := fmt.Sprintf("u%d", ids[0])
	if res, err := g.Take(ctx, pid, sid, "u999999991"); err != nil || res != booking.GateFull {
		t.Errorf("take on a full gate = %v, %v; want GateFull", res, err)
	}
	if res, err := g.Take(ctx, pid, sid, holder); err != nil || res != booking.GateDuplicate {
		t.Errorf("take by a holder = %v, %v; want GateDuplicate", res, err)
	}
	if _, taken, open, ok, err := g.Inspect(ctx, pid, sid); err != nil || !ok || !open || taken != 2 {
		t.Errorf("gate after refusals: taken %d open %v loaded %v err %v; want 2 places, open", taken, open, ok, err)
	}

	// Whole-course script: a full session refuses, a holder is a duplicate, and a
	// refusal takes nothing anywhere (all or nothing).
	sid2 := a.createSession(staff, pid, 72*time.Hour, 5)
	if res, idx, err := g.TakeMany(ctx, pid, []int64{sid2, sid}, "u999999992"); err != nil || res != booking.GateFull || idx != 1 {
		t.Errorf("takeMany over a full session = %v at %d, %v; want GateFull at 1", res, idx, err)
	}
	if res, _, err := g.TakeMany(ctx, pid, []int64{sid2, sid}, holder); err != nil || res != booking.GateDuplicate {
		t.Errorf("takeMany by a holder = %v, %v; want GateDuplicate", res, err)
	}
	if _, taken, _, _, _ := g.Inspect(ctx, pid, sid2); taken != 0 {
		t.Errorf("refused takeMany left %d places taken in the open session", taken)
	}

	// A cancelled session's gate is rebuilt closed and refuses.
	sid3 := a.createSession(staff, pid, 96*time.Hour, 5)
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/cancel", sid3), staff, nil), 200, "")
	if res, err := g.Take(ctx, pid, sid3, "u999999993"); err != nil || res != booking.GateClosed {
		t.Errorf("take on a cancelled session = %v, %v; want GateClosed", res, err)
	}
}

// "If the guard refuses ... the Redis place is released" (gate step 2), for a
// whole-course enrolment: a resident refused by MySQL (not eligible) after the
// gate gave them every session's place must give those places back, or the next
// resident is turned away from a course nobody booked. Fails if Enroll forgets the
// release.
func TestEnrolmentRefusedByGuardReleasesGatePlaces(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	pid := a.createProgram(staff, map[string]any{"kind": "activity", "title": "书画", "audience": "elderly", "min_age_months": 720})
	sids := []int64{a.createSession(staff, pid, 24*time.Hour, 1), a.createSession(staff, pid, 48*time.Hour, 1)}
	young, _ := a.resident("young")
	wantStatus(t, a.do("PATCH", "/api/v1/me", young, map[string]any{"birth_date": "1995-01-01"}), 200, "")
	elder, _ := a.resident("elder")
	wantStatus(t, a.do("PATCH", "/api/v1/me", elder, map[string]any{"birth_date": "1950-01-01"}), 200, "")

	enrol := func(tok string) response {
		return a.do("POST", fmt.Sprintf("/api/v1/programs/%d/enrollments", pid), tok, map[string]any{})
	}
	wantStatus(t, enrol(young), 422, "not_eligible")
	ctx := context.Background()
	for _, sid := range sids {
		if _, taken, _, ok, _ := a.app.bookings.gate.Inspect(ctx, pid, sid); ok && taken != 0 {
			t.Errorf("session %d: gate holds %d places after a refused enrolment, MySQL none", sid, taken)
		}
	}
	wantStatus(t, enrol(elder), 201, "")
	for _, sid := range sids {
		if n := a.liveBookings(sid); n != 1 {
			t.Errorf("session %d: %d live bookings, want 1", sid, n)
		}
		a.assertCounts(sid)
	}
}

// Enrolment is all or nothing also when the gate is skipped (BOOKING_GATE=false,
// the path every booking takes while Redis is down): MySQL's guard alone must
// refuse the whole course when one session is full. Fails if Enroll skips a full
// session instead of rolling back.
func TestEnrolmentAllOrNothingWithoutGate(t *testing.T) {
	a := newTestApp(t, map[string]string{"BOOKING_GATE": "false"})
	staff, _ := a.staff("s")
	enrolmentCrowd(t, a, staff)
}

// sessions.waitlisted equals the waitlisted rows, and booked the live ones, while
// people leave the line and place holders cancel at once (each cancel promoting
// the first in line). Fails if cancelling a waitlisted booking forgets to move
// the counter.
func TestWaitlistCancelsAndPromotionsConcurrentCounts(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 10, false)
	toks, _ := a.quickResidents(50)
	ids := make([]int64, len(toks))
	for i, tk := range toks { // in order, so the line's order is known
		r := book(a, tk, map[string]any{"session_id": sid, "waitlist": true})
		wantStatus(t, r, 201, "")
		ids[i] = idOf(t, r)
	}
	a.assertCounts(sid)
	// Holders 0..4 cancel their places while line members 10..29 leave the line.
	var wg sync.WaitGroup
	for i := range 30 {
		if i >= 5 && i < 10 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := doRequest(t, a.URL, "POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", ids[i]), toks[i], nil)
			if r.Status != 200 {
				t.Errorf("cancel %d: %d %s", i, r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	a.assertCounts(sid)
	if n := a.liveBookings(sid); n != 10 {
		t.Errorf("live = %d, want 10 (five places freed, five promoted)", n)
	}
	// The five promoted are the first five still in line (30..34) — or, where a
	// promotion ran before a leaver's cancel, a leaver whose cancel then freed it
	// again; either way nobody behind a waiting resident got a place.
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'waitlisted' AND id < (SELECT MAX(id) FROM bookings WHERE session_id = ? AND status = 'confirmed')`, sid, sid); n != 0 {
		t.Errorf("%d residents still waiting ahead of someone promoted", n)
	}
	if w := a.sqlInt(`SELECT waitlisted FROM sessions WHERE id = ?`, sid); w != 15 {
		t.Errorf("waitlisted = %d, want 15", w)
	}
}

// One transaction promoting several from the line (a capacity raise) moves booked
// by the number promoted. If it moved it by less, MySQL's guard would later let
// the session overflow: so after the raise a crowd books through an instance
// with the gate off (the guard alone) and must find the session full.
func TestCapacityRaisePromotesSeveralAndCountsThem(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 1, false)
	toks, _ := a.quickResidents(5)
	ids := make([]int64, len(toks))
	for i, tk := range toks {
		r := book(a, tk, map[string]any{"session_id": sid, "waitlist": true})
		wantStatus(t, r, 201, "")
		ids[i] = idOf(t, r)
	}
	wantStatus(t, a.do("PATCH", fmt.Sprintf("/api/v1/staff/sessions/%d", sid), staff, map[string]any{"capacity": 4}), 200, "")
	for i, want := range []string{"confirmed", "confirmed", "confirmed", "confirmed", "waitlisted"} {
		if r := a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", ids[i]), toks[i], nil); r.JSON(t)["status"] != want {
			t.Errorf("booking %d (line position %d): %s, want %s", ids[i], i, r.Body, want)
		}
	}
	a.assertCounts(sid)

	guardOnly := newTestApp(t, map[string]string{"BOOKING_GATE": "false"})
	crowd, _ := guardOnly.quickResidents(30)
	tally := guardOnly.crowd([]string{guardOnly.URL}, crowd, func(int) any { return map[string]any{"session_id": sid} })
	if tally["201"] != 0 {
		t.Errorf("a full session took %d more bookings: %v", tally["201"], tally)
	}
	if n := a.liveBookings(sid); n != 4 {
		t.Errorf("live bookings = %d, capacity 4", n)
	}
	a.assertCounts(sid)
}

// A staff rejection frees a place, and "a freed place goes to the first in line
// automatically, and they are told" (product rules), in the same transaction — not
// whenever the reconciler next passes. Fails if Reject skips fillFromWaitlist.
func TestRejectPromotesFirstInLine(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 1, true)
	toks, uids := a.quickResidents(3)
	var ids []int64
	for i, tk := range toks {
		r := book(a, tk, map[string]any{"session_id": sid, "waitlist": i > 0})
		wantStatus(t, r, 201, "")
		ids = append(ids, idOf(t, r))
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/reject", ids[0]), staff, map[string]any{"reason": "不符合条件"}), 200, "")
	if r := a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", ids[1]), toks[1], nil); r.JSON(t)["status"] != "pending" {
		t.Errorf("first in line after a rejection: %s, want pending", r.Body)
	}
	if r := a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", ids[2]), toks[2], nil); r.JSON(t)["waitlist_position"] != float64(1) {
		t.Errorf("second in line: %s, want position 1", r.Body)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND event = 'booking_promoted'`, uids[1]); n != 1 {
		t.Errorf("promotion notices = %d, want 1", n)
	}
	a.assertCounts(sid)
	late, _ := a.resident("late")
	wantStatus(t, book(a, late, map[string]any{"session_id": sid}), 409, "session_full")
}

// "Background jobs must be safe with several API instances running": reconciler
// passes on instances that do not share a lease (different Redis prefixes, as
// when Redis is down) expire the same started sessions at once; each session is
// handled once, so booked keeps exactly the confirmed. Fails if expire drops its
// SELECT ... FOR UPDATE SKIP LOCKED.
func TestReconcilerPassesWithoutSharedLeaseExpireOnce(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	pid := a.createProgram(staff, map[string]any{"kind": "night_school", "title": "中医养生"})
	toks, _ := a.quickResidents(6)
	var sids []int64
	for range 6 {
		sid := a.createSession(staff, pid, 24*time.Hour, 6)
		for i, tk := range toks {
			id := idOf(t, book(a, tk, map[string]any{"session_id": sid}))
			if i < 3 {
				wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", id), staff, nil), 200, "")
			}
		}
		a.startSession(sid)
		sids = append(sids, sid)
	}
	apps := []*testApp{a, newTestApp(t), newTestApp(t), newTestApp(t)}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, x := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := x.app.bookings.reconciler.Pass(context.Background()); err != nil {
				t.Errorf("reconcile pass: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, sid := range sids {
		if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'expired'`, sid); n != 3 {
			t.Errorf("session %d: %d expired, want 3", sid, n)
		}
		if b := a.sqlInt(`SELECT booked FROM sessions WHERE id = ?`, sid); b != 3 {
			t.Errorf("session %d: booked = %d, want the 3 confirmed", sid, b)
		}
		a.assertCounts(sid)
	}
}

// A refresh token is spent once even when the same token arrives many times at
// once (a retrying client, or a thief racing the owner): exactly one new pair is
// issued, the rest are refused. Fails if Refresh neither locks the token row nor
// guards the spend with used_at IS NULL.
func TestRefreshConcurrentSpendsOnce(t *testing.T) {
	a := newTestApp(t)
	p := a.loginPair(uniqueName(t, "race"))
	const n = 20
	statuses := make([]int, n)
	concurrently(n, func(i int) {
		statuses[i] = doRequest(t, a.URL, "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": p.RefreshToken}).Status
	})
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		default:
			t.Errorf("refresh answered %d", s)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent refreshes of one token succeeded, want 1 (%v)", ok, statuses)
	}
	if rows := a.sqlInt(`SELECT COUNT(*) FROM refresh_tokens r JOIN logins l ON l.id = r.login_id WHERE l.user_id = ?`, p.UserID); rows != 2 {
		t.Errorf("%d refresh tokens for the login, want 2 (the spent one and its single successor)", rows)
	}
}

// The same Idempotency-Key sent many times at once runs the redemption once
// (api.md: a retry while the first is still running → 409
// idempotency_in_progress). Redemptions have no unique key of their own to fall
// back on, so a key claimed with GET-then-SET instead of SET NX charges twice.
func TestRedemptionSameKeyConcurrentRunsOnce(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("idem-race-staff")
	tok, uid := a.resident("idem-race")
	a.grant(staffTok, uid, 100)
	reward := a.newReward(staffTok, 3, 50)
	key := "race-" + uniqueName(t, "k")
	const n = 20
	res := make([]response, n)
	concurrently(n, func(i int) {
		res[i] = doRequest(t, a.URL, "POST", "/api/v1/redemptions", tok, map[string]any{"reward_id": reward}, "Idempotency-Key", key)
	})
	var first string
	for _, r := range res {
		switch {
		case r.Status == http.StatusCreated:
			if first == "" {
				first = string(r.Body)
			} else if string(r.Body) != first {
				t.Errorf("two different 201 bodies for one key:\n%s\n%s", first, r.Body)
			}
		case r.Status == http.StatusConflict && r.ErrorCode() == "idempotency_in_progress":
		default:
			t.Errorf("unexpected %d %s", r.Status, r.Body)
		}
	}
	if c := a.count(`SELECT COUNT(*) FROM redemptions WHERE user_id = ?`, uid); c != 1 {
		t.Errorf("%d redemptions for one key, want 1", c)
	}
	if b := a.balance(uid); b != 97 {
		t.Errorf("balance %d, want 97 (charged once)", b)
	}
}

// "Overdue" is a query over the stored deadlines, and a work order sent back for
// rework has fresh ones: a reopened complaint nobody accepted within 10 minutes
// is overdue. Fails if the overdue query only looks at submitted ones for the
// accept limit.
func TestReopenedComplaintNotAcceptedIsOverdue(t *testing.T) {
	a := newTestApp(t)
	t0 := time.Date(2025, 6, 2, 2, 0, 0, 0, time.UTC)
	clk := a.useClock(t0)
	alice, _ := a.resident("alice")
	staff, _ := a.staff("clerk")
	id := a.fileComplaint(alice, map[string]any{"estate": "百花园一期"})
	clk.Set(t0.Add(time.Minute))
	a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
	a.step(staff, cpath(id, "contact"), map[string]any{"note": "已电话联系"}, http.StatusOK)
	a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "已修复"}, http.StatusOK)
	t1 := t0.Add(2 * time.Hour)
	clk.Set(t1)
	a.step(alice, cpath(id, "rating"), map[string]any{"score": 1, "comment": "没修好"}, http.StatusOK)

	listed := func() bool {
		t.Helper()
		r := a.do("GET", "/api/v1/staff/complaints?overdue=true&estate=百花园一期&status=reopened&limit=100", staff, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		var out struct{ Items []complaintJSON }
		r.Decode(t, &out)
		for _, c := range out.Items {
			if c.ID == id {
				return true
			}
		}
		return false
	}
	clk.Set(t1.Add(10 * time.Minute)) // at the new accept deadline: not late yet
	if listed() || a.complaint(alice, id).Overdue {
		t.Fatal("reopened complaint overdue at its accept deadline")
	}
	clk.Set(t1.Add(11 * time.Minute))
	if !listed() {
		t.Error("reopened complaint not accepted within 10 minutes is not in the overdue list")
	}
	if !a.complaint(alice, id).Overdue {
		t.Error("reopened complaint not accepted within 10 minutes is not marked overdue")
	}
}
