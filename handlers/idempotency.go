package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"nantian/models"
)

// RequestHash identifies a request for Idempotency-Key: method, path and body,
// with a JSON body in canonical form (keys sorted, no insignificant space,
// numbers as sent), so a retry that re-serialises the same JSON differently is
// still the same request; any other body counts byte for byte.
func RequestHash(method, path string, body []byte) string {
	sum := sha256.Sum256(append([]byte(method+" "+path+"\n"), canonicalJSON(body)...))
	return hex.EncodeToString(sum[:])
}

// canonicalJSON re-encodes one JSON value with sorted keys (encoding/json sorts
// map keys) and numbers kept as written; input that is not exactly one JSON
// value is returned unchanged.
func canonicalJSON(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return body
	}
	if _, err := dec.Token(); err != io.EOF {
		return body // trailing garbage after the value
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// Idempotent makes a POST safe to retry with an `Idempotency-Key` header
// (api.md, Conventions). Put it on a route behind Authenticator.Required:
//
//	user.POST("/bookings", handlers.Idempotent(store), h.Create)
//
// Without the header the request runs normally. With it:
//   - the key is scoped to the caller and the route, so two users (or two routes)
//     never share one;
//   - the first request runs and its status and body are kept for store.TTL
//     (≥ 24 h); a retry with the same key and the same body (the same JSON,
//     however serialised: RequestHash) gets them back unchanged, with
//     `Idempotent-Replayed: true`;
//   - the same key with a different body → 422 `idempotency_key_reused`;
//   - a retry while the first is still running → 409 `idempotency_in_progress`;
//   - a 5xx or a 429 is not kept, so the retry runs again;
//   - a key longer than 128 bytes or with control characters → 400.
//
// If Redis is unreachable the request runs without the protection (the domain's
// own unique keys still stop double effects, e.g. already_booked).
func Idempotent(store *models.Idempotency) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader("Idempotency-Key")
		if key == "" {
			c.Next()
			return
		}
		if len(key) > 128 || !printable(key) {
			Abort(c, http.StatusBadRequest, "invalid_request", "Idempotency-Key: 最长 128 个可见字符")
			return
		}
		var body []byte
		if c.Request.Body != nil {
			var err error
			if body, err = io.ReadAll(c.Request.Body); err != nil {
				Fail(c, err)
				return
			}
			c.Request.Body = io.NopCloser(bytes.NewReader(body))
		}
		hash := RequestHash(c.Request.Method, c.Request.URL.Path, body)
		scope := "u" + strconv.FormatInt(Caller(c).UserID, 10) + ":" + c.FullPath()
		ctx := c.Request.Context()
		rec, started, err := store.Begin(ctx, scope, key, hash)
		if err != nil {
			Logger(c).WarnContext(ctx, "idempotency store unavailable; running without it", "request_id", RequestID(c), "err", err)
			c.Next()
			return
		}
		if !started {
			switch {
			case rec.Hash != hash:
				Abort(c, http.StatusUnprocessableEntity, "idempotency_key_reused", "该 Idempotency-Key 已用于另一个请求")
			case rec.Running:
				Abort(c, http.StatusConflict, "idempotency_in_progress", "相同请求正在处理中，请稍后重试")
			default:
				c.Header("Idempotent-Replayed", "true")
				c.Data(rec.Status, rec.ContentType, rec.Body)
				c.Abort()
			}
			return
		}
		rw := &recordingWriter{ResponseWriter: c.Writer}
		c.Writer = rw
		// The outcome is stored even when the client hung up meanwhile: that client
		// is exactly the one that will retry with this key.
		ctx = context.WithoutCancel(ctx)
		defer func() {
			// Also on panic: never leave the key "running" for RunningTTL.
			if r := recover(); r != nil {
				store.Abandon(ctx, scope, key)
				panic(r)
			}
		}()
		c.Next()
		status := rw.Status()
		if status >= 500 || status == http.StatusTooManyRequests || !rw.Written() {
			store.Abandon(ctx, scope, key)
			return
		}
		err = store.Finish(ctx, scope, key, models.IdempotencyRecord{Hash: hash, Status: status, ContentType: rw.Header().Get("Content-Type"), Body: rw.buf.Bytes()})
		if err != nil {
			Logger(c).WarnContext(ctx, "idempotency outcome not stored", "request_id", RequestID(c), "err", errors.Unwrap(err))
			store.Abandon(ctx, scope, key)
		}
	}
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x21 || r == 0x7f {
			return false
		}
	}
	return true
}

// recordingWriter copies the response body as it is written.
type recordingWriter struct {
	gin.ResponseWriter
	buf bytes.Buffer
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) WriteString(s string) (int, error) {
	w.buf.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
