package main

// Booking reminders: each confirmed booking gets exactly one reminder in the
// outbox once its session is less than BOOKING_REMINDER_BEFORE away, however many
// instances run and however often they restart.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/notify"
)

func TestRemindersQueuedOnceAcrossInstancesAndRestarts(t *testing.T) {
	// A private database: the app's own reminder worker is off (0) and two hand
	// instances on a test clock do the work, so nothing else queues reminders here.
	start := newPrivateDBApp(t, map[string]string{"BOOKING_REMINDER_BEFORE": "0"})
	a := start()
	staffTok, _ := a.staff("desk")
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "长者智能手机课", "venue": "党群服务中心"})
	appr := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "需审核活动", "requires_approval": true})
	soon := a.createSession(staffTok, pid, 10*24*time.Hour, 300)
	later := a.createSession(staffTok, pid, 12*24*time.Hour, 300)
	pending := a.createSession(staffTok, appr, 10*24*time.Hour, 300)
	var startsAt time.Time
	if err := a.app.db.QueryRow(`SELECT starts_at FROM sessions WHERE id = ?`, soon).Scan(&startsAt); err != nil {
		t.Fatal(err)
	}

	toks, ids := a.quickResidents(120)
	for i, tok := range toks {
		if r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": soon}); r.Status != 201 {
			t.Fatalf("book: %d %s", r.Status, r.Body)
		}
		if i < 10 {
			a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": later})
			a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": pending})
		}
	}
	// Five cancel: they get no reminder.
	cancelled := map[int64]bool{}
	for i := range 5 {
		var bid int64
		a.app.db.QueryRow(`SELECT id FROM bookings WHERE user_id = ? AND session_id = ?`, ids[i], soon).Scan(&bid)
		if r := a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", bid), toks[i], nil); r.Status != 200 {
			t.Fatalf("cancel: %d", r.Status)
		}
		cancelled[bid] = true
	}

	// A walk-in booked at the desk is not reminded (no WeChat to send to) until
	// they merge into a WeChat account, then once.
	phone := newPhone()
	walk := createWalkIn(t, a, staffTok, "孙婆婆", phone)
	walkBooking := idOf(t, deskBook(t, a, staffTok, walk, map[string]any{"session_id": soon}))

	clock := newTestClock()
	instance := func() *notify.Reminders {
		return &notify.Reminders{DB: a.app.db, Now: clock.Now, Loc: a.app.cfg.Location, Before: 24 * time.Hour, Batch: 7}
	}
	reminders := func() int {
		return a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE event = 'booking_reminder'`)
	}
	// 25 hours before: nothing is due.
	clock.Set(startsAt.Add(-25 * time.Hour))
	if n, err := instance().QueueDue(context.Background()); err != nil || n != 0 || reminders() != 0 {
		t.Fatalf("early: queued %d, err %v, rows %d", n, err, reminders())
	}

	// 23 hours before: two instances, four passes each at once.
	clock.Set(startsAt.Add(-23 * time.Hour))
	x, y := instance(), instance()
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := range 8 {
		r := x
		if i%2 == 1 {
			r = y
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := r.QueueDue(context.Background())
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	want := 115
	if total != want || reminders() != want {
		t.Fatalf("queued %d, outbox rows %d, want %d each", total, reminders(), want)
	}
	// Exactly one per confirmed booking of the due session, none for others.
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE session_id = ? AND status = 'confirmed' AND reminder_queued_at IS NOT NULL`, soon); n != want {
		t.Fatalf("%d bookings flagged", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE reminder_queued_at IS NOT NULL AND (session_id <> ? OR status <> 'confirmed')`, soon); n != 0 {
		t.Fatalf("%d reminders for bookings not due or not confirmed", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM (SELECT page FROM outbox WHERE event = 'booking_reminder' GROUP BY page HAVING COUNT(*) > 1) d`); n != 0 {
		t.Fatalf("%d bookings reminded twice", n)
	}
	for bid := range cancelled {
		if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE event = 'booking_reminder' AND page = CONCAT('pages/bookings/detail?id=', ?)`, bid); n != 0 {
			t.Fatal("a cancelled booking was reminded")
		}
	}
	// The row carries the template key, the user and the fields.
	var key, payload string
	var uid int64
	a.app.db.QueryRow(`SELECT template_key, user_id, payload FROM outbox WHERE event = 'booking_reminder' ORDER BY id LIMIT 1`).Scan(&key, &uid, &payload)
	var data map[string]string
	if err := json.Unmarshal([]byte(payload), &data); err != nil {
		t.Fatal(err)
	}
	if key != models.TemplateBookingReminder || data["thing1"] != "长者智能手机课" || data["thing3"] != "党群服务中心" ||
		data["time2"] != startsAt.In(a.app.cfg.Location).Format("2006-01-02 15:04") {
		t.Fatalf("row %s %v", key, data)
	}

	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND reminder_queued_at IS NULL`, walkBooking); n != 1 {
		t.Fatal("walk-in booking was flagged")
	}
	sunTok, sunID := a.resident("sun")
	if r := a.do("POST", "/api/v1/me/phone", sunTok, map[string]string{"code": "phone-" + phone}); r.Status != http.StatusOK {
		t.Fatalf("verify: %d", r.Status)
	}
	if n, _ := instance().QueueDue(context.Background()); n != 1 {
		t.Fatalf("merged walk-in booking queued %d", n)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE event = 'booking_reminder' AND user_id = ?`, sunID); n != 1 {
		t.Fatalf("merged user has %d reminders", n)
	}
	want++

	// A restart (new instances, later passes) queues nothing again.
	clock.Advance(time.Hour)
	if n, err := instance().QueueDue(context.Background()); err != nil || n != 0 || reminders() != want {
		t.Fatalf("after restart: queued %d, err %v, rows %d", n, err, reminders())
	}
	// A booking made inside the window is reminded on the next pass, once.
	tok, _ := a.resident("late")
	a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": soon})
	if n, _ := instance().QueueDue(context.Background()); n != 1 {
		t.Fatalf("late booking queued %d", n)
	}
	if n, _ := instance().QueueDue(context.Background()); n != 0 || reminders() != want+1 {
		t.Fatalf("late booking reminded twice")
	}
	// Once the session has started nothing more is queued for it.
	tok2, _ := a.resident("tooLate")
	a.do("POST", "/api/v1/bookings", tok2, map[string]any{"session_id": soon})
	clock.Set(startsAt.Add(time.Minute))
	if n, _ := instance().QueueDue(context.Background()); n != 0 || reminders() != want+1 {
		t.Fatalf("queued %d for a started session", n)
	}
}
