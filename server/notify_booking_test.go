package main

import (
	"net/http"
	"testing"
	"time"
	"unicode/utf8"
)

// TestConfirmedBookingSendsOneSubscribeMessage goes end to end: a resident grants
// the booking-result template, books an activity that confirms at once (its
// title longer than WeChat's 20-character thing limit), and the real worker sends
// exactly one subscribe message to the fake WeChat, with the title trimmed, the
// start time and the status word; the grant is used up and a second booking,
// with no grant left, sends nothing.
func TestConfirmedBookingSendsOneSubscribeMessage(t *testing.T) {
	a := newTestApp(t, fastWorker)
	staffTok, _ := a.staff("nb-staff")
	tok, uid, openid := notifyUser(a, "nb")
	grant(a, tok, tplBooking, 1)

	title := "青年夜校·超长标题的粤语会话与文化体验课程第一期"
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": title, "requires_approval": false})
	sid := a.createSession(staffTok, pid, 48*time.Hour, 10)
	r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid})
	if r.Status != http.StatusCreated || r.JSON(t)["status"] != "confirmed" {
		t.Fatalf("book: %d %s", r.Status, r.Body)
	}
	waitStatus(t, a.app.db, uid, "sent")
	msgs := sentTo(openid)
	if len(msgs) != 1 {
		t.Fatalf("%d messages sent, want 1: %+v", len(msgs), msgs)
	}
	m := msgs[0]
	if m.TemplateID != tplBooking || m.Page == "" {
		t.Fatalf("message: %+v", m)
	}
	if n := utf8.RuneCountInString(m.Data["thing1"]); n > 20 || n < 10 {
		t.Fatalf("thing1 not trimmed to WeChat's limit: %q (%d runes)", m.Data["thing1"], n)
	}
	s, _ := a.app.catalog.GetSession(t.Context(), sid)
	if m.Data["time2"] != s.StartsAt.Format("2006-01-02 15:04") || m.Data["phrase3"] == "" || utf8.RuneCountInString(m.Data["phrase3"]) > 5 {
		t.Fatalf("time/status fields: %+v", m.Data)
	}
	if g := remainingGrants(t, a.app.db, uid, tplBooking); g != 0 {
		t.Fatalf("grant not consumed: %d left", g)
	}

	// No grant left: the next confirmation is recorded as skipped, nothing is sent.
	sid2 := a.createSession(staffTok, pid, 72*time.Hour, 10)
	if r := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid2}); r.Status != http.StatusCreated {
		t.Fatalf("second booking: %d %s", r.Status, r.Body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows := outboxOf(t, a.app.db, uid)
		if len(rows) == 2 && rows[1].Status == "skipped" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second row not skipped: %+v", rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(sentTo(openid)); n != 1 {
		t.Fatalf("%d messages after the second booking, want still 1", n)
	}
}
