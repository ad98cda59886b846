package handlers

import (
	"net/http"

	"nantian/models/account"

	"github.com/gin-gonic/gin"
)

// AdminHandler serves admin-only user management.
type AdminHandler struct {
	Users *account.Users
	Cache *account.AuthCache
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
	ctx := c.Request.Context()
	u, err := h.Users.SetRole(ctx, id, req.Role)
	if err != nil {
		Fail(c, err)
		return
	}
	h.Cache.InvalidateUser(ctx, id)
	c.JSON(http.StatusOK, u)
}
