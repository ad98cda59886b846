package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/testdb"
)

// TestDataKeyRotation rotates DATA_KEY on a database of its own: data sealed
// under the old key stays readable and findable while DATA_KEY_PREVIOUS is set,
// `rotate-data-key` re-seals it (ciphertexts and the phone index change), a second
// run has nothing to do, and afterwards the new key alone reads everything.
func TestDataKeyRotation(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := testdb.CreateMigrated(ctx, models.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	keyA := "old-data-key-" + strings.Repeat("a", 32)
	keyB := "new-data-key-" + strings.Repeat("b", 32)
	oldApp := newTestApp(t, map[string]string{"MYSQL_DSN": dsn, "DATA_KEY": keyA})
	phone := fmt.Sprintf("137%08d", time.Now().UnixNano()%1e8)
	tok, uid := oldApp.resident("rot")
	if r := oldApp.do("POST", "/api/v1/me/phone", tok, map[string]string{"code": "phone-" + phone}); r.Status != http.StatusOK {
		t.Fatalf("phone: %d %s", r.Status, r.Body)
	}
	r := oldApp.do("POST", "/api/v1/me/children", tok, map[string]any{"name": "轮换小宝", "birth_date": "2024-01-01",
		"allergies": "芒果过敏", "emergency_contact": "爸爸 13700002222", "guardian_consent": true})
	if r.Status != http.StatusCreated {
		t.Fatalf("child: %d %s", r.Status, r.Body)
	}
	childID := int64(r.JSON(t)["id"].(float64))
	complaintID := oldApp.fileComplaint(tok, map[string]any{"contact_phone": "13600001111"})
	raw := func(q string, args ...any) []byte {
		var b []byte
		if err := oldApp.app.db.QueryRow(q, args...).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	before := [][]byte{
		raw(`SELECT phone_enc FROM users WHERE id = ?`, uid),
		raw(`SELECT phone_bidx FROM users WHERE id = ?`, uid),
		raw(`SELECT name_enc FROM children WHERE id = ?`, childID),
		raw(`SELECT allergies_enc FROM children WHERE id = ?`, childID),
		raw(`SELECT emergency_contact_enc FROM children WHERE id = ?`, childID),
		raw(`SELECT contact_phone_enc FROM complaints WHERE id = ?`, complaintID),
	}

	rotating := newTestApp(t, map[string]string{"MYSQL_DSN": dsn, "DATA_KEY": keyB, "DATA_KEY_PREVIOUS": keyA})
	check := func(a *testApp, when string) {
		t.Helper()
		if r := a.do("GET", "/api/v1/me", tok, nil); r.JSON(t)["phone"] != phone {
			t.Fatalf("%s: phone %s", when, r.Body)
		}
		if m := a.do("GET", fmt.Sprintf("/api/v1/me/children/%d", childID), tok, nil).JSON(t); m["name"] != "轮换小宝" ||
			m["allergies"] != "芒果过敏" || m["emergency_contact"] != "爸爸 13700002222" {
			t.Fatalf("%s: child %v", when, m)
		}
		if r := a.do("GET", fmt.Sprintf("/api/v1/complaints/%d", complaintID), tok, nil); r.JSON(t)["contact_phone"] != "13600001111" {
			t.Fatalf("%s: complaint %s", when, r.Body)
		}
		if u, err := a.app.users.FindByPhone(ctx, phone); err != nil || u.ID != uid {
			t.Fatalf("%s: find by phone: %v %v", when, u.ID, err)
		}
	}
	check(rotating, "during rotation, before re-sealing")

	n, err := models.RotateDataKey(ctx, rotating.app.db, rotating.app.privacy.cipher)
	if err != nil || n != 5 {
		t.Fatalf("rotate: %d values, %v (want 5)", n, err)
	}
	after := [][]byte{
		raw(`SELECT phone_enc FROM users WHERE id = ?`, uid),
		raw(`SELECT phone_bidx FROM users WHERE id = ?`, uid),
		raw(`SELECT name_enc FROM children WHERE id = ?`, childID),
		raw(`SELECT allergies_enc FROM children WHERE id = ?`, childID),
		raw(`SELECT emergency_contact_enc FROM children WHERE id = ?`, childID),
		raw(`SELECT contact_phone_enc FROM complaints WHERE id = ?`, complaintID),
	}
	for i := range before {
		if string(before[i]) == string(after[i]) {
			t.Fatalf("value %d not re-sealed", i)
		}
	}
	if n, err := models.RotateDataKey(ctx, rotating.app.db, rotating.app.privacy.cipher); err != nil || n != 0 {
		t.Fatalf("second run: %d %v", n, err)
	}
	check(rotating, "after re-sealing")
	newOnly := newTestApp(t, map[string]string{"MYSQL_DSN": dsn, "DATA_KEY": keyB})
	check(newOnly, "with the new key alone")

	// The command does the same, and says there is nothing left.
	var out strings.Builder
	env := testEnv(testdb.RedisPrefix(), map[string]string{"MYSQL_DSN": dsn, "DATA_KEY": keyB, "DATA_KEY_PREVIOUS": keyA})
	if err := run(ctx, []string{"rotate-data-key"}, env, &out, &out); err != nil || !strings.Contains(out.String(), "re-sealed 0 values") {
		t.Fatalf("rotate-data-key: %v %s", err, out.String())
	}
	// Without DATA_KEY_PREVIOUS the rotation refuses to run.
	if _, err := models.RotateDataKey(ctx, newOnly.app.db, newOnly.app.privacy.cipher); err == nil {
		t.Fatal("rotation without a previous key ran")
	}
}
