package console

import (
	"bytes"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"nantian/models"
	"nantian/models/booking"
	"nantian/models/catalog"
)

//go:embed templates
var templateFS embed.FS

// pageSet holds one parsed template set per page: layout.html and parts.html
// plus the page's own file, so every page defines its own "title" and
// "content" without colliding with the others.
type pageSet struct {
	pages map[string]*template.Template
}

func loadPages(funcs template.FuncMap) (*pageSet, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	ps := &pageSet{pages: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		ps.pages[name] = t
	}
	return ps, nil
}

// view is what every page template gets: the page's own data in .Data and the
// frame around it.
type view struct {
	Title   string
	Nav     string // which navigation entry is current
	Me      caller
	CSRF    string
	IsAdmin bool
	Flash   *flash
	Now     time.Time
	Dev     bool
	Data    any
}

// flash is a one-time message shown after a POST-redirect-GET.
type flash struct {
	Kind string // ok | error
	Text string
}

func (c *Console) newView(r *http.Request, title, nav string, data any) view {
	me := callerOf(r)
	return view{Title: title, Nav: nav, Me: me, CSRF: me.Session.CSRF, IsAdmin: me.Role == models.RoleAdmin,
		Now: time.Now().In(c.d.Loc), Dev: c.devLoginEnabled(), Data: data}
}

// page renders a whole page (layout and the page's content) with status.
func (c *Console) page(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	if v.Flash == nil {
		v.Flash = c.takeFlash(w, r)
	}
	c.execute(w, r, status, name, "layout", v)
}

// fragment renders one named block of a page's template set, for htmx swaps.
func (c *Console) fragment(w http.ResponseWriter, r *http.Request, status int, name, block string, v view) {
	c.execute(w, r, status, name, block, v)
}

func (c *Console) execute(w http.ResponseWriter, r *http.Request, status int, name, block string, v view) {
	t, ok := c.pages.pages[name]
	if !ok {
		c.d.Logger.ErrorContext(r.Context(), "console: no such page template", "page", name)
		http.Error(w, "内部错误", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		c.d.Logger.ErrorContext(r.Context(), "console: render", "page", name, "block", block, "err", err)
		http.Error(w, "内部错误", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// fail shows a message with a status: a page of its own, or for htmx the
// message alone (swapped where the answer was expected).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	v := c.newView(r, http.StatusText(status), "", msg)
	v.Flash = &flash{Kind: "error", Text: msg}
	if r.Header.Get("HX-Request") == "true" {
		c.fragment(w, r, status, "error", "message", v)
		return
	}
	c.page(w, r, status, "error", v)
}

// failErr maps a domain error to its status and message (the same the API
// gives); anything else is logged and shown as a generic failure.
func (c *Console) failErr(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := errorText(err)
	if status >= 500 {
		c.d.Logger.ErrorContext(r.Context(), "console", "path", r.URL.Path, "err", err)
	}
	c.fail(w, r, status, msg)
}

// errorText is the status and Chinese message for an error.
func errorText(err error) (int, string) {
	var e *models.Error
	if errors.As(err, &e) {
		return kindStatus(e.Kind), fieldsInChinese(e.Message)
	}
	if errors.Is(err, models.ErrUnavailable) {
		return http.StatusServiceUnavailable, models.ErrUnavailable.Message
	}
	return http.StatusInternalServerError, "服务器内部错误，请稍后再试"
}

func kindStatus(k models.Kind) int {
	switch k {
	case models.KindInvalid:
		return http.StatusBadRequest
	case models.KindUnauthorized:
		return http.StatusUnauthorized
	case models.KindForbidden:
		return http.StatusForbidden
	case models.KindNotFound:
		return http.StatusNotFound
	case models.KindConflict:
		return http.StatusConflict
	case models.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case models.KindRule:
		return http.StatusUnprocessableEntity
	case models.KindTooMany:
		return http.StatusTooManyRequests
	case models.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// setFlash keeps a message for the next page this browser shows.
func (c *Console) setFlash(w http.ResponseWriter, kind, text string) {
	if utf8.RuneCountInString(text) > 300 {
		text = string([]rune(text)[:300])
	}
	c.setCookie(w, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(kind+"\n"+text)), 60)
}

func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	c.setCookie(w, flashCookie, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return nil
	}
	kind, text, ok := strings.Cut(string(b), "\n")
	if !ok || (kind != "ok" && kind != "error") || !utf8.ValidString(text) {
		return nil
	}
	return &flash{Kind: kind, Text: text}
}

// done answers a successful form post: back to where the clerk was (PRG), with
// the message shown there.
func (c *Console) done(w http.ResponseWriter, r *http.Request, to, msg string) {
	c.setFlash(w, "ok", msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// refused answers a form post the domain refused: back to the page with the
// reason in red. Validation and rule errors are the clerk's to fix; anything
// else is logged.
func (c *Console) refused(w http.ResponseWriter, r *http.Request, to string, err error) {
	status, msg := errorText(err)
	if status >= 500 {
		c.d.Logger.ErrorContext(r.Context(), "console", "path", r.URL.Path, "err", err)
	}
	c.setFlash(w, "error", msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (c *Console) funcs() template.FuncMap {
	loc := func() *time.Location { return c.d.Loc }
	fm := template.FuncMap{
		"asset": func(name string) (string, error) { return c.assets.url(name) },
		"hm":    func(t time.Time) string { return t.In(loc()).Format("15:04") },
		"date":  func(t time.Time) string { return t.In(loc()).Format("2006-01-02") },
		"md":    func(t time.Time) string { return t.In(loc()).Format("01-02") },
		"dt":    func(t time.Time) string { return t.In(loc()).Format("01-02 15:04") },
		"dtp": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.In(loc()).Format("01-02 15:04")
		},
		"weekday": func(t time.Time) string { return weekdays[t.In(loc()).Weekday()] },
		"datelong": func(t time.Time) string {
			tt := t.In(loc())
			return tt.Format("2006年1月2日 ") + weekdays[tt.Weekday()]
		},
		"localinput":  func(t time.Time) string { return t.In(loc()).Format("2006-01-02T15:04") },
		"yuan":        yuan,
		"bookingText": func(s string) string { return bookingStatusText[s] },
		"sessionText": func(s string) string { return sessionStatusText[s] },
		"kindText":    func(s string) string { return kindText[s] },
		"audText":     func(s string) string { return audienceText[s] },
		"pct": func(a, b int) int {
			if b <= 0 {
				return 0
			}
			p := a * 100 / b
			return min(p, 100)
		},
		"add":      func(a, b int) int { return a + b },
		"navItems": navFor,
	}
	for k, f := range c.journeyFuncs() {
		if _, taken := fm[k]; taken {
			panic("console: template function " + k + " defined twice") // caught by every test that builds a Console
		}
		fm[k] = f
	}
	return fm
}

var weekdays = [...]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}

// yuan formats integer fen as yuan: 3000 → "30", 1250 → "12.50".
func yuan(fen int64) string {
	if fen%100 == 0 {
		return fmt.Sprintf("%d", fen/100)
	}
	return fmt.Sprintf("%d.%02d", fen/100, fen%100)
}

var bookingStatusText = map[string]string{
	booking.BookingWaitlisted: "候补", booking.BookingPending: "待审核", booking.BookingConfirmed: "已确认",
	booking.BookingAttended: "已签到", booking.BookingCancelled: "已取消", booking.BookingRejected: "已拒绝",
	booking.BookingNoShow: "爽约", booking.BookingExpired: "已过期", "awaiting_payment": "待支付",
}

var sessionStatusText = map[string]string{
	catalog.SessionOpen: "开放", catalog.SessionClosed: "已结束", catalog.SessionCancelled: "已取消",
}

var kindText = map[string]string{
	catalog.KindNightSchool: "青年夜校", catalog.KindChildcare: "托育", catalog.KindActivity: "活动",
}

var audienceText = map[string]string{
	catalog.AudienceElderly: "长者", catalog.AudienceChildren: "儿童", catalog.AudienceYouth: "青年", catalog.AudienceAll: "所有人",
}
