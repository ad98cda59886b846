package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestIdempotencyKey(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 5, false)
	_, sid2 := a.hotSession(staff, 5, false)
	tok, uid := a.resident("r")
	other, _ := a.resident("o")

	first := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid}, "Idempotency-Key", "k-1")
	wantStatus(t, first, 201, "")
	again := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid}, "Idempotency-Key", "k-1")
	wantStatus(t, again, 201, "")
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay differs: %s vs %s", again.Body, first.Body)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, uid); n != 1 {
		t.Errorf("bookings = %d, want 1", n)
	}
	// Same key, different body.
	wantStatus(t, a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid2}, "Idempotency-Key", "k-1"), 422, "idempotency_key_reused")
	// The same JSON serialised differently (key order, spaces) is the same request.
	_, sid3 := a.hotSession(staff, 5, false)
	j1 := a.do("POST", "/api/v1/bookings", tok, fmt.Sprintf(`{"session_id": %d, "waitlist": true}`, sid3), "Idempotency-Key", "k-json")
	wantStatus(t, j1, 201, "")
	j2 := a.do("POST", "/api/v1/bookings", tok, fmt.Sprintf("{\"waitlist\":true,\n  \"session_id\":%d}", sid3), "Idempotency-Key", "k-json")
	if j2.Status != 201 || string(j2.Body) != string(j1.Body) || j2.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("re-serialised retry: %d %s, want the first answer replayed", j2.Status, j2.Body)
	}
	// Scoped to the caller: another resident's same key is theirs.
	wantStatus(t, a.do("POST", "/api/v1/bookings", other, map[string]any{"session_id": sid}, "Idempotency-Key", "k-1"), 201, "")
	// Errors (4xx) are replayed too.
	e1 := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid}, "Idempotency-Key", "k-2")
	wantStatus(t, e1, 409, "already_booked")
	wantStatus(t, a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid}, "Idempotency-Key", "k-2"), 409, "already_booked")
	// In progress: another request holds the key.
	body := fmt.Sprintf(`{"session_id":%d}`, sid2)
	scope := fmt.Sprintf("u%d:/api/v1/bookings", uid)
	if _, started, err := a.app.bookings.idempotency.Begin(context.Background(), scope, "k-3", hashFor("POST", "/api/v1/bookings", body)); err != nil || !started {
		t.Fatalf("begin: %v %v", started, err)
	}
	wantStatus(t, a.do("POST", "/api/v1/bookings", tok, body, "Idempotency-Key", "k-3"), 409, "idempotency_in_progress")
	// Retention is at least 24 h.
	ttl := a.app.rdb.TTL(context.Background(), a.prefix+"idem:"+scope+":k-1").Val()
	if ttl.Hours() < 24 {
		t.Errorf("retention %v < 24h", ttl)
	}
	wantStatus(t, a.do("POST", "/api/v1/bookings", tok, body, "Idempotency-Key", strings.Repeat("k", 200)), 400, "invalid_request")
}
