package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/models"
)

// AuditHandler lets admins read the audit log. The entries are written by the
// domain operations themselves (models/ops), whichever door they came through.
type AuditHandler struct {
	Audit *models.Audit
}

// List answers GET /admin/audit?actor_id=&action=&from=&to= (RFC 3339), newest first.
func (h *AuditHandler) List(c *gin.Context) {
	page, ok := ParsePage(c)
	if !ok {
		return
	}
	f := models.AuditFilter{Page: page, Action: c.Query("action")}
	if s := c.Query("actor_id"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			Abort(c, http.StatusBadRequest, "invalid_request", "actor_id: 必须是正整数")
			return
		}
		f.ActorID = id
	}
	for name, dst := range map[string]**time.Time{"from": &f.From, "to": &f.To} {
		if s := c.Query(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err == nil && !models.StorableTime(t) {
				err = errors.New("out of range")
			}
			if err != nil {
				Abort(c, http.StatusBadRequest, "invalid_request", name+": 需要 RFC 3339 时间，例如 2024-03-05T19:00:00+08:00")
				return
			}
			*dst = &t
		}
	}
	items, err := h.Audit.List(c.Request.Context(), f)
	writePage(c, page, items, err, func(e models.AuditEntry) int64 { return e.ID })
}
