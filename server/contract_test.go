package main

// Conformance with shared/design/api.md, the contract the mini-program is written
// against. The harness checks every response against openapi.yaml, but nothing
// checked openapi.yaml (or the router) against api.md: a path renamed in both would
// pass every other test. These tests pin what api.md fixes.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// contractRoute is one method and path exactly as api.md writes it, with the
// statuses api.md states for it (success first; none when api.md states none).
type contractRoute struct {
	method, path string
	statuses     []int
}

// contractRoutes lists every route api.md names, section by section.
var contractRoutes = []contractRoute{
	// Health
	{"GET", "/healthz", []int{200}},
	{"GET", "/readyz", []int{200, 503}},
	{"GET", "/metrics", []int{200}},
	// Auth
	{"POST", "/api/v1/auth/wechat", []int{200, 401, 503}},
	{"POST", "/api/v1/auth/refresh", []int{200, 401}},
	{"POST", "/api/v1/auth/logout", []int{204}},
	// Me
	{"GET", "/api/v1/me", nil},
	{"PATCH", "/api/v1/me", nil},
	{"POST", "/api/v1/me/phone", nil},
	{"POST", "/api/v1/me/subscriptions", nil},
	{"GET", "/api/v1/me/children", nil},
	{"POST", "/api/v1/me/children", nil},
	{"GET", "/api/v1/me/children/{id}", nil},
	{"PATCH", "/api/v1/me/children/{id}", nil},
	{"DELETE", "/api/v1/me/children/{id}", nil},
	// Catalogue
	{"GET", "/api/v1/programs", nil},
	{"GET", "/api/v1/programs/{id}", nil},
	{"GET", "/api/v1/sessions/{id}", nil},
	// Bookings
	{"POST", "/api/v1/bookings", []int{201, 403, 404, 409, 422}},
	{"POST", "/api/v1/programs/{id}/enrollments", []int{201, 409}},
	{"GET", "/api/v1/bookings", nil},
	{"GET", "/api/v1/bookings/{id}", nil},
	{"POST", "/api/v1/bookings/{id}/cancel", []int{200}},
	// Staff
	{"POST", "/api/v1/staff/programs", []int{403}},
	{"PATCH", "/api/v1/staff/programs/{id}", []int{403}},
	{"POST", "/api/v1/staff/programs/{id}/sessions", []int{403}},
	{"PATCH", "/api/v1/staff/sessions/{id}", []int{403, 422}},
	{"POST", "/api/v1/staff/sessions/{id}/cancel", []int{403}},
	{"GET", "/api/v1/staff/bookings", []int{403}},
	{"POST", "/api/v1/staff/bookings/{id}/confirm", []int{403, 409}},
	{"POST", "/api/v1/staff/bookings/{id}/reject", []int{403, 409}},
	{"POST", "/api/v1/staff/checkins", []int{200, 403, 404, 409}},
	{"POST", "/api/v1/staff/sessions/{id}/close", []int{403}},
	{"GET", "/api/v1/staff/sessions/{id}/roster.csv", []int{403}},
	{"PUT", "/api/v1/admin/users/{id}/role", []int{403}},
	// Complaints
	{"POST", "/api/v1/uploads", []int{201, 400, 413}},
	{"POST", "/api/v1/complaints", []int{201}},
	{"GET", "/api/v1/complaints", nil},
	{"GET", "/api/v1/complaints/{id}", nil},
	{"POST", "/api/v1/complaints/{id}/rating", []int{409}},
	{"POST", "/api/v1/complaints/{id}/reopen", []int{409}},
	{"GET", "/api/v1/staff/complaints", []int{403}},
	{"POST", "/api/v1/staff/complaints/{id}/accept", []int{403, 409}},
	{"POST", "/api/v1/staff/complaints/{id}/contact", []int{403, 409}},
	{"POST", "/api/v1/staff/complaints/{id}/resolve", []int{403, 409}},
	{"GET", "/api/v1/staff/complaints/stats", []int{403}},
	// Points
	{"POST", "/api/v1/points/code", nil},
	{"GET", "/api/v1/points", nil},
	{"GET", "/api/v1/points/ledger", nil},
	{"POST", "/api/v1/staff/devices", []int{201, 403}},
	{"POST", "/api/v1/devices/deposits", []int{200, 401, 422}},
	{"GET", "/api/v1/rewards", nil},
	{"POST", "/api/v1/redemptions", []int{201, 409}},
	{"POST", "/api/v1/staff/rewards", []int{403}},
	{"POST", "/api/v1/staff/redemptions/{pickup_code}/fulfil", []int{403}},
	// Reports
	{"GET", "/api/v1/staff/reports/annual", []int{403}},
}

// TestContractRoutesExist checks that every route api.md names is registered in
// the router under exactly that method and path, and that openapi.yaml documents
// it under the same path template with the statuses api.md states.
func TestContractRoutesExist(t *testing.T) {
	a := newTestApp(t)
	registered := map[string]bool{}
	for _, r := range routeList(a) {
		registered[r.Method+" "+r.Path] = true
	}
	// api.md writes parameters as {id}; gin as :id.
	toGin := strings.NewReplacer("{id}", ":id", "{pickup_code}", ":pickup_code")
	sample := strings.NewReplacer("{id}", "1", "{pickup_code}", "ABCDEFGH")
	seen := map[string]bool{}
	for _, c := range contractRoutes {
		key := c.method + " " + c.path
		t.Run(key, func(t *testing.T) {
			if seen[key] {
				t.Fatalf("listed twice")
			}
			seen[key] = true
			if c.path == "/metrics" {
				// Served on the METRICS_ADDR listener, never the public router.
				if s := a.metricsStatus("GET", "/metrics"); s != http.StatusOK {
					t.Errorf("metrics listener: GET /metrics answered %d", s)
				}
				if registered["GET /metrics"] {
					t.Errorf("the public router serves /metrics")
				}
			} else if !registered[c.method+" "+toGin.Replace(c.path)] {
				t.Errorf("router has no %s %s", c.method, toGin.Replace(c.path))
			}
			req, err := http.NewRequest(c.method, sample.Replace(c.path), nil)
			if err != nil {
				t.Fatal(err)
			}
			route, _, err := specRouter.FindRoute(req)
			if err != nil {
				t.Fatalf("openapi.yaml does not document it: %v", err)
			}
			if route.Path != c.path {
				t.Errorf("openapi.yaml documents it as %s", route.Path)
			}
			for _, s := range c.statuses {
				if route.Operation.Responses.Value(strconv.Itoa(s)) == nil {
					t.Errorf("openapi.yaml does not document status %d", s)
				}
			}
		})
	}
}

// GET /programs/{id} is "the program with its upcoming sessions": the key is
// there, as an empty array, when there are none (it used to be left out).
func TestContractProgramDetailAlwaysHasSessions(t *testing.T) {
	a := newTestApp(t)
	st, _ := a.staff("ct-prog")
	pid := a.createProgram(st, map[string]any{"kind": "activity", "title": "无场次活动"})
	r := a.do("GET", fmt.Sprintf("/api/v1/programs/%d", pid), "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("get program: %d %s", r.Status, r.Body)
	}
	var body map[string]json.RawMessage
	r.Decode(t, &body)
	if got := string(body["sessions"]); got != "[]" {
		t.Fatalf("sessions = %q, want []: %s", got, r.Body)
	}
	// The list of programs stays without sessions.
	r = a.do("GET", "/api/v1/programs?kind=activity&limit=100", "", nil)
	if strings.Contains(string(r.Body), `"sessions"`) {
		t.Fatalf("program list carries sessions: %s", r.Body)
	}
}

// "Presenting an already-used refresh token → 401 refresh_token_reused": also
// when the login was already revoked, by an earlier reuse or by logout.
func TestContractRefreshReuseAfterRevocation(t *testing.T) {
	a := newTestApp(t)
	refresh := func(tok string) response {
		return a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": tok})
	}
	rotate := func(tok string) loginResult {
		t.Helper()
		r := refresh(tok)
		if r.Status != http.StatusOK {
			t.Fatalf("refresh: %d %s", r.Status, r.Body)
		}
		var out struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		r.Decode(t, &out)
		return loginResult{AccessToken: out.AccessToken, RefreshToken: out.RefreshToken}
	}
	want := func(what string, r response, code string) {
		t.Helper()
		if r.Status != http.StatusUnauthorized || r.ErrorCode() != code {
			t.Fatalf("%s: %d %s, want 401 %s", what, r.Status, r.Body, code)
		}
	}

	first := a.loginPair(uniqueName(t, "ct-reuse"))
	second := rotate(first.RefreshToken)
	want("first reuse", refresh(first.RefreshToken), "refresh_token_reused")
	want("second reuse, login already revoked", refresh(first.RefreshToken), "refresh_token_reused")
	want("the unused token of the revoked login", refresh(second.RefreshToken), "unauthorized")

	p := a.loginPair(uniqueName(t, "ct-logout"))
	next := rotate(p.RefreshToken)
	if r := a.do("POST", "/api/v1/auth/logout", next.AccessToken, nil); r.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	want("spent token after logout", refresh(p.RefreshToken), "refresh_token_reused")
	want("unused token after logout", refresh(next.RefreshToken), "unauthorized")
}

// "unknown code → 404": whatever the scanner read, however long, if it is no
// booking's code (it used to be a 400 past 32 characters).
func TestContractCheckinUnknownCodeIs404(t *testing.T) {
	a := newTestApp(t)
	st, _ := a.staff("ct-checkin")
	for _, code := range []string{
		"ZZZZZZZZZZ", "ABC", strings.Repeat("A", 40),
		"https://mp.weixin.qq.com/a/~abcdefghijklmnopqrstuvwxyz0123456789",
	} {
		r := a.do("POST", "/api/v1/staff/checkins", st, map[string]any{"code": code})
		if r.Status != http.StatusNotFound || r.ErrorCode() != "not_found" {
			t.Errorf("code %q: %d %s, want 404 not_found", code, r.Status, r.Body)
		}
	}
	if r := a.do("POST", "/api/v1/staff/checkins", st, map[string]any{"code": ""}); r.Status != http.StatusBadRequest {
		t.Errorf("empty code: %d %s, want 400", r.Status, r.Body)
	}
}

// "400 invalid_request ... (message says which field)", also for a date or a
// time that its own decoder refuses (encoding/json reports those without a field).
func TestContractBadDateAndTimeNameTheField(t *testing.T) {
	a := newTestApp(t)
	res, _ := a.resident("ct-fields")
	st, _ := a.staff("ct-fields-staff")
	pid := a.createProgram(st, map[string]any{"kind": "activity", "title": "字段名检查"})
	cases := []struct {
		name, method, path, token string
		body                      any
		prefix                    string
	}{
		{"child birth_date", "POST", "/api/v1/me/children", res,
			map[string]any{"name": "小明", "birth_date": "2024/01/01", "guardian_consent": true}, "birth_date: "},
		{"profile birth_date", "PATCH", "/api/v1/me", res, map[string]any{"birth_date": "1990-13-01"}, "birth_date: "},
		{"profile birth_date not a string", "PATCH", "/api/v1/me", res, map[string]any{"birth_date": 19900101}, "birth_date: "},
		{"session starts_at", "POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), st,
			map[string]any{"starts_at": "明天上午", "ends_at": "2030-01-01T11:00:00+08:00", "capacity": 5}, "starts_at: "},
		{"session ends_at without offset", "POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), st,
			map[string]any{"starts_at": "2030-01-01T10:00:00+08:00", "ends_at": "2030-01-01T11:00:00", "capacity": 5}, "ends_at: "},
		{"body not an object", "POST", "/api/v1/bookings", res, []int{1}, "请求体应为 JSON 对象"},
	}
	for _, c := range cases {
		r := a.do(c.method, c.path, c.token, c.body)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		r.Decode(t, &e)
		if r.Status != http.StatusBadRequest || e.Error.Code != "invalid_request" || !strings.HasPrefix(e.Error.Message, c.prefix) {
			t.Errorf("%s: %d %s, want 400 invalid_request starting %q", c.name, r.Status, r.Body, c.prefix)
		}
	}

	// The bin's webhook decodes its body itself; its messages name the field too.
	devID, secret := a.newDevice(st, "南天一花园")
	body, _ := json.Marshal(map[string]any{"event_id": randomID("ev-"), "resident_token": a.residentCode(res),
		"weight_grams": 500, "quality": "ok", "occurred_at": time.Now().Format("2006-01-02 15:04:05")})
	r := a.postDeposit(newDeposit(devID, secret, body))
	msg, _ := r.JSON(t)["error"].(map[string]any)["message"].(string)
	if r.Status != http.StatusBadRequest || !strings.HasPrefix(msg, "occurred_at: ") {
		t.Errorf("deposit occurred_at: %d %s", r.Status, r.Body)
	}
}
