package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// tcpProxy forwards connections to target until cut: then it closes every open
// connection and refuses new ones, as a failed database host would.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.down {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestBookingMySQLDownAnswers503AndLeaksNoPlace cuts MySQL while a resident books:
// the answer is a quick 503 unavailable, the place the gate had granted is given
// back, and once MySQL returns the same resident books normally.
func TestBookingMySQLDownAnswers503AndLeaksNoPlace(t *testing.T) {
	cfg, err := mysql.ParseDSN(testDSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, cfg.Addr)
	cfg.Addr = proxy.ln.Addr().String()
	a := newTestApp(t, map[string]string{"MYSQL_DSN": cfg.FormatDSN(), "NOTIFY_WORKER": "false"})
	staff, _ := a.staff("mdown-staff")
	pid, sid := a.hotSession(staff, 5, false)
	first, _ := a.resident("mdown-a")
	second, _ := a.resident("mdown-b")
	a.do("GET", "/api/v1/me", second, nil) // the principal is cached, as for anyone already using the app
	if r := a.do("POST", "/api/v1/bookings", first, map[string]any{"session_id": sid}); r.Status != http.StatusCreated {
		t.Fatalf("first booking: %d %s", r.Status, r.Body)
	}
	ctx := context.Background()
	if _, taken, _, ok, err := a.app.bookings.gate.Inspect(ctx, pid, sid); err != nil || !ok || taken != 1 {
		t.Fatalf("gate before the cut: taken=%d ok=%v err=%v", taken, ok, err)
	}

	proxy.cut()
	start := time.Now()
	r := a.do("POST", "/api/v1/bookings", second, map[string]any{"session_id": sid})
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "unavailable" {
		t.Fatalf("booking with MySQL down: %d %s", r.Status, r.Body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("503 took %s", d)
	}
	if strings.Contains(string(r.Body), "tcp") || strings.Contains(string(r.Body), "mysql") {
		t.Fatalf("error leaks internals: %s", r.Body)
	}
	if _, taken, _, _, err := a.app.bookings.gate.Inspect(ctx, pid, sid); err != nil || taken != 1 {
		t.Fatalf("gate place leaked: taken=%d err=%v", taken, err)
	}
	if r := a.do("GET", "/readyz", "", nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with MySQL down: %d", r.Status)
	}

	proxy.restore()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = a.do("POST", "/api/v1/bookings", second, map[string]any{"session_id": sid})
		if r.Status == http.StatusCreated || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.Status != http.StatusCreated {
		t.Fatalf("booking after MySQL returned: %d %s", r.Status, r.Body)
	}
	if n := a.liveBookings(sid); n != 2 {
		t.Fatalf("live bookings %d, want 2", n)
	}
	a.assertCounts(sid)
}
