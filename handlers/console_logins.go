package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"nantian/models/ops"
)

// ConsoleLoginsHandler lets staff approve a console login ticket from the
// mini-program (api.md, "Staff console").
type ConsoleLoginsHandler struct {
	Admin *ops.Admin
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
	if err := h.Admin.ApproveConsoleLogin(c.Request.Context(), Actor(c), Caller(c).LoginID, in.Ticket); err != nil {
		Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
