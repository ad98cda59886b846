package fakewechat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testAppID  = "wxtest"
	testSecret = "s3cret"
)

type fixture struct {
	t   *testing.T
	srv *Server
	ts  *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := New(Options{AppID: testAppID, Secret: testSecret})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{t: t, srv: srv, ts: ts}
}

// get performs a GET and decodes the JSON reply; it returns the HTTP status too.
func (f *fixture) get(path string, q url.Values) (int, map[string]any) {
	f.t.Helper()
	resp, err := http.Get(f.ts.URL + path + "?" + q.Encode())
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	return decode(f.t, resp)
}

func (f *fixture) post(path, token string, body any) (int, map[string]any) {
	f.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	u := f.ts.URL + path
	if token != "" {
		u += "?access_token=" + url.QueryEscape(token)
	}
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		f.t.Fatalf("POST %s: %v", path, err)
	}
	return decode(f.t, resp)
}

func decode(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode == http.StatusOK || strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("decode: %v", err)
		}
	}
	return resp.StatusCode, m
}

func errcode(m map[string]any) int {
	v, _ := m["errcode"].(float64)
	return int(v)
}

func (f *fixture) login(code string) map[string]any {
	f.t.Helper()
	_, m := f.get("/sns/jscode2session", url.Values{
		"appid": {testAppID}, "secret": {testSecret}, "js_code": {code}, "grant_type": {"authorization_code"},
	})
	return m
}

func (f *fixture) token() string {
	f.t.Helper()
	status, m := f.post("/cgi-bin/stable_token", "", map[string]any{
		"grant_type": "client_credential", "appid": testAppID, "secret": testSecret, "force_refresh": false,
	})
	tok, _ := m["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		f.t.Fatalf("stable_token: status %d body %v", status, m)
	}
	return tok
}

func TestCode2SessionRules(t *testing.T) {
	f := newFixture(t)

	m := f.login("alice:1")
	if m["openid"] != "openid-alice" || m["session_key"] == "" || m["unionid"] != nil || errcode(m) != 0 {
		t.Fatalf("alice:1 = %v", m)
	}
	if m2 := f.login("alice:2"); m2["openid"] != "openid-alice" || m2["session_key"] == m["session_key"] {
		t.Fatalf("alice:2 = %v, want same openid and a new session_key", m2)
	}
	if m := f.login("union-bob"); m["openid"] != "openid-union-bob" || m["unionid"] != "unionid-union-bob" {
		t.Fatalf("union-bob = %v", m)
	}
	for code, want := range map[string]int{
		"alice:1":   ErrCodeCodeUsed,
		"union-bob": ErrCodeCodeUsed,
		"invalid":   ErrCodeInvalidCode,
		"invalidX":  ErrCodeInvalidCode,
		":x":        ErrCodeInvalidCode,
		"":          ErrCodeMissingCode,
	} {
		if got := errcode(f.login(code)); got != want {
			t.Errorf("code %q: errcode %d, want %d", code, got, want)
		}
	}
	// An invalid code stays invalid; it never becomes "used".
	if got := errcode(f.login("invalid")); got != ErrCodeInvalidCode {
		t.Errorf("invalid twice: errcode %d", got)
	}

	_, m = f.get("/sns/jscode2session", url.Values{"appid": {"wxother"}, "secret": {testSecret}, "js_code": {"c"}, "grant_type": {"authorization_code"}})
	if errcode(m) != ErrCodeInvalidAppID {
		t.Errorf("wrong appid: %v", m)
	}
	_, m = f.get("/sns/jscode2session", url.Values{"appid": {testAppID}, "secret": {"nope"}, "js_code": {"c"}, "grant_type": {"authorization_code"}})
	if errcode(m) != ErrCodeInvalidAppSecret {
		t.Errorf("wrong secret: %v", m)
	}
}

func TestStableTokenAndTokenChecks(t *testing.T) {
	f := newFixture(t)

	_, m := f.post("/cgi-bin/stable_token", "", map[string]any{"grant_type": "client_credential", "appid": testAppID, "secret": "bad"})
	if errcode(m) != ErrCodeInvalidAppSecret {
		t.Fatalf("bad secret: %v", m)
	}
	t1, t2 := f.token(), f.token()
	if t1 == t2 || f.srv.TokenCalls() != 2 {
		t.Fatalf("tokens %q %q calls %d: want two distinct tokens", t1, t2, f.srv.TokenCalls())
	}

	body := map[string]string{"code": "phone-13800138000"}
	if _, m := f.post("/wxa/business/getuserphonenumber", "", body); errcode(m) != ErrCodeMissingToken {
		t.Errorf("no token: %v", m)
	}
	if _, m := f.post("/wxa/business/getuserphonenumber", "forged", body); errcode(m) != ErrCodeInvalidCredential {
		t.Errorf("forged token: %v", m)
	}
	// Both tokens stay valid, as stable tokens do.
	for _, tok := range []string{t1, t2} {
		if _, m := f.post("/wxa/business/getuserphonenumber", tok, body); errcode(m) != 0 {
			t.Errorf("valid token: %v", m)
		}
	}
	f.srv.RevokeTokens()
	if _, m := f.post("/wxa/business/getuserphonenumber", t1, body); errcode(m) != ErrCodeInvalidCredential {
		t.Errorf("revoked token: %v", m)
	}
}

func TestTokenExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := New(Options{AppID: testAppID, Secret: testSecret, Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	f := &fixture{t: t, srv: srv, ts: ts}
	tok := f.token()
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if _, m := f.post("/wxa/business/getuserphonenumber", tok, map[string]string{"code": "phone-1"}); errcode(m) != ErrCodeTokenExpired {
		t.Fatalf("expired token: %v", m)
	}
}

func TestPhoneNumber(t *testing.T) {
	f := newFixture(t)
	tok := f.token()
	_, m := f.post("/wxa/business/getuserphonenumber", tok, map[string]string{"code": "phone-13800138000"})
	info, _ := m["phone_info"].(map[string]any)
	if info == nil || info["purePhoneNumber"] != "13800138000" || info["phoneNumber"] != "13800138000" || info["countryCode"] != "86" {
		t.Fatalf("phone reply: %v", m)
	}
	if wm, _ := info["watermark"].(map[string]any); wm["appid"] != testAppID {
		t.Errorf("watermark: %v", info["watermark"])
	}
	for _, code := range []string{"phone-", "phone-12a", "13800138000", ""} {
		if _, m := f.post("/wxa/business/getuserphonenumber", tok, map[string]string{"code": code}); errcode(m) != ErrCodeInvalidCode {
			t.Errorf("code %q: %v", code, m)
		}
	}
}

func subscribeBody(data map[string]string) map[string]any {
	d := map[string]any{}
	for k, v := range data {
		d[k] = map[string]any{"value": v}
	}
	return map[string]any{
		"touser": "openid-alice", "template_id": "tpl-1", "page": "pages/index",
		"data": d, "miniprogram_state": "formal", "lang": "zh_CN",
	}
}

func TestSubscribeSend(t *testing.T) {
	f := newFixture(t)
	tok := f.token()

	_, m := f.post("/cgi-bin/message/subscribe/send", tok, subscribeBody(map[string]string{
		"thing1": strings.Repeat("活", 20), "phrase2": "已预约", "character_string3": strings.Repeat("x", 32),
		"name4": "张三", "time5": "2025-01-01 10:00",
	}))
	if errcode(m) != 0 || m["msgid"] == nil {
		t.Fatalf("send: %v", m)
	}
	sent := f.srv.Sent()
	if len(sent) != 1 || sent[0].ToUser != "openid-alice" || sent[0].TemplateID != "tpl-1" ||
		sent[0].Page != "pages/index" || sent[0].Data["name4"] != "张三" || sent[0].Lang != "zh_CN" {
		t.Fatalf("recorded: %+v", sent)
	}
	sent[0].Data["name4"] = "mutated"
	if f.srv.Sent()[0].Data["name4"] != "张三" {
		t.Error("Sent returned shared state")
	}

	for key, value := range map[string]string{
		"thing1":            strings.Repeat("活", 21),
		"phrase2":           "六个字的短语",
		"character_string3": strings.Repeat("x", 33),
		"name4":             "一二三四五六七八九十一",
	} {
		_, m := f.post("/cgi-bin/message/subscribe/send", tok, subscribeBody(map[string]string{key: value}))
		if errcode(m) != ErrCodeArgumentInvalid {
			t.Errorf("%s too long: %v", key, m)
		}
	}

	f.srv.FailSends(ErrCodeUserRefused, 2)
	for i := range 2 {
		if _, m := f.post("/cgi-bin/message/subscribe/send", tok, subscribeBody(map[string]string{"thing1": "x"})); errcode(m) != ErrCodeUserRefused {
			t.Errorf("injected failure %d: %v", i, m)
		}
	}
	if _, m := f.post("/cgi-bin/message/subscribe/send", tok, subscribeBody(map[string]string{"thing1": "x"})); errcode(m) != 0 {
		t.Errorf("after injected failures: %v", m)
	}
	if got := len(f.srv.Sent()); got != 2 {
		t.Errorf("recorded %d messages, want 2 (rejected ones are not recorded)", got)
	}

	if _, m := f.post("/cgi-bin/message/subscribe/send", tok, map[string]any{"template_id": "t", "data": map[string]any{"thing1": map[string]any{"value": "x"}}}); errcode(m) != ErrCodeInvalidOpenID {
		t.Errorf("missing touser: %v", m)
	}
}

func TestMsgSecCheck(t *testing.T) {
	f := newFixture(t)
	tok := f.token()
	for content, want := range map[string]string{
		"周末一起跑步":     "pass",
		"这是违禁内容":     "risky",
		"RISKY text": "risky",
		"REVIEW me":  "review",
	} {
		_, m := f.post("/wxa/msg_sec_check", tok, map[string]any{"version": 2, "openid": "openid-a", "scene": 2, "content": content})
		res, _ := m["result"].(map[string]any)
		if errcode(m) != 0 || res["suggest"] != want {
			t.Errorf("%q: %v, want %s", content, m, want)
		}
	}
	if _, m := f.post("/wxa/msg_sec_check", tok, map[string]any{"content": "x"}); errcode(m) != ErrCodeInvalidArgs {
		t.Errorf("v1 request: %v", m)
	}
}

func TestDownAndReset(t *testing.T) {
	f := newFixture(t)
	tok := f.token()
	f.login("alice")
	f.srv.SetDown(true)
	for _, path := range []string{"/sns/jscode2session", "/cgi-bin/stable_token", "/wxa/msg_sec_check"} {
		resp, err := http.Post(f.ts.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s while down: %d", path, resp.StatusCode)
		}
	}
	f.srv.Reset()
	if m := f.login("alice"); m["openid"] != "openid-alice" {
		t.Errorf("after reset, used codes must be forgotten: %v", m)
	}
	if f.srv.TokenCalls() != 0 {
		t.Errorf("TokenCalls after reset = %d", f.srv.TokenCalls())
	}
	if _, m := f.post("/wxa/msg_sec_check", tok, map[string]any{"version": 2, "openid": "o", "scene": 2, "content": "x"}); errcode(m) != ErrCodeInvalidCredential {
		t.Errorf("old token after reset: %v", m)
	}
}

func TestMethodsAndUnknownPath(t *testing.T) {
	f := newFixture(t)
	if _, m := f.post("/sns/jscode2session", "", map[string]any{}); errcode(m) != ErrCodeRequireGET {
		t.Errorf("POST jscode2session: %v", m)
	}
	if _, m := f.get("/cgi-bin/stable_token", nil); errcode(m) != ErrCodeRequirePOST {
		t.Errorf("GET stable_token: %v", m)
	}
	if status, _ := f.get("/no/such/api", nil); status != http.StatusNotFound {
		t.Errorf("unknown path status %d", status)
	}
	resp, err := http.Post(f.ts.URL+"/cgi-bin/stable_token", "application/json", strings.NewReader("{not json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, m := decode(t, resp); errcode(m) != ErrCodeInvalidArgs {
		t.Errorf("bad json: %v", m)
	}
}

// TestConcurrentUse exercises the mutex under the race detector: many logins, token
// requests and sends at once, with every code used exactly once.
func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	tok := f.token()
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for i := range 50 {
		wg.Go(func() {
			code := fmt.Sprintf("user%d:%d", i%5, i)
			if m := f.login(code); m["openid"] != fmt.Sprintf("openid-user%d", i%5) {
				errs <- fmt.Sprintf("login %s: %v", code, m)
			}
			if _, m := f.post("/cgi-bin/message/subscribe/send", tok, subscribeBody(map[string]string{"thing1": "x"})); errcode(m) != 0 {
				errs <- fmt.Sprintf("send: %v", m)
			}
			_ = f.srv.Sent()
			_ = f.srv.TokenCalls()
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := len(f.srv.Sent()); got != 50 {
		t.Errorf("sent %d, want 50", got)
	}
}

func TestFieldLimit(t *testing.T) {
	for key, want := range map[string]int{"thing1": 20, "thing12": 20, "phrase3": 5, "character_string2": 32, "name4": 10, "time5": 0, "amount1": 0} {
		if got, _ := FieldLimit(key); got != want {
			t.Errorf("FieldLimit(%q) = %d, want %d", key, got, want)
		}
	}
}
