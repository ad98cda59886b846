package handlers

import (
	"net/http"
	"strings"

	"nantian/models/account"
	"nantian/models/booking"
	"nantian/models/ops"

	"github.com/gin-gonic/gin"
)

// WalkInHandler serves staff registering walk-in residents (no WeChat) and
// booking, cancelling and checking in for them (代预约).
type WalkInHandler struct {
	WalkIns *booking.WalkIns // reads
	// Residents are the staff operations for walk-ins (audited).
	Residents *ops.Residents
}

// Create registers a walk-in resident by name and phone.
func (h *WalkInHandler) Create(c *gin.Context) {
	var in booking.ResidentInput
	if !BindJSON(c, &in) {
		return
	}
	r, err := h.Residents.Create(c.Request.Context(), Actor(c), in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, r)
}

// List finds walk-ins by ?phone= (exact) or ?name= (prefix), or lists them all.
func (h *WalkInHandler) List(c *gin.Context) {
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	f := booking.ResidentFilter{Phone: strings.TrimSpace(c.Query("phone")), Name: strings.TrimSpace(c.Query("name")), Page: page}
	if len(f.Name) > 64 {
		Abort(c, http.StatusBadRequest, "invalid_request", "name: 最长 64 个字符")
		return
	}
	items, err := h.WalkIns.List(c.Request.Context(), f)
	writePage(c, page, items, err, func(r booking.Resident) int64 { return r.ID })
}

// Get returns one walk-in (404 for a WeChat user or a merged walk-in).
func (h *WalkInHandler) Get(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	r, err := h.WalkIns.Get(c.Request.Context(), id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

// CreateChild stores a walk-in's child (the guardian consents at the desk).
func (h *WalkInHandler) CreateChild(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in account.ChildInput
	if !BindJSON(c, &in) {
		return
	}
	kid, err := h.Residents.CreateChild(c.Request.Context(), Actor(c), id, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, kid)
}

// ListBookings lists a walk-in's bookings, optionally by ?status=.
func (h *WalkInHandler) ListBookings(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	status := c.Query("status")
	if status != "" && !booking.ValidBookingStatus(status) {
		Abort(c, http.StatusBadRequest, "invalid_request", "status: 无效的预约状态")
		return
	}
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.WalkIns.ListBookings(c.Request.Context(), id, status, page)
	if err != nil {
		Fail(c, err)
		return
	}
	respondBookings(c, items, page)
}

// Book books a session for a walk-in (same body and answers as POST /bookings).
func (h *WalkInHandler) Book(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in booking.BookInput
	if !BindJSON(c, &in) {
		return
	}
	b, err := h.Residents.Book(c.Request.Context(), Actor(c), id, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, b)
}

// Enroll enrolls a walk-in in a whole course (every upcoming session, all or
// nothing): POST /staff/residents/{id}/enrollments {"program_id", "child_id"?}.
func (h *WalkInHandler) Enroll(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in struct {
		ProgramID int64  `json:"program_id" binding:"required,min=1"`
		ChildID   *int64 `json:"child_id" binding:"omitempty,min=1"`
	}
	if !BindJSON(c, &in) {
		return
	}
	bs, err := h.Residents.Enroll(c.Request.Context(), Actor(c), id, in.ProgramID, booking.EnrollInput{ChildID: in.ChildID})
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"bookings": bs})
}

// Cancel cancels a walk-in's booking under the resident rules.
func (h *WalkInHandler) Cancel(c *gin.Context) {
	id, bid, ok := residentBooking(c)
	if !ok {
		return
	}
	b, err := h.Residents.Cancel(c.Request.Context(), Actor(c), id, bid)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}

// CheckIn checks a walk-in in for their booking.
func (h *WalkInHandler) CheckIn(c *gin.Context) {
	id, bid, ok := residentBooking(c)
	if !ok {
		return
	}
	b, err := h.Residents.CheckIn(c.Request.Context(), Actor(c), id, bid)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, b)
}

func residentBooking(c *gin.Context) (int64, int64, bool) {
	id, ok := PathID(c, "id")
	if !ok {
		return 0, 0, false
	}
	bid, ok := PathID(c, "booking_id")
	return id, bid, ok
}
