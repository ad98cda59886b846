package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"nantian/models"
	"nantian/models/report"
)

// opsCollector exposes report.OpsStats on /metrics, read from MySQL at scrape time
// so every instance reports the same shared backlog and nothing is lost if an
// instance restarts. A failed read reports nothing (absent series alert too).
//
// A read is reused for ttl (opsStatsTTL): Prometheus scrapes every 15 s or so, and
// however often /metrics is called (several scrapers, or someone hammering an
// unprotected endpoint) the five aggregate queries run at most once per ttl per
// instance; concurrent scrapes wait for one read instead of each running it.
type opsCollector struct {
	a    *app
	desc map[string]*prometheus.Desc
	ttl  time.Duration

	mu    sync.Mutex
	read  time.Time // when stats were read; zero: never
	stats report.OpsStats
}

// opsStatsTTL bounds how stale the backlog gauges may be: far below any alert's
// "for" duration, far above a scrape's cost.
const opsStatsTTL = 10 * time.Second

func newOpsCollector(a *app) *opsCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &opsCollector{a: a, ttl: opsStatsTTL, desc: map[string]*prometheus.Desc{
		"outbox_due":         d("nantian_outbox_due", "Notifications due and not yet sent."),
		"outbox_oldest":      d("nantian_outbox_oldest_due_seconds", "Age of the oldest notification due."),
		"outbox_failed":      d("nantian_outbox_failed", "Notifications given up on after retries."),
		"complaints_overdue": d("nantian_complaints_overdue", "Work orders past one of their 10-30-24 limits."),
		"pending_started":    d("nantian_bookings_pending_after_start", "Pending bookings whose session started over a minute ago (reconciler behind)."),
	}}
}

func (o *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range o.desc {
		ch <- d
	}
}

func (o *opsCollector) Collect(ch chan<- prometheus.Metric) {
	s, ok := o.current()
	if !ok {
		return
	}
	g := func(k string, v float64) { ch <- prometheus.MustNewConstMetric(o.desc[k], prometheus.GaugeValue, v) }
	g("outbox_due", float64(s.OutboxDue))
	g("outbox_oldest", s.OutboxOldestDueSec)
	g("outbox_failed", float64(s.OutboxFailed))
	g("complaints_overdue", float64(s.ComplaintsOverdue))
	g("pending_started", float64(s.PendingStarted))
}

// current returns the stats read within ttl, reading them again if they are
// older; false if that read failed.
func (o *opsCollector) current() (report.OpsStats, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.read.IsZero() && time.Since(o.read) < o.ttl {
		return o.stats, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := report.CollectOpsStats(ctx, o.a.db, models.SystemClock())
	if err != nil {
		slog.Warn("ops metrics not collected", "err", err)
		return report.OpsStats{}, false
	}
	o.stats, o.read = s, time.Now()
	return s, true
}
