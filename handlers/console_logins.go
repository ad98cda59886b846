package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"nantian/models/consolelogin"
)

// ConsoleLoginsHandler lets staff approve a console login ticket from the
// mini-program (api.md, "Staff console").
type ConsoleLoginsHandler struct {
	Logins *consolelogin.Store
}

type consoleLoginInput struct {
	Ticket string `json:"ticket" binding:"required,max=32"`
}

// Approve signs the browser that shows the ticket in as the caller: 204, or 404
// unknown/expired, 409 ticket_used.
func (h *ConsoleLoginsHandler) Approve(c *gin.Context) {
	var in consoleLoginInput
	if !BindJSON(c, &in) {
		return
	}
	if err := h.Logins.Approve(c.Request.Context(), Caller(c), in.Ticket); err != nil {
		Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
