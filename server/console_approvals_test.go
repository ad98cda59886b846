package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleApprovals: three residents wait for a night-school lesson (one books
// a child); the clerk confirms two at once in the browser and rejects the third
// with a reason. The database holds the decisions, the residents get their
// subscribe messages as through the API, and the audit log names the clerk.
func TestConsoleApprovals(t *testing.T) {
	h := consoleHarness(t)
	staffTok, staffID := h.app.staff("approver")
	pid := h.app.createProgram(staffTok, map[string]any{"kind": "activity", "title": "少儿书法", "requires_approval": true})
	sid := h.app.createSession(staffTok, pid, 72*time.Hour, 10)

	type res struct {
		tok, openid string
		id, booking int64
	}
	var rs []res
	for i := range 3 {
		tok, uid, openid := notifyUser(h.app, fmt.Sprintf("appr%d", i))
		grant(h.app, tok, tplBooking, 1)
		body := map[string]any{"session_id": sid}
		if i == 0 {
			day := time.Now().Add(72 * time.Hour)
			kid := idOf(t, h.app.do("POST", "/api/v1/me/children", tok, map[string]any{"name": "小明", "birth_date": day.AddDate(-6, -2, 0).Format("2006-01-02"), "guardian_consent": true}))
			body["child_id"] = kid
		}
		r := h.app.do("POST", "/api/v1/bookings", tok, body)
		if r.Status != http.StatusCreated || r.JSON(t)["status"] != "pending" {
			t.Fatalf("book: %d %s", r.Status, r.Body)
		}
		rs = append(rs, res{tok, openid, uid, idOf(t, r)})
	}
	h.loginByTicket(staffTok)
	h.run(chromedp.Navigate(h.url(fmt.Sprintf("/console/approvals?session=%d", sid))))
	h.waitText("tbody", "小明")
	row0 := h.text(fmt.Sprintf(`tr[data-booking="%d"]`, rs[0].booking))
	if !strings.Contains(row0, "当天 6 岁") {
		t.Fatalf("child's age on the day missing: %q", row0)
	}
	h.screenshot("approvals")

	// Tick the first two, confirm them together.
	h.run(
		chromedp.Click(fmt.Sprintf(`input[name=ids][value="%d"]`, rs[0].booking), chromedp.ByQuery),
		chromedp.Click(fmt.Sprintf(`input[name=ids][value="%d"]`, rs[1].booking), chromedp.ByQuery),
		chromedp.Click(`button[data-confirm-selected]`, chromedp.ByQuery),
	)
	h.waitText(".flash", "已确认 2 条")
	// Reject the third with a reason.
	h.run(
		chromedp.SendKeys(fmt.Sprintf(`input[name="reason-%d"]`, rs[2].booking), "名额留给本社区居民", chromedp.ByQuery),
		chromedp.Click(fmt.Sprintf(`button[name=reject][value="%d"]`, rs[2].booking), chromedp.ByQuery),
	)
	h.waitText(".flash", "已拒绝")
	if strings.Contains(h.text("main"), "小明") {
		t.Fatal("decided bookings still in the queue")
	}

	for i, want := range []string{"confirmed", "confirmed", "rejected"} {
		if got := h.app.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = ?`, rs[i].booking, want); got != 1 {
			t.Fatalf("booking %d: not %s", i, want)
		}
	}
	if got := h.app.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND reject_reason = '名额留给本社区居民'`, rs[2].booking); got != 1 {
		t.Fatal("reject reason not stored")
	}
	for i, r := range rs {
		waitStatus(t, h.app.app.db, r.id, "sent")
		if n := len(sentTo(r.openid)); n != 1 {
			t.Fatalf("resident %d got %d subscribe messages, want 1", i, n)
		}
	}
	if got := h.app.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? AND action IN ('POST /api/v1/staff/bookings/:id/confirm', 'POST /api/v1/staff/bookings/:id/reject') AND door = 'console'`, staffID); got != 3 {
		t.Fatalf("audit entries by the clerk: %d, want 3", got)
	}

	// A second decision on a decided booking is refused and changes nothing
	// (the guarded transition), whichever door it comes through.
	tok := devLoginCookie(t, h, staffID)
	var csrf string
	if err := h.app.app.db.QueryRow(`SELECT csrf FROM console_sessions WHERE id_hash = SHA2(?, 256)`, tok).Scan(&csrf); err != nil {
		t.Fatal(err)
	}
	resp := consoleDo(t, "POST", h.url("/console/approvals/confirm"), map[string]string{"nt_console": tok},
		map[string][]string{"csrf": {csrf}, "one": {fmt.Sprint(rs[2].booking)}}, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm a rejected booking: %d", resp.StatusCode)
	}
	if got := h.app.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'rejected'`, rs[2].booking); got != 1 {
		t.Fatal("a rejected booking changed")
	}
}
