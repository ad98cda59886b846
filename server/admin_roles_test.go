package main

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"nantian/models"
)

// The only admin cannot demote themselves (or be demoted): nobody could change
// roles any more. On a database of its own, so other tests' admins don't count.
func TestLastAdminCannotBeDemoted(t *testing.T) {
	a := newIsolatedTestApp(t)
	admin, adminID := a.staff("sole-admin", models.RoleAdmin)
	r := a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", adminID), admin, map[string]string{"role": "staff"})
	wantStatus(t, r, http.StatusConflict, "last_admin")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active'`); n != 1 {
		t.Fatalf("%d admins after a refused demotion, want 1", n)
	}
	// Setting the same role again is not a demotion.
	wantStatus(t, a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", adminID), admin, map[string]string{"role": "admin"}), http.StatusOK, "")
	// Nor delete the account.
	wantStatus(t, a.do("DELETE", "/api/v1/me", admin, nil), http.StatusConflict, "last_admin")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND status = 'active' AND suspended_until IS NULL`, adminID); n != 1 {
		t.Fatal("a refused deletion changed the account")
	}
	// With a second admin, the first may step down.
	_, second := a.staff("second-admin", models.RoleAdmin)
	wantStatus(t, a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", adminID), admin, map[string]string{"role": "staff"}), http.StatusOK, "")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active' AND id = ?`, second); n != 1 {
		t.Fatal("the second admin lost the role")
	}
}

// Eight admins all demoting themselves at once: exactly seven succeed and one
// admin is left, whatever the interleaving (the admin rows are locked).
func TestConcurrentDemotionsLeaveOneAdmin(t *testing.T) {
	a := newIsolatedTestApp(t)
	const n = 8
	toks, ids := make([]string, n), make([]int64, n)
	for i := range n {
		toks[i], ids[i] = a.staff(fmt.Sprintf("admin-%d", i), models.RoleAdmin)
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", ids[i]), toks[i], map[string]string{"role": "resident"}).Status
		}()
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
			refused++
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if ok != n-1 || refused != 1 {
		t.Errorf("%d demoted, %d refused; want %d and 1", ok, refused, n-1)
	}
	if got := a.sqlInt(`SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active'`); got != 1 {
		t.Fatalf("%d admins left, want 1", got)
	}
}

// A profile or walk-in estate must be one of the community's five, like a
// complaint's; "" clears a profile's.
func TestProfileAndWalkInEstateIsChecked(t *testing.T) {
	a := newTestApp(t)
	tok, uid := a.resident("estate-check")
	staffTok, _ := a.staff("estate-desk")
	r := a.do("PATCH", "/api/v1/me", tok, map[string]any{"estate": "不存在花园"})
	wantStatus(t, r, http.StatusBadRequest, "invalid_request")
	if msg := errorMessage(t, r); msg == "" || msg[:len("estate")] != "estate" {
		t.Errorf("message %q does not name the field", msg)
	}
	wantStatus(t, a.do("PATCH", "/api/v1/me", tok, map[string]any{"estate": "国城花园", "room": "3-201"}), http.StatusOK, "")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND estate = '国城花园'`, uid); n != 1 {
		t.Fatal("valid estate not stored")
	}
	wantStatus(t, a.do("PATCH", "/api/v1/me", tok, map[string]any{"estate": "月球", "room": "9-9"}), http.StatusBadRequest, "invalid_request")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND estate = '国城花园' AND room = '3-201'`, uid); n != 1 {
		t.Fatal("a refused patch changed the profile")
	}
	wantStatus(t, a.do("PATCH", "/api/v1/me", tok, map[string]any{"estate": ""}), http.StatusOK, "")

	phone := newPhone()
	r = a.do("POST", "/api/v1/staff/residents", staffTok, map[string]any{"real_name": "月球伯", "phone": phone, "estate": "月球"})
	wantStatus(t, r, http.StatusBadRequest, "invalid_request")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE real_name = '月球伯'`); n != 0 {
		t.Fatal("a refused walk-in was stored")
	}
	wantStatus(t, a.do("POST", "/api/v1/staff/residents", staffTok, map[string]any{"real_name": "百花伯", "phone": phone, "estate": "百花园一期"}), http.StatusCreated, "")
}
