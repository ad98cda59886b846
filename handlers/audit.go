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
			ActorID: p.UserID, ActorRole: p.Role,
			Action:       c.Request.Method + " " + c.FullPath(),
			Target:       strings.Join(target, "&"),
			Status:       w.Status(),
			RequestID:    RequestID(c),
			RequestBody:  redactJSON(reqBody, childRoute),
			BeforeBody:   redactJSON(before, childRoute),
			ResponseBody: redactJSON(w.captured(), childRoute),
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

// redactJSON masks phone numbers to their last four digits and removes secrets and
// tokens from a JSON document, so audit entries never hold them. Non-JSON input
// returns nil.
// childData also masks names and allergies, for routes about children (PIPL: a
// child's name and health data are sensitive and encrypted everywhere else).
func redactJSON(b []byte, childData bool) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers stay as sent, and a phone sent as a number is still a phone
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil
	}
	out, err := json.Marshal(redact("", v, childData))
	if err != nil {
		return nil
	}
	return out
}

func redact(key string, v any, childData bool) any {
	k := strings.ToLower(key)
	switch x := v.(type) {
	case map[string]any:
		for kk, vv := range x {
			x[kk] = redact(kk, vv, childData)
		}
		return x
	case []any:
		for i := range x {
			x[i] = redact(key, x[i], childData)
		}
		return x
	case string:
		if childData && k == "name" {
			return maskName(x)
		}
		if childData && k == "allergies" && x != "" {
			return "***" // a minor's health data: the audit log needs that it changed, not what it says
		}
		return redactScalar(k, x, v)
	case json.Number:
		return redactScalar(k, string(x), v)
	}
	return v
}

// maskName keeps the first character: 小明 → 小*.
func maskName(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return s
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}

// redactScalar masks a phone or hides a secret held under key k, whether the
// client sent it as a string or a number; anything else is kept as v.
func redactScalar(k, s string, v any) any {
	switch {
	case strings.Contains(k, "phone"), strings.Contains(k, "emergency"):
		return models.MaskPhone(s)
	case strings.Contains(k, "secret"), strings.Contains(k, "token"), strings.Contains(k, "password"):
		return "***"
	}
	return v
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
