package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"nantian/handlers"
	"nantian/models"
)

func loginCode(name string) map[string]string {
	return map[string]string{"code": fmt.Sprintf("%s:%d", name, codeSeq.Add(1))}
}

func TestRateLimitLoginPerIP(t *testing.T) {
	ov := map[string]string{"RATE_LOGIN_PER_MIN": "3"}
	a := newTestApp(t, ov)
	for i := 0; i < 3; i++ {
		if r := a.do("POST", "/api/v1/auth/wechat", "", loginCode(fmt.Sprintf("rl%d", i))); r.Status != http.StatusOK {
			t.Fatalf("login %d: %d %s", i, r.Status, r.Body)
		}
	}
	// A forged X-Forwarded-For does not buy a fresh allowance (no trusted proxies).
	r := a.do("POST", "/api/v1/auth/wechat", "", loginCode("rl-over"), "X-Forwarded-For", "203.0.113.9")
	if r.Status != http.StatusTooManyRequests || r.ErrorCode() != "rate_limited" {
		t.Fatalf("4th login: %d %s", r.Status, r.Body)
	}
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	var body struct {
		Error struct {
			RetryAfter int `json:"retry_after"`
		} `json:"error"`
	}
	r.Decode(t, &body)
	if body.Error.RetryAfter != secs {
		t.Fatalf("error.retry_after %d, header %d", body.Error.RetryAfter, secs)
	}
	// The count lives in Redis under the deployment prefix, so a second instance of
	// the same deployment refuses too, and another deployment (prefix) does not.
	keys, err := a.app.rdb.Keys(context.Background(), a.prefix+"rate:login:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("rate keys under %q: %v %v", a.prefix, keys, err)
	}
	if n, _ := a.app.rdb.Exists(context.Background(), "rate:"+keys[0]).Result(); n != 0 {
		t.Fatal("redis_rate's own prefix escaped the deployment prefix")
	}
	twin := newTestAppWithPrefix(t, a.prefix, ov)
	if r := twin.do("POST", "/api/v1/auth/wechat", "", loginCode("rl-twin")); r.Status != http.StatusTooManyRequests {
		t.Fatalf("second instance: %d", r.Status)
	}
	other := newTestApp(t, ov)
	if r := other.do("POST", "/api/v1/auth/wechat", "", loginCode("rl-other")); r.Status != http.StatusOK {
		t.Fatalf("other deployment: %d", r.Status)
	}
}

func TestRateLimitRedisDownLetsLoginThrough(t *testing.T) {
	// A port nothing listens on: every Redis call fails at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	a := newTestApp(t, map[string]string{"RATE_LOGIN_PER_MIN": "1", "REDIS_ADDR": dead})
	for i := 0; i < 4; i++ {
		if r := a.do("POST", "/api/v1/auth/wechat", "", loginCode(fmt.Sprintf("rd%d", i))); r.Status != http.StatusOK {
			t.Fatalf("login %d with Redis down: %d %s", i, r.Status, r.Body)
		}
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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
	var logs syncBuffer
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
