package main

// Issue 14 item 6: a resident who already holds a place gets already_booked,
// never session_full, also while the local sold-out marker is set (with the gate)
// and when the guard alone decides (without it).

import (
	"fmt"
	"net/http"
	"testing"
)

func TestHolderGetsAlreadyBookedWhenSoldOut(t *testing.T) {
	for _, gate := range []string{"true", "false"} {
		t.Run("gate="+gate, func(t *testing.T) {
			a := newTestApp(t, map[string]string{"BOOKING_GATE": gate})
			staffTok, _ := a.staff("held-staff")
			_, sid := a.hotSession(staffTok, 20, false)
			toks, ids := a.quickResidents(200)
			body := func(int) any { return map[string]any{"session_id": sid} }
			first := a.crowd([]string{a.URL}, toks, body)
			if first["201"] != 20 || a.liveBookings(sid) != 20 {
				t.Fatalf("first crowd: %v, %d live", first, a.liveBookings(sid))
			}
			a.assertCounts(sid)
			var holders, others []string
			for i, tok := range toks {
				if a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND user_id = ? AND live_participant IS NOT NULL`, sid, ids[i]) == 1 {
					holders = append(holders, tok)
				} else {
					others = append(others, tok)
				}
			}

			// One by one, right after a refusal set the marker: the holder is
			// answered from the marker, and must hear already_booked.
			for i, h := range holders {
				if r := a.do("POST", "/api/v1/bookings", others[i], body(0)); r.ErrorCode() != "session_full" {
					t.Fatalf("non-holder: %d %s", r.Status, r.Body)
				}
				marked := a.app.bookings.engine.KnownSoldOut(sid)
				if gate == "true" && !marked {
					t.Fatal("a refusal did not set the sold-out marker")
				}
				r := a.do("POST", "/api/v1/bookings", h, body(0))
				if r.Status != http.StatusConflict || r.ErrorCode() != "already_booked" {
					t.Fatalf("holder %d (marker set: %v): %d %s, want 409 already_booked", i, marked, r.Status, r.Body)
				}
			}
			// All at once, holders and the rest mixed: the same answers.
			mixed := append(append([]string{}, holders...), others[:100]...)
			got := a.crowd([]string{a.URL}, mixed, body)
			want := map[string]int{"409 already_booked": 20, "409 session_full": 100}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("second crowd: %v, want %v", got, want)
			}
			if n := a.liveBookings(sid); n != 20 {
				t.Fatalf("%d live bookings after the second crowd, want 20", n)
			}
			a.assertCounts(sid)
		})
	}
}
