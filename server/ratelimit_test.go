package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"nantian/handlers"
	"nantian/models"
	"nantian/models/testdb"
)

func loginCode(name string) map[string]string {
	return map[string]string{"code": fmt.Sprintf("%s:%d", name, codeSeq.Add(1))}
}

func TestRateLimitRedisDownLetsLoginThrough(t *testing.T) {
	// A port nothing listens on: every Redis call fails at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	a := newTestApp(t, map[string]string{"RATE_LOGIN_REFUSED_PER_MIN": "1", "RATE_LOGIN_PER_OPENID_PER_MIN": "1", "REDIS_ADDR": dead})
	for i := 0; i < 4; i++ {
		if r := a.do("POST", "/api/v1/auth/wechat", "", loginCode("rd")); r.Status != http.StatusOK {
			t.Fatalf("login %d with Redis down: %d %s", i, r.Status, r.Body)
		}
	}
}

// With Redis failing, the middleware lets every request through and says so in
// the log once per pause, not once per request; after the pause it tries again.
func TestRateLimitRedisDownLogsOncePerPause(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: dead, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	var logs testdb.SyncBuffer
	l := handlers.NewRateLimiter(&models.Redis{Client: rdb, Prefix: "test:down:"}, slog.New(slog.NewJSONHandler(&logs, nil)))
	now := time.Now()
	var mu sync.Mutex
	l.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/x", handlers.RateLimit(l, "login", handlers.ByIP, handlers.PerMinute(1)), func(c *gin.Context) { c.Status(http.StatusNoContent) })
	srv := httptest.NewServer(r)
	defer srv.Close()
	hit := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := http.Get(srv.URL + "/x")
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode != http.StatusNoContent {
					t.Errorf("status %d with Redis down", res.StatusCode)
				}
			}()
		}
		wg.Wait()
	}
	hit(1) // the first failure opens the pause
	hit(50)
	if n := strings.Count(logs.String(), "Redis unavailable"); n != 1 {
		t.Fatalf("%d warnings for 51 requests in one pause, want 1:\n%s", n, logs.String())
	}
	mu.Lock()
	now = now.Add(l.RedisPause)
	mu.Unlock()
	hit(1)
	out := logs.String()
	if n := strings.Count(out, "Redis unavailable"); n != 2 {
		t.Fatalf("%d warnings after the pause, want 2", n)
	}
	if !strings.Contains(out, `"unchecked_since_last_warning":50`) {
		t.Fatalf("second warning does not count the unchecked requests:\n%s", out)
	}
}

// TestRateLimitsWired checks the booking, complaint and device routes carry their
// limits (the mechanism itself is tested on login above).
func TestRateLimitsWired(t *testing.T) {
	a := newTestApp(t, map[string]string{"RATE_BOOKING_PER_MIN": "2", "RATE_COMPLAINT_PER_MIN": "1", "RATE_DEVICE_PER_MIN": "1"})
	tok, _ := a.resident("rlw")
	other, _ := a.resident("rlw2")
	for i := 0; i < 2; i++ {
		if r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": 999999999}); r.Status != http.StatusNotFound {
			t.Fatalf("booking %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": 999999999}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("3rd booking: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/api/v1/programs/999999999/enrollments", tok, map[string]any{}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("enrolment shares the booking limit: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/api/v1/bookings", other, map[string]any{"session_id": 999999999}); r.Status != http.StatusNotFound {
		t.Fatalf("another user is limited separately: %d %s", r.Status, r.Body)
	}
	a.do("POST", "/api/v1/complaints", tok, map[string]any{})
	if r := a.do("POST", "/api/v1/complaints", tok, map[string]any{}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("2nd complaint: %d %s", r.Status, r.Body)
	}
	a.do("POST", "/api/v1/devices/deposits", "", "{}", "X-Device-Id", "7")
	if r := a.do("POST", "/api/v1/devices/deposits", "", "{}", "X-Device-Id", "7"); r.Status != http.StatusTooManyRequests {
		t.Fatalf("2nd deposit from one device: %d %s", r.Status, r.Body)
	}
}
