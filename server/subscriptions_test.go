package main

// Issue 14 items 6 and 9: POST /me/subscriptions records grants for the
// configured templates only, counts an id repeated in one call once, and is
// rate-limited per user.

import (
	"net/http"
	"strings"
	"testing"
)

func TestSubscriptionGrantsConfiguredOnceRateLimited(t *testing.T) {
	a := newTestApp(t, map[string]string{"RATE_SUBSCRIPTION_PER_MIN": "4"})
	tok, uid := a.resident("subs")
	grants := func() int {
		return a.sqlInt(`SELECT COALESCE(SUM(remaining), 0) FROM subscription_grants WHERE user_id = ?`, uid)
	}

	// An id this service does not send: 400 naming it, and nothing recorded,
	// not even the good id beside it.
	r := a.do("POST", "/api/v1/me/subscriptions", tok, map[string]any{"template_ids": []string{"tpl-booking-result", "tpl-made-up"}})
	wantStatus(t, r, http.StatusBadRequest, "invalid_request")
	if msg := string(r.Body); !strings.Contains(msg, "tpl-made-up") || !strings.Contains(msg, "template_ids") {
		t.Fatalf("the 400 does not name the id: %s", msg)
	}
	if n := grants(); n != 0 {
		t.Fatalf("a refused call recorded %d grants", n)
	}

	// The same id three times in one call is one acceptance.
	r = a.do("POST", "/api/v1/me/subscriptions", tok, map[string]any{"template_ids": []string{"tpl-booking-result", "tpl-booking-result", "tpl-booking-result", "tpl-complaint-update"}})
	if r.Status != http.StatusOK {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
	var out struct {
		Grants map[string]int `json:"grants"`
	}
	r.Decode(t, &out)
	if out.Grants["tpl-booking-result"] != 1 || out.Grants["tpl-complaint-update"] != 1 || grants() != 2 {
		t.Fatalf("grants %v (%d in MySQL), want one of each", out.Grants, grants())
	}

	// Two more calls fill the allowance of 4 a minute; the next is 429.
	for range 2 {
		if r := a.do("POST", "/api/v1/me/subscriptions", tok, map[string]any{"template_ids": []string{"tpl-booking-result"}}); r.Status != http.StatusOK {
			t.Fatalf("grant: %d %s", r.Status, r.Body)
		}
	}
	r = a.do("POST", "/api/v1/me/subscriptions", tok, map[string]any{"template_ids": []string{"tpl-booking-result"}})
	wantStatus(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if n := grants(); n != 4 {
		t.Fatalf("%d grants after the limit, want 4", n)
	}
	// The limit is the caller's: another resident is not held back.
	other, _ := a.resident("subs-other")
	if r := a.do("POST", "/api/v1/me/subscriptions", other, map[string]any{"template_ids": []string{"tpl-booking-result"}}); r.Status != http.StatusOK {
		t.Fatalf("another resident: %d %s", r.Status, r.Body)
	}
}
