package main

// The console's browser harness (issue 12). Every console test drives a real
// headless Chromium (Debian's /usr/bin/chromium, through chromedp) against the
// real app running in-process on the package's MariaDB database and Redis. The
// browser and the app are started once per test binary, on the first console
// test, and shared: each test starts on a blank page with the cookies cleared, so tests stay independent while the package pays for one Chromium
// start and one server. Tests that do not touch the console never start them.
//
// A test:
//
//	h := consoleHarness(t)                 // shared app + a fresh browser context
//	staffTok, staffID := h.app.staff("clerk")
//	h.loginByTicket(staffTok)              // the real QR-ticket login, as staff
//	h.run(chromedp.Navigate(h.url("/console/")), ...)
//	h.app.sqlInt(`SELECT ...`)             // then check the database

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"nantian/models/testdb"
)

// chromiumPath is Debian's chromium package (scripts/test.sh installs it).
const chromiumPath = "/usr/bin/chromium"

var (
	consoleOnce    sync.Once
	consoleErr     error
	consoleApp     *testApp
	consoleStopApp func()
	browserCtx     context.Context
	browserStop    func()
	browserDir     string
)

// stopConsoleHarness ends the shared browser and app (called by TestMain).
func stopConsoleHarness() {
	if browserStop != nil {
		browserStop()
	}
	if consoleStopApp != nil {
		consoleStopApp()
	}
	if browserDir != "" {
		_ = os.RemoveAll(browserDir)
	}
}

func startConsoleHarness() error {
	if _, err := os.Stat(chromiumPath); err != nil {
		return fmt.Errorf("console browser tests need Chromium at %s: apt-get install chromium (%w)", chromiumPath, err)
	}
	app, stop, err := launchApp(testdb.RedisPrefix(), fastWorker, nil) // subscribe messages go out at once
	if err != nil {
		return err
	}
	consoleApp, consoleStopApp = app, stop
	if browserDir, err = os.MkdirTemp("", "nantian-chromium-"); err != nil {
		return err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // root in a container has no user namespace for the sandbox
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(browserDir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// A new tab is a background tab: without these it is throttled and its
		// page never finishes loading.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.WindowSize(1366, 900),
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Run(bctx); err != nil { // starts the browser
		bcancel()
		allocCancel()
		return fmt.Errorf("start chromium: %w", err)
	}
	browserCtx = bctx
	browserStop = func() { bcancel(); allocCancel() }
	return nil
}

// consoleH is one test's view of the harness: the shared app (with this test's
// t) and a browser context of its own.
type consoleH struct {
	t   *testing.T
	app *testApp
	ctx context.Context
}

// consoleHarness returns the shared app and a fresh incognito browser tab.
func consoleHarness(t *testing.T) *consoleH {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test (-short)")
	}
	consoleOnce.Do(func() { consoleErr = startConsoleHarness() })
	if consoleErr != nil {
		t.Fatal(consoleErr)
	}
	return consoleHarnessTab(t)
}

// consoleHarnessTab gives the test the browser's tab with every cookie
// cleared: a browser nobody signed in on. All console tests share the one tab
// (chromedp v0.14 cannot drive further tabs of today's headless Chromium: their
// pages never report loaded), so they do not run in parallel, and a test that
// needs a second, foreign browser uses a plain HTTP client with its own cookies.
func consoleHarnessTab(t *testing.T) *consoleH {
	t.Helper()
	app := *consoleApp
	app.t = t
	h := &consoleH{t: t, app: &app, ctx: browserCtx}
	h.run(network.ClearBrowserCookies(), chromedp.Navigate("about:blank"))
	return h
}

// url is an absolute URL on the app.
func (h *consoleH) url(path string) string { return h.app.URL + path }

// run runs browser actions with a time limit, failing the test on error.
func (h *consoleH) run(actions ...chromedp.Action) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		h.t.Fatalf("browser: %v", err)
	}
}

// ticket opens the login page and returns the ticket code it shows.
func (h *consoleH) ticket() string {
	h.t.Helper()
	var code string
	var ok bool
	h.run(chromedp.Navigate(h.url("/console/login")),
		chromedp.AttributeValue("[data-ticket]", "data-ticket", &code, &ok, chromedp.ByQuery))
	if !ok || len(code) != 8 {
		h.t.Fatalf("login page shows no 8-character ticket: %q", code)
	}
	return code
}

// loginByTicket signs this browser in the real way: the login page's ticket is
// approved through the API with the staff member's token, and the page must
// notice and enter the console on its own within 2 s.
func (h *consoleH) loginByTicket(staffToken string) {
	h.t.Helper()
	code := h.ticket()
	r := h.app.do("POST", "/api/v1/staff/console-logins", staffToken, map[string]string{"ticket": code})
	if r.Status != http.StatusNoContent {
		h.t.Fatalf("approve ticket: %d %s", r.Status, r.Body)
	}
	h.waitPath("/console/", 2500*time.Millisecond)
}

// waitPath waits until the tab's location path is want.
func (h *consoleH) waitPath(want string, within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	var path string
	for time.Now().Before(deadline) {
		h.run(chromedp.Evaluate(`location.pathname`, &path))
		if path == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("browser at %q, want %q within %s", path, want, within)
}

// path is the tab's current location path.
func (h *consoleH) path() string {
	var p string
	h.run(chromedp.Evaluate(`location.pathname`, &p))
	return p
}

// text returns the visible text of the first element matching sel.
func (h *consoleH) text(sel string) string {
	h.t.Helper()
	var s string
	h.run(chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return strings.TrimSpace(s)
}

// waitText waits until the element matching sel contains want.
func (h *consoleH) waitText(sel, want string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var s string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(h.ctx, 2*time.Second)
		err := chromedp.Run(ctx, chromedp.Text(sel, &s, chromedp.ByQuery))
		cancel()
		if err == nil && strings.Contains(s, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("%s shows %q, want it to contain %q", sel, s, want)
}

// cookies returns the browser's cookies for the app, by name.
func (h *consoleH) cookies() map[string]*network.Cookie {
	h.t.Helper()
	var cs []*network.Cookie
	h.run(chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cs, err = network.GetCookies().WithURLs([]string{h.app.URL + "/console/"}).Do(ctx)
		return err
	}))
	out := map[string]*network.Cookie{}
	for _, c := range cs {
		out[c.Name] = c
	}
	return out
}

// screenshot writes a full-page PNG when CONSOLE_SHOTS names a directory
// (scripts/console-shots.sh sets it).
func (h *consoleH) screenshot(name string) {
	h.t.Helper()
	dir := os.Getenv("CONSOLE_SHOTS")
	if dir == "" {
		return
	}
	var png []byte
	h.run(chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(dir+"/"+name+".png", png, 0o644); err != nil {
		h.t.Fatal(err)
	}
}
