package main

// Review A: regression tests for defects found in a bug hunt over auth, the
// booking engine, walk-ins, privacy and the audit log.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nantian/models"
)

// A WeChat user who absorbed a walk-in and then deletes their account must not
// leave their personal data behind on the walk-in's tombstone row: DELETE /me
// erases every personal column, and the tombstone was the same person.
func TestReviewDeleteAccountErasesMergedWalkInTombstone(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("rv-desk")
	phone := newPhone()
	r := a.do("POST", "/api/v1/staff/residents", staffTok, map[string]any{
		"real_name": "赵大爷", "phone": phone, "birth_date": "1948-05-06", "estate": "南天二花园", "building": "7", "room": "7-502"})
	walk := idOf(t, r)
	tok, uid := a.resident("rv-zhao")
	wantStatus(t, a.do("POST", "/api/v1/me/phone", tok, map[string]string{"code": "phone-" + phone}), http.StatusOK, "")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND merged_into = ?`, walk, uid); n != 1 {
		t.Fatalf("walk-in %d not merged into %d", walk, uid)
	}
	wantStatus(t, a.do("DELETE", "/api/v1/me", tok, nil), http.StatusNoContent, "")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id IN (?, ?) AND (real_name <> '' OR nickname <> '' OR birth_date IS NOT NULL
		OR estate <> '' OR building <> '' OR room <> '' OR phone_enc IS NOT NULL OR phone_bidx IS NOT NULL OR walkin_phone IS NOT NULL)`, uid, walk); n != 0 {
		t.Fatalf("%d rows still hold the deleted resident's personal data", n)
	}
}

// The audit log masks phone numbers and removes secrets whatever JSON type
// they arrive as. A phone typed as a number is a 400 at the API's door: no
// operation runs, so nothing is audited and nothing of it is stored anywhere
// in audit_log. (The middleware that audited raw request bodies, refused ones
// too, is gone: entries are written by the operations from what they decoded.)
// What an operation hands the log with a phone or a secret as a number is
// masked all the same.
func TestReviewAuditMasksPhoneSentAsNumber(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("rv-audit-desk")
	phone := newPhone()
	body := `{"real_name": "钱阿姨", "phone": ` + phone + `, "device_secret": 12345678901234}`
	wantStatus(t, a.do("POST", "/api/v1/staff/residents", staffTok, body), http.StatusBadRequest, "invalid_request")
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? OR INSTR(CONCAT(COALESCE(request_body,''), COALESCE(before_body,''), COALESCE(response_body,'')), ?) > 0`, staffID, phone); n != 0 {
		t.Fatalf("a request refused at the door left %d audit entries", n)
	}
	actor := models.Actor{UserID: staffID, Role: models.RoleStaff, Door: models.DoorCLI}
	n, _ := strconv.ParseInt(phone, 10, 64)
	if err := a.app.audit.Write(context.Background(), a.app.db, actor, models.Change{Action: "test.numbers", Target: "id=1",
		Input: map[string]any{"real_name": "钱阿姨", "phone": n, "device_secret": int64(12345678901234)}}); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := a.app.db.QueryRow(`SELECT COALESCE(request_body, '') FROM audit_log WHERE actor_id = ? ORDER BY id DESC LIMIT 1`, staffID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == "" || !strings.Contains(stored, "钱阿姨") {
		t.Fatalf("input not audited: %q", stored)
	}
	if strings.Contains(stored, phone) || strings.Contains(stored, "12345678901234") {
		t.Fatalf("audit_log holds a phone number or secret in clear: %s", stored)
	}
	if !strings.Contains(stored, phone[len(phone)-4:]) {
		t.Fatalf("phone not masked to its last four digits: %s", stored)
	}
}

// A login revoked while another request of it is loading the cache must be dead
// from the moment Revoke + InvalidateLogin return: a load that read MySQL before
// the revocation may not put its stale answer back after the eviction (it used to,
// keeping a logged-out or demoted caller's token alive for the cache TTL).
func TestReviewAuthCacheEvictionBeatsInFlightLoad(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	cache, tokens := a.app.authCache, a.app.tokens
	u, err := a.app.users.UpsertWeChat(ctx, uniqueName(t, "rv-cache"), "")
	if err != nil {
		t.Fatal(err)
	}
	const trials = 100
	stale := 0
	for trial := 0; trial < trials; trial++ {
		pair, err := tokens.NewLogin(ctx, u.ID, u.Role)
		if err != nil {
			t.Fatal(err)
		}
		claims, _, err := tokens.ParseAccess(pair.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		sid := claims.SID
		var stop atomic.Bool
		var wg sync.WaitGroup
		// Readers keep loading the login (an evictor keeps the entry cold) ...
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					_, _ = cache.Principal(ctx, u.ID, sid)
				}
			}()
		}
		var evictorStop atomic.Bool
		var ew sync.WaitGroup
		ew.Add(1)
		go func() {
			defer ew.Done()
			for !evictorStop.Load() {
				cache.InvalidateLogin(ctx, sid)
			}
		}()
		// ... while the login is revoked the way logout does it.
		if err := tokens.Revoke(ctx, sid); err != nil {
			t.Fatal(err)
		}
		evictorStop.Store(true)
		ew.Wait()
		cache.InvalidateLogin(ctx, sid)
		stop.Store(true)
		wg.Wait()
		if _, err := cache.Principal(ctx, u.ID, sid); !errors.Is(err, models.ErrUnauthorized) {
			stale++
		}
	}
	if stale > 0 {
		t.Fatalf("%d of %d revoked logins still authenticated after logout's eviction", stale, trials)
	}
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
func TestReviewIdempotencyOutcomeStoredAfterClientHangsUp(t *testing.T) {
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

// A staff action is audited even when the client hangs up as the answer is
// written: the action happened, so its entry must exist (hanging up used to be
// a way to act without leaving a trace).
func TestReviewAuditRecordedAfterClientHangsUp(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("rv-audit-hangup")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest("POST", "/api/v1/staff/programs", strings.NewReader(`{"kind": "activity", "title": "挂断测试"}`)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+staffTok)
	w := cancelOnWrite{httptest.NewRecorder(), cancel}
	a.app.handler.ServeHTTP(w, req)
	if w.Code != http.StatusCreated {
		t.Fatalf("create program: %d %s", w.Code, w.Body)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? AND action = 'POST /api/v1/staff/programs' AND status = 201`, staffID); n != 1 {
		t.Fatalf("audit entries for the action = %d, want 1", n)
	}
}

// The refusal before booking opens names the opening time as residents read it,
// in APP_TIMEZONE (Asia/Shanghai), not in UTC: 09:00 is not "01:00Z".
func TestReviewBookingNotYetOpenNamesLocalTime(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("rv-opens")
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "早鸟班"})
	start := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	opens := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	r := a.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), staffTok, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339),
		"capacity": 5, "booking_opens_at": opens.UTC().Format(time.RFC3339)})
	sid := idOf(t, r)
	tok, _ := a.resident("rv-early")
	r = a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid})
	wantStatus(t, r, http.StatusUnprocessableEntity, "booking_closed")
	want := opens.In(a.app.cfg.Location).Format("2006-01-02 15:04")
	if msg := r.JSON(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, want) {
		t.Fatalf("message %q does not name the opening time %s (Asia/Shanghai)", msg, want)
	}
}
