package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestReconcilerRepairsSwappedGateMembers is the drift a Redis outage leaves
// (found by scripts/drill.sh, drill "Redis cut"): while the gate is skipped,
// Alice cancels (her release fails, so she stays in the gate) and Bob books
// through the guard alone (so he is not in it). The count still matches MySQL,
// but Alice is turned away with already_booked, even from the waiting list,
// until the reconciler rewrites the gate from MySQL.
func TestReconcilerRepairsSwappedGateMembers(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("s")
	pid, sid := a.hotSession(staff, 2, false)
	toks, ids := a.quickResidents(3) // alice, bob, carol
	alice, bob, carol := toks[0], toks[1], toks[2]
	aliceBooking := idOf(t, book(a, alice, map[string]any{"session_id": sid}))
	wantStatus(t, book(a, carol, map[string]any{"session_id": sid}), 201, "")
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", aliceBooking), alice, nil), 200, "")
	wantStatus(t, book(a, bob, map[string]any{"session_id": sid}), 201, "")

	// The outage's drift, written straight into Redis: Alice's place not
	// released, Bob's never taken. Two holders, two live bookings: counts agree.
	ctx := context.Background()
	members := fmt.Sprintf("%sgate:{p:%d}:s:%d:m", a.prefix, pid, sid)
	aliceKey, bobKey := fmt.Sprintf("u%d", ids[0]), fmt.Sprintf("u%d", ids[1])
	if err := a.app.rdb.SAdd(ctx, members, aliceKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.app.rdb.SRem(ctx, members, bobKey).Err(); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, book(a, alice, map[string]any{"session_id": sid, "waitlist": true}), 409, "already_booked")

	for range 2 { // a gate is rewritten when it disagreed on two passes in a row
		a.app.rdb.Del(ctx, a.prefix+"bookings:reconciler:lease")
		if err := a.app.bookings.reconciler.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.app.rdb.SMembers(ctx, members).Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{bobKey, fmt.Sprintf("u%d", ids[2])}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("gate members after repair = %v, want %v", got, want)
	}
	// Alice can join the waiting list again; Bob is still refused a second place.
	r := book(a, alice, map[string]any{"session_id": sid, "waitlist": true})
	wantStatus(t, r, 201, "")
	if st := r.JSON(t)["status"]; st != "waitlisted" {
		t.Fatalf("alice status = %v, want waitlisted", st)
	}
	wantStatus(t, book(a, bob, map[string]any{"session_id": sid}), 409, "")
	a.assertCounts(sid)
}
