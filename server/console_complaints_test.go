package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// queueOrder returns the work-order ids in the queue table, top to bottom.
func (h *consoleH) queueOrder() []int64 {
	h.t.Helper()
	var ids []string
	h.run(chromedp.Evaluate(`Array.from(document.querySelectorAll("#queue tr[data-complaint]")).map(r => r.dataset.complaint)`, &ids))
	out := make([]int64, 0, len(ids))
	for _, s := range ids {
		n, _ := strconv.ParseInt(s, 10, 64)
		out = append(out, n)
	}
	return out
}

func indexOf(ids []int64, id int64) int {
	for i, v := range ids {
		if v == id {
			return i
		}
	}
	return -1
}

// Journey 5 in the browser: the queue by nearest deadline with overdue in red, a
// new work order appearing without a reload, the filters, then one order taken
// through accept, contact and resolve on its page — checked in MySQL.
func TestConsoleComplaintsJourney(t *testing.T) {
	h := consoleHarness(t)
	a := h.app
	staffTok, staffID := a.staff("clerk")
	alice, _ := a.resident("alice")
	photo := a.uploadPhoto(alice)
	late := a.fileComplaint(alice, map[string]any{"category": "噪音扰民", "content": "楼上夜里装修，已经三天"})
	soon := a.fileComplaint(alice, map[string]any{"content": "充电桩坏了", "photo_ids": []int64{photo}, "estate": "百花园一期"})
	// late's accept limit passed 3 minutes ago; soon's ends in 4 minutes.
	now := time.Now().UTC()
	for id, accept := range map[int64]time.Duration{late: -3 * time.Minute, soon: 4 * time.Minute} {
		if _, err := a.app.db.Exec(`UPDATE complaints SET accept_due_at = ? WHERE id = ?`, now.Add(accept), id); err != nil {
			t.Fatal(err)
		}
	}

	h.loginByTicket(staffTok)
	h.run(chromedp.Navigate(h.url("/console/complaints")), chromedp.WaitVisible("#queue", chromedp.ByQuery))
	order := h.queueOrder()
	il, is := indexOf(order, late), indexOf(order, soon)
	if il < 0 || is < 0 || il > is {
		t.Fatalf("queue order %v: want %d (overdue) before %d", order, late, soon)
	}
	var lateClass, lateDue string
	h.run(chromedp.AttributeValue(fmt.Sprintf(`tr[data-complaint="%d"]`, late), "class", &lateClass, nil, chromedp.ByQuery),
		chromedp.Text(fmt.Sprintf(`tr[data-complaint="%d"] [data-due]`, late), &lateDue, chromedp.ByQuery))
	if !strings.Contains(lateClass, "overdue") || !strings.HasPrefix(lateDue, "超时") {
		t.Fatalf("overdue row: class %q, countdown %q", lateClass, lateDue)
	}
	// The countdown is live: it changes while the clerk watches.
	var soonDue1, soonDue2 string
	sel := fmt.Sprintf(`tr[data-complaint="%d"] [data-due]`, soon)
	h.run(chromedp.Text(sel, &soonDue1, chromedp.ByQuery), chromedp.Sleep(1100*time.Millisecond), chromedp.Text(sel, &soonDue2, chromedp.ByQuery))
	if !strings.HasPrefix(soonDue1, "剩 ") || soonDue1 == soonDue2 {
		t.Fatalf("countdown not ticking: %q then %q", soonDue1, soonDue2)
	}
	h.screenshot("complaints")

	// A new work order shows up on its own (the queue refreshes every 5 s).
	fresh := a.fileComplaint(alice, map[string]any{"content": "小区门口路灯不亮"})
	h.run(chromedp.WaitVisible(fmt.Sprintf(`tr[data-complaint="%d"]`, fresh), chromedp.ByQuery))

	// Filters: by estate, the other orders drop out.
	h.run(chromedp.Navigate(h.url("/console/complaints?estate="+"百花园一期")), chromedp.WaitVisible("#queue", chromedp.ByQuery))
	order = h.queueOrder()
	if indexOf(order, soon) < 0 || indexOf(order, late) >= 0 {
		t.Fatalf("estate filter: %v", order)
	}

	// The work order's page: photo, timeline, then the three steps.
	h.run(chromedp.Click(fmt.Sprintf(`tr[data-complaint="%d"] a.btn`, soon), chromedp.ByQuery), chromedp.WaitVisible("#accept", chromedp.ByQuery))
	var photoOK bool
	h.run(chromedp.Poll(`(() => { const i = document.querySelector(".photos img"); return i && i.complete && i.naturalWidth > 0; })()`, &photoOK, chromedp.WithPollingTimeout(5*time.Second)))
	if !photoOK {
		t.Fatal("the photo does not load")
	}
	if tl := h.text(".timeline"); !strings.Contains(tl, "待受理") || !strings.Contains(tl, "居民") {
		t.Fatalf("timeline: %q", tl)
	}
	h.screenshot("complaint")
	h.run(chromedp.SendKeys(`input[name=note]`, "转物业处理", chromedp.ByQuery), chromedp.Click("#accept", chromedp.ByQuery), chromedp.WaitVisible("#contact", chromedp.ByQuery))
	h.waitText("#flash", "已受理")
	if st := a.sqlString(`SELECT CONCAT(status, '/', handler_id) FROM complaints WHERE id = ?`, soon); st != fmt.Sprintf("accepted/%d", staffID) {
		t.Fatalf("after accept: %s", st)
	}

	// Contact needs a note: the browser's required check, and the domain's when
	// it is bypassed (a blank note posted anyway).
	h.run(chromedp.Evaluate(`document.querySelector("textarea[name=note]").removeAttribute("required")`, nil),
		chromedp.Click("#contact", chromedp.ByQuery), chromedp.WaitVisible("#flash .flash.error", chromedp.ByQuery))
	if st := a.sqlString(`SELECT status FROM complaints WHERE id = ?`, soon); st != "accepted" {
		t.Fatalf("blank contact note changed the order: %s", st)
	}
	h.run(chromedp.SendKeys(`textarea[name=note]`, "已电话联系，下午上门", chromedp.ByQuery), chromedp.Click("#contact", chromedp.ByQuery),
		chromedp.WaitVisible("#resolve", chromedp.ByQuery))

	// Resolve without JavaScript: the form is a plain POST.
	h.run(emulation.SetScriptExecutionDisabled(true))
	defer h.run(emulation.SetScriptExecutionDisabled(false))
	h.run(chromedp.Reload(), chromedp.WaitVisible("#resolve", chromedp.ByQuery),
		chromedp.SendKeys(`textarea[name=resolution]`, "已更换充电桩", chromedp.ByQuery),
		chromedp.Click(`input[name=mediation_agreement]`, chromedp.ByQuery),
		chromedp.Click("#resolve", chromedp.ByQuery), chromedp.WaitVisible(".timeline", chromedp.ByQuery))
	h.waitText("#flash", "已办结")
	if st := a.sqlString(`SELECT CONCAT(status, '/', mediation_agreement, '/', resolution) FROM complaints WHERE id = ?`, soon); st != "resolved/1/已更换充电桩" {
		t.Fatalf("after resolve: %s", st)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM complaint_events WHERE complaint_id = ? AND actor_id = ? AND status IN ('accepted','contacted','resolved')`, soon, staffID); n != 3 {
		t.Fatalf("timeline rows by the clerk: %d, want 3", n)
	}
	// The resident is told, as through the API: one outbox row per step.
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE event IN ('complaint_accepted','complaint_contacted','complaint_resolved') AND page LIKE ?`, "%id="+strconv.FormatInt(soon, 10)); n != 3 {
		t.Fatalf("outbox rows for the resident: %d, want 3", n)
	}
	// Another resident's photo is not served by id alone to a non-staff session: the
	// console route needs a staff session (no cookie → login).
	resp, err := noRedirect.Get(h.url(fmt.Sprintf("/console/uploads/%d", photo)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Fatalf("photo without a session: %d", resp.StatusCode)
	}
}

// sqlString runs a query returning one string against the test database.
func (a *testApp) sqlString(q string, args ...any) string {
	a.t.Helper()
	var s string
	if err := a.app.db.QueryRow(q, args...).Scan(&s); err != nil {
		a.t.Fatalf("%s: %v", q, err)
	}
	return s
}
