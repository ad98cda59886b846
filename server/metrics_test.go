package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// gauge reads one unlabelled series from a Prometheus text page.
func gauge(t *testing.T, page, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}

// TestMetricsExposeRoutesAndBacklog checks the route series and that the backlog
// gauges report what is in MySQL: on a database of its own, a notification due
// for ten minutes shows as one due, about 600 s old.
func TestMetricsExposeRoutesAndBacklog(t *testing.T) {
	a := newIsolatedTestApp(t, map[string]string{"NOTIFY_WORKER": "false"})
	a.do("GET", "/api/v1/programs", "", nil)
	page := a.metricsPage
	body := page()
	for _, want := range []string{
		`http_requests_total{method="GET",route="/api/v1/programs",status="200"}`,
		`http_request_duration_seconds_bucket{method="GET",route="/api/v1/programs"`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if d := gauge(t, body, "nantian_outbox_due"); d != 0 {
		t.Fatalf("fresh database reports %v due", d)
	}
	_, uid := a.resident("metrics")
	enqueue(t, a.app.db, func() time.Time { return time.Now().UTC().Add(-10 * time.Minute) }, uid, map[string]string{"thing1": "x"})
	// Within opsStatsTTL the gauges are the earlier read: scrapes cost no query.
	if d := gauge(t, page(), "nantian_outbox_due"); d != 0 {
		t.Fatalf("nantian_outbox_due = %v within the cache TTL, want the cached 0", d)
	}
	a.app.ops.mu.Lock()
	a.app.ops.read = time.Time{} // as if the TTL had passed
	a.app.ops.mu.Unlock()
	body = page()
	if d := gauge(t, body, "nantian_outbox_due"); d != 1 {
		t.Fatalf("nantian_outbox_due = %v, want 1", d)
	}
	if age := gauge(t, body, "nantian_outbox_oldest_due_seconds"); age < 590 || age > 700 {
		t.Fatalf("nantian_outbox_oldest_due_seconds = %v, want about 600", age)
	}
	for _, g := range []string{"nantian_outbox_failed", "nantian_complaints_overdue", "nantian_bookings_pending_after_start"} {
		if v := gauge(t, body, g); v != 0 {
			t.Errorf("%s = %v on a fresh database", g, v)
		}
	}
}
