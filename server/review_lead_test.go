package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

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

// A points code shown just before the account was deleted earns nothing.
func TestDeletedAccountCodeEarnsNothing(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("delcode-staff")
	tok, uid := a.resident("delcode")
	devID, secret := a.newDevice(staff, "南天一花园")
	code := a.residentCode(tok)
	if r := a.do("DELETE", "/api/v1/me", tok, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	r := a.sendDeposit(devID, secret, randomID("ev-"), code, 500, "ok")
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "token_invalid" {
		t.Fatalf("deposit for a deleted account: %d %s", r.Status, r.Body)
	}
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE user_id = ?`, uid); n != 0 {
		t.Fatalf("%d deposits stored", n)
	}
}

// A child registered at the desk is audited without the child's name in clear,
// the emergency contact's number or the allergies (health data).
func TestAuditMasksChildData(t *testing.T) {
	a := newTestApp(t)
	staff, staffID := a.staff("childaudit")
	admin, _ := a.staff("childaudit-admin", "admin")
	r := a.do("POST", "/api/v1/staff/residents", staff, map[string]any{"real_name": "李阿婆", "phone": fmt.Sprintf("135%08d", time.Now().UnixNano()%1e8)})
	if r.Status != http.StatusCreated {
		t.Fatalf("walk-in: %d %s", r.Status, r.Body)
	}
	rid := int64(r.JSON(t)["id"].(float64))
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/children", rid), staff, map[string]any{
		"name": "王小宝", "birth_date": "2024-05-01", "emergency_contact": "妈妈 13912345678", "allergies": "青霉素过敏", "guardian_consent": true})
	if r.Status != http.StatusCreated {
		t.Fatalf("child: %d %s", r.Status, r.Body)
	}
	r = a.do("GET", fmt.Sprintf("/api/v1/admin/audit?actor_id=%d&action=children", staffID), admin, nil)
	body := string(r.Body)
	if r.Status != http.StatusOK || !strings.Contains(body, "王**") || strings.Contains(body, "王小宝") || strings.Contains(body, "13912345678") || strings.Contains(body, "青霉素") {
		t.Fatalf("audit of the child: %d %s", r.Status, body)
	}
}

// Event ids are the bin's own: another bin using the same id, or the same bin
// using an id that differs only in case, is a different event and earns points;
// the same bin repeating an id is a duplicate.
func TestDepositEventIDsArePerBinAndExact(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("evscope-staff")
	tok, uid := a.resident("evscope")
	dev1, sec1 := a.newDevice(staff, "南天一花园")
	dev2, sec2 := a.newDevice(staff, "国城花园")
	code := a.residentCode(tok)
	id := randomID("evt-")
	for _, c := range []struct {
		dev        int64
		sec, event string
		dup        bool
	}{
		{dev1, sec1, id, false},
		{dev2, sec2, id, false},                  // another bin, same number
		{dev1, sec1, strings.ToUpper(id), false}, // differs only in case
		{dev1, sec1, id, true},                   // a real repeat
	} {
		r := a.sendDeposit(c.dev, c.sec, c.event, code, 300, "ok")
		if r.Status != http.StatusOK || r.JSON(t)["duplicate"] != c.dup {
			t.Fatalf("device %d event %s: %d %s (want duplicate=%v)", c.dev, c.event, r.Status, r.Body, c.dup)
		}
	}
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE user_id = ?`, uid); n != 3 {
		t.Fatalf("%d deposits, want 3", n)
	}
	if b := a.balance(uid); b != 9 {
		t.Fatalf("balance %d, want 9", b)
	}
}

// A retried staff adjustment with the same Idempotency-Key credits once.
func TestAdjustmentIdempotent(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("adjidem")
	_, uid := a.resident("adjidem-res")
	body := map[string]any{"user_id": uid, "amount": 5, "reason": "补录"}
	key := uniqueName(t, "adj")
	for i := 0; i < 2; i++ {
		if r := a.do("POST", "/api/v1/staff/points/adjustments", staff, body, "Idempotency-Key", key); r.Status != http.StatusCreated {
			t.Fatalf("adjust %d: %d %s", i, r.Status, r.Body)
		}
	}
	body["amount"] = 6
	if r := a.do("POST", "/api/v1/staff/points/adjustments", staff, body, "Idempotency-Key", key); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key: %d %s", r.Status, r.Body)
	}
	if b := a.balance(uid); b != 5 {
		t.Fatalf("balance %d, want 5", b)
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

// The complaint list carries each complaint's own photos (one query fills them
// for the whole page).
func TestComplaintListPhotos(t *testing.T) {
	a := newTestApp(t)
	tok, _ := a.resident("listphotos")
	p1, p2, p3 := a.uploadPhoto(tok), a.uploadPhoto(tok), a.uploadPhoto(tok)
	c1 := a.fileComplaint(tok, map[string]any{"photo_ids": []int64{p1, p2}})
	c2 := a.fileComplaint(tok, map[string]any{"photo_ids": []int64{p3}})
	c3 := a.fileComplaint(tok, nil)
	var list struct{ Items []complaintJSON }
	a.do("GET", "/api/v1/complaints", tok, nil).Decode(t, &list)
	want := map[int64]string{c1: fmt.Sprint([]int64{p1, p2}), c2: fmt.Sprint([]int64{p3}), c3: "[]"}
	if len(list.Items) != 3 {
		t.Fatalf("%d items", len(list.Items))
	}
	for _, c := range list.Items {
		if got := fmt.Sprint(c.PhotoIDs); got != want[c.ID] || len(c.AgreementPhotoIDs) != 0 {
			t.Errorf("complaint %d photos %s (agreement %v), want %s", c.ID, got, c.AgreementPhotoIDs, want[c.ID])
		}
	}
}
