package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"nantian/models"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

func TestLogin(t *testing.T) {
	a := newTestApp(t)
	name := uniqueName(t, "carol")

	t.Run("success creates the user once", func(t *testing.T) {
		first := a.loginPair(name)
		second := a.loginPair(name)
		if first.UserID == 0 || first.UserID != second.UserID {
			t.Fatalf("same openid logged in as %d and %d", first.UserID, second.UserID)
		}
		r := a.do("GET", "/api/v1/me", first.AccessToken, nil)
		if r.Status != http.StatusOK || r.JSON(t)["role"] != "resident" {
			t.Fatalf("me: %d %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "session_key") || strings.Contains(string(r.Body), "openid") {
			t.Fatalf("me leaks WeChat identifiers: %s", r.Body)
		}
	})

	t.Run("unionid kept", func(t *testing.T) {
		u := "union-" + uniqueName(t, "u")
		_, id := a.login(u)
		user, err := a.app.users.Get(context.Background(), id)
		if err != nil || user.UnionID == nil || *user.UnionID != "unionid-"+u {
			t.Fatalf("unionid not stored: %+v %v", user.UnionID, err)
		}
	})

	t.Run("bad code", func(t *testing.T) {
		r := a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "invalid-code"})
		if r.Status != http.StatusUnauthorized || r.ErrorCode() != "wechat_code_invalid" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("reused code", func(t *testing.T) {
		code := uniqueName(t, "reuse") + ":once"
		if r := a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": code}); r.Status != http.StatusOK {
			t.Fatalf("first use: %d %s", r.Status, r.Body)
		}
		r := a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": code})
		if r.Status != http.StatusUnauthorized || r.ErrorCode() != "wechat_code_invalid" {
			t.Fatalf("reuse: %d %s", r.Status, r.Body)
		}
	})

	t.Run("wechat down is 503", func(t *testing.T) {
		fakeWX.SetDown(true)
		defer fakeWX.SetDown(false)
		r := a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": uniqueName(t, "down")})
		if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "unavailable" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("concurrent first logins create one user", func(t *testing.T) {
		n := uniqueName(t, "race")
		var wg sync.WaitGroup
		ids := make([]int64, 20)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := doRequest(t, a.URL, "POST", "/api/v1/auth/wechat", "", map[string]string{"code": fmt.Sprintf("%s:%d", n, i)})
				if r.Status == http.StatusOK {
					var out struct{ User struct{ ID int64 } }
					r.Decode(t, &out)
					ids[i] = out.User.ID
				}
			}()
		}
		wg.Wait()
		var count int
		if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM users WHERE openid = ?`, "openid-"+n).Scan(&count); err != nil {
			t.Fatal(err)
		}
		if count != 1 {
			t.Fatalf("%d users for one openid", count)
		}
		for _, id := range ids {
			if id != ids[0] || id == 0 {
				t.Fatalf("logins returned different users: %v", ids)
			}
		}
	})
}

// routeList is the router's own list of routes.
func routeList(a *testApp) gin.RoutesInfo {
	return a.app.handler.(*gin.Engine).Routes()
}

// forge signs claims with the given method and key, for tampering tests.
func forge(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenTampering(t *testing.T) {
	a := newTestApp(t)
	tok, uid := a.resident("dave")
	claims, _, err := a.app.tokens.ParseAccess(tok)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte(a.app.cfg.JWTSecret.Reveal())
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": fmt.Sprint(uid), "sid": claims.SID, "role": "admin", "iss": "nantian",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	}
	noneTok := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, base())
	wrongKey := forge(t, jwt.SigningMethodHS256, []byte("another-secret-that-is-32-bytes-long!!"), base())
	expiredClaims := base()
	expiredClaims["exp"] = time.Now().Add(-time.Minute).Unix()
	expired := forge(t, jwt.SigningMethodHS256, secret, expiredClaims)
	noExp := base()
	delete(noExp, "exp")
	noExpTok := forge(t, jwt.SigningMethodHS256, secret, noExp)
	hs512 := forge(t, jwt.SigningMethodHS512, secret, base())
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(payload, []byte(`"resident"`), []byte(`"admin"`), 1)) + "." + parts[2]

	cases := map[string]string{
		"alg none":         noneTok,
		"wrong key":        wrongKey,
		"expired":          expired,
		"no exp":           noExpTok,
		"other algorithm":  hs512,
		"edited payload":   tampered,
		"garbage":          "not.a.token",
		"empty":            "",
		"refresh as token": a.loginPair(uniqueName(t, "x")).RefreshToken,
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			r := a.do("GET", "/api/v1/me", bad, nil)
			if r.Status != http.StatusUnauthorized || r.ErrorCode() != "unauthorized" {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
	}
	t.Run("wrong scheme", func(t *testing.T) {
		r := a.do("GET", "/api/v1/me", "", nil, "Authorization", "Basic "+tok)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("got %d", r.Status)
		}
	})
	// A correctly signed token still works, so the 401s above are about tampering.
	if r := a.do("GET", "/api/v1/me", tok, nil); r.Status != http.StatusOK {
		t.Fatalf("valid token refused: %d", r.Status)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	a := newTestApp(t)
	first := a.loginPair(uniqueName(t, "erin"))

	r := a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	var second struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	r.Decode(t, &second)
	if second.RefreshToken == first.RefreshToken || second.RefreshToken == "" {
		t.Fatal("refresh token did not rotate")
	}
	if r := a.do("GET", "/api/v1/me", second.AccessToken, nil); r.Status != http.StatusOK {
		t.Fatalf("new access token refused: %d", r.Status)
	}

	// The spent token again: reuse detected, the whole login revoked.
	r = a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first.RefreshToken})
	if r.Status != http.StatusUnauthorized || r.ErrorCode() != "refresh_token_reused" {
		t.Fatalf("reuse: %d %s", r.Status, r.Body)
	}
	r = a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("rotated token survived reuse detection: %d %s", r.Status, r.Body)
	}
	for _, tok := range []string{first.AccessToken, second.AccessToken} {
		if r := a.do("GET", "/api/v1/me", tok, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("access token of a revoked login still works: %d", r.Status)
		}
	}

	t.Run("unknown and malformed", func(t *testing.T) {
		for _, body := range []any{map[string]string{"refresh_token": "nope"}, map[string]string{}, "{", nil} {
			r := a.do("POST", "/api/v1/auth/refresh", "", body)
			if r.Status != http.StatusUnauthorized && r.Status != http.StatusBadRequest {
				t.Fatalf("%v: %d %s", body, r.Status, r.Body)
			}
		}
	})
}

func TestLogoutRevokes(t *testing.T) {
	a := newTestApp(t)
	p := a.loginPair(uniqueName(t, "frank"))
	other := a.loginPair(uniqueName(t, "frank2"))
	if r := a.do("POST", "/api/v1/auth/logout", p.AccessToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": p.RefreshToken}); r.Status != http.StatusUnauthorized {
		t.Fatalf("refresh after logout: %d", r.Status)
	}
	if r := a.do("GET", "/api/v1/me", p.AccessToken, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("access after logout: %d", r.Status)
	}
	if r := a.do("GET", "/api/v1/me", other.AccessToken, nil); r.Status != http.StatusOK {
		t.Fatalf("another user's login was affected: %d", r.Status)
	}
}

func TestRoleChangeAppliesNextRequest(t *testing.T) {
	prefix := "test:rolechange:" + fmt.Sprint(time.Now().UnixNano()) + ":"
	a := newTestAppWithPrefix(t, prefix, nil)
	b := newTestAppWithPrefix(t, prefix, nil) // a second replica sharing Redis
	adminTok, _ := a.staff("admin", models.RoleAdmin)
	tok, uid := a.resident("grace")
	// Warm both instances' caches with the resident role.
	for _, inst := range []*testApp{a, b} {
		if r := inst.do("POST", "/api/v1/staff/programs", tok, map[string]any{}); r.Status != http.StatusForbidden {
			t.Fatalf("resident on staff route: %d", r.Status)
		}
	}
	r := a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", uid), adminTok, map[string]string{"role": "staff"})
	if r.Status != http.StatusOK || r.JSON(t)["role"] != "staff" {
		t.Fatalf("set role: %d %s", r.Status, r.Body)
	}
	body := map[string]any{"kind": "activity", "title": "角色测试"}
	if r := a.do("POST", "/api/v1/staff/programs", tok, body); r.Status != http.StatusCreated {
		t.Fatalf("same instance, next request: %d %s", r.Status, r.Body)
	}
	// The other replica hears about it through Redis pub/sub within moments.
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := b.do("POST", "/api/v1/staff/programs", tok, body)
		if r.Status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("other instance still sees the old role: %d", r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And back down again.
	a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", uid), adminTok, map[string]string{"role": "resident"})
	if r := a.do("POST", "/api/v1/staff/programs", tok, body); r.Status != http.StatusForbidden {
		t.Fatalf("demoted user still staff: %d", r.Status)
	}
	t.Run("bad role", func(t *testing.T) {
		r := a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", uid), adminTok, map[string]string{"role": "root"})
		if r.Status != http.StatusBadRequest {
			t.Fatalf("got %d", r.Status)
		}
		r = a.do("PUT", "/api/v1/admin/users/999999999/role", adminTok, map[string]string{"role": "staff"})
		if r.Status != http.StatusNotFound {
			t.Fatalf("unknown user: %d %s", r.Status, r.Body)
		}
	})
}

// TestStaffRoutesEnforceRoles walks the router's own route list: every staff route
// refuses a missing token (401) and a resident (403); every admin route refuses
// staff too. A new staff route is covered the moment it is added.
func TestStaffRoutesEnforceRoles(t *testing.T) {
	a := newTestApp(t)
	resTok, _ := a.resident("henry")
	staffTok, _ := a.staff("ivy")
	var checked int
	for _, rt := range routeList(a) {
		path := strings.NewReplacer(":id", "1", ":code", "x", ":pickup_code", "x").Replace(rt.Path)
		isStaff := strings.HasPrefix(rt.Path, "/api/v1/staff/")
		isAdmin := strings.HasPrefix(rt.Path, "/api/v1/admin/")
		if !isStaff && !isAdmin {
			continue
		}
		checked++
		if r := a.do(rt.Method, path, "", map[string]any{}); r.Status != http.StatusUnauthorized {
			t.Errorf("%s %s without token: %d", rt.Method, rt.Path, r.Status)
		}
		if r := a.do(rt.Method, path, resTok, map[string]any{}); r.Status != http.StatusForbidden {
			t.Errorf("%s %s as resident: %d", rt.Method, rt.Path, r.Status)
		}
		if isAdmin {
			if r := a.do(rt.Method, path, staffTok, map[string]any{}); r.Status != http.StatusForbidden {
				t.Errorf("%s %s as staff: %d", rt.Method, rt.Path, r.Status)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("only %d staff/admin routes found", checked)
	}
}

func TestChildrenPrivacy(t *testing.T) {
	a := newTestApp(t)
	mom, _ := a.resident("mom")
	stranger, _ := a.resident("stranger")
	staff, _ := a.staff("kate")

	r := a.do("POST", "/api/v1/me/children", mom, map[string]any{"name": "小明", "birth_date": "2024-05-01", "gender": "male"})
	if r.Status != http.StatusBadRequest {
		t.Fatalf("child without consent: %d %s", r.Status, r.Body)
	}
	r = a.do("POST", "/api/v1/me/children", mom, map[string]any{"name": "小明", "birth_date": "2024-05-01", "guardian_consent": false})
	if r.Status != http.StatusBadRequest {
		t.Fatalf("child with consent false: %d %s", r.Status, r.Body)
	}
	r = a.do("POST", "/api/v1/me/children", mom, map[string]any{"name": "小明😀", "birth_date": "2024-05-01", "gender": "male", "allergies": "花生", "guardian_consent": true})
	if r.Status != http.StatusCreated {
		t.Fatalf("create child: %d %s", r.Status, r.Body)
	}
	kid := r.JSON(t)
	id := int64(kid["id"].(float64))
	if kid["name"] != "小明😀" || kid["guardian_consent"] != true || kid["consent_at"] == nil {
		t.Fatalf("child: %v", kid)
	}
	var consentBy int64
	if err := a.app.db.QueryRow(`SELECT consent_by FROM children WHERE id = ?`, id).Scan(&consentBy); err != nil || consentBy == 0 {
		t.Fatalf("consent not recorded: %d %v", consentBy, err)
	}
	path := fmt.Sprintf("/api/v1/me/children/%d", id)
	for _, tok := range []string{stranger, staff} {
		for _, m := range []string{"GET", "PATCH", "DELETE"} {
			if r := a.do(m, path, tok, map[string]any{"name": "x"}); r.Status != http.StatusNotFound {
				t.Errorf("%s another's child: %d %s", m, r.Status, r.Body)
			}
		}
	}
	if r := a.do("GET", "/api/v1/me/children", stranger, nil); strings.Contains(string(r.Body), "小明") {
		t.Fatalf("stranger's list shows the child: %s", r.Body)
	}
	if r := a.do("PATCH", path, mom, map[string]any{"allergies": "无"}); r.Status != http.StatusOK || r.JSON(t)["allergies"] != "无" {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	if r := a.do("DELETE", path, mom, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.Status)
	}
	if r := a.do("GET", path, mom, nil); r.Status != http.StatusNotFound {
		t.Fatalf("deleted child still there: %d", r.Status)
	}
}

func TestMalformedInput(t *testing.T) {
	a := newTestApp(t)
	tok, _ := a.resident("leo")
	staff, _ := a.staff("mia")
	cases := []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"broken json", "POST", "/api/v1/auth/wechat", "", "{\"code\":", 400},
		{"empty body", "POST", "/api/v1/auth/wechat", "", nil, 400},
		{"wrong type", "POST", "/api/v1/auth/wechat", "", map[string]any{"code": 12}, 400},
		{"missing field", "POST", "/api/v1/auth/wechat", "", map[string]any{}, 400},
		{"array body", "POST", "/api/v1/auth/wechat", "", "[]", 400},
		{"bad date", "POST", "/api/v1/me/children", tok, map[string]any{"name": "a", "birth_date": "2024-13-01", "guardian_consent": true}, 400},
		{"future birth", "POST", "/api/v1/me/children", tok, map[string]any{"name": "a", "birth_date": "2999-01-01", "guardian_consent": true}, 400},
		{"bad kind filter", "GET", "/api/v1/programs?kind=party", "", nil, 400},
		{"bad limit", "GET", "/api/v1/programs?limit=1000", "", nil, 400},
		{"bad cursor", "GET", "/api/v1/programs?cursor=not-a-cursor!", "", nil, 400},
		{"bad id", "GET", "/api/v1/programs/abc", "", nil, 404},
		{"negative id", "GET", "/api/v1/sessions/-1", "", nil, 404},
		{"huge id", "GET", "/api/v1/sessions/99999999999999999999", "", nil, 404},
		{"unknown route", "GET", "/api/v1/nope", "", nil, 404},
		{"bad program kind", "POST", "/api/v1/staff/programs", staff, map[string]any{"kind": "x", "title": "t"}, 400},
		{"negative fee", "POST", "/api/v1/staff/programs", staff, map[string]any{"kind": "activity", "title": "t", "fee_fen": -1}, 400},
		{"session ends before start", "POST", "/api/v1/staff/programs/1/sessions", staff, map[string]any{"starts_at": "2030-01-01T10:00:00+08:00", "ends_at": "2030-01-01T09:00:00+08:00", "capacity": 5}, 400},
		{"zero capacity", "POST", "/api/v1/staff/programs/1/sessions", staff, map[string]any{"starts_at": "2030-01-01T10:00:00+08:00", "ends_at": "2030-01-01T11:00:00+08:00", "capacity": 0}, 400},
		{"oversize body", "POST", "/api/v1/auth/wechat", "", `{"code":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.do(c.method, c.path, c.token, c.body)
			if r.Status != c.want {
				t.Fatalf("got %d want %d: %s", r.Status, c.want, r.Body)
			}
			if r.ErrorCode() == "" {
				t.Fatalf("no error envelope: %s", r.Body)
			}
		})
	}
	t.Run("405 in envelope", func(t *testing.T) {
		r := a.do("DELETE", "/api/v1/programs", "", nil)
		if r.Status != http.StatusMethodNotAllowed || r.ErrorCode() != "method_not_allowed" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("role is read-only in PATCH /me", func(t *testing.T) {
		r := a.do("PATCH", "/api/v1/me", tok, map[string]any{"role": "admin", "nickname": "小李", "id": 1})
		if r.Status != http.StatusOK || r.JSON(t)["role"] != "resident" || r.JSON(t)["nickname"] != "小李" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
}

// TestLogsCarryNoSecrets logs a user in, binds a phone and refreshes, capturing the
// JSON log, and checks no token, session key or phone number appears in it.
func TestLogsCarryNoSecrets(t *testing.T) {
	var buf safeBuffer
	a := startTestApp(t, "test:logs:"+uniqueName(t, "p")+":", nil, &buf)
	// Handlers log through the app's logger (handlers.Logger); the rest of the
	// app through the default one, which serve sets to the same logger.
	prev := slog.Default()
	slog.SetDefault(a.app.logger)
	defer slog.SetDefault(prev)

	p := a.loginPair(uniqueName(t, "nina"))
	r := a.do("POST", "/api/v1/me/phone", p.AccessToken, map[string]string{"code": "phone-13812345678"})
	if r.Status != http.StatusOK || r.JSON(t)["phone"] != "13812345678" {
		t.Fatalf("phone: %d %s", r.Status, r.Body)
	}
	a.do("POST", "/api/v1/me/phone", p.AccessToken, map[string]string{"code": "bad-phone-code"})
	a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": p.RefreshToken})
	fakeWX.SetDown(true)
	a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "secret-code-xyz"})
	fakeWX.SetDown(false)

	logs := buf.String()
	if !strings.Contains(logs, `"route":"/api/v1/me/phone"`) {
		t.Fatalf("access log missing: %.300s", logs)
	}
	for _, secret := range []string{p.AccessToken, p.RefreshToken, "13812345678", "session_key", testSecret, "secret-code-xyz", a.app.cfg.JWTSecret.Reveal()} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A getPhoneNumber code WeChat refuses is 422 wechat_code_invalid, not login's
// 401: the resident is still signed in (a 401 would send the mini-program to
// refresh and log in again) and nothing about the phone changes.
func TestPhoneCodeRefusedKeepsSession(t *testing.T) {
	a := newTestApp(t)
	p := a.loginPair(uniqueName(t, "ph"))
	if r := a.do("POST", "/api/v1/me/phone", p.AccessToken, map[string]string{"code": "phone-13811112222"}); r.Status != http.StatusOK {
		t.Fatalf("phone: %d %s", r.Status, r.Body)
	}
	r := a.do("POST", "/api/v1/me/phone", p.AccessToken, map[string]string{"code": "bad-phone-code"})
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "wechat_code_invalid" {
		t.Fatalf("refused phone code: %d %s, want 422 wechat_code_invalid", r.Status, r.Body)
	}
	me := a.do("GET", "/api/v1/me", p.AccessToken, nil)
	if me.Status != http.StatusOK || me.JSON(t)["phone"] != "13811112222" {
		t.Fatalf("after a refused code: %d %s, want still signed in with the old phone", me.Status, me.Body)
	}
	fakeWX.SetDown(true)
	defer fakeWX.SetDown(false)
	if r := a.do("POST", "/api/v1/me/phone", p.AccessToken, map[string]string{"code": "phone-13833334444"}); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("WeChat down: %d %s, want 503", r.Status, r.Body)
	}
}

// A login revoked while another request of it is loading the cache must be dead
// from the moment Revoke + InvalidateLogin return: a load that read MySQL before
// the revocation may not put its stale answer back after the eviction (it used to,
// keeping a logged-out or demoted caller's token alive for the cache TTL).
func TestAuthCacheEvictionBeatsInFlightLoad(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	cache, tokens := a.app.authCache, a.app.tokens
	u, err := a.app.users.UpsertWeChat(ctx, uniqueName(t, "rv-cache"), "")
	if err != nil {
		t.Fatal(err)
	}
	const trials = 100
	stale := 0
	for trial := 0; trial < trials; trial++ {
		pair, err := tokens.NewLogin(ctx, u.ID, u.Role)
		if err != nil {
			t.Fatal(err)
		}
		claims, _, err := tokens.ParseAccess(pair.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		sid := claims.SID
		var stop atomic.Bool
		var wg sync.WaitGroup
		// Readers keep loading the login (an evictor keeps the entry cold) ...
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					_, _ = cache.Principal(ctx, u.ID, sid)
				}
			}()
		}
		var evictorStop atomic.Bool
		var ew sync.WaitGroup
		ew.Add(1)
		go func() {
			defer ew.Done()
			for !evictorStop.Load() {
				cache.InvalidateLogin(ctx, sid)
			}
		}()
		// ... while the login is revoked the way logout does it.
		if err := tokens.Revoke(ctx, sid); err != nil {
			t.Fatal(err)
		}
		evictorStop.Store(true)
		ew.Wait()
		cache.InvalidateLogin(ctx, sid)
		stop.Store(true)
		wg.Wait()
		if _, err := cache.Principal(ctx, u.ID, sid); !errors.Is(err, models.ErrUnauthorized) {
			stale++
		}
	}
	if stale > 0 {
		t.Fatalf("%d of %d revoked logins still authenticated after logout's eviction", stale, trials)
	}
}
