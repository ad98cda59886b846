package main

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsHandler is what the METRICS_ADDR listener serves: GET /metrics and
// nothing else (404). It is never mounted on the public router: the series name
// every route, the backlogs and whether MySQL and Redis are up, which is a map for
// an attacker, and a scrape runs queries.
func (a *app) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	return mux
}

// reconcilerRepairs registers nantian_reconciler_repairs_total, which the booking
// reconciler increments for each gate it rewrites from MySQL.
func (a *app) reconcilerRepairs() prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "nantian_reconciler_repairs_total",
		Help: "Booking gates rewritten from MySQL because they disagreed on two passes in a row (drift).",
	})
	a.reg.MustRegister(c)
	return c
}

// depsCollector exports nantian_dependency_up{dependency="mysql"|"redis"}: 1 when
// the store answers a ping within depPingTimeout at scrape time, else 0. Unlike
// /readyz, which a load balancer polls, this is what the MySQLDown and RedisDown
// alerts read; the series is always present, so "down" is a 0, not a gap.
type depsCollector struct {
	a    *app
	desc *prometheus.Desc
}

const depPingTimeout = time.Second

func newDepsCollector(a *app) *depsCollector {
	return &depsCollector{a: a, desc: prometheus.NewDesc("nantian_dependency_up",
		"Whether a dependency answered a ping at scrape time (1) or not (0).", []string{"dependency"}, nil)}
}

func (d *depsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *depsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), depPingTimeout)
	defer cancel()
	var mysqlErr, redisErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); mysqlErr = d.a.db.PingContext(ctx) }()
	go func() { defer wg.Done(); redisErr = d.a.rdb.Ping(ctx).Err() }()
	wg.Wait()
	up := func(err error) float64 {
		if err != nil {
			return 0
		}
		return 1
	}
	ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, up(mysqlErr), "mysql")
	ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, up(redisErr), "redis")
}
