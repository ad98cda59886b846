package handlers

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/complaint"
	"nantian/wechat"
)

// ContentChecker is the part of the WeChat adapter that screens user text
// (msgSecCheck v2).
type ContentChecker interface {
	CheckText(ctx context.Context, openid, content string) (wechat.Verdict, error)
}

// ComplaintsHandler serves a resident's own work orders (民意速办).
type ComplaintsHandler struct {
	Complaints *complaint.Complaints
	Users      *account.Users
	Checker    ContentChecker
	// CheckContent turns msgSecCheck on (COMPLAINT_CONTENT_CHECK).
	CheckContent bool
}

// screen runs the content check on text written by user. Risky text is refused
// (422 content_rejected). Text WeChat wants reviewed, or could not judge because
// it was unreachable or the user has no openid (walk-in residents), is accepted
// and flagged for manual review: a complaint is never lost to a WeChat outage.
func (h *ComplaintsHandler) screen(ctx context.Context, user account.User, text string) (complaint.Screening, error) {
	if !h.CheckContent {
		return complaint.Screening{}, nil
	}
	if user.OpenID == nil || *user.OpenID == "" {
		return complaint.Screening{NeedsReview: true, Reason: "no_openid"}, nil
	}
	v, err := h.Checker.CheckText(ctx, *user.OpenID, text)
	switch {
	case errors.Is(err, wechat.ErrUnavailable):
		slog.WarnContext(ctx, "content check unavailable; flagged for review", "user_id", user.ID, "err", err)
		return complaint.Screening{NeedsReview: true, Reason: "wechat_unavailable"}, nil
	case err != nil:
		slog.WarnContext(ctx, "content check failed; flagged for review", "user_id", user.ID, "err", err)
		return complaint.Screening{NeedsReview: true, Reason: "wechat_error"}, nil
	case v == wechat.VerdictRisky:
		return complaint.Screening{}, complaint.ErrContentRejected
	case v == wechat.VerdictReview:
		return complaint.Screening{NeedsReview: true, Reason: "wechat_review"}, nil
	}
	return complaint.Screening{}, nil
}

// Create files a work order.
func (h *ComplaintsHandler) Create(c *gin.Context) {
	var in complaint.ComplaintInput
	if !BindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	caller := Caller(c)
	user, err := h.Users.Get(ctx, caller.UserID)
	if err != nil {
		Fail(c, err)
		return
	}
	scr, err := h.screen(ctx, user, in.Content+"\n"+in.Location)
	if err != nil {
		Fail(c, err)
		return
	}
	out, err := h.Complaints.Create(ctx, caller.UserID, in, scr)
	if err != nil {
		failRetryAfter(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

// failRetryAfter is Fail plus Retry-After for a limit that says when it lifts
// (the daily complaint limit, the pending-upload cap).
func failRetryAfter(c *gin.Context, err error) {
	var ra *complaint.RetryAfterError
	if errors.As(err, &ra) {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(ra.After.Seconds()))))
	}
	Fail(c, err)
}

// List returns the caller's own work orders, newest first (?status=).
func (h *ComplaintsHandler) List(c *gin.Context) {
	status := c.Query("status")
	if status != "" && !complaint.ValidComplaintStatus(status) {
		Abort(c, http.StatusBadRequest, "invalid_request", "status: 无效的状态")
		return
	}
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	items, err := h.Complaints.List(c.Request.Context(), complaint.ComplaintFilter{UserID: Caller(c).UserID, Status: status, Page: page})
	if err != nil {
		Fail(c, err)
		return
	}
	respondComplaints(c, items, page)
}

func respondComplaints(c *gin.Context, items []complaint.Complaint, page models.Page) {
	writePage(c, page, items, nil, func(x complaint.Complaint) int64 { return x.ID })
}

// Get returns one work order with its timeline, to its filer or staff (others 404).
func (h *ComplaintsHandler) Get(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	out, err := h.Complaints.Detail(c.Request.Context(), id, Caller(c))
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// Rate records the filer's rating; 2 or less sends the order back for rework.
func (h *ComplaintsHandler) Rate(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var in complaint.RatingInput
	if !BindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	caller := Caller(c)
	if in.Comment != "" {
		if _, err := h.Complaints.Get(ctx, id, models.Principal{UserID: caller.UserID, Role: models.RoleResident}, false); err != nil {
			Fail(c, err)
			return
		}
		if !h.screenOK(c, caller.UserID, in.Comment) {
			return
		}
	}
	out, err := h.Complaints.Rate(ctx, id, caller, in)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// screenOK refuses risky free text in follow-ups (rating comments, reopen
// reasons); anything else passes, since these are shown only to staff.
func (h *ComplaintsHandler) screenOK(c *gin.Context, userID int64, text string) bool {
	user, err := h.Users.Get(c.Request.Context(), userID)
	if err != nil {
		Fail(c, err)
		return false
	}
	if _, err := h.screen(c.Request.Context(), user, text); err != nil {
		Fail(c, err)
		return false
	}
	return true
}

type reopenRequest struct {
	Reason string `json:"reason" binding:"required,max=500"`
}

// Reopen sends a resolved order back for rework at the filer's request.
func (h *ComplaintsHandler) Reopen(c *gin.Context) {
	id, ok := PathID(c, "id")
	if !ok {
		return
	}
	var req reopenRequest
	if !BindJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	caller := Caller(c)
	if _, err := h.Complaints.Get(ctx, id, models.Principal{UserID: caller.UserID, Role: models.RoleResident}, false); err != nil {
		Fail(c, err)
		return
	}
	if !h.screenOK(c, caller.UserID, req.Reason) {
		return
	}
	out, err := h.Complaints.Reopen(ctx, id, caller, req.Reason)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}
