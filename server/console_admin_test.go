package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Journey 9 in the browser: an admin finds a resident by name and makes them
// staff (checked in MySQL and on the API, where the new role applies at once),
// reads the audit log with filters; a staff member gets 403 on both pages and
// cannot change a role by posting the form anyway.
func TestConsoleAdmin(t *testing.T) {
	h := consoleHarness(t)
	a := h.app
	adminTok, adminID := a.staff("chief", "admin")
	carolTok, carolID := a.resident("carol")
	name := randomID("陈")
	if _, err := a.app.db.Exec(`UPDATE users SET real_name = ? WHERE id = ?`, name, carolID); err != nil {
		t.Fatal(err)
	}
	// Something for the audit log: an admin action through the API.
	_, daveID := a.resident("dave")
	if r := a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", daveID), adminTok, map[string]string{"role": "staff"}); r.Status != http.StatusOK {
		t.Fatalf("API role change: %d %s", r.Status, r.Body)
	}

	h.loginByTicket(adminTok)
	h.run(chromedp.Navigate(h.url("/console/admin/users")), chromedp.WaitVisible(`input[name=q]`, chromedp.ByQuery),
		chromedp.SendKeys(`input[name=q]`, name+kb.Enter, chromedp.ByQuery),
		chromedp.WaitVisible(fmt.Sprintf(`tr[data-user="%d"]`, carolID), chromedp.ByQuery))
	if n := h.count("tr[data-user]"); n != 1 {
		t.Fatalf("search by name found %d users", n)
	}
	row := fmt.Sprintf(`tr[data-user="%d"]`, carolID)
	h.run(chromedp.SetValue(row+` select[name=role]`, "staff", chromedp.ByQuery), chromedp.Click(row+` button`, chromedp.ByQuery),
		chromedp.WaitVisible("#flash .flash.ok", chromedp.ByQuery))
	h.screenshot("admin-users")
	if st := a.sqlString(`SELECT role FROM users WHERE id = ?`, carolID); st != "staff" {
		t.Fatalf("carol's role: %s", st)
	}
	if r := a.do("GET", "/api/v1/staff/bookings", carolTok, nil); r.Status != http.StatusOK {
		t.Fatalf("carol as staff on the API: %d", r.Status)
	}

	// The audit log, filtered by actor and action.
	h.run(chromedp.Navigate(h.url(fmt.Sprintf("/console/admin/audit?actor=%d&action=role", adminID))), chromedp.WaitVisible("table.audit", chromedp.ByQuery))
	body := h.text("table.audit")
	if !strings.Contains(body, "role") || h.count("tr[data-audit]") < 1 {
		t.Fatalf("audit filtered by actor and action: %q", body)
	}
	h.screenshot("admin-audit")
	h.run(chromedp.Navigate(h.url("/console/admin/audit?action=no-such-action-xyz")), chromedp.WaitVisible("table.audit", chromedp.ByQuery))
	if n := h.count("tr[data-audit]"); n != 0 {
		t.Fatalf("filter matched %d entries", n)
	}
	h.run(chromedp.Navigate(h.url("/console/admin/audit?from=yesterday")), chromedp.WaitVisible(".flash.error", chromedp.ByQuery))

	// Staff: 403 on the pages, and a forged role form changes nothing.
	staffTok, _ := a.staff("clerk2")
	h.run(chromedp.Navigate("about:blank"))
	h2 := consoleHarnessTab(t)
	h2.loginByTicket(staffTok)
	var status int
	h2.run(chromedp.Navigate(h2.url("/console/admin/users")), chromedp.Evaluate(`document.title`, nil))
	h2.run(chromedp.Evaluate(fmt.Sprintf(`fetch("/console/admin/users/%d/role", {method: "POST", body: new URLSearchParams({csrf: document.body.dataset.csrf, role: "admin"})}).then(r => r.status)`, carolID), &status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if status != http.StatusForbidden {
		t.Fatalf("staff posting a role change: %d", status)
	}
	if !strings.Contains(h2.text("main"), "仅管理员") {
		t.Fatal("staff see the admin page")
	}
	if st := a.sqlString(`SELECT role FROM users WHERE id = ?`, carolID); st != "staff" {
		t.Fatalf("carol's role after a forged post: %s", st)
	}
	var links string
	h2.run(chromedp.Text("nav.nav", &links, chromedp.ByQuery))
	if strings.Contains(links, "审计") {
		t.Fatal("staff navigation shows admin pages")
	}
}

// count is how many elements match sel.
func (h *consoleH) count(sel string) int {
	h.t.Helper()
	var n int
	h.run(chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n))
	return n
}
