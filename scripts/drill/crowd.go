package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// tally counts answers by status; -1 is "no HTTP answer".
type tally struct {
	mu sync.Mutex
	by map[int]int
}

func (t *tally) add(status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.by == nil {
		t.by = map[int]int{}
	}
	t.by[status]++
}

func (t *tally) total() int {
	n := 0
	for _, v := range t.by {
		n += v
	}
	return n
}

// other lists the statuses outside 201/409/503/no-answer, e.g. "422×2 500×1".
func (t *tally) other() (n int, desc string) {
	var parts []string
	var keys []int
	for k := range t.by {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		switch k {
		case 200, 201, 409, 503, -1:
			continue
		}
		n += t.by[k]
		parts = append(parts, fmt.Sprintf("%d×%d", k, t.by[k]))
	}
	return n, strings.Join(parts, " ")
}

// bad5xx counts 5xx answers other than 503: a fault must never show as a 500.
func (t *tally) bad5xx() int {
	n := 0
	for k, v := range t.by {
		if k >= 500 && k != 503 {
			n += v
		}
	}
	return n
}

// crowdResult is what the client saw; the invariants are checked in MySQL.
type crowdResult struct {
	book, cancel tally
	// confirmed holds the ids of bookings the API answered 201 confirmed: each must
	// have its booking_confirmed outbox row.
	confirmed []int64
	// unanswered holds residents who met a 503 or no answer and never got a 201
	// on retry: an earlier attempt may still have committed.
	unanswered []int64
}

// bookingCrowd sends every resident's booking of one session, paced evenly over
// span so the fault lands mid-crowd; a quarter ask for the waiting list when
// full. Meanwhile a churner cancels a random confirmed booking (as its owner)
// every churnEvery, so places keep freeing and the waiting list keeps moving
// while the fault is on. A request without an answer or with a 503 is retried
// twice with the same Idempotency-Key, as the mini-program does. It returns when
// every request has finished.
func (e *env) bookingCrowd(ctx context.Context, sessionID int64, span time.Duration) *crowdResult {
	out := &crowdResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	step := span / time.Duration(len(e.residents))
	stopChurn := make(chan struct{})
	churned := make(chan struct{})
	go func() {
		defer close(churned)
		e.churn(ctx, sessionID, stopChurn, &out.cancel)
	}()
	for i, r := range e.residents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(time.Duration(i) * step)))
			key := fmt.Sprintf("drill-%d-%d", sessionID, r.id)
			var st int
			var m map[string]any
			faulted := false
			for attempt := range 3 {
				st, m = e.call("POST", "/api/v1/bookings", r.token, map[string]any{"session_id": sessionID, "waitlist": i%4 == 0},
					"Idempotency-Key", key)
				out.book.add(st)
				if st != -1 && st != http.StatusServiceUnavailable {
					break
				}
				faulted = true
				time.Sleep(time.Duration(300*(attempt+1)) * time.Millisecond)
			}
			if faulted && st != http.StatusCreated {
				mu.Lock()
				out.unanswered = append(out.unanswered, r.id)
				mu.Unlock()
			}
			if st == http.StatusCreated && m["status"] == "confirmed" {
				mu.Lock()
				out.confirmed = append(out.confirmed, int64(m["id"].(float64)))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stopChurn)
	<-churned
	return out
}

// churnEvery is how often the churner cancels a booking during a crowd.
const churnEvery = 100 * time.Millisecond

// churn cancels a random confirmed booking of the session through the API, as
// its owner, every churnEvery until stop closes. It picks the booking straight
// from MySQL (not through the proxy), so it keeps going while a store is cut.
func (e *env) churn(ctx context.Context, sessionID int64, stop <-chan struct{}, t *tally) {
	tick := time.NewTicker(churnEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var id, user int64
		err := e.db.QueryRowContext(ctx, `SELECT id, user_id FROM bookings WHERE session_id = ? AND status = 'confirmed' ORDER BY RAND() LIMIT 1`, sessionID).Scan(&id, &user)
		if err != nil {
			continue // none yet
		}
		tok := e.tokens[user]
		for attempt := range 3 {
			st, _ := e.call("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", id), tok, nil)
			t.add(st)
			if st != -1 && st != http.StatusServiceUnavailable {
				break
			}
			time.Sleep(time.Duration(200*(attempt+1)) * time.Millisecond)
		}
	}
}

// topUp books the session with reserve residents (never in a crowd) one by one
// until it answers 409: if MySQL has a free place and the gate refuses it, the
// fault leaked a place. Returns how many got one.
func (e *env) topUp(sessionID int64) (int, error) {
	got := 0
	for _, r := range e.reserve {
		st, m := e.call("POST", "/api/v1/bookings", r.token, map[string]any{"session_id": sessionID})
		switch st {
		case http.StatusCreated:
			got++
		case http.StatusConflict:
			return got, nil
		default:
			return got, fmt.Errorf("top-up booking: %d %v", st, m)
		}
	}
	return got, nil
}
