package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"nantian/models/privacy"
)

// TestLegacyWalkInPhoneIndexed: a walk-in stored by 0007-era code (plaintext in
// walkin_phone and phone) is converted at startup to the sealed phone and its
// blind index, and the desk finds it by number afterwards.
func TestLegacyWalkInPhoneIndexed(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	phone := fmt.Sprintf("139%08d", time.Now().UnixNano()%1e8)
	now := time.Now().UTC()
	res, err := a.app.db.Exec(`INSERT INTO users (openid, role, real_name, phone_legacy, walkin_phone, created_at, updated_at)
		VALUES (NULL, 'resident', '老街坊', ?, ?, ?, ?)`, phone, phone, now, now)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	if _, err := privacy.EncryptLegacy(ctx, a.app.db, a.app.privacy.cipher); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := a.app.db.QueryRow(`SELECT walkin_phone FROM users WHERE id = ?`, id).Scan(&raw); err != nil || len(raw) != 32 {
		t.Fatalf("walkin_phone not converted to an index: %q %v", raw, err)
	}
	r, err := a.app.walkin.walkIns.FindWalkInByPhone(ctx, phone)
	if err != nil || r.ID != id || r.Phone != phone {
		t.Fatalf("find converted walk-in: %+v %v", r, err)
	}
	// A second run changes nothing.
	if n, err := privacy.EncryptLegacy(ctx, a.app.db, a.app.privacy.cipher); err != nil || n != 0 {
		t.Fatalf("second run converted %d: %v", n, err)
	}
}
