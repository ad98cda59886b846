// Package wechat is the backend's only door to the WeChat server API: login
// (code2Session), phone numbers, subscribe messages and text security checks.
//
// It earns its place as a top-level package because silenceper/wechat, which does the
// actual talking, leaks in ways the rest of the service must not see:
//
//   - its errors are untyped strings embedding full request URIs with the app secret,
//     login code and access token; here they become sentinels (ErrCodeInvalid,
//     ErrUnavailable, ...) and *APIError, with credentials scrubbed;
//   - its HTTP client has no timeout and its API origin is hard-coded; here both are
//     configured once, so dev and tests can point it at scripts/fakewechat through
//     WECHAT_API_BASE;
//   - its access-token cache is per process by default; here it lives in Redis,
//     shared by every API instance (RedisCache);
//   - the session_key it returns must never leave the server; Code2Session drops it.
//
// Handlers and workers depend on *Client (or a small interface of the methods they
// use) and never import silenceper.
package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/miniprogram"
	mpconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	"github.com/silenceper/wechat/v2/miniprogram/security"
	"github.com/silenceper/wechat/v2/miniprogram/subscribe"
	"github.com/silenceper/wechat/v2/util"
)

// subscribeSendURL is silenceper's subscribe send endpoint (subscribe.subscribeSendURL,
// unexported there). It goes through silenceper's URI modifier like every other call.
const subscribeSendURL = "https://api.weixin.qq.com/cgi-bin/message/subscribe/send"

// maxCodeLength bounds login and phone codes. Real codes are 32 characters; a longer
// one is not worth a round trip.
const maxCodeLength = 256

// maxCheckRunes is WeChat's limit for one msg_sec_check content (2500 characters).
const maxCheckRunes = 2500

// Config configures a Client.
type Config struct {
	// AppID and Secret are the mini-program credentials (WECHAT_APPID, WECHAT_SECRET).
	AppID  string
	Secret string
	// APIBase replaces https://api.weixin.qq.com in every WeChat URL
	// (WECHAT_API_BASE); empty means the real WeChat. It is process-wide because
	// silenceper's hook is: the most recent New wins.
	APIBase string
	// Cache stores the access token. Nil means a RedisCache over the rdb and
	// keyPrefix given to New, which is what production wants: one token for all
	// instances.
	Cache Cache
	// HTTPTimeout bounds each WeChat HTTP call; zero means DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// MiniProgramState is where a subscribe message opens the mini-program:
	// "formal" (default), "trial" or "developer".
	MiniProgramState string
	// Lang is the subscribe-message language; empty means "zh_CN".
	Lang string
	// Logger receives warnings about degraded operation (token cache failures). It
	// never receives credentials. Nil means slog.Default().
	Logger *slog.Logger
}

// Session is the result of a login: who the user is. WeChat's session_key is
// deliberately absent; nothing in this service decrypts user data with it.
type Session struct {
	OpenID  string
	UnionID string // empty unless the mini-program is bound to an open-platform account
}

// Message is a subscribe message. Data maps template keys ("thing1", "time2", ...)
// to values; values are cut to WeChat's limits (TrimField) before sending.
type Message struct {
	ToUser     string
	TemplateID string
	Page       string
	Data       map[string]string
}

// Verdict is WeChat's opinion of a text from msg_sec_check.
type Verdict string

// Verdicts, ordered from harmless to harmful.
const (
	VerdictPass   Verdict = "pass"
	VerdictReview Verdict = "review"
	VerdictRisky  Verdict = "risky"
)

// Client calls the WeChat API. It is safe for concurrent use.
type Client struct {
	mp       *miniprogram.MiniProgram
	secret   string
	timeout  time.Duration
	cache    Cache
	tokenKey string
	state    string
	lang     string
	logger   *slog.Logger
}

// New builds a Client. The access token is cached in cfg.Cache or, when that is nil,
// in Redis under keyPrefix (e.g. "nantian:wechat:"). New makes no network calls: the
// service must start even while WeChat is unreachable.
func New(cfg Config, rdb redis.UniversalClient, keyPrefix string) (*Client, error) {
	if cfg.AppID == "" || cfg.Secret == "" {
		return nil, errors.New("wechat: AppID and Secret are required")
	}
	base, err := normalizeAPIBase(cfg.APIBase)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPTimeout < 0 {
		return nil, fmt.Errorf("wechat: negative HTTPTimeout %s", cfg.HTTPTimeout)
	}
	if cfg.HTTPTimeout == 0 {
		cfg.HTTPTimeout = DefaultHTTPTimeout
	}
	switch cfg.MiniProgramState {
	case "":
		cfg.MiniProgramState = "formal"
	case "formal", "trial", "developer":
	default:
		return nil, fmt.Errorf("wechat: invalid MiniProgramState %q", cfg.MiniProgramState)
	}
	if cfg.Lang == "" {
		cfg.Lang = "zh_CN"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Cache == nil {
		if rdb == nil {
			return nil, errors.New("wechat: either Config.Cache or a Redis client is required")
		}
		cfg.Cache = NewRedisCache(rdb, keyPrefix)
	}

	mp := miniprogram.NewMiniProgram(&mpconfig.Config{
		AppID:       cfg.AppID,
		AppSecret:   cfg.Secret,
		Cache:       cfg.Cache,
		UseStableAK: true, // the stable token is not invalidated by other callers fetching one
	})
	mp.SetAccessTokenContextHandle(&tokenHandle{
		inner:  mp.GetContext().AccessTokenContextHandle,
		logger: cfg.Logger,
	})
	install(base, cfg.HTTPTimeout)

	return &Client{
		mp:      mp,
		secret:  cfg.Secret,
		timeout: cfg.HTTPTimeout,
		cache:   cfg.Cache,
		// The key silenceper's StableAccessToken stores the token under; needed to
		// drop a token WeChat has rejected.
		tokenKey: fmt.Sprintf("%s_stable_access_token_%s", credential.CacheKeyMiniProgramPrefix, cfg.AppID),
		state:    cfg.MiniProgramState,
		lang:     cfg.Lang,
		logger:   cfg.Logger,
	}, nil
}

// Code2Session exchanges a wx.login code for the user's identity. An invalid code
// yields ErrCodeInvalid, a reused one ErrCodeUsed, an unreachable WeChat
// ErrUnavailable. The session_key in WeChat's reply is discarded here.
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	const op = "code2session"
	if code == "" || len(code) > maxCodeLength {
		return Session{}, fmt.Errorf("wechat %s: %w", op, ErrCodeInvalid)
	}
	var s Session
	err := c.do(ctx, op, false, []string{code}, func(ctx context.Context) error {
		// silenceper formats the code into the query string unescaped; escaping it
		// keeps a hostile code from adding parameters.
		res, err := c.mp.GetAuth().Code2SessionContext(ctx, url.QueryEscape(code))
		if err != nil {
			return err
		}
		// res.SessionKey is dropped on purpose: it would let anyone holding it
		// forge or read the user's encrypted data.
		s = Session{OpenID: res.OpenID, UnionID: res.UnionID}
		return nil
	})
	if err != nil {
		return Session{}, err
	}
	if s.OpenID == "" {
		return Session{}, fmt.Errorf("wechat %s: %w: reply has no openid", op, ErrUnavailable)
	}
	return s, nil
}

// PhoneNumber exchanges a getPhoneNumber button code for the user's phone number
// without country code (purePhoneNumber). An invalid code yields ErrCodeInvalid.
func (c *Client) PhoneNumber(ctx context.Context, code string) (string, error) {
	const op = "getuserphonenumber"
	if code == "" || len(code) > maxCodeLength {
		return "", fmt.Errorf("wechat %s: %w", op, ErrCodeInvalid)
	}
	var phone string
	err := c.do(ctx, op, true, []string{code}, func(ctx context.Context) error {
		res, err := c.mp.GetAuth().GetPhoneNumberContext(ctx, code)
		if err != nil {
			return err
		}
		phone = res.PhoneInfo.PurePhoneNumber
		return nil
	})
	if err != nil {
		return "", err
	}
	if phone == "" {
		return "", fmt.Errorf("wechat %s: %w: reply has no phone number", op, ErrUnavailable)
	}
	return phone, nil
}

// SendSubscribe sends a one-time subscribe message. Values are trimmed with
// TrimField first. ErrUserRefused means the user holds no grant for the template
// (do not retry); ErrUnavailable means try again later.
//
// silenceper v2.1.10's Subscribe.Send takes no context, so this posts silenceper's
// own subscribe.Message through its util.PostJSONContext and DecodeWithCommonError,
// exactly what Send does, but cancellable.
func (c *Client) SendSubscribe(ctx context.Context, m Message) error {
	const op = "subscribe send"
	if m.ToUser == "" || m.TemplateID == "" || len(m.Data) == 0 {
		return fmt.Errorf("wechat %s: ToUser, TemplateID and Data are required", op)
	}
	msg := &subscribe.Message{
		ToUser:           m.ToUser,
		TemplateID:       m.TemplateID,
		Page:             m.Page,
		Data:             make(map[string]*subscribe.DataItem, len(m.Data)),
		MiniprogramState: c.state,
		Lang:             c.lang,
	}
	for k, v := range m.Data {
		msg.Data[k] = &subscribe.DataItem{Value: TrimField(k, v)}
	}
	return c.do(ctx, op, true, nil, func(ctx context.Context) error {
		token, err := c.mp.GetContext().GetAccessTokenContext(ctx)
		if err != nil {
			return err
		}
		body, err := util.PostJSONContext(ctx, subscribeSendURL+"?access_token="+url.QueryEscape(token), msg)
		if err != nil {
			return err
		}
		return util.DecodeWithCommonError(body, "subscribe.Send")
	})
}

// CheckText asks WeChat's msg_sec_check (v2, comment scene) whether user text may be
// published. openid must belong to a user active in the last two hours, as WeChat
// requires. Text longer than WeChat's 2500-character limit is checked in pieces and
// the worst verdict wins. An unknown suggestion is treated as VerdictReview so that
// nothing unvetted is published automatically.
func (c *Client) CheckText(ctx context.Context, openid, content string) (Verdict, error) {
	const op = "msg_sec_check"
	if openid == "" {
		return "", fmt.Errorf("wechat %s: openid is required", op)
	}
	worst := VerdictPass
	for _, chunk := range splitRunes(content, maxCheckRunes) {
		var v Verdict
		err := c.do(ctx, op, true, nil, func(ctx context.Context) error {
			res, err := c.mp.GetSecurity().MsgCheckContext(ctx, &security.MsgCheckRequest{
				OpenID:  openid,
				Scene:   security.MsgSceneComment,
				Content: chunk,
			})
			if err != nil {
				return err
			}
			v = verdictOf(res.Result.Suggest)
			return nil
		})
		if err != nil {
			return "", err
		}
		if severity(v) > severity(worst) {
			worst = v
		}
		if worst == VerdictRisky {
			break
		}
	}
	return worst, nil
}

func verdictOf(s security.CheckSuggest) Verdict {
	switch s {
	case security.CheckSuggestPass:
		return VerdictPass
	case security.CheckSuggestRisky:
		return VerdictRisky
	default:
		return VerdictReview
	}
}

func severity(v Verdict) int {
	switch v {
	case VerdictPass:
		return 0
	case VerdictReview:
		return 1
	default:
		return 2
	}
}

// splitRunes cuts s into pieces of at most n runes. Empty or whitespace-only text
// yields no pieces: there is nothing to check and WeChat rejects empty content.
func splitRunes(s string, n int) []string {
	var out []string
	for s != "" {
		if utf8.RuneCountInString(s) <= n {
			out = append(out, s)
			break
		}
		i, count := 0, 0
		for i < len(s) && count < n {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			count++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	if len(out) == 1 && isBlank(out[0]) {
		return nil
	}
	return out
}

func isBlank(s string) bool {
	for _, r := range s {
		if r != ' ' && r != '\t' && r != '\n' && r != '\r' && r != '\u3000' {
			return false
		}
	}
	return true
}

// do runs one WeChat call with a per-attempt timeout. When tokenRetry is set and
// WeChat rejects the access token (revoked or expired before our cached TTL), the
// cached token is dropped and the call retried once with a fresh one. The returned
// error is classified and scrubbed of the secret and the values in redact.
func (c *Client) do(ctx context.Context, op string, tokenRetry bool, redact []string, call func(context.Context) error) error {
	err := c.attempt(ctx, call)
	if tokenRetry && tokenRejected(err) {
		if delErr := c.invalidateToken(ctx); delErr != nil {
			// Retry anyway: a cache that cannot delete most likely cannot read
			// either, so the retry fetches a fresh token regardless.
			c.logger.WarnContext(ctx, "wechat: rejected access token not dropped from cache",
				slog.String("op", op), slog.String("error", sanitize(delErr.Error(), c.secret)))
		}
		err = c.attempt(ctx, call)
	}
	return classify(op, err, append(redact, c.secret)...)
}

func (c *Client) attempt(ctx context.Context, call func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return call(ctx)
}

func (c *Client) invalidateToken(ctx context.Context) error {
	if cc, ok := c.cache.(interface {
		DeleteContext(context.Context, string) error
	}); ok {
		return cc.DeleteContext(ctx, c.tokenKey)
	}
	return c.cache.Delete(c.tokenKey)
}

// tokenHandle wraps silenceper's StableAccessToken so that failing to store a freshly
// fetched token (Redis down) does not fail the WeChat call that needed it.
type tokenHandle struct {
	inner  credential.AccessTokenContextHandle
	logger *slog.Logger
}

var _ credential.AccessTokenContextHandle = (*tokenHandle)(nil)

// GetAccessToken implements credential.AccessTokenHandle for silenceper code paths
// that take no context (none used by this package).
func (h *tokenHandle) GetAccessToken() (string, error) {
	return h.GetAccessTokenContext(context.Background())
}

// GetAccessTokenContext returns the cached or a freshly fetched token.
func (h *tokenHandle) GetAccessTokenContext(ctx context.Context) (string, error) {
	token, err := h.inner.GetAccessTokenContext(ctx)
	if err != nil && token != "" && errors.Is(err, errCacheStore) {
		// The token is good; only sharing it failed. Without the cache every call
		// fetches a token, which the stable-token API tolerates.
		h.logger.WarnContext(ctx, "wechat: access token not cached", slog.String("error", sanitize(err.Error())))
		return token, nil
	}
	return token, err
}
