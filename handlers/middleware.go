package handlers

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"nantian/models"
	"nantian/models/account"
)

const (
	ctxRequestID = "nantian.request_id"
	ctxPrincipal = "nantian.principal"
)

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}

// RequestID returns the request's id.
func RequestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// Recover turns a panic into a 500 envelope and a log line with the stack; the
// client sees no details.
func Recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				Logger(c).ErrorContext(c.Request.Context(), "panic", "request_id", RequestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					Abort(c, http.StatusInternalServerError, "internal", "服务器内部错误")
				} else {
					c.Abort()
				}
			}
		}()
		c.Next()
	}
}

// Metrics are the Prometheus series the middleware records.
type Metrics struct {
	Requests *prometheus.CounterVec
	Duration *prometheus.HistogramVec
}

// NewMetrics registers the HTTP series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by method and route template.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.Requests, m.Duration)
	return m
}

// Middleware records each request under its route template (not the raw path, so
// ids do not explode the series count).
func (m *Metrics) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.Requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Inc()
		m.Duration.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
	}
}

// AccessLog writes one JSON line per request. It logs the route template and the
// ids in the path (pathAttrs), never the raw path, headers, bodies or query
// strings, where tokens and codes travel.
// loggerKey holds the app's logger in a request's gin context (set by AccessLog).
const loggerKey = "nantian.logger"

// Logger is the app's logger for this request: what a handler logs (a failure's
// cause, a dependency down) goes where the access log goes, with the app's
// handler and level, not to the process-wide slog default. In production the two
// are the same logger (serve sets it as the default); a test's app keeps its own,
// so the cause of a failed request is in that app's log beside its access line
// (and printed when the test fails), whatever another test set as the default.
// slog.Default() before AccessLog has run (a panic in earlier middleware).
func Logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		if logger, ok := l.(*slog.Logger); ok {
			return logger
		}
	}
	return slog.Default()
}

func AccessLog(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Set(loggerKey, logger)
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		// A 499 (StatusClientClosed) stays at info: the client left, nothing failed.
		attrs := []slog.Attr{
			slog.String("request_id", RequestID(c)),
			slog.String("method", c.Request.Method),
		}
		attrs = append(attrs, pathAttrs(c)...)
		attrs = append(attrs,
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("ip", c.ClientIP()),
		)
		if p, ok := principal(c); ok {
			attrs = append(attrs, slog.Int64("user_id", p.UserID))
		}
		logger.LogAttrs(c.Request.Context(), level, "http", attrs...)
	}
}

// BodyLimit caps request bodies; reading past it fails with http.MaxBytesError,
// which handlers answer with 413.
func BodyLimit(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		}
		c.Next()
	}
}

// Authenticator checks bearer tokens and resolves the caller.
type Authenticator struct {
	Tokens *account.Tokens
	Cache  *account.AuthCache
}

// Required rejects requests without a valid access token (401) and records the
// caller, with the role as it is now in the database rather than as the token says.
func (a *Authenticator) Required() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			Abort(c, http.StatusUnauthorized, "unauthorized", "请先登录")
			return
		}
		claims, uid, err := a.Tokens.ParseAccessCached(strings.TrimSpace(token))
		if err != nil {
			Fail(c, err)
			return
		}
		p, err := a.Cache.Principal(c.Request.Context(), uid, claims.SID)
		if err != nil {
			Fail(c, err)
			return
		}
		c.Set(ctxPrincipal, p)
		c.Next()
	}
}

// RequireStaff lets staff and admins through; residents get 403.
func RequireStaff() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := principal(c)
		if !ok || !models.IsStaff(p.Role) {
			Abort(c, http.StatusForbidden, "forbidden", "仅限工作人员")
			return
		}
		c.Next()
	}
}

// RequireAdmin lets admins through; everyone else gets 403.
func RequireAdmin() gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := principal(c)
		if !ok || p.Role != models.RoleAdmin {
			Abort(c, http.StatusForbidden, "forbidden", "仅限管理员")
			return
		}
		c.Next()
	}
}

func principal(c *gin.Context) (models.Principal, bool) {
	v, ok := c.Get(ctxPrincipal)
	if !ok {
		return models.Principal{}, false
	}
	p, ok := v.(models.Principal)
	return p, ok
}

// Caller returns the authenticated caller. Only call it behind Required.
func Caller(c *gin.Context) models.Principal {
	p, _ := principal(c)
	return p
}

// Actor is the caller as the domain operations (models/ops) take them: who,
// through the API's door, with the request id of the access log line and the
// client address (behind TRUSTED_PROXIES).
func Actor(c *gin.Context) models.Actor {
	p := Caller(c)
	return models.Actor{UserID: p.UserID, Role: p.Role, Door: models.DoorAPI, RequestID: RequestID(c), IP: c.ClientIP()}
}

// NoRoute and NoMethod keep the envelope for the router's own 404 and 405.
func NoRoute(c *gin.Context) { Abort(c, http.StatusNotFound, "not_found", "接口不存在") }

// NoMethod answers 405 in the envelope.
func NoMethod(c *gin.Context) {
	Abort(c, http.StatusMethodNotAllowed, "method_not_allowed", "不支持该请求方法")
}
