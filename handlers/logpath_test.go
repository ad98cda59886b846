package handlers

import "testing"

func TestRedactPath(t *testing.T) {
	for in, want := range map[string]string{
		"/api/v1/programs/":                          "/api/v1/programs/",
		"/api/v1/staff/redemptions/AB3K9QZX/fulfil/": "/api/v1/staff/redemptions/*/fulfil/",
		"/api/v1/checkins/k7p2m9x4q8":                "/api/v1/checkins/*",
		"/api/v1/bookings/123/calendar.ics/":         "/api/v1/bookings/123/calendar.ics/",
		"/console/login/eyJhbGciOiJIUzI1NiJ9.x.y":    "/console/login/*",
		"/api/v1/me/children/1a2b":                   "/api/v1/me/children/*",
	} {
		if got := redactPath(in); got != want {
			t.Errorf("redactPath(%q) = %q, want %q", in, got, want)
		}
	}
}
