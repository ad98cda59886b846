package main

// Issue 14 item 6: no pickup code, check-in code, ticket or token appears in any
// log line. The access log writes the route pattern and the ids, not the path.

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestRouteMatrixLogsCarryNoSecrets runs the whole route matrix over a world where every
// secret has travelled (a pickup code in a path, a check-in code and a refresh
// token in bodies, bin tokens, bearer tokens, a contact phone), plus unknown
// paths that carry a code, and then greps everything the app logged.
func TestRouteMatrixLogsCarryNoSecrets(t *testing.T) {
	pay := newPayApp(t) // with a (fake) merchant: the payment routes answer for real
	a, logs := pay.testApp, pay.logs
	prev := slog.Default() // what is not a handler logs through the default logger
	slog.SetDefault(a.app.logger)
	defer slog.SetDefault(prev)
	w := buildMatrixWorld(t, a)
	walkMatrix(t, a, w, func(string, response) {})
	// Paths no route matches, carrying the pickup code: a trailing slash, a wrong
	// method, a typo.
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/staff/redemptions/" + w.pickupCode + "/fulfil/"},
		{"GET", "/api/v1/staff/redemptions/" + w.pickupCode + "/fulfil"},
		{"POST", "/api/v1/staff/redemption/" + w.pickupCode + "/fulfil"},
		{"GET", "/api/v1/checkins/" + w.bookingCode},
	} {
		r := a.do(c.method, c.path, w.staff, nil)
		if r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d", c.method, c.path, r.Status)
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"route":"/api/v1/staff/redemptions/:pickup_code/fulfil"`) || !strings.Contains(out, `"route":"/api/v1/bookings/:id","id":"`) {
		t.Fatalf("the access log lacks the route patterns and ids it should carry:\n%.2000s", out)
	}
	for name, secret := range map[string]string{
		"pickup code": w.pickupCode, "check-in code": w.bookingCode, "bin token": w.binToken,
		"refresh token": w.refreshToken, "resident access token": w.owner, "staff access token": w.staff,
		"admin access token": w.admin, "contact phone": w.phone,
	} {
		if secret == "" {
			t.Fatalf("%s is empty: the world was not built", name)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("the %s is in the log: %s", name, line)
			}
		}
	}
}
