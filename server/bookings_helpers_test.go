package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nantian/handlers"
	"nantian/models/account"
	"nantian/models/booking/invariant"
)

// quickResidents creates n residents straight in the stores (no WeChat round trip)
// and returns their access tokens and ids; crowds of hundreds log in in a second.
func (a *testApp) quickResidents(n int) ([]string, []int64) {
	a.t.Helper()
	ctx := context.Background()
	toks := make([]string, n)
	ids := make([]int64, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			u, err := a.app.users.UpsertWeChat(ctx, uniqueName(a.t, fmt.Sprintf("crowd%d", i)), "")
			if err == nil {
				var p account.TokenPair
				if p, err = a.app.tokens.NewLogin(ctx, u.ID, u.Role); err == nil {
					toks[i], ids[i] = p.AccessToken, u.ID
					return
				}
			}
			mu.Lock()
			firstErr = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		a.t.Fatalf("quick residents: %v", firstErr)
	}
	return toks, ids
}

// sqlInt runs a query returning one integer against the shared test database.
func (a *testApp) sqlInt(q string, args ...any) int {
	a.t.Helper()
	var n int
	if err := a.app.db.QueryRow(q, args...).Scan(&n); err != nil {
		a.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// liveBookings counts bookings holding a place in MySQL.
func (a *testApp) liveBookings(sessionID int64) int {
	return a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status IN ('pending','confirmed','attended')`, sessionID)
}

// assertCounts checks the session holds no more places than it has and that
// sessions.booked/waitlisted agree with its bookings (invariant.Sessions, the
// check the drills run too).
func (a *testApp) assertCounts(sessionID int64) {
	a.t.Helper()
	cs, err := invariant.Sessions(context.Background(), a.app.db, sessionID)
	if err != nil || len(cs) != 1 {
		a.t.Fatalf("session %d counts: %v (%d rows)", sessionID, err, len(cs))
	}
	for _, v := range cs[0].Violations() {
		a.t.Error(v)
	}
}

// crowd fires one booking per token at once and tallies statuses and codes.
// after, if given, runs with the number of answers received so far after each one.
func (a *testApp) crowd(urls []string, toks []string, body func(i int) any, after ...func(done int64)) map[string]int {
	a.t.Helper()
	var done atomic.Int64
	var mu sync.Mutex
	tally := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := doRequest(a.t, urls[i%len(urls)], "POST", "/api/v1/bookings", tok, body(i))
			k := fmt.Sprint(r.Status)
			if c := r.ErrorCode(); c != "" {
				k += " " + c
			}
			mu.Lock()
			tally[k]++
			mu.Unlock()
			n := done.Add(1)
			for _, f := range after {
				f(n)
			}
		}()
	}
	close(start)
	wg.Wait()
	for k := range tally {
		if k[0] == '5' {
			a.t.Errorf("server errors in crowd: %v", tally)
		}
	}
	return tally
}

// activity makes a program (no approval unless approval) and one session of cap.
func (a *testApp) hotSession(staffTok string, capacity int, approval bool) (programID, sessionID int64) {
	a.t.Helper()
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "声乐班", "requires_approval": approval, "fee_fen": 500})
	return pid, a.createSession(staffTok, pid, 48*time.Hour, capacity)
}

// startSession moves a session's start a minute into the past (its end stays), as
// if it had begun: a session can only be closed once it has started.
func (a *testApp) startSession(sessionID int64) {
	a.t.Helper()
	if _, err := a.app.db.Exec(`UPDATE sessions SET starts_at = ? WHERE id = ?`, time.Now().Add(-time.Minute).UTC(), sessionID); err != nil {
		a.t.Fatal(err)
	}
}

// openCheckIn moves a session to start in an hour (two hours long), inside the
// check-in window (BOOKING_CHECKIN_OPENS_BEFORE, 2 h by default), and still
// before its start, so pending bookings can yet be confirmed.
func (a *testApp) openCheckIn(sessionID int64) {
	a.t.Helper()
	start := time.Now().Add(time.Hour).UTC()
	if _, err := a.app.db.Exec(`UPDATE sessions SET starts_at = ?, ends_at = ? WHERE id = ?`, start, start.Add(2*time.Hour), sessionID); err != nil {
		a.t.Fatal(err)
	}
}

// concurrently runs fn(0..n-1) in n goroutines released together, and waits
// for all of them: the shape of every race test.
func concurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func wantStatus(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.ErrorCode() != code) {
		t.Fatalf("want %d %s, got %d %s", status, code, r.Status, r.Body)
	}
}

func idOf(t *testing.T, r response) int64 {
	t.Helper()
	if r.Status >= 300 {
		t.Fatalf("unexpected %d %s", r.Status, r.Body)
	}
	return int64(r.JSON(t)["id"].(float64))
}

// hashFor is the request hash handlers.Idempotent computes.
func hashFor(method, path, body string) string {
	return handlers.RequestHash(method, path, []byte(body))
}
