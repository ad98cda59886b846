package console

import (
	"html/template"
	"net/http"
	"time"

	"nantian/models/desk"
)

// Journey 1 — Today: the day's sessions with booked/capacity/waitlist, and
// what waits for staff (approvals, complaints near or past a limit,
// redemptions to hand over). The tiles refresh every 5 s without a reload.

// todayView is the board with its session table's body rendered (rows.go).
type todayView struct {
	desk.Today
	Rows template.HTML
}

func (c *Console) todayPage(w http.ResponseWriter, r *http.Request) {
	day, err := c.d.Desk.Day(r.Context(), time.Now())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "today", c.newView(r, "今日", "today", todayView{Today: day, Rows: c.daySessionRows(day.Sessions, true)}))
}

// todayLive is the tiles alone, for the 5 s refresh.
func (c *Console) todayLive(w http.ResponseWriter, r *http.Request) {
	counts, err := c.d.Desk.LiveCounts(r.Context(), time.Now())
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	c.fragment(w, r, http.StatusOK, "today", "live", c.newView(r, "今日", "today", struct{ Counts any }{counts}))
}
