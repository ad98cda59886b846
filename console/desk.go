package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"nantian/models"
	"nantian/models/booking"
	"nantian/models/catalog"
	"nantian/models/desk"
)

// Journey 3 — Session desk: the roster with statuses; the check-in box (the
// scanner types the code and Enter; the answer names the person or says why
// not); walk-in booking (代预约); capacity change; close (no-shows); cancel with
// notice; the roster as CSV. Every change is the booking engine's or the
// catalogue's operation, as the API's staff routes call them.

type sessionsView struct {
	Day  desk.Today
	Prev string
	Next string
	Date string
}

// sessionsPage lists a day's sessions (today unless ?day=YYYY-MM-DD).
func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request) {
	day := time.Now()
	if s := r.URL.Query().Get("day"); s != "" {
		t, err := time.ParseInLocation("2006-01-02", s, c.d.Loc)
		if err != nil {
			c.fail(w, r, http.StatusBadRequest, "日期格式应为 2026-01-31")
			return
		}
		day = t
	}
	d, err := c.d.Desk.Day(r.Context(), day)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	lt := d.Day
	c.page(w, r, http.StatusOK, "sessions", c.newView(r, "场次签到", "sessions", sessionsView{Day: d,
		Prev: lt.AddDate(0, 0, -1).Format("2006-01-02"), Next: lt.AddDate(0, 0, 1).Format("2006-01-02"), Date: lt.Format("2006-01-02")}))
}

type deskView struct {
	Session  catalog.Session
	Program  catalog.Program
	Roster   []booking.RosterRow
	Attended int
	Started  bool
	OOB      bool // the figure row rides along the roster refresh (hx-swap-oob)
}

func (c *Console) sessionID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		c.fail(w, r, http.StatusNotFound, "场次不存在")
		return 0, false
	}
	return id, true
}

func (c *Console) deskPage(w http.ResponseWriter, r *http.Request) {
	id, ok := c.sessionID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	s, err := c.d.Catalog.GetSession(ctx, id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	p, err := c.d.Catalog.GetProgram(ctx, s.ProgramID)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	roster, err := c.d.Bookings.Roster(ctx, id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	v := deskView{Session: s, Program: p, Roster: roster, Started: !time.Now().Before(s.StartsAt)}
	for _, row := range roster {
		if row.Status == booking.BookingAttended {
			v.Attended++
		}
	}
	block := "layout"
	if r.URL.Query().Get("part") == "roster" { // htmx refresh after a scan
		block = "roster"
	}
	view := c.newView(r, p.Title+" 签到台", "sessions", v)
	if block == "roster" {
		// The figure row (已签到) comes along out of band, so it follows the scans too.
		v.OOB = true
		view.Data = v
		c.fragment(w, r, http.StatusOK, "desk", "rosterpart", view)
		return
	}
	c.page(w, r, http.StatusOK, "desk", view)
}

func deskBack(id int64) string { return "/console/sessions/" + strconv.FormatInt(id, 10) }

// checkinResult is one line of the scan log.
type checkinResult struct {
	OK   bool
	Code string
	Text string
	At   time.Time
}

// deskCheckIn takes one scan. With htmx/fetch it answers the scan log's line;
// without JavaScript it goes back to the desk with the answer as a flash.
func (c *Console) deskCheckIn(w http.ResponseWriter, r *http.Request) {
	id, ok := c.sessionID(w, r)
	if !ok {
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	res, err := c.d.Ops.Sessions.DeskCheckIn(r.Context(), c.actor(w, r), id, code)
	line := checkinResult{Code: code, At: time.Now()}
	status := http.StatusOK
	if err != nil {
		status, line.Text = errorText(err)
		if status >= 500 {
			c.d.Logger.ErrorContext(r.Context(), "console: check-in", "session_id", id, "err", err)
		}
	} else {
		line.OK, line.Text = true, res.Name+" 签到成功"
	}
	if r.Header.Get("HX-Request") == "true" {
		c.fragment(w, r, http.StatusOK, "desk", "scan", c.newView(r, "", "sessions", line))
		return
	}
	kind := "ok"
	if !line.OK {
		kind = "error"
	}
	c.setFlash(w, kind, line.Text)
	http.Redirect(w, r, deskBack(id), http.StatusSeeOther)
}

// deskClose closes a started session: confirmed bookings not checked in
// become no-shows.
func (c *Console) deskClose(w http.ResponseWriter, r *http.Request) {
	id, ok := c.sessionID(w, r)
	if !ok {
		return
	}
	res, err := c.d.Ops.Sessions.Close(r.Context(), c.actor(w, r), id)
	if err != nil {
		c.refused(w, r, deskBack(id), err)
		return
	}
	c.done(w, r, deskBack(id), fmt.Sprintf("场次已结束：签到 %d 人，爽约 %d 人，过期 %d 条。", res.Attended, res.NoShows, res.Expired))
}

// deskCancel cancels the session; every booking is cancelled and its resident
// told (the engine's outbox notice).
func (c *Console) deskCancel(w http.ResponseWriter, r *http.Request) {
	id, ok := c.sessionID(w, r)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		c.refused(w, r, deskBack(id), models.Invalid("confirm", "请勾选“确认取消并通知所有预约人”"))
		return
	}
	if _, err := c.d.Ops.Sessions.Cancel(r.Context(), c.actor(w, r), id); err != nil {
		c.refused(w, r, deskBack(id), err)
		return
	}
	c.done(w, r, deskBack(id), "场次已取消，已通知所有预约人。")
}

// deskCapacity changes the number of places (never below the live bookings).
func (c *Console) deskCapacity(w http.ResponseWriter, r *http.Request) {
	id, ok := c.sessionID(w, r)
	if !ok {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("capacity")))
	if err != nil || n < 1 || n > 10000 { // the API's binding: min=1, max=10000
		c.refused(w, r, deskBack(id), models.Invalid("capacity", "名额应为 1–10000 的整数"))
		return
	}
	// The same operation as the API's PATCH: the gate follows, freed places go
	// to the waiting list.
	if _, err := c.d.Ops.Sessions.Patch(r.Context(), c.actor(w, r), id, catalog.SessionPatch{Capacity: &n}); err != nil {
		c.refused(w, r, deskBack(id), err)
		return
	}
	c.done(w, r, deskBack(id), fmt.Sprintf("名额已改为 %d。", n))
}

// deskWalkIn books a place for a visitor without a phone of their own
// (代预约): found by phone, or registered at the desk first.
func (c *Console) deskWalkIn(w http.ResponseWriter, r *http.Request) {
	id, ok := c.sessionID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	in := booking.ResidentInput{RealName: strings.TrimSpace(r.PostFormValue("real_name")), Phone: strings.TrimSpace(r.PostFormValue("phone")),
		Estate: strings.TrimSpace(r.PostFormValue("estate"))}
	if len([]rune(in.RealName)) > 64 || len(in.Phone) > 32 || len([]rune(in.Estate)) > 32 { // the API's binding limits
		c.refused(w, r, deskBack(id), models.Invalid("real_name", "姓名、电话或小区过长"))
		return
	}
	b, res, created, err := c.d.Ops.Residents.DeskWalkIn(ctx, c.actor(w, r), id, in, r.PostFormValue("waitlist") == "on")
	if err != nil {
		c.refused(w, r, deskBack(id), err)
		return
	}
	who := res.RealName
	if created {
		who += "（新登记）"
	}
	c.done(w, r, deskBack(id), fmt.Sprintf("已为 %s 代预约：%s，签到码 %s。", who, bookingStatusText[b.Status], b.Code))
}

// deskRosterCSV downloads the roster as the API's roster.csv does.
func (c *Console) deskRosterCSV(w http.ResponseWriter, r *http.Request) {
	id, ok := c.sessionID(w, r)
	if !ok {
		return
	}
	rows, err := c.d.Bookings.Roster(r.Context(), id)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="roster-`+strconv.FormatInt(id, 10)+`.csv"`)
	_, _ = w.Write(booking.RosterCSV(rows))
}
