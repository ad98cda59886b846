package main

// Bug-hunt regressions (review B): each test failed before its fix.

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// A work order rated 2 (reopened), reworked and resolved again is unrated in its
// new cycle: left unrated for the auto-close period it must close like any other.
// Before the fix the old rating kept it out of AutoClose (rating IS NULL) forever.
func TestReviewBAutoCloseAfterRework(t *testing.T) {
	a := newTestApp(t)
	t0 := time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Millisecond)
	clk := a.useClock(t0)
	alice, _ := a.resident("alice")
	staff, _ := a.staff("clerk")
	id := a.fileComplaint(alice, nil)
	handle := func() {
		a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
		a.step(staff, cpath(id, "contact"), map[string]any{"note": "called"}, http.StatusOK)
		a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "fixed"}, http.StatusOK)
	}
	handle()
	clk.Advance(time.Hour)
	a.step(alice, cpath(id, "rating"), map[string]any{"score": 1}, http.StatusOK)
	clk.Advance(time.Hour)
	handle() // resolved again, not rated this time

	a.app.complaints.Now = func() time.Time { return clk.Now().Add(7*24*time.Hour + time.Minute) }
	n, err := a.app.complaints.AutoClose(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	c := a.complaint(alice, id)
	if n != 1 || c.Status != "closed" || c.ClosedAt == nil {
		t.Fatalf("auto-close closed %d; complaint %d is %s", n, id, c.Status)
	}
	if last := c.Timeline[len(c.Timeline)-1]; last.ActorRole != "system" {
		t.Fatalf("last step %+v", last)
	}

	// A rating given in the current cycle still keeps AutoClose away (it closes or
	// reopens the order itself), and the low-rated order of another resident that
	// has not been resolved again is not touched either.
	bob, _ := a.resident("bob")
	a.app.complaints.Now = clk.Now
	id2 := a.fileComplaint(bob, nil)
	id = id2
	handle()
	a.step(bob, cpath(id2, "rating"), map[string]any{"score": 2}, http.StatusOK)
	a.app.complaints.Now = func() time.Time { return clk.Now().Add(30 * 24 * time.Hour) }
	if _, err := a.app.complaints.AutoClose(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	if c := a.complaint(bob, id2); c.Status != "reopened" {
		t.Fatalf("reopened order became %s", c.Status)
	}
}
