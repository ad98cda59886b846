package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"nantian/models"
)

// Rate limiting uses github.com/go-redis/redis_rate (GCRA in one Lua script, so the
// count is shared by every instance and atomic) rather than a home-made counter.
//
// Redis down must not lock everyone out: a failed check lets the request through.
// After a failure the limiter stops asking Redis for RedisPause (so requests do not
// each wait for a dial timeout) and logs one warning per pause, not one per request.

// RateLimiter checks requests against per-key allowances kept in Redis.
type RateLimiter struct {
	limiter *redis_rate.Limiter
	redis   *models.Redis
	logger  *slog.Logger
	// RedisPause is how long the limiter lets everything through after Redis failed
	// before it tries Redis again.
	RedisPause time.Duration
	Now        func() time.Time // the clock for the pause; tests move it

	mu        sync.Mutex
	downUntil time.Time
	skipped   int // requests let through unchecked since the last warning
}

// NewRateLimiter builds a limiter on the shared Redis. Keys are
// r.Key("rate", name, key), so they carry the deployment's prefix.
func NewRateLimiter(r *models.Redis, logger *slog.Logger) *RateLimiter {
	return &RateLimiter{
		limiter:    redis_rate.NewLimiter(keyRewriter{r.Client}),
		redis:      r,
		logger:     logger,
		RedisPause: 5 * time.Second,
		Now:        time.Now,
	}
}

// Limit is an allowance: Rate requests per Period, bursts up to Burst.
type Limit = redis_rate.Limit

// PerMinute allows n requests a minute, all of them at once if need be.
func PerMinute(n int) Limit { return redis_rate.PerMinute(n) }

// KeyFunc names who a request counts against; ok=false means the request is not
// limited by this rule (e.g. no device id: the handler rejects it anyway).
type KeyFunc func(c *gin.Context) (key string, ok bool)

// ByIP counts requests per client IP: gin's ClientIP, which believes
// X-Forwarded-For only from TRUSTED_PROXIES (see the router).
func ByIP(c *gin.Context) (string, bool) { return c.ClientIP(), true }

// ByUser counts requests per logged-in user; use it after Authenticator.Required.
func ByUser(c *gin.Context) (string, bool) {
	p, ok := principal(c)
	if !ok {
		return "", false
	}
	return strconv.FormatInt(p.UserID, 10), true
}

// ByHeader counts requests per value of a request header (e.g. a device id).
func ByHeader(name string) KeyFunc {
	return func(c *gin.Context) (string, bool) {
		v := strings.TrimSpace(c.GetHeader(name))
		if v == "" || len(v) > 128 {
			return "", false
		}
		return v, true
	}
}

// RateLimit is middleware allowing limit requests per key under the rule name
// ("login", "booking", ...). Over the limit it answers 429 rate_limited with
// Retry-After (whole seconds) in the header and as error.retry_after.
func RateLimit(l *RateLimiter, name string, key KeyFunc, limit Limit) gin.HandlerFunc {
	rule := Rule{Limiter: l, Name: name, Key: key, Limit: limit}
	return func(c *gin.Context) {
		if rule.Allow(c) {
			c.Next()
		}
	}
}

// Rule is one named limit. Handlers that can answer some requests without cost
// (a booking for a session this instance knows is full) call Allow themselves
// after that cheap check, so the flood they turn away costs no Redis round trip.
type Rule struct {
	Limiter *RateLimiter
	Name    string
	Key     KeyFunc
	Limit   Limit
}

// Allow reports whether the request may go on; if not it has answered 429.
func (r Rule) Allow(c *gin.Context) bool {
	k, ok := r.Key(c)
	if !ok {
		return true
	}
	return r.AllowKey(c, k)
}

// AllowKey is Allow for a key the handler learnt itself (an openid from WeChat's
// answer, which no KeyFunc can read off the request).
func (r Rule) AllowKey(c *gin.Context, key string) bool {
	res, err := r.Limiter.allow(c.Request.Context(), r.Name, key, r.Limit, 1)
	if err != nil || res.Allowed > 0 {
		return true
	}
	tooMany(c, res.RetryAfter)
	return false
}

// Exhausted is the check of a limit that counts outcomes rather than requests
// (refused login codes): it spends nothing, and answers 429 (returning true) when
// the key has no whole request left in its allowance. The caller counts the
// outcome with Spend afterwards. Concurrent requests all pass the check before
// any of them is counted, so a client can exceed the limit by the number of
// requests it has in flight at once, no more.
func (r Rule) Exhausted(c *gin.Context) bool {
	k, ok := r.Key(c)
	if !ok {
		return false
	}
	// GCRA with cost 0 reports what is left without changing it; Remaining is
	// rounded down, so "< 1" means the next Spend would be refused.
	res, err := r.Limiter.allow(c.Request.Context(), r.Name, k, r.Limit, 0)
	if err != nil || res.Remaining >= 1 {
		return false
	}
	// One request's worth frees up when the debt falls to Burst-1 intervals.
	wait := res.ResetAfter - time.Duration(r.Limit.Burst-1)*r.Limit.Period/time.Duration(r.Limit.Rate)
	tooMany(c, wait)
	return true
}

// Spend counts one outcome against the request's key (see Exhausted).
func (r Rule) Spend(c *gin.Context) {
	if k, ok := r.Key(c); ok {
		_, _ = r.Limiter.allow(c.Request.Context(), r.Name, k, r.Limit, 1)
	}
}

// tooMany answers 429 rate_limited with Retry-After (whole seconds, at least 1).
func tooMany(c *gin.Context, retryAfter time.Duration) {
	secs := int(math.Ceil(retryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	c.Header("Retry-After", strconv.Itoa(secs))
	c.AbortWithStatusJSON(http.StatusTooManyRequests, rateLimitedBody{Error: rateLimitedDetail{
		Code:       "rate_limited",
		Message:    fmt.Sprintf("请求过于频繁，请 %d 秒后再试", secs),
		RetryAfter: secs,
	}})
}

type rateLimitedBody struct {
	Error rateLimitedDetail `json:"error"`
}

type rateLimitedDetail struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retry_after"`
}

// allow asks Redis, unless Redis failed recently. An error means "let it through".
func (l *RateLimiter) allow(ctx context.Context, name, key string, limit Limit, cost int) (*redis_rate.Result, error) {
	l.mu.Lock()
	if l.Now().Before(l.downUntil) {
		l.skipped++
		l.mu.Unlock()
		return nil, errRedisPaused
	}
	l.mu.Unlock()
	res, err := l.limiter.AllowN(ctx, l.redis.Key("rate", name, key), limit, cost)
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		return nil, err // the client left; not Redis's fault
	}
	l.mu.Lock()
	skipped := l.skipped
	l.skipped = 0
	l.downUntil = l.Now().Add(l.RedisPause)
	l.mu.Unlock()
	l.logger.WarnContext(ctx, "rate limiter: Redis unavailable, letting requests through unchecked",
		"rule", name, "err", err, "pause", l.RedisPause.String(), "unchecked_since_last_warning", skipped)
	return nil, err
}

var errRedisPaused = errors.New("rate limiter paused after a Redis failure")

// keyRewriter drops the "rate:" that redis_rate puts in front of every key: our keys
// already come from models.Redis.Key, so they carry the deployment prefix, and a
// bare "rate:" key would escape it.
type keyRewriter struct {
	redis.UniversalClient
}

func stripRatePrefix(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = strings.TrimPrefix(k, "rate:")
	}
	return out
}

func (k keyRewriter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.Eval(ctx, script, stripRatePrefix(keys), args...)
}

func (k keyRewriter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalSha(ctx, sha1, stripRatePrefix(keys), args...)
}

func (k keyRewriter) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalRO(ctx, script, stripRatePrefix(keys), args...)
}

func (k keyRewriter) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return k.UniversalClient.EvalShaRO(ctx, sha1, stripRatePrefix(keys), args...)
}

func (k keyRewriter) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return k.UniversalClient.Del(ctx, stripRatePrefix(keys)...)
}

// ByHeaderAndIP counts requests per header value and client address. The device
// webhook uses it before the signature is checked: keyed by the claimed device id
// alone, anyone could spend a real bin's allowance by sending unsigned requests
// in its name; with the address added they only spend their own.
func ByHeaderAndIP(name string) KeyFunc {
	byHeader := ByHeader(name)
	return func(c *gin.Context) (string, bool) {
		v, ok := byHeader(c)
		if !ok {
			return "", false
		}
		return v + "@" + c.ClientIP(), true
	}
}
