package handlers

import (
	"net/http"
	"strconv"

	"nantian/models/booking"

	"github.com/gin-gonic/gin"
)

// CalendarHandler serves a confirmed booking as an .ics file for the phone's
// calendar.
type CalendarHandler struct {
	Bookings *booking.Bookings
}

// Booking returns GET /bookings/{id}/calendar.ics to the booking's owner.
func (h *CalendarHandler) Booking(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	body, err := h.Bookings.Calendar(c.Request.Context(), Caller(c).UserID, id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="booking-`+strconv.FormatInt(id, 10)+`.ics"`)
	c.Data(http.StatusOK, "text/calendar; charset=utf-8", body)
}
