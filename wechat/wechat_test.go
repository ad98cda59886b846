package wechat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"nantian/scripts/fakewechat"
)

// The tests share process-wide silenceper hooks (API base), so none of them run in
// parallel; each starts its own fake WeChat and uses its own Redis key prefix.

const (
	testAppID  = "wxtest"
	testSecret = "s3cret-Do-Not-Leak"
)

type env struct {
	t      *testing.T
	fake   *fakewechat.Server
	ts     *httptest.Server
	rdb    *redis.Client
	prefix string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake := fakewechat.New(fakewechat.Options{AppID: testAppID, Secret: testSecret})
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	rdb, prefix := newRedis(t)
	return &env{t: t, fake: fake, ts: ts, rdb: rdb, prefix: prefix}
}

// newRedis connects to the real Redis and returns a unique key prefix whose keys
// are deleted when the test ends.
func newRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("these tests need Redis at 127.0.0.1:6379: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "test:" + hex.EncodeToString(b) + ":wechat:"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("cleanup %s: %v", iter.Val(), err)
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup scan: %v", err)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

func (e *env) client(mutate ...func(*Config)) *Client {
	e.t.Helper()
	cfg := Config{AppID: testAppID, Secret: testSecret, APIBase: e.ts.URL, HTTPTimeout: 2 * time.Second}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := New(cfg, e.rdb, e.prefix)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return c
}

// cachedToken reads the access token the client stored in Redis.
func (e *env) cachedToken() string {
	e.t.Helper()
	keys, err := e.rdb.Keys(e.t.Context(), e.prefix+"*access_token*").Result()
	if err != nil || len(keys) != 1 {
		e.t.Fatalf("token keys under %s: %v %v", e.prefix, keys, err)
	}
	tok, err := e.rdb.Get(e.t.Context(), keys[0]).Result()
	if err != nil || tok == "" {
		e.t.Fatalf("token: %q %v", tok, err)
	}
	return tok
}

// newHangingServer returns a server that accepts requests and never answers until
// the client goes away or the test ends.
func newHangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Drain the body: only then does net/http notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(release)
		ts.Close()
	})
	return ts
}

func wantAPIError(t *testing.T, err error, code int) {
	t.Helper()
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != code {
		t.Fatalf("err = %v, want *APIError with code %d", err, code)
	}
}

func TestCode2Session(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()

	s, err := c.Code2Session(ctx, "alice:1")
	if err != nil || s.OpenID != "openid-alice" || s.UnionID != "" {
		t.Fatalf("alice:1 = %+v, %v", s, err)
	}
	s2, err := c.Code2Session(ctx, "alice:2")
	if err != nil || s2.OpenID != s.OpenID {
		t.Fatalf("alice:2 = %+v, %v: a new code must log in the same user", s2, err)
	}
	s, err = c.Code2Session(ctx, "union-bob")
	if err != nil || s.OpenID != "openid-union-bob" || s.UnionID != "unionid-union-bob" {
		t.Fatalf("union-bob = %+v, %v", s, err)
	}
	// A code with query syntax in it must reach WeChat as one opaque value.
	s, err = c.Code2Session(ctx, "carol:a&grant_type=x&b=#c")
	if err != nil || s.OpenID != "openid-carol" {
		t.Fatalf("code with query syntax = %+v, %v", s, err)
	}
	if e.fake.TokenCalls() != 0 {
		t.Errorf("code2session fetched %d access tokens; it needs none", e.fake.TokenCalls())
	}
}

func TestCode2SessionErrors(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()

	_, err := c.Code2Session(ctx, "invalid-code")
	if !errors.Is(err, ErrCodeInvalid) {
		t.Fatalf("invalid code: %v, want ErrCodeInvalid", err)
	}
	wantAPIError(t, err, 40029)

	for _, code := range []string{"", strings.Repeat("a", maxCodeLength+1)} {
		if _, err := c.Code2Session(ctx, code); !errors.Is(err, ErrCodeInvalid) {
			t.Errorf("code of length %d: %v, want ErrCodeInvalid", len(code), err)
		}
	}

	if _, err := c.Code2Session(ctx, "dave:1"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Code2Session(ctx, "dave:1")
	if !errors.Is(err, ErrCodeUsed) || errors.Is(err, ErrCodeInvalid) {
		t.Fatalf("reused code: %v, want ErrCodeUsed only", err)
	}
	wantAPIError(t, err, 40163)
}

func TestWrongSecretIsAPIError(t *testing.T) {
	e := newEnv(t)
	const wrong = "wrong-secret-4711"
	c := e.client(func(cfg *Config) { cfg.Secret = wrong })
	ctx := t.Context()

	_, err := c.Code2Session(ctx, "erin")
	wantAPIError(t, err, 40125)
	for _, sentinel := range []error{ErrCodeInvalid, ErrCodeUsed, ErrUserRefused, ErrUnavailable} {
		if errors.Is(err, sentinel) {
			t.Errorf("wrong secret matches %v", sentinel)
		}
	}
	// The access-token path reports it the same way.
	_, err = c.PhoneNumber(ctx, "phone-13800138000")
	wantAPIError(t, err, 40125)
	_, err = c.CheckText(ctx, "openid-erin", "hello")
	wantAPIError(t, err, 40125)
}

func TestPhoneNumber(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()

	phone, err := c.PhoneNumber(ctx, "phone-13800138000")
	if err != nil || phone != "13800138000" {
		t.Fatalf("PhoneNumber = %q, %v", phone, err)
	}
	for _, code := range []string{"not-a-phone-code", ""} {
		if _, err := c.PhoneNumber(ctx, code); !errors.Is(err, ErrCodeInvalid) {
			t.Errorf("code %q: %v, want ErrCodeInvalid", code, err)
		}
	}
}

func TestSendSubscribe(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()

	longTitle := "南山区长者智能手机使用培训班第三期（周六上午场）"
	msg := Message{
		ToUser:     "openid-alice",
		TemplateID: "tpl-booking",
		Page:       "pages/booking/detail?id=7",
		Data: map[string]string{
			"thing1":            longTitle,
			"time2":             "2025-03-01 09:30",
			"phrase3":           "预约成功啦啦",
			"character_string4": strings.Repeat("A", 40),
			"name5":             "欧阳娜娜娜娜娜娜娜娜娜",
		},
	}
	if err := c.SendSubscribe(ctx, msg); err != nil {
		t.Fatalf("SendSubscribe: %v (values must be trimmed before sending)", err)
	}
	sent := e.fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d messages", len(sent))
	}
	got := sent[0]
	if got.ToUser != msg.ToUser || got.TemplateID != msg.TemplateID || got.Page != msg.Page ||
		got.MiniprogramState != "formal" || got.Lang != "zh_CN" {
		t.Errorf("sent %+v", got)
	}
	if want := TrimField("thing1", longTitle); got.Data["thing1"] != want || utf8.RuneCountInString(want) != 20 {
		t.Errorf("thing1 = %q, want %q", got.Data["thing1"], want)
	}
	if got.Data["time2"] != "2025-03-01 09:30" || got.Data["phrase3"] != "预约成功啦" {
		t.Errorf("data = %v", got.Data)
	}
	if msg.Data["thing1"] != longTitle {
		t.Error("SendSubscribe modified the caller's Data")
	}

	e.fake.FailSends(43101, 1)
	err := c.SendSubscribe(ctx, msg)
	if !errors.Is(err, ErrUserRefused) {
		t.Fatalf("refused: %v, want ErrUserRefused", err)
	}
	wantAPIError(t, err, 43101)

	e.fake.FailSends(-1, 1)
	if err := c.SendSubscribe(ctx, msg); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("system busy: %v, want ErrUnavailable", err)
	}

	e.fake.FailSends(45009, 1)
	err = c.SendSubscribe(ctx, msg)
	wantAPIError(t, err, 45009)
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUserRefused) {
		t.Errorf("unknown errcode matched a sentinel: %v", err)
	}

	if err := c.SendSubscribe(ctx, Message{ToUser: "x", TemplateID: "t"}); err == nil {
		t.Error("message without data accepted")
	}
	if n := len(e.fake.Sent()); n != 1 {
		t.Errorf("fake recorded %d messages, want 1", n)
	}
}

func TestCheckText(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()

	for content, want := range map[string]Verdict{
		"楼道灯坏了，请尽快维修":   VerdictPass,
		"这里有违禁内容":       VerdictRisky,
		"RISKY words":   VerdictRisky,
		"please REVIEW": VerdictReview,
		// Longer than one msg_sec_check allows: the risky part is in the second piece.
		strings.Repeat("好", maxCheckRunes) + "违禁": VerdictRisky,
	} {
		got, err := c.CheckText(ctx, "openid-alice", content)
		if err != nil || got != want {
			t.Errorf("CheckText(%.20q) = %q, %v; want %q", content, got, err, want)
		}
	}

	calls := e.fake.TokenCalls()
	e.fake.SetDown(true)
	if got, err := c.CheckText(ctx, "openid-alice", "  \n"); err != nil || got != VerdictPass {
		t.Errorf("blank text = %q, %v; want pass without calling WeChat", got, err)
	}
	e.fake.SetDown(false)
	if e.fake.TokenCalls() != calls {
		t.Error("blank text called WeChat")
	}
	if _, err := c.CheckText(ctx, "", "x"); err == nil {
		t.Error("empty openid accepted")
	}
}

func TestServerDownIsUnavailableQuickly(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	e.fake.SetDown(true)

	start := time.Now()
	_, err := c.Code2Session(ctx, "frank")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down: %v, want ErrUnavailable", err)
	}
	if _, err := c.PhoneNumber(ctx, "phone-1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down, token path: %v, want ErrUnavailable", err)
	}
	if err := c.SendSubscribe(ctx, Message{ToUser: "o", TemplateID: "t", Data: map[string]string{"thing1": "x"}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down, send: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s to report a 503", d)
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		t.Errorf("503 reported as APIError %v", apiErr)
	}

	e.fake.SetDown(false)
	if _, err := c.Code2Session(ctx, "frank"); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestUnreachableAndTimeout(t *testing.T) {
	rdb, prefix := newRedis(t)
	ctx := t.Context()

	// Nothing listens on a port we just released.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()
	c, err := New(Config{AppID: testAppID, Secret: testSecret, APIBase: "http://" + closedAddr}, rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Code2Session(ctx, "gina"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("connection refused: %v, want ErrUnavailable", err)
	}

	// A WeChat that accepts the connection and never answers.
	hang := newHangingServer(t)
	c, err = New(Config{AppID: testAppID, Secret: testSecret, APIBase: hang.URL, HTTPTimeout: 200 * time.Millisecond}, rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Code2Session(ctx, "gina")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung server: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout of 200ms took %s", d)
	}

	// The caller's own cancellation is honoured and recognisable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Code2Session(cctx, "gina"); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestTokenCacheSharedBetweenClients(t *testing.T) {
	e := newEnv(t)
	c1, c2 := e.client(), e.client()
	ctx := t.Context()

	if _, err := c1.PhoneNumber(ctx, "phone-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.PhoneNumber(ctx, "phone-2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.CheckText(ctx, "o", "hi"); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.TokenCalls(); n != 1 {
		t.Fatalf("stable_token called %d times by two clients sharing Redis, want 1", n)
	}
	keys, err := e.rdb.Keys(ctx, e.prefix+"*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys under prefix: %v, %v", keys, err)
	}
	ttl, err := e.rdb.TTL(ctx, keys[0]).Result()
	if err != nil || ttl <= 0 || ttl > 7200*time.Second {
		t.Errorf("token TTL %s, %v: want a bounded expiry", ttl, err)
	}

	// A client with another prefix does not see that token.
	_, otherPrefix := newRedis(t)
	c3, err := New(Config{AppID: testAppID, Secret: testSecret, APIBase: e.ts.URL}, e.rdb, otherPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c3.PhoneNumber(ctx, "phone-3"); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.TokenCalls(); n != 2 {
		t.Errorf("stable_token calls %d after a client with another prefix, want 2", n)
	}
}

func TestTokenCacheConcurrent(t *testing.T) {
	e := newEnv(t)
	clients := []*Client{e.client(), e.client()}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			if _, err := clients[i%2].CheckText(t.Context(), "openid-x", "hello"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Each instance serialises its own fetch; across instances at most one each.
	if n := e.fake.TokenCalls(); n < 1 || n > 2 {
		t.Errorf("stable_token calls = %d, want 1 or 2", n)
	}
}

func TestRejectedTokenIsRefreshed(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()
	if _, err := c.PhoneNumber(ctx, "phone-1"); err != nil {
		t.Fatal(err)
	}
	old := e.cachedToken()
	e.fake.RevokeTokens()

	if _, err := c.PhoneNumber(ctx, "phone-1"); err != nil {
		t.Fatalf("after revocation: %v (want one transparent retry)", err)
	}
	if n := e.fake.TokenCalls(); n != 2 {
		t.Errorf("stable_token calls = %d, want 2", n)
	}
	if e.cachedToken() == old {
		t.Error("revoked token still cached")
	}
}

func TestRedisDownDegradesToUncachedTokens(t *testing.T) {
	fake := fakewechat.New(fakewechat.Options{AppID: testAppID, Secret: testSecret})
	ts := httptest.NewServer(fake)
	defer ts.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	_ = ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: deadAddr, DialTimeout: 100 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()

	c, err := New(Config{AppID: testAppID, Secret: testSecret, APIBase: ts.URL}, rdb, "test:dead:")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if phone, err := c.PhoneNumber(t.Context(), "phone-5"); err != nil || phone != "5" {
			t.Fatalf("with Redis down: %q, %v", phone, err)
		}
	}
	if n := fake.TokenCalls(); n != 2 {
		t.Errorf("stable_token calls = %d, want one per call without a cache", n)
	}
}

// TestErrorsNeverLeakCredentials provokes every failure path and checks no returned
// error mentions the app secret, an access token or a login/phone code.
func TestErrorsNeverLeakCredentials(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()

	if _, err := c.PhoneNumber(ctx, "phone-1"); err != nil {
		t.Fatal(err)
	}
	token := e.cachedToken()

	const (
		loginCode = "henry:LEAKCHECK-login"
		phoneCode = "LEAKCHECK-phone"
	)
	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }

	collect(c.Code2Session(ctx, "invalid-LEAKCHECK"))
	collect(c.PhoneNumber(ctx, phoneCode))
	e.fake.FailSends(43101, 1)
	errs = append(errs, c.SendSubscribe(ctx, Message{ToUser: "o", TemplateID: "t", Data: map[string]string{"thing1": "x"}}))

	// 503s: silenceper's message then carries the full URI with secret, code, token.
	e.fake.SetDown(true)
	collect(c.Code2Session(ctx, loginCode))
	collect(c.PhoneNumber(ctx, phoneCode))
	collect(c.CheckText(ctx, "o", "text"))
	errs = append(errs, c.SendSubscribe(ctx, Message{ToUser: "o", TemplateID: "t", Data: map[string]string{"thing1": "x"}}))
	e.fake.SetDown(false)

	// A timeout: the url.Error text also carries the full URI.
	hang := newHangingServer(t)
	slow := e.client(func(cfg *Config) { cfg.APIBase = hang.URL; cfg.HTTPTimeout = 100 * time.Millisecond })
	collect(slow.Code2Session(ctx, loginCode))
	collect(slow.PhoneNumber(ctx, phoneCode))

	// A wrong secret against the real fake.
	const wrongSecret = "wrong-LEAKCHECK-secret"
	bad := e.client(func(cfg *Config) { cfg.Secret = wrongSecret })
	collect(bad.Code2Session(ctx, loginCode+"2"))

	for i, err := range errs {
		if err == nil {
			t.Errorf("error %d: nil, expected a failure", i)
			continue
		}
		msg := err.Error()
		for _, secret := range []string{testSecret, token, "LEAKCHECK", wrongSecret} {
			if strings.Contains(msg, secret) {
				t.Errorf("error %d leaks %q: %s", i, secret, msg)
			}
		}
		if strings.Contains(msg, "?") && strings.Contains(msg, "access_token=") && !strings.Contains(msg, "REDACTED") {
			t.Errorf("error %d has a raw query string: %s", i, msg)
		}
	}
}

func TestNewValidates(t *testing.T) {
	rdb, prefix := newRedis(t)
	for name, cfg := range map[string]Config{
		"no appid":     {Secret: "s"},
		"no secret":    {AppID: "a"},
		"bad base":     {AppID: "a", Secret: "s", APIBase: "ftp://x"},
		"relative":     {AppID: "a", Secret: "s", APIBase: "localhost:9100"},
		"base query":   {AppID: "a", Secret: "s", APIBase: "http://h/?x=1"},
		"neg timeout":  {AppID: "a", Secret: "s", HTTPTimeout: -time.Second},
		"bad mp state": {AppID: "a", Secret: "s", MiniProgramState: "prod"},
	} {
		if _, err := New(cfg, rdb, prefix); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New(Config{AppID: "a", Secret: "s"}, nil, prefix); err == nil {
		t.Error("no cache and no Redis accepted")
	}
}

func TestRewriteURI(t *testing.T) {
	old := apiBase.Load()
	t.Cleanup(func() { apiBase.Store(old) })
	base := "http://127.0.0.1:9100"
	apiBase.Store(&base)
	for in, want := range map[string]string{
		"https://api.weixin.qq.com/sns/jscode2session?a=1": "http://127.0.0.1:9100/sns/jscode2session?a=1",
		"https://api.weixin.qq.com":                        "http://127.0.0.1:9100",
		"https://api.weixin.qq.com.evil.example/x":         "https://api.weixin.qq.com.evil.example/x",
		"https://qyapi.weixin.qq.com/cgi-bin/gettoken":     "https://qyapi.weixin.qq.com/cgi-bin/gettoken",
		"http://api.weixin.qq.com/x":                       "http://api.weixin.qq.com/x",
	} {
		if got := rewriteURI(in); got != want {
			t.Errorf("rewriteURI(%q) = %q, want %q", in, got, want)
		}
	}
	def := DefaultAPIBase
	apiBase.Store(&def)
	if got := rewriteURI("https://api.weixin.qq.com/x"); got != "https://api.weixin.qq.com/x" {
		t.Errorf("default base rewrote to %q", got)
	}
}

func TestSanitize(t *testing.T) {
	in := "http get error : uri=http://127.0.0.1:1/sns/jscode2session?appid=wx&secret=S3&js_code=C0DE&grant_type=x , statusCode=503; access_token=TOK secret=S3 errcode=40029 echoed LONGCODE-123 invalid"
	got := sanitize(in, "C0DE", "LONGCODE-123", "invalid")
	for _, bad := range []string{"S3", "C0DE", "TOK", "LONGCODE-123"} {
		if strings.Contains(got, bad) {
			t.Errorf("sanitize kept %q: %s", bad, got)
		}
	}
	if !strings.Contains(got, "errcode=40029") || !strings.Contains(got, "statusCode=503") || !strings.Contains(got, " invalid") {
		t.Errorf("sanitize removed harmless text: %s", got)
	}
	if long := sanitize(strings.Repeat("长", 500)); utf8.RuneCountInString(long) > maxSanitizedErrorLength || !utf8.ValidString(long) {
		t.Errorf("long text not bounded to valid UTF-8: %d runes", utf8.RuneCountInString(long))
	}
}

func TestTrimField(t *testing.T) {
	tests := []struct {
		key, value, want string
	}{
		{"thing1", "周末亲子阅读会", "周末亲子阅读会"},
		{"thing1", strings.Repeat("一", 20), strings.Repeat("一", 20)},
		{"thing1", strings.Repeat("一", 21), strings.Repeat("一", 19) + "…"},
		{"thing12", "南山区长者智能手机使用培训班第三期（周六上午场）", "南山区长者智能手机使用培训班第三期（周…"},
		{"thing2", strings.Repeat("a", 25), strings.Repeat("a", 19) + "…"},
		{"phrase3", "预约成功", "预约成功"},
		{"phrase3", "预约成功啦啦", "预约成功啦"},
		{"name4", "欧阳娜娜娜娜娜娜娜娜娜", "欧阳娜娜娜娜娜娜娜娜"},
		{"name4", "张三", "张三"},
		{"character_string5", strings.Repeat("9", 40), strings.Repeat("9", 32)},
		{"number6", strings.Repeat("1", 33), strings.Repeat("1", 32)},
		{"letter7", strings.Repeat("b", 33), strings.Repeat("b", 32)},
		{"time8", "2025年03月01日 09:30 至 2025年03月01日 11:30", "2025年03月01日 09:30 至 2025年03月01日 11:30"},
		{"date9", strings.Repeat("2", 40), strings.Repeat("2", 40)},
		{"amount1", strings.Repeat("1", 40), strings.Repeat("1", 40)},
		{"thing1", "", ""},
		{"thing1", "😀" + strings.Repeat("好", 20), "😀" + strings.Repeat("好", 18) + "…"},
	}
	for _, tt := range tests {
		got := TrimField(tt.key, tt.value)
		if got != tt.want {
			t.Errorf("TrimField(%q, %q) = %q, want %q", tt.key, tt.value, got, tt.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("TrimField(%q, ...) produced invalid UTF-8", tt.key)
		}
		if limit, ok := fakewechat.FieldLimit(tt.key); ok && utf8.RuneCountInString(got) > limit {
			t.Errorf("TrimField(%q, ...) = %d runes, fake allows %d", tt.key, utf8.RuneCountInString(got), limit)
		}
	}
}

func TestSplitRunes(t *testing.T) {
	if got := splitRunes("", 3); got != nil {
		t.Errorf("empty: %q", got)
	}
	if got := splitRunes(" \u3000\n", 3); got != nil {
		t.Errorf("blank: %q", got)
	}
	got := splitRunes("一二三四五六七", 3)
	if len(got) != 3 || got[0] != "一二三" || got[1] != "四五六" || got[2] != "七" {
		t.Errorf("split: %q", got)
	}
}
