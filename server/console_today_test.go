package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleTodayTilesLive: with Today open, a resident books a session that
// needs approval; the 待审核 tile must show one more within its refresh (5 s),
// without a reload (the page's marker survives).
func TestConsoleTodayTilesLive(t *testing.T) {
	h := consoleHarness(t)
	staffTok, _ := h.app.staff("today")
	pid := h.app.createProgram(staffTok, map[string]any{"kind": "activity", "title": "实时计数", "requires_approval": true})
	sid := h.app.createSession(staffTok, pid, 48*time.Hour, 5)
	toks, _ := h.app.quickResidents(1)
	h.loginByTicket(staffTok)
	h.waitText("h1", "今日")
	before, err := strconv.Atoi(h.text(`[data-count="pending"]`))
	if err != nil {
		t.Fatal(err)
	}
	h.run(chromedp.Evaluate(`window.__noReload = true`, nil))
	if r := h.app.do("POST", "/api/v1/bookings", toks[0], map[string]any{"session_id": sid}); r.Status != http.StatusCreated {
		t.Fatalf("book: %d %s", r.Status, r.Body)
	}
	want := strconv.Itoa(before + 1)
	deadline := time.Now().Add(8 * time.Second)
	var got string
	var same bool
	for time.Now().Before(deadline) {
		h.run(chromedp.Text(`[data-count="pending"]`, &got, chromedp.ByQuery), chromedp.Evaluate(`window.__noReload === true`, &same))
		if got == want {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got != want || !same {
		t.Fatalf("pending tile shows %q (want %q), same page %v", got, want, same)
	}
}
