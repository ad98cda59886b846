package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/models"
)

// maxAuditBody bounds what one audit entry keeps of a request or response body.
const maxAuditBody = 16 << 10

// AuditHandler records staff actions and lets admins read them.
type AuditHandler struct {
	Audit *models.Audit
	// Before loads the state of a route's target (its :id) before the action, by
	// route template, so the entry holds before and after. Routes without a
	// loader record the request and the response (the after-state) only.
	Before map[string]func(ctx context.Context, id int64) (any, error)
}

// Middleware records every state-changing staff or admin request (anything but
// GET/HEAD/OPTIONS) after it ran: actor, route, path parameters, status, and the
// JSON request and response bodies with phone numbers masked and secrets removed.
// The response is the after-state the action produced. A failure to record is
// logged, not returned: the action has already happened.
func (h *AuditHandler) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		var reqBody []byte
		if strings.HasPrefix(c.ContentType(), "application/json") && c.Request.Body != nil {
			b, err := io.ReadAll(io.LimitReader(c.Request.Body, maxAuditBody+1))
			rest := c.Request.Body
			c.Request.Body = readCloser{io.MultiReader(bytes.NewReader(b), rest), rest}
			if err == nil && len(b) <= maxAuditBody {
				reqBody = b
			}
		}
		before := h.loadBefore(c)
		w := &captureWriter{ResponseWriter: c.Writer}
		c.Writer = w
		c.Next()

		p := Caller(c)
		childRoute := strings.Contains(c.FullPath(), "/children")
		var target []string
		for _, param := range c.Params {
			target = append(target, param.Key+"="+param.Value)
		}
		entry := models.AuditEntry{
			ActorID: p.UserID, ActorRole: p.Role, Door: models.DoorAPI, IP: c.ClientIP(),
			Action:       c.Request.Method + " " + c.FullPath(),
			Target:       strings.Join(target, "&"),
			Status:       w.Status(),
			RequestID:    RequestID(c),
			RequestBody:  models.RedactJSON(reqBody, childRoute),
			BeforeBody:   models.RedactJSON(before, childRoute),
			ResponseBody: models.RedactJSON(w.captured(), childRoute),
		}
		// Recorded even if the client hung up meanwhile: the action happened.
		if err := h.Audit.Record(context.WithoutCancel(c.Request.Context()), entry); err != nil {
			slog.WarnContext(c.Request.Context(), "audit entry not recorded", "request_id", RequestID(c), "action", entry.Action, "err", err)
		}
	}
}

// loadBefore reads the target's current state when the route has a loader; a
// missing target (the action will 404) or a failed read records no before-state.
func (h *AuditHandler) loadBefore(c *gin.Context) []byte {
	load := h.Before[c.FullPath()]
	if load == nil {
		return nil
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil
	}
	v, err := load(c.Request.Context(), id)
	if err != nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

type readCloser struct {
	io.Reader
	io.Closer
}

// captureWriter keeps the first maxAuditBody bytes of a JSON response.
type captureWriter struct {
	gin.ResponseWriter
	buf      bytes.Buffer
	overflow bool
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if !w.overflow {
		if w.buf.Len()+len(b) > maxAuditBody {
			w.overflow = true
		} else {
			w.buf.Write(b)
		}
	}
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

func (w *captureWriter) captured() []byte {
	if w.overflow || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		return nil
	}
	return w.buf.Bytes()
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
