package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"nantian/models/booking"
	"nantian/models/ops"

	"github.com/gin-gonic/gin"
)

// StaffBookingsHandler serves the staff side of bookings: the pending queue,
// confirm and reject, check-in, closing and cancelling sessions, the roster.
type StaffBookingsHandler struct {
	Bookings *booking.Bookings // reads: the queue, the roster
	// Decisions and Sessions are the staff operations (audited, with their
	// follow-ups: notices, the waiting list, the gate).
	Decisions *ops.Bookings
	Sessions  *ops.Sessions
}

// List lists bookings across sessions by ?status= and ?session_id=.
func (h *StaffBookingsHandler) List(c *gin.Context) {
	f := booking.BookingFilter{Status: c.Query("status")}
	if f.Status != "" && !booking.ValidBookingStatus(f.Status) {
		Abort(c, http.StatusBadRequest, "invalid_request", "status: 无效的预约状态")
		return
	}
	if s := c.Query("session_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			Abort(c, http.StatusBadRequest, "invalid_request", "session_id: 必须是正整数")
			return
		}
		f.SessionID = id
	}
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	f.Page = page
	items, err := h.Bookings.List(c.Request.Context(), f)
	if err != nil {
		Fail(c, err)
		return
	}
	respondBookings(c, items, page)
}

// Confirm approves a pending booking (409 invalid_transition otherwise).
func (h *StaffBookingsHandler) Confirm(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	b, err := h.Decisions.Confirm(c.Request.Context(), Actor(c), id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}

type rejectInput struct {
	Reason string `json:"reason" binding:"max=200"`
}

// Reject refuses a pending booking, with an optional reason.
func (h *StaffBookingsHandler) Reject(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in rejectInput
	if !bindOptional(c, &in) {
		return
	}
	b, err := h.Decisions.Reject(c.Request.Context(), Actor(c), id, strings.TrimSpace(in.Reason))
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}

// checkinInput is what the staff page sends after scanning. The code has no
// length limit here: whatever a scanner reads that is not a booking's code is
// "unknown code → 404" (api.md), not a validation error, so a stray QR (a URL, a
// payment code) gets the same answer as a mistyped one. The model refuses any
// length a code cannot have before asking the database.
type checkinInput struct {
	Code string `json:"code" binding:"required"`
}

// CheckIn marks the booking with the scanned code attended.
func (h *StaffBookingsHandler) CheckIn(c *gin.Context) {
	var in checkinInput
	if !BindJSON(c, &in) {
		return
	}
	b, err := h.Sessions.CheckIn(c.Request.Context(), Actor(c), in.Code)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}

// CloseSession ends a session, marking confirmed bookings not checked in no_show.
func (h *StaffBookingsHandler) CloseSession(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	res, err := h.Sessions.Close(c.Request.Context(), Actor(c), id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// CancelSession cancels a session and every booking in it.
func (h *StaffBookingsHandler) CancelSession(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	s, err := h.Sessions.Cancel(c.Request.Context(), Actor(c), id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

// Roster writes the session's attendance roster as CSV (booking.RosterCSV): UTF-8
// with a BOM so Excel opens the Chinese correctly, phone numbers masked but the
// last four digits.
func (h *StaffBookingsHandler) Roster(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	rows, err := h.Bookings.Roster(c.Request.Context(), id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="roster-`+strconv.FormatInt(id, 10)+`.csv"`)
	c.Data(http.StatusOK, "text/csv; charset=utf-8", booking.RosterCSV(rows))
}
