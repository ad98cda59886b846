package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/models"
)

// maxCachedReport bounds what ReportCache keeps: a report is a few KiB; a bigger
// answer (a long CSV export) is served but not stored.
const maxCachedReport = 512 << 10

// cachedReport is one stored answer.
type cachedReport struct {
	ContentType        string `json:"ct"`
	ContentDisposition string `json:"cd,omitempty"`
	Body               []byte `json:"b"`
}

// ReportCache serves a report endpoint's successful answers from Redis for ttl,
// to every staff member asking the same question (same path and query): the
// figures are the same for all staff, and a dashboard left open by a whole
// office, or a staff member looping the annual report, costs one computation per
// ttl instead of one per request. Only 200s are stored. Redis being down
// serves the request uncached. ttl 0: no cache.
func ReportCache(r *models.Redis, ttl time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ttl <= 0 || r == nil {
			c.Next()
			return
		}
		sum := sha256.Sum256([]byte(c.Request.Method + " " + c.Request.URL.Path + "?" + c.Request.URL.Query().Encode()))
		key := r.Key("reportcache", hex.EncodeToString(sum[:16]))
		ctx := c.Request.Context()
		if raw, err := r.Client.Get(ctx, key).Bytes(); err == nil {
			var hit cachedReport
			if json.Unmarshal(raw, &hit) == nil {
				if hit.ContentDisposition != "" {
					c.Header("Content-Disposition", hit.ContentDisposition)
				}
				c.Data(http.StatusOK, hit.ContentType, hit.Body)
				c.Abort()
				return
			}
		}
		w := &capturingWriter{ResponseWriter: c.Writer}
		c.Writer = w
		c.Next()
		c.Writer = w.ResponseWriter
		if w.Status() != http.StatusOK || w.overflow || ctx.Err() != nil {
			return
		}
		raw, err := json.Marshal(cachedReport{ContentType: w.Header().Get("Content-Type"),
			ContentDisposition: w.Header().Get("Content-Disposition"), Body: w.buf.Bytes()})
		if err != nil {
			return
		}
		if err := r.Client.Set(ctx, key, raw, ttl).Err(); err != nil {
			Logger(c).WarnContext(ctx, "report cache not stored", "request_id", RequestID(c), "err", err)
		}
	}
}

// capturingWriter keeps a copy of what the handler writes, up to maxCachedReport.
type capturingWriter struct {
	gin.ResponseWriter
	buf      bytes.Buffer
	overflow bool
}

func (w *capturingWriter) Write(b []byte) (int, error) {
	w.keep(b)
	return w.ResponseWriter.Write(b)
}

func (w *capturingWriter) WriteString(s string) (int, error) {
	w.keep([]byte(s))
	return w.ResponseWriter.WriteString(s)
}

func (w *capturingWriter) keep(b []byte) {
	if w.overflow {
		return
	}
	if w.buf.Len()+len(b) > maxCachedReport {
		w.overflow = true
		w.buf.Reset()
		return
	}
	w.buf.Write(b)
}
