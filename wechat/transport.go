package wechat

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silenceper/wechat/v2/util"
)

// DefaultAPIBase is the real WeChat API origin, hard-coded in every silenceper URL.
const DefaultAPIBase = "https://api.weixin.qq.com"

// DefaultHTTPTimeout bounds one WeChat HTTP call when Config.HTTPTimeout is zero.
// Logins wait on it, so it is short: a WeChat that needs longer is treated as down.
const DefaultHTTPTimeout = 5 * time.Second

var (
	// installOnce guards the two process-wide hooks silenceper offers. They are plain
	// package variables there, so they are written exactly once, before the first
	// request, and only read afterwards.
	installOnce sync.Once
	// apiBase is the origin the URI modifier rewrites to. It is atomic rather than
	// captured at install time so tests in one process can each point silenceper at
	// their own fake server.
	apiBase atomic.Pointer[string]
	// robotBase replaces the 企业微信 group-robot endpoint (DefaultRobotEndpoint)
	// when WECOM_ROBOT_WEBHOOK points elsewhere (a local fake in dev and tests).
	robotBase atomic.Pointer[string]
)

// install points silenceper at base and, once per process, replaces its HTTP client
// (http.DefaultClient, which has no timeout) with one that has.
//
// Because silenceper keeps these hooks global, the API base is per process, not per
// Client: the most recent New wins. Production builds one Client; tests that use
// different fake servers must not run in parallel.
func install(base string, timeout time.Duration) {
	apiBase.Store(&base)
	installHooks(timeout)
}

// installHooks replaces silenceper's HTTP client and URI modifier, once per process.
func installHooks(timeout time.Duration) {
	installOnce.Do(func() {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		// Every call goes to one host; keep enough idle connections for a burst of
		// logins instead of the default two.
		transport.MaxIdleConnsPerHost = 32
		util.DefaultHTTPClient = &http.Client{Transport: transport, Timeout: timeout}
		util.SetURIModifier(rewriteURI)
	})
}

// rewriteURI replaces the api.weixin.qq.com origin with the configured base. Other
// hosts (none are used by this package) are left alone.
func rewriteURI(uri string) string {
	if rest, ok := strings.CutPrefix(uri, DefaultRobotEndpoint); ok {
		if p := robotBase.Load(); p != nil && (rest == "" || rest[0] == '?') {
			return *p + rest
		}
		return uri
	}
	p := apiBase.Load()
	if p == nil || *p == DefaultAPIBase {
		return uri
	}
	rest, ok := strings.CutPrefix(uri, DefaultAPIBase)
	if !ok || (rest != "" && rest[0] != '/' && rest[0] != '?') {
		return uri
	}
	return *p + rest
}

// normalizeAPIBase validates base and strips a trailing slash, so a typo in
// WECHAT_API_BASE fails at startup instead of at the first login.
func normalizeAPIBase(base string) (string, error) {
	if base == "" {
		return DefaultAPIBase, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("wechat: invalid APIBase: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("wechat: invalid APIBase %q: want http(s)://host[:port][/path]", base)
	}
	return strings.TrimRight(base, "/"), nil
}
