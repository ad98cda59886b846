package handlers

import (
	"context"
	"net/http"
	"strings"

	"nantian/models/account"

	"github.com/gin-gonic/gin"
)

// MeHandler serves the caller's own profile, phone, subscriptions and children.
type MeHandler struct {
	Users    *account.Users
	Children *account.Children
	WeChat   WeChatAuth
	// AfterPhoneVerified runs once the verified phone is stored: it merges a
	// walk-in registered at the desk with that phone into the caller (nil: none).
	AfterPhoneVerified func(ctx context.Context, userID int64) error
	// EraseChild erases a child, cancelling its upcoming bookings first
	// (nil: Children.Delete alone).
	EraseChild func(ctx context.Context, guardianID, childID int64) error
}

// Get returns the caller's profile.
func (h *MeHandler) Get(c *gin.Context) {
	u, err := h.Users.Get(c.Request.Context(), Caller(c).UserID)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

// Patch changes profile fields; role and phone are not among them.
func (h *MeHandler) Patch(c *gin.Context) {
	var p account.ProfilePatch
	if !BindJSON(c, &p) {
		return
	}
	u, err := h.Users.UpdateProfile(c.Request.Context(), Caller(c).UserID, p)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

type phoneRequest struct {
	Code string `json:"code" binding:"required,max=128"`
}

// Phone exchanges a getPhoneNumber code for the verified number.
func (h *MeHandler) Phone(c *gin.Context) {
	var req phoneRequest
	if !BindJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	phone, err := h.WeChat.PhoneNumber(ctx, req.Code)
	if err != nil {
		failWeChat(c, err, phoneCodeRefused)
		return
	}
	u, err := h.Users.SetVerifiedPhone(ctx, Caller(c).UserID, phone)
	if err != nil {
		Fail(c, err)
		return
	}
	if h.AfterPhoneVerified != nil {
		// Idempotent: if it fails, the client's retry stores the phone again and merges.
		if err := h.AfterPhoneVerified(ctx, u.ID); err != nil {
			Fail(c, err)
			return
		}
		if u, err = h.Users.Get(ctx, u.ID); err != nil {
			Fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, u)
}

type subscriptionsRequest struct {
	TemplateIDs []string `json:"template_ids" binding:"required,min=1,max=20,dive,required,max=64"`
}

// Subscriptions records the one-time subscribe-message grants the user accepted.
func (h *MeHandler) Subscriptions(c *gin.Context) {
	var req subscriptionsRequest
	if !BindJSON(c, &req) {
		return
	}
	for i := range req.TemplateIDs {
		req.TemplateIDs[i] = strings.TrimSpace(req.TemplateIDs[i])
	}
	grants, err := h.Users.AddSubscriptionGrants(c.Request.Context(), Caller(c).UserID, req.TemplateIDs)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"grants": grants})
}

// ListChildren lists the caller's children.
func (h *MeHandler) ListChildren(c *gin.Context) {
	kids, err := h.Children.List(c.Request.Context(), Caller(c).UserID)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, List[account.Child]{Items: kids})
}

// CreateChild stores a child; guardian_consent: true is required.
func (h *MeHandler) CreateChild(c *gin.Context) {
	var in account.ChildInput
	if !BindJSON(c, &in) {
		return
	}
	kid, err := h.Children.Create(c.Request.Context(), Caller(c).UserID, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, kid)
}

// GetChild returns one of the caller's children; anyone else's is 404.
func (h *MeHandler) GetChild(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	kid, err := h.Children.Get(c.Request.Context(), Caller(c).UserID, id)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, kid)
}

// PatchChild changes one of the caller's children.
func (h *MeHandler) PatchChild(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var p account.ChildPatch
	if !BindJSON(c, &p) {
		return
	}
	kid, err := h.Children.Update(c.Request.Context(), Caller(c).UserID, id, p)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, kid)
}

// DeleteChild erases one of the caller's children.
func (h *MeHandler) DeleteChild(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	del := h.Children.Delete
	if h.EraseChild != nil {
		del = h.EraseChild
	}
	if err := del(c.Request.Context(), Caller(c).UserID, id); err != nil {
		Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
