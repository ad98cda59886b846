package handlers

import (
	"net/http"

	"nantian/models/ops"

	"github.com/gin-gonic/gin"
)

// AdminHandler serves admin-only user management.
type AdminHandler struct {
	Admin *ops.Admin
}

type roleRequest struct {
	Role string `json:"role" binding:"required,oneof=resident staff admin"`
}

// SetRole changes a user's role; it applies from the user's next request.
func (h *AdminHandler) SetRole(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var req roleRequest
	if !BindJSON(c, &req) {
		return
	}
	u, err := h.Admin.SetRole(c.Request.Context(), Actor(c), id, req.Role)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}
