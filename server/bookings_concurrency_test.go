package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"nantian/models/testdb"
)

// 500 residents on a 12-place session: exactly 12 live bookings in MySQL, every
// other answer session_full, no 5xx.
func TestBookingFlashCrowdExact(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 12, false)
	toks, _ := a.quickResidents(500)
	tally := a.crowd([]string{a.URL}, toks, func(int) any { return map[string]any{"session_id": sid} })
	if tally["201"] != 12 || tally["409 session_full"] != 488 {
		t.Errorf("tally %v", tally)
	}
	if n := a.liveBookings(sid); n != 12 {
		t.Fatalf("live bookings = %d, want 12", n)
	}
	a.assertCounts(sid)
	// One outbox row per confirmed booking, written with it.
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox o JOIN bookings b ON o.page = CONCAT('pages/bookings/detail?id=', b.id) WHERE b.session_id = ?`, sid); n != 12 {
		t.Errorf("outbox rows = %d, want 12", n)
	}
}

// One resident firing 20 parallel requests gets one booking.
func TestBookingSameResidentParallel(t *testing.T) {
	for _, gate := range []string{"true", "false"} {
		t.Run("gate="+gate, func(t *testing.T) {
			a := newTestApp(t, map[string]string{"BOOKING_GATE": gate})
			staff, _ := a.staff("s")
			_, sid := a.hotSession(staff, 12, false)
			tok, uid := a.resident("r")
			toks := make([]string, 20)
			for i := range toks {
				toks[i] = tok
			}
			tally := a.crowd([]string{a.URL}, toks, func(int) any { return map[string]any{"session_id": sid} })
			if tally["201"] != 1 || tally["409 already_booked"] != 19 {
				t.Errorf("tally %v", tally)
			}
			if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND user_id = ?`, sid, uid); n != 1 {
				t.Fatalf("bookings = %d, want 1", n)
			}
			a.assertCounts(sid)
		})
	}
}

// The gate's keys deleted twice while the crowd runs: still exactly 12.
func TestBookingGateKeysDeletedMidCrowd(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 12, false)
	toks, _ := a.quickResidents(400)
	// While the crowd runs, delete the gate's keys twice, from inside the Redis
	// client: just before the 5th and the 10th script call (fewer than 12 places
	// are taken by then, so the crowd is still going through the gate). Each time
	// the next request finds the keys missing and rebuilds them from MySQL while
	// other requests are between the gate and the guard. Hooking the script calls
	// rather than watching responses keeps this deterministic: responses lag
	// behind the gate, and once it is full the rest of the crowd never touches
	// Redis (the sold-out marker).
	raw := redis.NewClient(&redis.Options{Addr: testdb.RedisAddr()})
	defer raw.Close()
	hook := &gateWiper{raw: raw, pattern: a.prefix + "gate:*", at: map[int64]bool{5: true, 10: true}}
	a.app.rdb.AddHook(hook)
	tally := a.crowd([]string{a.URL}, toks, func(int) any { return map[string]any{"session_id": sid} })
	deletions := &hook.deletions
	if deletions.Load() != 2 {
		t.Errorf("gate deleted %d times, want 2", deletions.Load())
	}
	if n := a.liveBookings(sid); n != 12 {
		t.Fatalf("live bookings = %d, want 12 (tally %v)", n, tally)
	}
	if tally["201"] != 12 {
		t.Errorf("tally %v", tally)
	}
	a.assertCounts(sid)
	// The reconciler brings the gate back in line with MySQL (two passes: a
	// disagreement must be seen twice before it is repaired).
	ctx := context.Background()
	for range 2 {
		if err := a.app.bookings.reconciler.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		a.app.rdb.Del(ctx, a.prefix+"bookings:reconciler:lease")
	}
	pid := int64(a.sqlInt(`SELECT program_id FROM sessions WHERE id = ?`, sid))
	if _, taken, _, ok, _ := a.app.bookings.gate.Inspect(ctx, pid, sid); ok && taken != 12 {
		t.Errorf("gate taken after reconcile = %d, want 12", taken)
	}
}

// failingHook makes every Redis command fail while on is set, as if Redis had
// gone away.
type failingHook struct{ on *atomic.Bool }

func (h failingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h failingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.on.Load() {
			err := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused (test)")}
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}
func (h failingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.on.Load() {
			err := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused (test)")}
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// Redis unreachable in the middle of the crowd: bookings go straight to the guard
// and the result is still exact; nothing answers 5xx.
func TestBookingRedisDownMidCrowd(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 12, false)
	toks, _ := a.quickResidents(300)
	var down atomic.Bool
	a.app.rdb.AddHook(failingHook{&down})
	// Redis goes away after the 5th answer (some places already taken through
	// the gate, most of the crowd still in flight).
	tally := a.crowd([]string{a.URL}, toks, func(int) any { return map[string]any{"session_id": sid} }, func(done int64) {
		if done == 5 {
			down.Store(true)
		}
	})
	if n := a.liveBookings(sid); n != 12 {
		t.Fatalf("live bookings = %d, want 12 (tally %v)", n, tally)
	}
	if tally["201"] != 12 {
		t.Errorf("tally %v", tally)
	}
	a.assertCounts(sid)
	// The catalogue still answers from MySQL.
	r := a.do("GET", fmt.Sprintf("/api/v1/sessions/%d", sid), "", nil)
	wantStatus(t, r, 200, "")
	down.Store(false)
}

// Two instances of the service (same Redis prefix, same database) share the crowd.
func TestBookingTwoInstances(t *testing.T) {
	a := newTestApp(t)
	b := newTestAppWithPrefix(t, a.prefix, nil)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 12, true)
	toks, _ := a.quickResidents(400)
	tally := a.crowd([]string{a.URL, b.URL}, toks, func(int) any { return map[string]any{"session_id": sid} })
	if n := a.liveBookings(sid); n != 12 {
		t.Fatalf("live bookings = %d, want 12 (tally %v)", n, tally)
	}
	if tally["201"] != 12 {
		t.Errorf("tally %v", tally)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'pending'`, sid); n != 12 {
		t.Errorf("pending = %d, want 12 (program requires approval)", n)
	}
	a.assertCounts(sid)
	// Both reconcilers at once: the lease lets one run; the result is consistent.
	var wg sync.WaitGroup
	for _, x := range []*testApp{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := x.app.bookings.reconciler.Pass(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	a.assertCounts(sid)
}

// Staff confirming while the resident cancels: exactly one of the transitions
// that conflict wins, and counts stay right. Confirm racing reject: one 200, one 409.
func TestBookingTransitionsRace(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	_, sid := a.hotSession(staff, 50, true)
	toks, _ := a.quickResidents(40)
	ids := make([]int64, len(toks))
	for i, tok := range toks {
		ids[i] = idOf(t, a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid}))
	}
	var wg sync.WaitGroup
	results := make([][2]int, len(toks))
	for i := range toks {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				results[i][0] = doRequest(t, a.URL, "POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", ids[i]), staff, nil).Status
			} else {
				results[i][0] = doRequest(t, a.URL, "POST", fmt.Sprintf("/api/v1/staff/bookings/%d/reject", ids[i]), staff, map[string]any{"reason": "名额调整"}).Status
			}
		}()
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				results[i][1] = doRequest(t, a.URL, "POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", ids[i]), toks[i], nil).Status
			} else {
				results[i][1] = doRequest(t, a.URL, "POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", ids[i]), staff, nil).Status
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		var st string
		if err := a.app.db.QueryRow(`SELECT status FROM bookings WHERE id = ?`, ids[i]).Scan(&st); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // confirm vs cancel: cancel always succeeds (confirmed can be cancelled)
			if r[1] != 200 || st != "cancelled" || (r[0] != 200 && r[0] != 409) {
				t.Errorf("confirm/cancel %d: %v → %s", i, r, st)
			}
		} else { // reject vs confirm: exactly one wins
			if !((r[0] == 200 && r[1] == 409 && st == "rejected") || (r[0] == 409 && r[1] == 200 && st == "confirmed")) {
				t.Errorf("reject/confirm %d: %v → %s", i, r, st)
			}
		}
	}
	a.assertCounts(sid)
}

// gateWiper deletes every key matching pattern just before chosen script calls
// (counted over EVAL/EVALSHA). A wipe due while no key exists waits for the next
// script call, so each wipe really removes a live gate.
type gateWiper struct {
	raw       *redis.Client
	pattern   string
	at        map[int64]bool
	calls     atomic.Int64
	mu        sync.Mutex
	pending   int
	deletions atomic.Int64
}

func (h *gateWiper) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *gateWiper) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			n := h.calls.Add(1)
			h.mu.Lock()
			if h.at[n] {
				h.pending++
			}
			if h.pending > 0 {
				keys, _ := h.raw.Keys(ctx, h.pattern).Result()
				if len(keys) > 0 && h.raw.Del(ctx, keys...).Val() > 0 {
					h.pending--
					h.deletions.Add(1)
				}
			}
			h.mu.Unlock()
		}
		return next(ctx, cmd)
	}
}
func (h *gateWiper) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
