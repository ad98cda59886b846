package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Console checks that need no browser: role gates on every admin page and the
// same wall-clock times on every page that shows a session. They sign in with
// the dev login (APP_ENV=test, devLoginCookie) over plain HTTP, against the
// browser harness's app.

// consolePage GETs a console page with a session cookie: status and body.
func consolePage(t *testing.T, a *testApp, cookie, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.URL+path, nil)
	req.AddCookie(&http.Cookie{Name: "nt_console", Value: cookie})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var (
	navRe  = regexp.MustCompile(`(?s)<nav class="nav">(.*?)</nav>`)
	hrefRe = regexp.MustCompile(`href="([^"]+)"`)
	csrfRe = regexp.MustCompile(`data-csrf="([^"]+)"`)
)

func navLinks(t *testing.T, body string) map[string]bool {
	t.Helper()
	m := navRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("page without the navigation")
	}
	out := map[string]bool{}
	for _, h := range hrefRe.FindAllStringSubmatch(m[1], -1) {
		out[h[1]] = true
	}
	return out
}

// TestConsoleAdminPagesForbiddenToStaff: every admin-only page — each entry
// the admin's navigation has and staff's lacks, with and without filters — is
// 403 to a staff session and 200 to an admin's, and staff posting the role
// form (with a valid form token) get 403 and change nothing.
func TestConsoleAdminPagesForbiddenToStaff(t *testing.T) {
	h := consoleHarness(t)
	a := h.app
	_, staffID := a.staff("clerk403")
	_, adminID := a.staff("chief403", "admin")
	_, carolID := a.resident("carol403")
	staff, admin := devLoginCookie(t, h, staffID), devLoginCookie(t, h, adminID)

	_, staffHome := consolePage(t, a, staff, "/console/")
	_, adminHome := consolePage(t, a, admin, "/console/")
	staffNav, adminNav := navLinks(t, staffHome), navLinks(t, adminHome)
	var adminOnly []string
	for href := range adminNav {
		if !staffNav[href] {
			adminOnly = append(adminOnly, href)
		}
	}
	if len(adminOnly) < 2 || len(staffNav) < 5 {
		t.Fatalf("navigation: staff %v, admin %v", staffNav, adminNav)
	}
	pages := append(adminOnly, "/console/admin/users?q=carol&role=resident", "/console/admin/audit?action=role&from=2026-01-01")
	for _, p := range pages {
		if !strings.HasPrefix(p, "/console/admin/") {
			t.Errorf("admin-only page %s outside /console/admin/", p)
		}
		if st, body := consolePage(t, a, staff, p); st != http.StatusForbidden || !strings.Contains(body, "仅管理员") {
			t.Errorf("staff GET %s: %d, want 403 with the reason", p, st)
		}
		if st, _ := consolePage(t, a, admin, p); st != http.StatusOK {
			t.Errorf("admin GET %s: %d, want 200", p, st)
		}
	}

	m := csrfRe.FindStringSubmatch(staffHome)
	if m == nil {
		t.Fatal("no form token on the staff page")
	}
	form := url.Values{"csrf": {m[1]}, "role": {"admin"}}
	resp := consoleDo(t, "POST", a.URL+fmt.Sprintf("/console/admin/users/%d/role", carolID), map[string]string{"nt_console": staff}, form)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("staff POST role: %d, want 403", resp.StatusCode)
	}
	if r := a.sqlString(`SELECT role FROM users WHERE id = ?`, carolID); r != "resident" {
		t.Fatalf("role after staff's post: %s", r)
	}
}

// TestConsoleSessionTimesAgree: one session shows the same Asia/Shanghai
// wall-clock times on Today, the day's session list, its desk and the approval
// queue. (Screenshots once showed the desk at 05:53–07:53 and Today at
// 04:52–07:53 for one programme: the desk test had moved the session's start
// between the two shots — openCheckIn, then startSession — not a page
// disagreeing.) The session is put at 12:34–14:05 local time today, stored in
// UTC as the app stores every time.
func TestConsoleSessionTimesAgree(t *testing.T) {
	h := consoleHarness(t)
	a := h.app
	staffTok, staffID := a.staff("clock")
	title := randomID("时钟")
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": title, "requires_approval": true})
	sid := a.createSession(staffTok, pid, 48*time.Hour, 10)
	toks, _ := a.quickResidents(1)
	if r := a.do("POST", "/api/v1/bookings", toks[0], map[string]any{"session_id": sid}); r.Status != http.StatusCreated {
		t.Fatalf("book: %d %s", r.Status, r.Body)
	}
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	start := time.Date(now.Year(), now.Month(), now.Day(), 12, 34, 0, 0, loc)
	end := start.Add(91 * time.Minute)
	if _, err := a.app.db.Exec(`UPDATE sessions SET starts_at = ?, ends_at = ? WHERE id = ?`, start.UTC(), end.UTC(), sid); err != nil {
		t.Fatal(err)
	}
	a.app.bookings.catalogCache.Invalidate(pid)
	cookie := devLoginCookie(t, h, staffID)
	span := "12:34–14:05"
	for _, p := range []string{"/console/", "/console/sessions?day=" + start.Format("2006-01-02"), fmt.Sprintf("/console/sessions/%d", sid)} {
		st, body := consolePage(t, a, cookie, p)
		if st != http.StatusOK {
			t.Fatalf("GET %s: %d", p, st)
		}
		if !strings.Contains(body, title) || !strings.Contains(body, span) {
			t.Errorf("%s does not show %s at %s", p, title, span)
		}
		if utc := start.UTC().Format("15:04") + "–"; strings.Contains(body, utc+end.UTC().Format("15:04")) {
			t.Errorf("%s shows the UTC times %s", p, utc)
		}
	}
	st, body := consolePage(t, a, cookie, fmt.Sprintf("/console/approvals?session=%d", sid))
	if st != http.StatusOK || !strings.Contains(body, start.Format("2006-01-02")+" "+[]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}[start.Weekday()]+" 12:34") {
		t.Errorf("approvals (%d) do not show the session at %s 12:34", st, start.Format("2006-01-02"))
	}
}
