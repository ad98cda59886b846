package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// cancelOnWrite is a client that hangs up as the response is written: the
// request's context ends once the handler has done its work.
type cancelOnWrite struct {
	*httptest.ResponseRecorder
	cancel context.CancelFunc
}

func (w cancelOnWrite) WriteHeader(code int) {
	w.cancel()
	w.ResponseRecorder.WriteHeader(code)
}

// A client that loses the connection after its booking was made retries with the
// same Idempotency-Key and must get the first answer back (the booking), not a
// 409 idempotency_in_progress for half a minute and then already_booked: the
// outcome is stored even though the first request's context has ended.
func TestIdempotencyOutcomeStoredAfterClientHangsUp(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("rv-idem-staff")
	_, sid := a.hotSession(staffTok, 5, false)
	tok, _ := a.resident("rv-idem")
	body := fmt.Sprintf(`{"session_id": %d}`, sid)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest("POST", "/api/v1/bookings", strings.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Idempotency-Key", "rv-hangup-1")
	w := cancelOnWrite{httptest.NewRecorder(), cancel}
	a.app.handler.ServeHTTP(w, req)
	if w.Code != http.StatusCreated {
		t.Fatalf("first request: %d %s", w.Code, w.Body)
	}
	first := w.Body.String()

	r := a.do("POST", "/api/v1/bookings", tok, body, "Idempotency-Key", "rv-hangup-1")
	if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "true" || string(r.Body) != first {
		t.Fatalf("retry: %d %s (want the first 201 replayed: %s)", r.Status, r.Body, first)
	}
	if n := a.liveBookings(sid); n != 1 {
		t.Fatalf("live bookings = %d", n)
	}
}
