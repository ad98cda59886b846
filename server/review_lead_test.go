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

// A child registered at the desk is audited without the child's name in clear or
// the emergency contact's number.
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
		"name": "王小宝", "birth_date": "2024-05-01", "emergency_contact": "妈妈 13912345678", "guardian_consent": true})
	if r.Status != http.StatusCreated {
		t.Fatalf("child: %d %s", r.Status, r.Body)
	}
	r = a.do("GET", fmt.Sprintf("/api/v1/admin/audit?actor_id=%d&action=children", staffID), admin, nil)
	body := string(r.Body)
	if r.Status != http.StatusOK || !strings.Contains(body, "王**") || strings.Contains(body, "王小宝") || strings.Contains(body, "13912345678") {
		t.Fatalf("audit of the child: %d %s", r.Status, body)
	}
}
