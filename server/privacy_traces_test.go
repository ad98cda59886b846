package main

// Issue 14 item 9: account deletion pseudonymises the resident's data in the
// audit log's bodies and in staff notes, keeping who did what, and deletes their
// idempotent replies from Redis.

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"nantian/models"
)

func TestAccountDeletionScrubsAuditNotesAndReplies(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("trace-staff")
	adminTok, _ := a.staff("trace-admin", "admin")
	_, sid := a.hotSession(staffTok, 10, false)
	alice := a.privacyResident(t, staffTok, sid, "alice", newPhone(), newPhone())
	bob := a.privacyResident(t, staffTok, sid, "bob", newPhone(), newPhone())
	if r := a.do("PATCH", "/api/v1/me", alice.token, map[string]any{"birth_date": "1961-07-08"}); r.Status != http.StatusOK {
		t.Fatalf("birth date: %d %s", r.Status, r.Body)
	}
	// Staff work on both residents' things; the notes name them.
	for tag, p := range map[string]privacyResident{"alice": alice, "bob": bob} {
		a.step(staffTok, cpath(p.complaint, "accept"), map[string]any{}, http.StatusOK)
		a.step(staffTok, cpath(p.complaint, "contact"), map[string]any{"note": "已电话联系真名" + tag + "，号码 " + p.contact}, http.StatusOK)
		a.grant(staffTok, p.id, 3) // an adjustment naming user_id
	}
	// An admin changes alice's role and back: the before/after show her profile.
	for _, role := range []string{"staff", "resident"} {
		wantStatus(t, a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", alice.id), adminTok, map[string]string{"role": role}), 200, "")
	}
	// An idempotent booking leaves a reply in Redis.
	_, sid2 := a.hotSession(staffTok, 5, false)
	if r := a.do("POST", "/api/v1/bookings", alice.token, map[string]any{"session_id": sid2}, "Idempotency-Key", "trace-1"); r.Status != http.StatusCreated {
		t.Fatalf("idempotent booking: %d %s", r.Status, r.Body)
	}
	replies := func() int {
		keys, err := a.app.rdb.Keys(context.Background(), a.prefix+fmt.Sprintf("idem:u%d:*", alice.id)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	if replies() == 0 {
		t.Fatal("no idempotent reply stored for alice")
	}

	aliceValues := []string{"真名alice", alice.phone, models.MaskPhone(alice.phone), alice.contact, models.MaskPhone(alice.contact), "1961-07-08", "1-alice", alice.child, alice.allergies, alice.emergency}
	holding := func(v string) int {
		return a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE INSTR(CONCAT(COALESCE(request_body,''),'|',COALESCE(before_body,''),'|',COALESCE(response_body,'')), ?) > 0`, v)
	}
	inNotes := func(v string) int {
		return a.sqlInt(`SELECT COUNT(*) FROM complaint_events WHERE INSTR(note, ?) > 0`, v)
	}
	if holding("真名alice") == 0 || holding(fmt.Sprintf(`"user_id":%d`, alice.id)) == 0 || inNotes(alice.contact) == 0 {
		t.Fatalf("the fixture left no trace of alice to scrub: %d %d %d", holding("真名alice"), holding(fmt.Sprintf(`"user_id":%d`, alice.id)), inNotes(alice.contact))
	}
	entries := a.sqlInt(`SELECT COUNT(*) FROM audit_log`)
	aboutAlice := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE target = ?`, fmt.Sprintf("id=%d", alice.id))

	wantStatus(t, a.do("DELETE", "/api/v1/me", alice.token, nil), http.StatusNoContent, "")

	for _, v := range aliceValues {
		if n := holding(v); n != 0 {
			t.Errorf("%d audit entries still hold alice's %q", n, v)
		}
		if n := inNotes(v); n != 0 {
			t.Errorf("%d staff notes still hold alice's %q", n, v)
		}
	}
	// Who did what stays: every entry, with its actor and action.
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log`); n < entries {
		t.Fatalf("audit entries went from %d to %d", entries, n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE target = ? AND action = 'PUT /api/v1/admin/users/:id/role' AND actor_role = 'admin'`, fmt.Sprintf("id=%d", alice.id)); n != 2 || aboutAlice < 2 {
		t.Fatalf("the admin's role changes: %d entries (had %d about alice)", n, aboutAlice)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM complaint_events WHERE complaint_id = ? AND actor_role = 'staff' AND note LIKE '已电话联系%'`, alice.complaint); n != 1 {
		t.Fatalf("the staff note lost its words: %d", n)
	}
	if replies() != 0 {
		t.Fatalf("%d idempotent replies of alice left in Redis", replies())
	}
	// Bob's traces are his own and untouched.
	for _, v := range []string{"真名bob", bob.contact} {
		if holding(v)+inNotes(v) == 0 {
			t.Errorf("bob's %q was scrubbed with alice's", v)
		}
	}
}
