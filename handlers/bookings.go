package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"nantian/models"
	"nantian/models/booking"
)

// BookingsHandler serves residents' bookings and enrolments.
type BookingsHandler struct {
	Bookings *booking.Bookings
	// Limit is the per-user booking rate limit (nil: none), checked after the
	// free sold-out refusal.
	Limit *Rule
}

// Create books a session (or joins its waiting list with "waitlist": true).
func (h *BookingsHandler) Create(c *gin.Context) {
	var in booking.BookInput
	if !BindJSON(c, &in) {
		return
	}
	// A session this instance knows is full is refused below without Redis or
	// MySQL; only requests that may get a place are counted against the limit.
	if h.Limit != nil && (in.Waitlist || !h.Bookings.KnownSoldOut(in.SessionID)) && !h.Limit.Allow(c) {
		return
	}
	b, err := h.Bookings.Book(c.Request.Context(), Caller(c).UserID, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, b)
}

// Enroll books every upcoming session of a course, all or nothing.
func (h *BookingsHandler) Enroll(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in booking.EnrollInput
	if !bindOptional(c, &in) {
		return
	}
	if h.Limit != nil && !h.Limit.Allow(c) {
		return
	}
	bs, err := h.Bookings.Enroll(c.Request.Context(), Caller(c).UserID, id, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"bookings": bs})
}

// List returns the caller's bookings, optionally by ?status=.
func (h *BookingsHandler) List(c *gin.Context) {
	status := c.Query("status")
	if status != "" && !booking.ValidBookingStatus(status) {
		Abort(c, http.StatusBadRequest, "invalid_request", "status: 无效的预约状态")
		return
	}
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Bookings.List(c.Request.Context(), booking.BookingFilter{UserID: Caller(c).UserID, Status: status, Page: page})
	if err != nil {
		Fail(c, err)
		return
	}
	respondBookings(c, items, page)
}

func respondBookings(c *gin.Context, items []booking.Booking, page models.Page) {
	writePage(c, page, items, nil, func(b booking.Booking) int64 { return b.ID })
}

// Get returns one booking to its owner or staff (404 for anyone else).
func (h *BookingsHandler) Get(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	b, err := h.Bookings.Get(c.Request.Context(), Caller(c), id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}

// Cancel cancels the caller's booking.
func (h *BookingsHandler) Cancel(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	b, err := h.Bookings.Cancel(c.Request.Context(), Caller(c).UserID, id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}
