package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// A mobile carrier puts a whole estate behind one IP (CGNAT). 300 residents log
// in from that one address at once and all get in; a code-guessing loop from the
// same address is cut off after RATE_LOGIN_REFUSED_PER_MIN refused codes, and its
// later guesses never reach WeChat; one account logging in over and over is
// limited by RATE_LOGIN_PER_OPENID_PER_MIN. The counts live in Redis under the
// deployment prefix: a second instance refuses too, another deployment does not.
func TestLoginLimitsFitCGNAT(t *testing.T) {
	const refused, perOpenID, residents = 10, 3, 300
	ov := map[string]string{"RATE_LOGIN_REFUSED_PER_MIN": strconv.Itoa(refused), "RATE_LOGIN_PER_OPENID_PER_MIN": strconv.Itoa(perOpenID)}
	a := newTestApp(t, ov)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)

	// 300 residents, one IP (the test client's), all at once.
	statuses := make([]int, residents)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range residents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			statuses[i] = a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": fmt.Sprintf("cgnat-%s-%d:1", run, i)}).Status
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Fatalf("resident %d behind the shared IP: %d", i, st)
		}
	}
	if took > time.Minute {
		t.Fatalf("300 logins took %s", took)
	}
	t.Logf("%d residents behind one IP logged in in %s (%.0f logins/min)", residents, took.Round(time.Millisecond), float64(residents)/took.Minutes())

	// A guessing loop from the same IP: exactly `refused` codes reach WeChat and
	// are refused (401), then the address is cut off with 429 and Retry-After.
	guess := func(i int) string { return fmt.Sprintf("invalid-guess-%s-%d", run, i) }
	for i := range refused {
		if r := a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": guess(i)}); r.Status != http.StatusUnauthorized || r.ErrorCode() != "wechat_code_invalid" {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	for i := refused; i < refused+20; i++ {
		// A forged X-Forwarded-For does not buy a fresh allowance (no trusted proxies).
		r := a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": guess(i)}, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i))
		if r.Status != http.StatusTooManyRequests || r.ErrorCode() != "rate_limited" {
			t.Fatalf("guess %d after the cut-off: %d %s", i, r.Status, r.Body)
		}
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60/refused+1 {
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
		if fakeWX.Asked(guess(i)) {
			t.Fatalf("guess %d reached WeChat after the cut-off", i)
		}
	}
	t.Logf("guesses allowed before the cut-off: %d per minute per IP", refused)

	keys, err := a.app.rdb.Keys(context.Background(), a.prefix+"rate:login_refused:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("rate keys under %q: %v %v", a.prefix, keys, err)
	}
	if n, _ := a.app.rdb.Exists(context.Background(), "rate:"+keys[0]).Result(); n != 0 {
		t.Fatal("redis_rate's own prefix escaped the deployment prefix")
	}
	twin := newTestAppWithPrefix(t, a.prefix, ov)
	if r := twin.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": guess(99)}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("second instance: %d", r.Status)
	}
	other := newTestApp(t, ov)
	if r := other.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": guess(98)}); r.Status != http.StatusUnauthorized {
		t.Fatalf("other deployment: %d", r.Status)
	}

	// One account (in the other deployment, whose address is not cut off):
	// perOpenID logins pass, the next is refused, another account is not affected.
	for i := 1; i <= perOpenID; i++ {
		if r := other.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": fmt.Sprintf("cgnat-%s-0:again%d", run, i)}); r.Status != http.StatusOK {
			t.Fatalf("login %d of one account: %d %s", i, r.Status, r.Body)
		}
	}
	if r := other.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": fmt.Sprintf("cgnat-%s-0:x", run)}); r.Status != http.StatusTooManyRequests || r.ErrorCode() != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("login %d of one account: %d %s", perOpenID+1, r.Status, r.Body)
	}
	if r := other.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": fmt.Sprintf("cgnat-%s-1:2", run)}); r.Status != http.StatusOK {
		t.Fatalf("another account after one was limited: %d", r.Status)
	}
}
