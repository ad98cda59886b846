// Package console is the staff web console: the pages the 党群服务中心 desk and
// the estate offices use all day at a PC with a barcode scanner, served by the
// same binary as the API under /console/.
//
// It exists as its own door beside handlers/ (the JSON door) because a browser
// needs what the mini-program does not: server-rendered pages (html/template,
// embedded), cookie sessions instead of bearer tokens, CSRF protection, forms
// that work without JavaScript. It holds no business rule: every change calls
// the same domain operation the API handler calls, and every read that needs a
// rule (eligibility, age on the day, capacity) comes from the domain too.
//
// Layout: console.go (wiring, routes), session.go (cookies, CSRF, roles),
// render.go (templates, page data), assets.go (hashed, embedded static files),
// login.go, and one file per journey (today.go, approvals.go, desk.go,
// programs.go, ...). See console/README.md for how to add a page.
package console

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"time"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/booking"
	"nantian/models/catalog"
	"nantian/models/complaint"
	"nantian/models/consolelogin"
	"nantian/models/desk"
	"nantian/models/ops"
	"nantian/models/points"
	"nantian/models/report"
)

//go:generate bash ../scripts/vendor-console.sh

// QRSource makes the login page's picture: WeChat's mini-program code for the
// ticket (wechat.Client.WXACodeUnlimited). Nil or failing means a plain QR.
type QRSource interface {
	WXACodeUnlimited(ctx context.Context, scene, page string, width int) ([]byte, error)
}

// Deps are what the console calls: the same stores and engines the API uses,
// built once in server/app.go.
type Deps struct {
	// Env is APP_ENV: dev and test get the dev login and non-Secure cookies.
	Env    string
	Loc    *time.Location
	Logger *slog.Logger

	Logins *consolelogin.Store
	Auth   *account.AuthCache
	QR     QRSource
	// LoginPage is the mini-program page a scanned login code opens.
	LoginPage string

	Users    *account.Users
	Catalog  *catalog.Catalog
	Bookings *booking.Bookings
	Audit    *models.Audit
	// Desk holds the desk's read views (today's sessions, the approval queue,
	// rosters) over the same tables.
	Desk *desk.Reader

	// Journeys 5–9 (complaints, points, reports, imports, admin).
	DB         *sql.DB // reference lists (estates)
	Complaints *complaint.Complaints
	Uploads    *complaint.Uploads
	Points     *points.Points
	Devices    *points.Devices
	Reports    *report.Reports
	Imports    *report.Imports

	// Ops are the staff and admin operations every console action calls: the
	// rule, the audit entry (door "console"), the follow-ups, the catalogue
	// cache. The console decodes the form, calls one, and renders the answer.
	Ops *ops.Ops
}

// Console serves /console/.
type Console struct {
	d       Deps
	mux     *routeMux
	handler http.Handler
	assets  *assetSet
	pages   *pageSet
}

// New builds the console. It parses every template and hashes every asset up
// front, so a broken template fails the start, not a clerk's click.
func New(d Deps) (*Console, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Loc == nil {
		d.Loc = time.UTC
	}
	c := &Console{d: d, mux: &routeMux{ServeMux: http.NewServeMux()}}
	var err error
	if c.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if c.pages, err = loadPages(withFuncs(c.funcs(), c.programFuncs())); err != nil {
		return nil, err
	}
	c.routes()
	// Cross-origin POSTs (a page elsewhere submitting a form here) fail before
	// any handler runs; the per-session token on every form is the second lock.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusForbidden, "跨站请求被拒绝：请从控制台页面提交。")
	}))
	c.handler = securityHeaders(cop.Handler(c.mux))
	return c, nil
}

// routeMux is the console's ServeMux, remembering the patterns registered on
// it so a test can hold every route against what it expects of it.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// Routes lists the console's route patterns ("POST /console/programs", ...).
func (c *Console) Routes() []string { return append([]string(nil), c.mux.patterns...) }

// actor is the signed-in clerk as the domain operations take them, through
// the console's door, with the request id the router gave this request (set
// on the response by its request-id middleware). The client address stays
// empty, as the console's entries always had it: the console is mounted
// behind the router, which alone knows which proxies to believe.
func (c *Console) actor(w http.ResponseWriter, r *http.Request) models.Actor {
	me := callerOf(r)
	return models.Actor{UserID: me.UserID, Role: me.Role, Door: models.DoorConsole, RequestID: w.Header().Get("X-Request-Id")}
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// routes lists every console page: the console's map at a glance. staff(...)
// needs a staff or admin session, admin(...) an admin one; both check the CSRF
// token on anything but GET/HEAD.
func (c *Console) routes() {
	m := c.mux
	m.Handle("GET /console/assets/", c.assets)
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("GET /console/login/poll", c.loginPoll)
	m.HandleFunc("GET /console/login/qr.png", c.loginQR)
	if c.devLoginEnabled() {
		m.HandleFunc("POST /console/dev-login", c.devLogin)
	} else {
		m.HandleFunc("/console/dev-login", http.NotFound) // the route does not exist in production
	}
	m.Handle("POST /console/logout", c.staff(c.logout))
	m.Handle("GET /console/{$}", c.staff(c.todayPage))
	m.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))

	// Journey 1: Today.
	m.Handle("GET /console/today/live", c.staff(c.todayLive))
	// Journeys 2–4 and 5–10 add their routes here.
	c.routesJourneys()
	c.routesPrograms() // journey 4 (programs.go)

	m.Handle("/console/", c.staff(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "页面不存在")
	}))
}

// securityHeaders: pages are not framed elsewhere, not sniffed, and never cached
// by a shared proxy (they show personal data).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
		next.ServeHTTP(w, r)
	})
}
