package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"nantian/models/privacy"
)

// TestLegacyWalkInPhoneIndexed: a walk-in stored by 0007-era code has its phone
// in plaintext in walkin_phone (its users.phone was sealed by then): startup
// converts it to the blind index, and the desk finds it by number afterwards.
func TestLegacyWalkInPhoneIndexed(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	phone := fmt.Sprintf("139%08d", time.Now().UnixNano()%1e8)
	now := time.Now().UTC()
	res, err := a.app.db.Exec(`INSERT INTO users (openid, role, real_name, walkin_phone, created_at, updated_at)
		VALUES (NULL, 'resident', '老街坊', ?, ?, ?)`, phone, now, now)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	sealed, err := a.app.privacy.cipher.Seal("users", "phone", id, phone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.app.db.Exec(`UPDATE users SET phone_enc = ? WHERE id = ?`, sealed, id); err != nil {
		t.Fatal(err)
	}
	if _, err := privacy.IndexLegacyWalkInPhones(ctx, a.app.db, a.app.privacy.cipher); err != nil {
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
	if n, err := privacy.IndexLegacyWalkInPhones(ctx, a.app.db, a.app.privacy.cipher); err != nil || n != 0 {
		t.Fatalf("second run converted %d: %v", n, err)
	}
}
