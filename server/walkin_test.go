package main

// Walk-in residents (代预约): staff register residents without WeChat, book,
// cancel and check in for them through the booking engine, and the records merge
// into the WeChat account that later verifies the same phone.

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// phoneSeq makes distinct mainland mobile numbers per test run.
var phoneSeq sync.Mutex
var phoneNext = time.Now().UnixNano() % 1_000_000_000

func newPhone() string {
	phoneSeq.Lock()
	defer phoneSeq.Unlock()
	phoneNext = (phoneNext + 7919) % 1_000_000_000
	return fmt.Sprintf("13%09d", phoneNext)
}

func createWalkIn(t *testing.T, a *testApp, staffTok, name, phone string) int64 {
	t.Helper()
	r := a.do("POST", "/api/v1/staff/residents", staffTok, map[string]any{"real_name": name, "phone": phone, "estate": "南天一花园"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create walk-in: %d %s", r.Status, r.Body)
	}
	return idOf(t, r)
}

func deskBook(t *testing.T, a *testApp, staffTok string, resident int64, body map[string]any) response {
	t.Helper()
	return a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings", resident), staffTok, body)
}

func TestWalkInRegisterFindAndAccess(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("desk")
	resTok, resID := a.resident("notstaff")
	phone := newPhone()

	// Bad input is a 400 and creates nothing.
	for _, body := range []map[string]any{
		{"real_name": "王阿姨"},
		{"real_name": "", "phone": phone},
		{"real_name": "王阿姨", "phone": "12345"},
		{"real_name": "王阿姨", "phone": "1381234567a"},
		{"real_name": "王阿姨", "phone": phone, "birth_date": "2999-01-01"},
	} {
		r := a.do("POST", "/api/v1/staff/residents", staffTok, body)
		wantStatus(t, r, http.StatusBadRequest, "invalid_request")
	}
	idx, _ := a.app.privacy.cipher.PhoneIndex(phone)
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE walkin_phone = ?`, idx); n != 0 {
		t.Fatalf("bad input created %d rows", n)
	}
	// Residents may not use the desk.
	wantStatus(t, a.do("POST", "/api/v1/staff/residents", resTok, map[string]any{"real_name": "x", "phone": phone}), http.StatusForbidden, "forbidden")

	r := a.do("POST", "/api/v1/staff/residents", staffTok, map[string]any{
		"real_name": "王阿姨", "phone": "+86 " + phone[:3] + "-" + phone[3:7] + " " + phone[7:], "birth_date": "1950-03-04", "estate": "南天一花园", "room": "3-201"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	got := r.JSON(t)
	id := int64(got["id"].(float64))
	if got["phone"] != phone || got["real_name"] != "王阿姨" || got["birth_date"] != "1950-03-04" || int64(got["created_by"].(float64)) != staffID {
		t.Fatalf("created %v", got)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND openid IS NULL AND role = 'resident'`, id); n != 1 {
		t.Fatal("walk-in is not a resident without openid")
	}
	// The same phone, however typed, is one person: 409, one row.
	wantStatus(t, a.do("POST", "/api/v1/staff/residents", staffTok, map[string]any{"real_name": "王阿姨2", "phone": phone}), http.StatusConflict, "phone_in_use")

	// Found by exact phone and by name prefix; GET by id.
	var list struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	a.do("GET", "/api/v1/staff/residents?phone="+phone, staffTok, nil).Decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != id {
		t.Fatalf("by phone: %+v", list)
	}
	a.do("GET", "/api/v1/staff/residents?phone=13900000000", staffTok, nil).Decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("unknown phone found %+v", list)
	}
	wantStatus(t, a.do("GET", "/api/v1/staff/residents?phone=abc", staffTok, nil), http.StatusBadRequest, "invalid_request")
	a.do("GET", "/api/v1/staff/residents?name=王阿&limit=100", staffTok, nil).Decode(t, &list)
	found := false
	for _, it := range list.Items {
		found = found || it.ID == id
	}
	if !found {
		t.Fatal("name prefix search missed the walk-in")
	}
	if r := a.do("GET", fmt.Sprintf("/api/v1/staff/residents/%d", id), staffTok, nil); r.Status != http.StatusOK {
		t.Fatalf("get: %d", r.Status)
	}
	// A WeChat user is not a walk-in: 404 on every desk route.
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/staff/residents/%d", resID), staffTok, nil), http.StatusNotFound, "not_found")
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/staff/residents/%d/bookings", resID), staffTok, nil), http.StatusNotFound, "not_found")
	wantStatus(t, deskBook(t, a, staffTok, resID, map[string]any{"session_id": 1}), http.StatusNotFound, "not_found")

	// A phone a WeChat user verified cannot be registered as a walk-in.
	p2 := newPhone()
	if r := a.do("POST", "/api/v1/me/phone", resTok, map[string]string{"code": "phone-" + p2}); r.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", r.Status, r.Body)
	}
	wantStatus(t, a.do("POST", "/api/v1/staff/residents", staffTok, map[string]any{"real_name": "李伯", "phone": p2}), http.StatusConflict, "phone_in_use")
}

func TestWalkInBookCancelCheckInThroughTheEngine(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("desk")
	w1 := createWalkIn(t, a, staffTok, "张伯", newPhone())
	w2 := createWalkIn(t, a, staffTok, "刘姨", newPhone())
	_, sid := a.hotSession(staffTok, 10, false)

	r := deskBook(t, a, staffTok, w1, map[string]any{"session_id": sid})
	if r.Status != http.StatusCreated {
		t.Fatalf("book: %d %s", r.Status, r.Body)
	}
	b := r.JSON(t)
	bid := int64(b["id"].(float64))
	if b["status"] != "confirmed" || int64(b["user_id"].(float64)) != w1 {
		t.Fatalf("booking %v", b)
	}
	// Same rules as residents: a second live booking is 409, a missing session 404.
	wantStatus(t, deskBook(t, a, staffTok, w1, map[string]any{"session_id": sid}), http.StatusConflict, "already_booked")
	wantStatus(t, deskBook(t, a, staffTok, w1, map[string]any{"session_id": 999999999}), http.StatusNotFound, "not_found")
	wantStatus(t, deskBook(t, a, staffTok, w1, map[string]any{"session_id": "x"}), http.StatusBadRequest, "invalid_request")
	// Another walk-in's booking is not reachable through this one: 404.
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/cancel", w2, bid), staffTok, nil), http.StatusNotFound, "not_found")
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/checkin", w2, bid), staffTok, nil), http.StatusNotFound, "not_found")

	var list struct {
		Items []struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
	}
	a.do("GET", fmt.Sprintf("/api/v1/staff/residents/%d/bookings?status=confirmed", w1), staffTok, nil).Decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != bid {
		t.Fatalf("list: %+v", list)
	}

	// Cancel frees the place; checking in a cancelled booking is 409.
	a.openCheckIn(sid)
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/cancel", w1, bid), staffTok, nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "cancelled" {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/checkin", w1, bid), staffTok, nil), http.StatusConflict, "invalid_transition")
	a.assertCounts(sid)

	// Book again (the unique key allows it after the cancel) and check in by id.
	bid2 := idOf(t, deskBook(t, a, staffTok, w1, map[string]any{"session_id": sid}))
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/checkin", w1, bid2), staffTok, nil)
	if r.Status != http.StatusOK || r.JSON(t)["status"] != "attended" {
		t.Fatalf("checkin: %d %s", r.Status, r.Body)
	}
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/checkin", w1, bid2), staffTok, nil), http.StatusConflict, "invalid_transition")
	a.assertCounts(sid)

	// Childcare needs a child: the walk-in's own child, added at the desk.
	cc := a.createProgram(staffTok, map[string]any{"kind": "childcare", "title": "托育体验", "audience": "children"})
	ccs := a.createSession(staffTok, cc, 48*time.Hour, 5)
	wantStatus(t, deskBook(t, a, staffTok, w1, map[string]any{"session_id": ccs}), http.StatusUnprocessableEntity, "not_eligible")
	kid := a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/children", w1), staffTok, map[string]any{
		"name": "小宝", "birth_date": time.Now().AddDate(-2, 0, 0).Format("2006-01-02"), "guardian_consent": true})
	if kid.Status != http.StatusCreated {
		t.Fatalf("child: %d %s", kid.Status, kid.Body)
	}
	kidID := idOf(t, kid)
	// Not w2's child.
	wantStatus(t, deskBook(t, a, staffTok, w2, map[string]any{"session_id": ccs, "child_id": kidID}), http.StatusNotFound, "not_found")
	if r := deskBook(t, a, staffTok, w1, map[string]any{"session_id": ccs, "child_id": kidID}); r.Status != http.StatusCreated {
		t.Fatalf("childcare: %d %s", r.Status, r.Body)
	}
}

// TestWalkInBookingObeysCapacity: 200 walk-ins booked at once from two desks on
// two instances for 7 places get exactly 7, as MySQL shows.
func TestWalkInBookingObeysCapacity(t *testing.T) {
	a := newTestApp(t)
	b := newTestAppWithPrefix(t, a.prefix, nil)
	staffTok, _ := a.staff("desk")
	_, sid := a.hotSession(staffTok, 7, false)
	const n = 200
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = createWalkIn(t, a, staffTok, fmt.Sprintf("长者%d", i), newPhone())
	}
	var mu sync.Mutex
	tally := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			base := a.URL
			if i%2 == 1 {
				base = b.URL
			}
			r := doRequest(t, base, "POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings", id), staffTok, map[string]any{"session_id": sid, "waitlist": i%4 == 0})
			mu.Lock()
			tally[fmt.Sprint(r.Status, " ", r.ErrorCode())]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if live := a.liveBookings(sid); live != 7 {
		t.Fatalf("live bookings = %d, want 7 (%v)", live, tally)
	}
	waiting := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'waitlisted'`, sid)
	if full := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ?`, sid); full != 7+waiting || tally["409 session_full"] != n-full {
		t.Fatalf("rows %d, waiting %d, tally %v", full, waiting, tally)
	}
	for k := range tally {
		if k[0] == '5' {
			t.Fatalf("server errors: %v", tally)
		}
	}
	a.assertCounts(sid)
}

func TestWalkInMergesIntoWeChatUserOnVerifiedPhone(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("desk")
	phone := newPhone()
	walk := createWalkIn(t, a, staffTok, "陈奶奶", phone)

	_, s1 := a.hotSession(staffTok, 5, false) // only the walk-in books it
	_, s2 := a.hotSession(staffTok, 1, false) // both book it: the WeChat user's own place is kept
	_, s3 := a.hotSession(staffTok, 5, false) // attended by the walk-in
	b1 := idOf(t, deskBook(t, a, staffTok, walk, map[string]any{"session_id": s1}))
	b2 := idOf(t, deskBook(t, a, staffTok, walk, map[string]any{"session_id": s2}))
	b3 := idOf(t, deskBook(t, a, staffTok, walk, map[string]any{"session_id": s3}))
	a.openCheckIn(s3)
	if r := a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/checkin", walk, b3), staffTok, nil); r.Status != http.StatusOK {
		t.Fatalf("checkin: %d", r.Status)
	}
	kid := idOf(t, a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/children", walk), staffTok, map[string]any{
		"name": "小芳", "birth_date": "2022-01-02", "guardian_consent": true}))
	adjust := func(user int64, amount int) {
		r := a.do("POST", "/api/v1/staff/points/adjustments", staffTok, map[string]any{"user_id": user, "amount": amount, "reason": "柜台登记"})
		if r.Status != http.StatusCreated && r.Status != http.StatusOK {
			t.Fatalf("adjust: %d %s", r.Status, r.Body)
		}
	}
	adjust(walk, 30)

	// The WeChat user: own points, and s2 full with a waiting resident behind the
	// walk-in, so the walk-in's duplicate place goes to the line.
	tok, uid := a.resident("chen")
	adjust(uid, 12)
	other, otherID := a.resident("waiter")
	if r := a.do("POST", "/api/v1/bookings", other, map[string]any{"session_id": s2, "waitlist": true}); r.JSON(t)["status"] != "waitlisted" {
		t.Fatalf("waitlist: %s", r.Body)
	}
	// The WeChat user cannot book s2 (full) but joins its line: a live booking of
	// the same participant, colliding with the walk-in's after the merge.
	if r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": s2, "waitlist": true}); r.JSON(t)["status"] != "waitlisted" {
		t.Fatalf("waitlist 2: %s", r.Body)
	}

	// An unrelated phone merges nothing.
	if r := a.do("POST", "/api/v1/me/phone", tok, map[string]string{"code": "phone-" + newPhone()}); r.Status != http.StatusOK {
		t.Fatalf("phone: %d", r.Status)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, walk); n != 3 {
		t.Fatalf("merged on the wrong phone: walk-in has %d bookings", n)
	}
	// An unverified phone cannot be set at all (PATCH /me ignores it).
	a.do("PATCH", "/api/v1/me", tok, map[string]any{"phone": phone})
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE merged_into IS NOT NULL AND id = ?`, walk); n != 0 {
		t.Fatal("merged without verification")
	}

	// Verify the walk-in's phone: merge, several times at once (idempotent).
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = a.do("POST", "/api/v1/me/phone", tok, map[string]string{"code": "phone-" + phone}).Status
		}()
	}
	wg.Wait()
	for _, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("verify codes %v", codes)
		}
	}

	// Everything moved to the WeChat user; the walk-in is a tombstone.
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, walk); n != 0 {
		t.Fatalf("%d bookings left on the walk-in", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id IN (?, ?, ?) AND user_id = ?`, b1, b2, b3, uid); n != 3 {
		t.Fatalf("moved bookings = %d", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ? AND (participant NOT LIKE CONCAT('u', ?, '%') OR participant LIKE CONCAT('u', ?, '%'))`, uid, uid, walk); n != 0 {
		t.Fatalf("%d bookings keep the walk-in's participant name", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM children WHERE id = ? AND user_id = ?`, kid, uid); n != 1 {
		t.Fatal("child did not move")
	}
	if n := a.sqlInt(`SELECT balance FROM points_accounts WHERE user_id = ?`, uid); n != 42 {
		t.Fatalf("balance = %d, want 42", n)
	}
	if n := a.sqlInt(`SELECT COALESCE(SUM(amount), 0) FROM points_ledger WHERE user_id = ?`, uid); n != 42 {
		t.Fatalf("ledger sum = %d, want 42", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM points_accounts WHERE user_id = ?`, walk); n != 0 {
		t.Fatal("walk-in account left behind")
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND merged_into = ? AND walkin_phone IS NULL AND phone_enc IS NULL AND phone_bidx IS NULL`, walk, uid); n != 1 {
		t.Fatal("walk-in is not a tombstone")
	}
	// The profile filled its blanks from the desk's record.
	me := a.do("GET", "/api/v1/me", tok, nil).JSON(t)
	if me["real_name"] != "陈奶奶" || me["estate"] != "南天一花园" || me["phone"] != phone {
		t.Fatalf("me %v", me)
	}
	// s2: the walk-in's confirmed place and the user's waiting entry collided; the
	// user's own (waiting) booking is kept, the walk-in's place was cancelled and
	// went to the first in line.
	if st := a.sqlInt(`SELECT status = 'cancelled' FROM bookings WHERE id = ?`, b2); st != 1 {
		t.Fatal("duplicate not cancelled")
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND user_id = ? AND status = 'confirmed'`, s2, otherID); n != 1 {
		t.Fatal("freed place did not go to the waiting list")
	}
	for _, s := range []int64{s1, s2, s3} {
		a.assertCounts(s)
	}
	// The resident sees the bookings as theirs; the desk no longer finds the walk-in.
	var mine struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	a.do("GET", "/api/v1/bookings?limit=100", tok, nil).Decode(t, &mine)
	if len(mine.Items) != 4 { // b1, b2 (cancelled), b3, and the user's own waiting entry
		t.Fatalf("my bookings: %+v", mine)
	}
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/staff/residents/%d", walk), staffTok, nil), http.StatusNotFound, "not_found")
	wantStatus(t, deskBook(t, a, staffTok, walk, map[string]any{"session_id": s1}), http.StatusNotFound, "not_found")
	// The gate knows the new names: booking s1 again is already_booked, and
	// cancelling then booking again works.
	wantStatus(t, a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": s1}), http.StatusConflict, "already_booked")
	if r := a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", b1), tok, nil); r.Status != http.StatusOK {
		t.Fatalf("cancel moved booking: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": s1}); r.Status != http.StatusCreated {
		t.Fatalf("rebook: %d %s", r.Status, r.Body)
	}
	a.assertCounts(s1)

	// A second WeChat account verifying the same phone merges nothing more: the
	// first account keeps everything, WeChat accounts are never merged.
	tok2, uid2 := a.resident("chen2")
	if r := a.do("POST", "/api/v1/me/phone", tok2, map[string]string{"code": "phone-" + phone}); r.Status != http.StatusOK {
		t.Fatalf("second verify: %d", r.Status)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, uid2); n != 0 {
		t.Fatalf("second WeChat account got %d bookings", n)
	}
	if n := a.sqlInt(`SELECT balance FROM points_accounts WHERE user_id = ?`, uid); n != 42 {
		t.Fatalf("balance after second verify = %d", n)
	}
}

// TestWalkInDeskBookingRacesMerge: desk bookings racing the merge either land
// before it (and move) or are refused with 404; none is left on the tombstone.
func TestWalkInDeskBookingRacesMerge(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("desk")
	phone := newPhone()
	walk := createWalkIn(t, a, staffTok, "赵爷爷", phone)
	sids := make([]int64, 30)
	for i := range sids {
		_, sids[i] = a.hotSession(staffTok, 3, false)
	}
	tok, uid := a.resident("zhao")
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	tally := map[int]int{}
	for _, sid := range sids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := deskBook(t, a, staffTok, walk, map[string]any{"session_id": sid})
			mu.Lock()
			tally[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		time.Sleep(5 * time.Millisecond)
		if r := a.do("POST", "/api/v1/me/phone", tok, map[string]string{"code": "phone-" + phone}); r.Status != http.StatusOK {
			t.Errorf("verify: %d %s", r.Status, r.Body)
		}
	}()
	close(start)
	wg.Wait()
	if tally[http.StatusCreated]+tally[http.StatusNotFound] != len(sids) {
		t.Fatalf("tally %v", tally)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, walk); n != 0 {
		t.Fatalf("%d bookings left on the merged walk-in (tally %v)", n, tally)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, uid); n != tally[http.StatusCreated] {
		t.Fatalf("user has %d bookings, %d were created", n, tally[http.StatusCreated])
	}
}

// A walk-in is enrolled in a whole course at the desk, all or nothing, through
// the engine: every upcoming session booked; a second enrolment is already_booked;
// a course with a full session enrols nobody.
func TestWalkInEnrolment(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("wenrol")
	walk := createWalkIn(t, a, staff, "陈伯", newPhone())
	pid := a.createProgram(staff, map[string]any{"kind": "activity", "title": "长者书画课程", "requires_approval": false})
	s1 := a.createSession(staff, pid, 48*time.Hour, 5)
	s2 := a.createSession(staff, pid, 96*time.Hour, 5)
	path := fmt.Sprintf("/api/v1/staff/residents/%d/enrollments", walk)
	r := a.do("POST", path, staff, map[string]any{"program_id": pid})
	if r.Status != http.StatusCreated {
		t.Fatalf("enrol: %d %s", r.Status, r.Body)
	}
	if n := len(r.JSON(t)["bookings"].([]any)); n != 2 {
		t.Fatalf("%d bookings, want 2", n)
	}
	if r := a.do("POST", path, staff, map[string]any{"program_id": pid}); r.Status != http.StatusConflict || r.ErrorCode() != "already_booked" {
		t.Fatalf("second enrolment: %d %s", r.Status, r.Body)
	}
	// A course whose second session is full: nobody is enrolled anywhere.
	pid2 := a.createProgram(staff, map[string]any{"kind": "activity", "title": "满员课程", "requires_approval": false})
	a1 := a.createSession(staff, pid2, 48*time.Hour, 5)
	a2 := a.createSession(staff, pid2, 96*time.Hour, 1)
	other, _ := a.resident("wenrol-other")
	if r := a.do("POST", "/api/v1/bookings", other, map[string]any{"session_id": a2}); r.Status != http.StatusCreated {
		t.Fatalf("fill: %d %s", r.Status, r.Body)
	}
	walk2 := createWalkIn(t, a, staff, "周姨", newPhone())
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/enrollments", walk2), staff, map[string]any{"program_id": pid2})
	if r.Status != http.StatusConflict || r.ErrorCode() != "session_full" {
		t.Fatalf("enrol in a full course: %d %s", r.Status, r.Body)
	}
	for _, sid := range []int64{s1, s2, a1, a2} {
		a.assertCounts(sid)
	}
	if n := a.liveBookings(a1); n != 0 {
		t.Fatalf("partial enrolment left %d bookings", n)
	}
	// Not a walk-in: 404.
	_, uid := a.resident("wenrol-wechat")
	if r := a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/enrollments", uid), staff, map[string]any{"program_id": pid}); r.Status != http.StatusNotFound {
		t.Fatalf("enrol a WeChat user at the desk: %d %s", r.Status, r.Body)
	}
}
