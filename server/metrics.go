package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"nantian/models"
)

// opsCollector exposes models.OpsStats on /metrics, read from MySQL at scrape time
// so every instance reports the same shared backlog and nothing is lost if an
// instance restarts. A failed read reports nothing (absent series alert too).
type opsCollector struct {
	a    *app
	desc map[string]*prometheus.Desc
}

func newOpsCollector(a *app) *opsCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &opsCollector{a: a, desc: map[string]*prometheus.Desc{
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := models.CollectOpsStats(ctx, o.a.db, models.SystemClock())
	if err != nil {
		slog.Warn("ops metrics not collected", "err", err)
		return
	}
	g := func(k string, v float64) { ch <- prometheus.MustNewConstMetric(o.desc[k], prometheus.GaugeValue, v) }
	g("outbox_due", float64(s.OutboxDue))
	g("outbox_oldest", s.OutboxOldestDueSec)
	g("outbox_failed", float64(s.OutboxFailed))
	g("complaints_overdue", float64(s.ComplaintsOverdue))
	g("pending_started", float64(s.PendingStarted))
}
