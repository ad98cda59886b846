package main

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/skip2/go-qrcode"

	"nantian/models"
)

// noRedirect is an HTTP client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// consoleGet fetches a console URL with the given cookies, without following
// redirects.
func consoleDo(t *testing.T, method, u string, cookies map[string]string, form url.Values, headers ...string) *http.Response {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestConsoleLoginByTicket(t *testing.T) {
	h := consoleHarness(t)
	tok, staffID := h.app.staff("desk-clerk")
	h.loginByTicket(tok)

	// The cookie is the opaque session id: HttpOnly, SameSite=Lax, scoped to /console.
	ck := h.cookies()["nt_console"]
	if ck == nil {
		t.Fatal("no session cookie after login")
	}
	if !ck.HTTPOnly || ck.SameSite != network.CookieSameSiteLax || ck.Path != "/console" || len(ck.Value) != 64 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/console, 64 hex chars", ck)
	}
	if got := h.app.sqlInt(`SELECT COUNT(*) FROM console_sessions WHERE user_id = ?`, staffID); got != 1 {
		t.Fatalf("console sessions for the clerk: %d, want 1", got)
	}
	if got := h.app.sqlInt(`SELECT COUNT(*) FROM console_tickets WHERE approved_by = ? AND consumed_at IS NOT NULL`, staffID); got != 1 {
		t.Fatalf("spent tickets approved by the clerk: %d, want 1", got)
	}
	// The session id is never stored as is.
	if got := h.app.sqlInt(`SELECT COUNT(*) FROM console_sessions WHERE id_hash = ?`, ck.Value); got != 0 {
		t.Fatal("the raw session id is stored")
	}
	h.waitText("h1", "今日")
	h.screenshot("today")

	// Logout ends the session: the login is revoked and the page is the login page.
	h.run(chromedp.Click(`form[action="/console/logout"] button`, chromedp.ByQuery))
	h.waitPath("/console/login", 3*time.Second)
	if got := h.app.sqlInt(`SELECT COUNT(*) FROM console_sessions WHERE user_id = ?`, staffID); got != 0 {
		t.Fatalf("console sessions after logout: %d", got)
	}
	resp := consoleDo(t, "GET", h.url("/console/"), map[string]string{"nt_console": ck.Value}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
		t.Fatalf("old cookie after logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestConsoleLoginPageScreenshot(t *testing.T) {
	h := consoleHarness(t)
	h.ticket()
	h.run(chromedp.WaitVisible("img.qr", chromedp.ByQuery))
	var w int
	h.run(chromedp.Evaluate(`document.querySelector("img.qr").naturalWidth`, &w))
	if w == 0 {
		t.Fatal("the login QR picture did not load")
	}
	h.screenshot("login")
}

// TestConsoleLoginQRFallback: the login page's picture is WeChat's mini-program
// code while getUnlimited answers, and when it fails (here its daily quota,
// errcode 45009, while the access token still works) the page still shows a QR
// image: a plain one of the ticket, drawn by the Go QR library.
func TestConsoleLoginQRFallback(t *testing.T) {
	h := consoleHarness(t)
	qr := func(code string) (string, []byte) {
		t.Helper()
		ck := h.cookies()["nt_console_browser"]
		if ck == nil {
			t.Fatal("the login page set no browser cookie")
		}
		req, _ := http.NewRequest("GET", h.url("/console/login/qr.png?t="+code), nil)
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("qr.png: %d %s", resp.StatusCode, body)
		}
		return resp.Header.Get("Content-Type"), body
	}
	loaded := func() {
		t.Helper()
		var w int
		h.run(chromedp.WaitVisible("img.qr", chromedp.ByQuery), chromedp.Poll(`document.querySelector("img.qr").complete`, nil),
			chromedp.Evaluate(`document.querySelector("img.qr").naturalWidth`, &w))
		if w == 0 {
			t.Fatal("the login page shows no QR picture")
		}
	}

	// WeChat answers: its mini-program code (the fake draws a JPEG, as WeChat does).
	code := h.ticket()
	loaded()
	if ct, _ := qr(code); ct != "image/jpeg" {
		t.Fatalf("with WeChat up the picture is %s, want WeChat's image/jpeg", ct)
	}

	// getUnlimited fails: a fresh browser (new ticket) still gets a QR image,
	// the plain one of "nantian-console:" + ticket at 280 px.
	fakeWX.FailWXACodes(45009, 1000)
	t.Cleanup(func() { fakeWX.FailWXACodes(0, 0) })
	h = consoleHarnessTab(t)
	code = h.ticket()
	loaded()
	ct, body := qr(code)
	if ct != "image/png" {
		t.Fatalf("with getUnlimited failing the picture is %s, want a plain PNG QR", ct)
	}
	want, err := qrcode.Encode("nantian-console:"+code, qrcode.Medium, 280)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, want) {
		t.Fatal("the fallback picture is not the Go QR library's code of the ticket")
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil || img.Bounds().Dx() != 280 {
		t.Fatalf("fallback PNG: %v %v", err, img)
	}
}

func TestConsoleTicketsRefused(t *testing.T) {
	h := consoleHarness(t)
	staffTok, _ := h.app.staff("desk-a")
	resTok, _ := h.app.resident("neighbour")

	t.Run("resident approval", func(t *testing.T) {
		code := h.ticket()
		r := h.app.do("POST", "/api/v1/staff/console-logins", resTok, map[string]string{"ticket": code})
		wantStatus(t, r, http.StatusForbidden, "forbidden")
		time.Sleep(2200 * time.Millisecond) // two polls
		if p := h.path(); p != "/console/login" {
			t.Fatalf("resident-approved ticket let the browser in: at %s", p)
		}
		if got := h.app.sqlInt(`SELECT COUNT(*) FROM console_tickets WHERE code = ? AND approved_at IS NULL`, code); got != 1 {
			t.Fatal("a resident's approval changed the ticket")
		}
	})
	t.Run("unknown and malformed", func(t *testing.T) {
		wantStatus(t, h.app.do("POST", "/api/v1/staff/console-logins", staffTok, map[string]string{"ticket": "ZZZZ2222"}), http.StatusNotFound, "not_found")
		wantStatus(t, h.app.do("POST", "/api/v1/staff/console-logins", staffTok, map[string]string{"ticket": ""}), http.StatusBadRequest, "invalid_request")
		wantStatus(t, h.app.do("POST", "/api/v1/staff/console-logins", staffTok, `{"ticket":`), http.StatusBadRequest, "invalid_request")
	})
	t.Run("expired", func(t *testing.T) {
		code := h.ticket()
		if _, err := h.app.app.db.Exec(`UPDATE console_tickets SET expires_at = ? WHERE code = ?`, time.Now().Add(-time.Second).UTC(), code); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, h.app.do("POST", "/api/v1/staff/console-logins", staffTok, map[string]string{"ticket": code}), http.StatusNotFound, "not_found")
		// The page notices and shows a fresh ticket.
		deadline := time.Now().Add(3 * time.Second)
		var now string
		for time.Now().Before(deadline) {
			var ok bool
			h.run(chromedp.AttributeValue("[data-ticket]", "data-ticket", &now, &ok, chromedp.ByQuery))
			if now != code {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if now == code {
			t.Fatal("the login page kept showing an expired ticket")
		}
	})
	t.Run("reused", func(t *testing.T) {
		code := h.ticket()
		// Lower case and a space, as a clerk might type it: still the same ticket.
		typed := strings.ToLower(code[:4]) + " " + code[4:]
		if r := h.app.do("POST", "/api/v1/staff/console-logins", staffTok, map[string]string{"ticket": typed}); r.Status != http.StatusNoContent {
			t.Fatalf("approve: %d %s", r.Status, r.Body)
		}
		wantStatus(t, h.app.do("POST", "/api/v1/staff/console-logins", staffTok, map[string]string{"ticket": code}), http.StatusConflict, "ticket_used")
		h.waitPath("/console/", 2500*time.Millisecond)
		wantStatus(t, h.app.do("POST", "/api/v1/staff/console-logins", staffTok, map[string]string{"ticket": code}), http.StatusConflict, "ticket_used")
	})
	t.Run("foreign browser", func(t *testing.T) {
		// The victim's browser is a plain HTTP client holding its own nonce;
		// the tab is another browser that learns the code and waits.
		victim := consoleDo(t, "GET", h.url("/console/login"), nil, nil)
		var victimNonce string
		for _, c := range victim.Cookies() {
			if c.Name == "nt_console_browser" {
				victimNonce = c.Value
			}
		}
		var code string
		if err := h.app.app.db.QueryRow(`SELECT code FROM console_tickets ORDER BY created_at DESC LIMIT 1`).Scan(&code); err != nil {
			t.Fatal(err)
		}
		h.run(network.ClearBrowserCookies())
		thiefCode := h.ticket()
		if thiefCode == code {
			t.Fatal("two browsers share a ticket")
		}
		thiefNonce := h.cookies()["nt_console_browser"].Value
		if r := h.app.do("POST", "/api/v1/staff/console-logins", staffTok, map[string]string{"ticket": code}); r.Status != http.StatusNoContent {
			t.Fatalf("approve: %d %s", r.Status, r.Body)
		}
		time.Sleep(2200 * time.Millisecond)
		if p := h.path(); p != "/console/login" {
			t.Fatalf("the other browser got in: %s", p)
		}
		// Polling with the thief's nonce, or with none, opens nothing...
		for _, cookies := range []map[string]string{{"nt_console_browser": thiefNonce}, nil} {
			resp := consoleDo(t, "GET", h.url("/console/login/poll"), cookies, nil, "HX-Request", "true")
			if resp.Header.Get("HX-Redirect") != "" {
				t.Fatalf("poll without the victim's nonce signed in: %v", resp.Header)
			}
		}
		// ...while the browser that asked is let in.
		resp := consoleDo(t, "GET", h.url("/console/login/poll"), map[string]string{"nt_console_browser": victimNonce}, nil, "HX-Request", "true")
		if resp.Header.Get("HX-Redirect") != "/console/" {
			t.Fatalf("the victim's own poll: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestConsoleAccess(t *testing.T) {
	h := consoleHarness(t)
	_, staffID := h.app.staff("access-clerk")
	resName := uniqueName(t, "res")
	h.app.login(resName)

	t.Run("no session", func(t *testing.T) {
		for _, p := range []string{"/console/", "/console/today/live", "/console/sessions", "/console/no-such-page"} {
			resp := consoleDo(t, "GET", h.url(p), nil, nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
				t.Errorf("GET %s without a session: %d %q, want 303 to /console/login", p, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		resp := consoleDo(t, "GET", h.url("/console/"), map[string]string{"nt_console": strings.Repeat("a", 64)}, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("made-up session id: %d", resp.StatusCode)
		}
	})
	t.Run("resident never gets a session", func(t *testing.T) {
		resp := consoleDo(t, "POST", h.url("/console/dev-login"), nil, url.Values{"openid": {"openid-" + resName}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("dev-login as a resident: %d", resp.StatusCode)
		}
		for _, c := range resp.Cookies() {
			if c.Name == "nt_console" && c.Value != "" {
				t.Fatal("a resident got a console cookie")
			}
		}
	})
	t.Run("role lowered ends the session", func(t *testing.T) {
		tab := consoleHarnessTab(t)
		tok := devLoginCookie(t, h, staffID)
		tab.setSession(tok)
		tab.run(chromedp.Navigate(tab.url("/console/")))
		tab.waitText("h1", "今日")
		ctx := context.Background()
		if _, err := h.app.app.users.SetRole(ctx, staffID, models.RoleResident); err != nil {
			t.Fatal(err)
		}
		h.app.app.authCache.InvalidateUser(ctx, staffID)
		tab.run(chromedp.Navigate(tab.url("/console/")))
		tab.waitPath("/console/login", 2*time.Second)
		if got := h.app.sqlInt(`SELECT COUNT(*) FROM console_sessions WHERE user_id = ?`, staffID); got != 0 {
			t.Fatalf("sessions after demotion: %d", got)
		}
		// Promoted again, the old cookie stays dead: the session was revoked, not paused.
		if _, err := h.app.app.users.SetRole(ctx, staffID, models.RoleStaff); err != nil {
			t.Fatal(err)
		}
		h.app.app.authCache.InvalidateUser(ctx, staffID)
		resp := consoleDo(t, "GET", h.url("/console/"), map[string]string{"nt_console": tok}, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoked session after re-promotion: %d", resp.StatusCode)
		}
	})
	t.Run("idle 12 h", func(t *testing.T) {
		tok := devLoginCookie(t, h, staffID)
		if _, err := h.app.app.db.Exec(`UPDATE console_sessions SET last_seen_at = ? WHERE user_id = ?`, time.Now().Add(-12*time.Hour-time.Minute).UTC(), staffID); err != nil {
			t.Fatal(err)
		}
		resp := consoleDo(t, "GET", h.url("/console/"), map[string]string{"nt_console": tok}, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("idle session: %d", resp.StatusCode)
		}
		if got := h.app.sqlInt(`SELECT COUNT(*) FROM console_sessions WHERE user_id = ?`, staffID); got != 0 {
			t.Fatalf("idle session kept: %d", got)
		}
	})
	t.Run("cross-origin and tokenless posts", func(t *testing.T) {
		tok := devLoginCookie(t, h, staffID)
		csrf := ""
		if err := h.app.app.db.QueryRow(`SELECT csrf FROM console_sessions WHERE user_id = ?`, staffID).Scan(&csrf); err != nil {
			t.Fatal(err)
		}
		cookies := map[string]string{"nt_console": tok}
		// Another site's page posting a form here, token or not.
		for _, hdr := range [][]string{
			{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"},
			{"Sec-Fetch-Site", "cross-site"},
			{"Origin", "https://evil.example"},
		} {
			resp := consoleDo(t, "POST", h.url("/console/logout"), cookies, url.Values{"csrf": {csrf}}, hdr...)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-origin POST %v: %d, want 403", hdr, resp.StatusCode)
			}
		}
		// Same origin without the token, or with a wrong one.
		for _, form := range []url.Values{{}, {"csrf": {"x" + csrf[1:]}}} {
			resp := consoleDo(t, "POST", h.url("/console/logout"), cookies, form, "Sec-Fetch-Site", "same-origin")
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST without a valid token: %d, want 403", resp.StatusCode)
			}
		}
		if got := h.app.sqlInt(`SELECT COUNT(*) FROM console_sessions WHERE user_id = ?`, staffID); got != 1 {
			t.Fatalf("a refused POST changed something: %d sessions", got)
		}
		resp := consoleDo(t, "POST", h.url("/console/logout"), cookies, url.Values{"csrf": {csrf}}, "Sec-Fetch-Site", "same-origin")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("same-origin POST with the token: %d", resp.StatusCode)
		}
	})
}

// devLoginCookie opens a session for a staff user through the dev login and
// returns the cookie's session id.
func devLoginCookie(t *testing.T, h *consoleH, userID int64) string {
	t.Helper()
	var openid string
	if err := h.app.app.db.QueryRow(`SELECT openid FROM users WHERE id = ?`, userID).Scan(&openid); err != nil {
		t.Fatal(err)
	}
	resp := consoleDo(t, "POST", h.url("/console/dev-login"), nil, url.Values{"openid": {openid}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("dev-login: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "nt_console" {
			return c.Value
		}
	}
	t.Fatal("dev-login set no session cookie")
	return ""
}

// setSession puts a session cookie into this tab's browser.
func (h *consoleH) setSession(token string) {
	h.t.Helper()
	h.run(chromedp.ActionFunc(func(ctx context.Context) error {
		return network.SetCookie("nt_console", token).WithURL(h.url("/console/")).WithPath("/console").WithHTTPOnly(true).Do(ctx)
	}))
}
