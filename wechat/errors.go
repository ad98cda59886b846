package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/silenceper/wechat/v2/util"
)

// Sentinel errors callers branch on. Every errcode reply is an *APIError; those
// whose code has a meaning the service acts on also match one of these through
// errors.Is, so handlers need not know WeChat's numbers.
var (
	// ErrCodeInvalid: the login or phone code is malformed, expired or forged
	// (errcode 40029). Handlers answer 401 wechat_code_invalid.
	ErrCodeInvalid = errors.New("wechat: code invalid")
	// ErrCodeUsed: the login code was already exchanged (errcode 40163), typically a
	// double-submitted login. Like an invalid code, the client must get a new one.
	ErrCodeUsed = errors.New("wechat: code already used")
	// ErrUserRefused: the user has not granted (or has used up) the subscription for
	// this template (errcode 43101). Retrying cannot help; the outbox drops it.
	ErrUserRefused = errors.New("wechat: user refused subscribe message")
	// ErrUnavailable: WeChat could not be reached or answered with a transient
	// failure (network error, timeout, non-200 status, malformed body, errcode -1
	// "system busy"). Handlers answer 503; the outbox retries later.
	ErrUnavailable = errors.New("wechat: unavailable")
)

// APIError is a WeChat reply with a non-zero errcode. Msg is WeChat's errmsg with
// anything that looks like a credential removed.
type APIError struct {
	Code int
	Msg  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("errcode %d: %s", e.Code, e.Msg)
}

// Unwrap maps well-known errcodes to the sentinels so errors.Is works on them while
// errors.As still yields the exact code for logs.
func (e *APIError) Unwrap() error {
	switch e.Code {
	case errCodeInvalidCode:
		return ErrCodeInvalid
	case errCodeCodeUsed:
		return ErrCodeUsed
	case errCodeUserRefused:
		return ErrUserRefused
	case errCodeSystemBusy:
		return ErrUnavailable
	}
	return nil
}

const (
	errCodeSystemBusy       = -1
	errCodeInvalidToken     = 40001
	errCodeInvalidTokenAlt  = 40014
	errCodeInvalidCode      = 40029
	errCodeCodeUsed         = 40163
	errCodeTokenExpired     = 42001
	errCodeUserRefused      = 43101
	maxSanitizedErrorLength = 300
	minRedactLength         = 8
)

var (
	// errcodeText matches the errors silenceper builds with fmt.Errorf instead of
	// returning *util.CommonError (Code2Session, stable_token).
	errcodeText = regexp.MustCompile(`errcode=(-?\d+)\s*,\s*err(?:or)?msg=(.*)$`)
	// statusText matches silenceper's "http get/post error : uri=... , statusCode=503".
	statusText = regexp.MustCompile(`statusCode=(\d+)`)
	// urlText and credentialText find what must never leave this package: URLs carry
	// the app secret, login code and access token in their query strings.
	urlText        = regexp.MustCompile(`https?://[^\s"'<>]+`)
	credentialText = regexp.MustCompile(`(?i)\b(secret|appsecret|access_token|js_code|code|session_key)=[^&\s,"']*`)
)

// errcodeOf extracts the WeChat errcode from an error silenceper returned, whether
// it is a *util.CommonError or one of its formatted strings.
func errcodeOf(err error) (code int, msg string, ok bool) {
	if err == nil {
		return 0, "", false
	}
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return int(ce.ErrCode), ce.ErrMsg, true
	}
	m := errcodeText.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, "", false
	}
	code, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return 0, "", false
	}
	return code, strings.TrimSpace(m[2]), true
}

// tokenRejected reports whether WeChat refused the access token itself, in which
// case the cached token is dropped and the call retried once.
func tokenRejected(err error) bool {
	code, _, ok := errcodeOf(err)
	return ok && (code == errCodeInvalidToken || code == errCodeInvalidTokenAlt || code == errCodeTokenExpired)
}

// classify turns a raw silenceper error into this package's error vocabulary. The
// raw error is never wrapped: its text embeds full request URIs with the app secret,
// login code or access token. Only sanitized text and typed causes survive.
// redact lists literal values (secret, code) to scrub from any text kept.
func classify(op string, raw error, redact ...string) error {
	if raw == nil {
		return nil
	}
	if code, msg, ok := errcodeOf(raw); ok {
		return fmt.Errorf("wechat %s: %w", op, &APIError{Code: code, Msg: sanitize(msg, redact...)})
	}
	// Deadlines and cancellation keep their context error so callers can tell a
	// client that went away from WeChat being slow.
	for _, ctxErr := range []error{context.DeadlineExceeded, context.Canceled} {
		if errors.Is(raw, ctxErr) {
			return fmt.Errorf("wechat %s: %w: %w", op, ErrUnavailable, ctxErr)
		}
	}
	var urlErr *url.Error
	if errors.As(raw, &urlErr) {
		return fmt.Errorf("wechat %s: %w: %s", op, ErrUnavailable, sanitize(urlErr.Err.Error(), redact...))
	}
	var netErr net.Error
	if errors.As(raw, &netErr) {
		return fmt.Errorf("wechat %s: %w: %s", op, ErrUnavailable, sanitize(netErr.Error(), redact...))
	}
	if m := statusText.FindStringSubmatch(raw.Error()); m != nil {
		return fmt.Errorf("wechat %s: %w: HTTP status %s", op, ErrUnavailable, m[1])
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(raw, &syntaxErr) || errors.As(raw, &typeErr) || strings.Contains(raw.Error(), "json Unmarshal Error") {
		return fmt.Errorf("wechat %s: %w: malformed response", op, ErrUnavailable)
	}
	// Anything else is a failure we did not foresee on the way to WeChat; treating it
	// as transient lets the caller answer 503 or retry instead of blaming the user.
	return fmt.Errorf("wechat %s: %w: %s", op, ErrUnavailable, sanitize(raw.Error(), redact...))
}

// sanitize removes query strings from URLs, redacts credential-looking parameters
// and the given literal values, and bounds the length, so the result is safe to
// return and log.
func sanitize(s string, redact ...string) string {
	s = urlText.ReplaceAllStringFunc(s, func(u string) string {
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			return u[:i] + "?REDACTED"
		}
		return u
	})
	s = credentialText.ReplaceAllString(s, "$1=REDACTED")
	for _, v := range redact {
		// Short values are skipped: they are not credentials worth the name (real
		// codes and secrets are 32 characters) and replacing them would mangle
		// ordinary words such as "invalid" in WeChat's own errmsg.
		if len(v) >= minRedactLength {
			s = strings.ReplaceAll(s, v, "REDACTED")
		}
	}
	if len(s) > maxSanitizedErrorLength {
		s = strings.ToValidUTF8(s[:maxSanitizedErrorLength], "") + "…"
	}
	return s
}
