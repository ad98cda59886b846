package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// redeem has the resident redeem reward and returns the pickup code.
func (a *testApp) redeem(token string, rewardID int64) string {
	a.t.Helper()
	r := a.do("POST", "/api/v1/redemptions", token, map[string]any{"reward_id": rewardID})
	if r.Status != http.StatusCreated {
		a.t.Fatalf("redeem: %d %s", r.Status, r.Body)
	}
	return r.JSON(a.t)["pickup_code"].(string)
}

// scan types code into the pickup box and Enter, as the scanner does, and waits
// for the answer to land in the scan log.
func (h *consoleH) scan(code string) string {
	h.t.Helper()
	var before int
	h.run(chromedp.Evaluate(`document.querySelectorAll("#fulfil-log li:not(.pending)").length`, &before))
	h.run(chromedp.SendKeys("#pickup", code+kb.Enter, chromedp.ByQuery))
	var n int
	h.run(chromedp.Poll(fmt.Sprintf(`document.querySelectorAll("#fulfil-log li:not(.pending)").length > %d`, before), nil))
	h.run(chromedp.Evaluate(`document.querySelectorAll("#fulfil-log li:not(.pending)").length`, &n))
	return h.text("#fulfil-log li")
}

// Journey 6 in the browser: a reward is added and stocked, a resident's
// redemption is handed over by scanning its code (a second scan of the same code
// is refused, as is an unknown one), stock and shelf changes, and a bin is
// registered — its secret shown once and working — then disabled.
func TestConsolePointsDesk(t *testing.T) {
	h := consoleHarness(t)
	a := h.app
	staffTok, staffID := a.staff("desk")
	bob, bobID := a.resident("bob")
	a.grant(staffTok, bobID, 100)
	h.loginByTicket(staffTok)
	name := randomID("环保袋-")

	h.run(chromedp.Navigate(h.url("/console/points")), chromedp.WaitVisible("#pickup", chromedp.ByQuery),
		chromedp.Click("#rewards summary", chromedp.ByQuery),
		chromedp.SendKeys(`#rewards input[name=name]`, name, chromedp.ByQuery),
		chromedp.SendKeys(`#rewards input[name=cost_points]`, "30", chromedp.ByQuery),
		chromedp.SetValue(`#rewards input[name=stock]`, "2", chromedp.ByQuery),
		chromedp.Click("#add-reward", chromedp.ByQuery), chromedp.WaitVisible("#flash .flash.ok", chromedp.ByQuery))
	var rewardID int64
	if err := a.app.db.QueryRow(`SELECT id FROM rewards WHERE name = ? AND cost_points = 30 AND stock = 2 AND active = 1`, name).Scan(&rewardID); err != nil {
		t.Fatalf("reward not created: %v", err)
	}

	code := a.redeem(bob, rewardID)
	h.run(chromedp.Reload(), chromedp.WaitVisible("#pickup", chromedp.ByQuery))
	if !strings.Contains(h.text("main"), code) {
		t.Fatalf("waiting list lacks %s", code)
	}
	h.screenshot("points")
	if got := h.scan(strings.ToLower(code)); !strings.Contains(got, "已兑换："+name) {
		t.Fatalf("scan answer: %q", got)
	}
	if got := h.scan(code); !strings.Contains(got, "不能重复领取") {
		t.Fatalf("second scan: %q", got)
	}
	if got := h.scan("ZZZZ9999"); !strings.Contains(got, "不存在") {
		t.Fatalf("unknown code: %q", got)
	}
	h.screenshot("points-scanned")
	if st := a.sqlString(`SELECT CONCAT(status, '/', fulfilled_by) FROM redemptions WHERE pickup_code = ?`, code); st != fmt.Sprintf("fulfilled/%d", staffID) {
		t.Fatalf("redemption: %s", st)
	}

	// Without JavaScript the box is a plain form: the desk comes back with the answer.
	code2 := a.redeem(bob, rewardID)
	h.run(emulation.SetScriptExecutionDisabled(true))
	h.run(chromedp.Navigate(h.url("/console/points")), chromedp.WaitVisible("#pickup", chromedp.ByQuery),
		chromedp.SendKeys("#pickup", code2+kb.Enter, chromedp.ByQuery), chromedp.WaitVisible("#flash .flash.ok", chromedp.ByQuery))
	h.run(emulation.SetScriptExecutionDisabled(false))
	if n := a.sqlInt(`SELECT COUNT(*) FROM redemptions WHERE pickup_code = ? AND status = 'fulfilled'`, code2); n != 1 {
		t.Fatal("no-JS fulfilment not recorded")
	}
	if n := a.sqlInt(`SELECT stock FROM rewards WHERE id = ?`, rewardID); n != 0 {
		t.Fatalf("stock after two redemptions: %d", n)
	}

	// Restock and take it off the shelf.
	row := fmt.Sprintf(`tr[data-reward="%d"]`, rewardID)
	h.run(chromedp.Navigate(h.url("/console/points")), chromedp.WaitVisible(row, chromedp.ByQuery),
		chromedp.SetValue(row+` input[name=stock]`, "5", chromedp.ByQuery),
		chromedp.Click(row+` form.bar button`, chromedp.ByQuery), chromedp.WaitVisible("#flash .flash.ok", chromedp.ByQuery))
	h.waitText("#flash", "库存 5")
	h.run(chromedp.Click(row+` form.inline button`, chromedp.ByQuery))
	h.waitText("#flash", "已下架")
	if st := a.sqlString(`SELECT CONCAT(stock, '/', active) FROM rewards WHERE id = ?`, rewardID); st != "5/0" {
		t.Fatalf("reward after restock and off-shelf: %s", st)
	}
	// A negative stock is refused by the domain, nothing changes.
	h.run(chromedp.Evaluate(fmt.Sprintf(`document.querySelector('%s input[name=stock]').removeAttribute("min")`, row), nil),
		chromedp.SetValue(row+` input[name=stock]`, "-3", chromedp.ByQuery),
		chromedp.Click(row+` form.bar button`, chromedp.ByQuery), chromedp.WaitVisible("#flash .flash.error", chromedp.ByQuery))
	if n := a.sqlInt(`SELECT stock FROM rewards WHERE id = ?`, rewardID); n != 5 {
		t.Fatalf("negative stock changed it to %d", n)
	}

	// Register a bin: the secret is shown once, and works.
	bin := randomID("3栋东侧-")
	h.run(chromedp.Navigate(h.url("/console/points")), chromedp.WaitVisible("#bins", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector("#bins details").open = true`, nil),
		chromedp.SetValue(`#bins select[name=estate]`, "国城花园", chromedp.ByQuery),
		chromedp.SendKeys(`#bins input[name=name]`, bin, chromedp.ByQuery),
		chromedp.Click("#add-device", chromedp.ByQuery), chromedp.WaitVisible("#new-device-secret", chromedp.ByQuery))
	secret := h.text("#new-device-secret")
	var devID int64
	fmt.Sscan(h.text("#new-device-id"), &devID)
	h.screenshot("points-bin")
	if len(secret) < 32 || a.sqlInt(`SELECT COUNT(*) FROM devices WHERE id = ? AND name = ? AND estate = '国城花园'`, devID, bin) != 1 {
		t.Fatalf("device %d / secret %q", devID, secret)
	}
	if r := a.sendDeposit(devID, secret, randomID("ev-"), a.residentCode(bob), 500, "ok"); r.Status != http.StatusOK {
		t.Fatalf("deposit with the shown secret: %d %s", r.Status, r.Body)
	}
	var html string
	h.run(chromedp.Navigate(h.url("/console/points")), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if strings.Contains(html, secret) {
		t.Fatal("the secret is shown again")
	}
	h.run(chromedp.Click(fmt.Sprintf(`tr[data-device="%d"] button`, devID), chromedp.ByQuery), chromedp.WaitVisible("#flash .flash.ok", chromedp.ByQuery))
	if st := a.sqlString(`SELECT status FROM devices WHERE id = ?`, devID); st != "disabled" {
		t.Fatalf("device after disable: %s", st)
	}
	if r := a.sendDeposit(devID, secret, randomID("ev-"), a.residentCode(bob), 500, "ok"); r.Status != http.StatusUnauthorized {
		t.Fatalf("deposit from a disabled bin: %d", r.Status)
	}
}
