package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"nantian/models"
	"nantian/models/points"
)

// PointsStore is what the resident points handler uses.
type PointsStore interface {
	IssueCode(userID int64) points.ResidentCode
	Summary(ctx context.Context, userID int64) (points.Summary, error)
	Ledger(ctx context.Context, userID int64, page models.Page) ([]points.LedgerEntry, error)
	ListRewards(ctx context.Context, activeOnly bool, page models.Page) ([]points.Reward, error)
	Redeem(ctx context.Context, userID, rewardID int64) (points.Redemption, error)
	ListRedemptions(ctx context.Context, f points.RedemptionFilter) ([]points.Redemption, error)
}

// PointsHandler serves a resident's points, rewards and redemptions.
type PointsHandler struct {
	Points PointsStore
}

// Code issues a 60-second code for the bin's scanner.
func (h *PointsHandler) Code(c *gin.Context) {
	c.JSON(http.StatusOK, h.Points.IssueCode(Caller(c).UserID))
}

// Summary is the balance, today's points and the daily cap.
func (h *PointsHandler) Summary(c *gin.Context) {
	s, err := h.Points.Summary(c.Request.Context(), Caller(c).UserID)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s)
}

// Ledger lists the caller's entries, newest first.
func (h *PointsHandler) Ledger(c *gin.Context) {
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Points.Ledger(c.Request.Context(), Caller(c).UserID, page)
	writePage(c, page, items, err, func(x points.LedgerEntry) int64 { return x.ID })
}

// Rewards lists the active rewards.
func (h *PointsHandler) Rewards(c *gin.Context) {
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Points.ListRewards(c.Request.Context(), true, page)
	writePage(c, page, items, err, func(x points.Reward) int64 { return x.ID })
}

type redeemRequest struct {
	RewardID int64 `json:"reward_id" binding:"required,gt=0"`
}

// Redeem exchanges points for a reward: 201 pending with a pickup code.
func (h *PointsHandler) Redeem(c *gin.Context) {
	var in redeemRequest
	if !BindJSON(c, &in) {
		return
	}
	r, err := h.Points.Redeem(c.Request.Context(), Caller(c).UserID, in.RewardID)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, r)
}

// Redemptions lists the caller's redemptions, newest first.
func (h *PointsHandler) Redemptions(c *gin.Context) {
	status := c.Query("status")
	if !validRedemptionStatus(status) {
		Abort(c, http.StatusBadRequest, "invalid_request", "status: 必须是 pending|fulfilled|cancelled 之一")
		return
	}
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Points.ListRedemptions(c.Request.Context(), points.RedemptionFilter{UserID: Caller(c).UserID, Status: status, Page: page})
	writePage(c, page, items, err, func(x points.Redemption) int64 { return x.ID })
}

func validRedemptionStatus(s string) bool {
	switch s {
	case "", points.RedemptionPending, points.RedemptionFulfilled, points.RedemptionCancelled:
		return true
	}
	return false
}
