package handlers

import (
	"net/http"
	"strings"

	"nantian/models/account"
	"nantian/models/booking"
	"nantian/models/privacy"

	"github.com/gin-gonic/gin"
)

// MeHandler serves the caller's own profile, phone, subscriptions and children.
type MeHandler struct {
	Users    *account.Users
	Children *account.Children
	WeChat   WeChatAuth
	// WalkIns merges a walk-in registered at the desk with the phone just
	// verified into the caller.
	WalkIns *booking.WalkIns
	// Privacy erases a child on the guardian's request, cancelling its live
	// bookings first.
	Privacy *privacy.Privacy
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
	// Idempotent: if it fails, the client's retry stores the phone again and merges.
	if _, err := h.WalkIns.MergeVerifiedPhone(ctx, u.ID); err != nil {
		Fail(c, err)
		return
	}
	if u, err = h.Users.Get(ctx, u.ID); err != nil {
		Fail(c, err)
		return
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
	if err := h.Privacy.DeleteChild(c.Request.Context(), Actor(c), id); err != nil {
		Fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
