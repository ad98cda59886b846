package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetricsExposeRoutesAndBacklog(t *testing.T) {
	a := newTestApp(t)
	a.do("GET", "/api/v1/programs", "", nil)
	r := a.do("GET", "/metrics", "", nil)
	body := string(r.Body)
	if r.Status != http.StatusOK {
		t.Fatalf("metrics: %d", r.Status)
	}
	for _, want := range []string{
		`http_requests_total{method="GET",route="/api/v1/programs",status="200"}`,
		`http_request_duration_seconds_bucket{method="GET",route="/api/v1/programs"`,
		"nantian_outbox_due ", "nantian_outbox_failed ", "nantian_complaints_overdue ", "nantian_bookings_pending_after_start ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
