package main

// Issue 14 item 4: every time in every response is RFC 3339 in APP_TIMEZONE
// (+08:00), never Z. doRequest runs checkLocalTimes on every JSON answer of every
// API test; TestEveryTimeIsLocal walks the whole route matrix over a world that has
// one of everything, so each route answers with real times.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// timeShaped is any string that starts like a date-time; checkLocalTimes then
// insists it is RFC 3339 with the +08:00 offset.
var timeShaped = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}`)

// localTimeStrings returns the time-shaped strings of a JSON body (keys and
// values, however deep), and those among them that are not RFC 3339 in +08:00.
// An audit entry's request_body is what a client sent, as sent (a refused request
// may carry "2030-01-01T11:00:00"): there only RFC 3339 times are held to +08:00.
func localTimeStrings(body []byte) (all, bad []string) {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil, nil
	}
	var walk func(v any, asSent bool)
	check := func(s string, asSent bool) {
		if !timeShaped.MatchString(s) {
			return
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if asSent && err != nil {
			return
		}
		if y := tm.In(time.FixedZone("", 8*3600)).Year(); err == nil && (y < 0 || y > 9999) {
			return // not writable in RFC 3339 at +08:00; the door leaves it as stored
		}
		all = append(all, s)
		if err != nil || !strings.HasSuffix(s, "+08:00") {
			bad = append(bad, s)
		}
	}
	walk = func(v any, asSent bool) {
		switch x := v.(type) {
		case string:
			check(x, asSent)
		case []any:
			for _, e := range x {
				walk(e, asSent)
			}
		case map[string]any:
			for k, e := range x {
				check(k, asSent)
				walk(e, asSent || k == "request_body")
			}
		}
	}
	walk(v, false)
	return all, bad
}

// checkLocalTimes fails the test when a JSON answer carries a time that is not
// RFC 3339 in +08:00.
func checkLocalTimes(t testing.TB, method, path string, r response) {
	t.Helper()
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return
	}
	if _, bad := localTimeStrings(r.Body); len(bad) > 0 {
		t.Errorf("%s %s -> %d: times not in +08:00: %q", method, path, r.Status, bad)
	}
}

// matrixWorld is one of everything the API shows, owned by one resident, with the
// secrets that flowed through requests (for TestLogsCarryNoSecrets).
type matrixWorld struct {
	owner, staff, admin string
	ownerID             int64
	ids                 map[string]int64 // ":id" of a path prefix, e.g. "/api/v1/bookings/"
	bookingCode         string
	pickupCode          string
	binToken            string
	refreshToken        string
	phone               string
}

// buildMatrixWorld makes a program and session, a booking, a child, a complaint
// taken through every staff step with a photo, points from a bin, a redemption, a
// walk-in resident and audit entries.
func buildMatrixWorld(t *testing.T, a *testApp) *matrixWorld {
	t.Helper()
	pair := a.loginPair(uniqueName(t, "tw-owner"))
	w := &matrixWorld{owner: pair.AccessToken, ownerID: pair.UserID, refreshToken: pair.RefreshToken, ids: map[string]int64{}}
	w.staff, _ = a.staff("tw-staff")
	w.admin, _ = a.staff("tw-admin", "admin")

	pid := a.createProgram(w.staff, map[string]any{"kind": "activity", "title": "时间矩阵活动", "requires_approval": false})
	sid := a.createSession(w.staff, pid, 72*time.Hour, 5)
	w.ids["/api/v1/programs/"], w.ids["/api/v1/staff/programs/"] = pid, pid
	w.ids["/api/v1/sessions/"], w.ids["/api/v1/staff/sessions/"] = sid, sid
	r := a.do("POST", "/api/v1/bookings", w.owner, map[string]any{"session_id": sid})
	if r.Status != http.StatusCreated {
		t.Fatalf("booking: %d %s", r.Status, r.Body)
	}
	w.ids["/api/v1/bookings/"] = idOf(t, r)
	w.bookingCode = r.JSON(t)["code"].(string)
	w.ids["/api/v1/staff/bookings/"] = w.ids["/api/v1/bookings/"]
	r = a.do("POST", "/api/v1/me/children", w.owner, map[string]any{"name": "时间", "birth_date": "2022-01-01", "guardian_consent": true})
	w.ids["/api/v1/me/children/"] = idOf(t, r)

	w.phone = newPhone()
	photo := a.uploadPhoto(w.owner)
	w.ids["/api/v1/uploads/"] = photo
	cid := a.fileComplaint(w.owner, map[string]any{"photo_ids": []int64{photo}, "contact_phone": w.phone})
	w.ids["/api/v1/complaints/"], w.ids["/api/v1/staff/complaints/"] = cid, cid
	a.step(w.staff, cpath(cid, "accept"), map[string]any{}, http.StatusOK)
	a.step(w.staff, cpath(cid, "contact"), map[string]any{"note": "已电话联系"}, http.StatusOK)
	a.step(w.staff, cpath(cid, "resolve"), map[string]any{"resolution": "已修好", "mediation_agreement": false}, http.StatusOK)

	dev, secret := a.newDevice(w.staff, "南天一花园")
	w.ids["/api/v1/staff/devices/"] = dev
	w.binToken = a.residentCode(w.owner)
	if r := a.sendDeposit(dev, secret, randomID("ev-"), w.binToken, 1500, "ok"); r.Status != http.StatusOK {
		t.Fatalf("deposit: %d %s", r.Status, r.Body)
	}
	a.grant(w.staff, w.ownerID, 100)
	reward := a.newReward(w.staff, 10, 5)
	w.ids["/api/v1/staff/rewards/"] = reward
	r = a.do("POST", "/api/v1/redemptions", w.owner, map[string]any{"reward_id": reward})
	if r.Status != http.StatusCreated {
		t.Fatalf("redeem: %d %s", r.Status, r.Body)
	}
	w.pickupCode = r.JSON(t)["pickup_code"].(string)

	walkIn := createWalkIn(t, a, w.staff, "时阿姨", newPhone())
	w.ids["/api/v1/staff/residents/"] = walkIn
	w.ids["/api/v1/admin/users/"] = w.ownerID
	return w
}

// matrixPath fills a route pattern with the world's ids and secrets.
func (w *matrixWorld) matrixPath(pattern string) string {
	p := strings.Replace(pattern, ":pickup_code", w.pickupCode, 1)
	p = strings.Replace(p, ":booking_id", "999999998", 1)
	best := ""
	for prefix := range w.ids {
		if strings.HasPrefix(p, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best != "" {
		p = strings.Replace(p, ":id", fmt.Sprint(w.ids[best]), 1)
	}
	return strings.Replace(p, ":id", "999999999", 1)
}

// walkMatrix calls every route of the router once, as the role its rule names
// (the owner for resident routes), with the world's ids, and hands each answer to
// visit. Routes that would end the world's logins run last.
func walkMatrix(t *testing.T, a *testApp, w *matrixWorld, visit func(key string, r response)) {
	t.Helper()
	var last []string
	for _, rt := range routeList(a) {
		if strings.HasPrefix(rt.Path, "/console") {
			continue // the staff console's pages are not the JSON API (console/ has its own tests)
		}
		key := rt.Method + " " + rt.Path
		if strings.HasPrefix(rt.Path, "/console") {
			continue // the staff web console: HTML pages with their own tests, not the JSON API
		}
		if key == "POST /api/v1/auth/logout" || key == "DELETE /api/v1/me" {
			last = append(last, key)
			continue
		}
		walkRoute(t, a, w, key, visit)
	}
	for _, key := range last {
		walkRoute(t, a, w, key, visit)
	}
}

func walkRoute(t *testing.T, a *testApp, w *matrixWorld, key string, visit func(string, response)) {
	t.Helper()
	method, pattern, _ := strings.Cut(key, " ")
	token := w.owner
	switch routeRules[key].level {
	case staffOnly:
		token = w.staff
	case adminOnly:
		token = w.admin
	case public, device:
		token = ""
	}
	body := validBodies[key]
	if body == nil && method != http.MethodGet {
		body = map[string]any{}
	}
	if key == "POST /api/v1/auth/refresh" {
		body = map[string]any{"refresh_token": w.refreshToken}
	}
	if key == "POST /api/v1/staff/checkins" {
		body = map[string]any{"code": w.bookingCode}
	}
	var r response
	if body == nil {
		r = a.do(method, w.matrixPath(pattern), token, nil)
	} else {
		r = a.do(method, w.matrixPath(pattern), token, body)
	}
	if r.Status >= 500 {
		t.Errorf("%s: %d %s", key, r.Status, r.Body)
	}
	visit(key, r)
}

func TestEveryTimeIsLocal(t *testing.T) {
	a := newPayApp(t).testApp // with a (fake) merchant: the payment routes answer for real
	w := buildMatrixWorld(t, a)
	// Times that reach the responses through raw JSON, not through a time.Time:
	// a client's UTC time kept in the audit log's request body.
	if r := a.do("PATCH", fmt.Sprintf("/api/v1/staff/sessions/%d", w.ids["/api/v1/sessions/"]), w.staff,
		map[string]any{"ends_at": time.Now().Add(75 * time.Hour).UTC().Format(time.RFC3339)}); r.Status != http.StatusOK {
		t.Fatalf("patch session: %d %s", r.Status, r.Body)
	}

	withTimes := map[string]int{}
	total := 0
	walkMatrix(t, a, w, func(key string, r response) {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			return
		}
		all, _ := localTimeStrings(r.Body) // the bad ones were reported by doRequest
		withTimes[key] = len(all)
		total += len(all)
	})
	// The walk must have met real times, or it proved nothing: these answers carry
	// times read from MySQL, made by time.Now, and stored as raw JSON.
	for _, key := range []string{
		"GET /api/v1/me", "GET /api/v1/bookings/:id", "GET /api/v1/sessions/:id", "GET /api/v1/programs/:id",
		"GET /api/v1/complaints/:id", "GET /api/v1/staff/complaints", "GET /api/v1/points/ledger",
		"GET /api/v1/redemptions", "GET /api/v1/admin/audit", "GET /api/v1/me/export", "POST /api/v1/points/code",
		"GET /api/v1/staff/devices", "GET /api/v1/staff/residents/:id",
	} {
		if withTimes[key] == 0 {
			t.Errorf("%s answered no time at all: the walk did not reach its data", key)
		}
	}
	t.Logf("%d time strings checked over %d routes", total, len(withTimes))
}

// TestLocalTimesRewritesReplays: an idempotent replay is stored bytes; it too
// leaves in +08:00 (the rewrite is at the door, not in the encoder).
func TestLocalTimesRewritesReplays(t *testing.T) {
	a := newTestApp(t)
	tok, _ := a.resident("tw-replay")
	staffTok, _ := a.staff("tw-replay-staff")
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "重放", "requires_approval": false})
	sid := a.createSession(staffTok, pid, 48*time.Hour, 3)
	first := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid}, "Idempotency-Key", "tw-1")
	again := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid}, "Idempotency-Key", "tw-1")
	if first.Status != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(first.Body, again.Body) {
		t.Fatalf("replay: %d %s / %d %s", first.Status, first.Body, again.Status, again.Body)
	}
	if all, _ := localTimeStrings(again.Body); len(all) == 0 {
		t.Fatalf("the booking carried no time: %s", again.Body)
	}
}

// The refusal before booking opens names the opening time as residents read it,
// in APP_TIMEZONE (Asia/Shanghai), not in UTC: 09:00 is not "01:00Z".
func TestBookingNotYetOpenNamesLocalTime(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("rv-opens")
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "早鸟班"})
	start := time.Now().Add(72 * time.Hour).Truncate(time.Second)
	opens := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	r := a.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), staffTok, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339),
		"capacity": 5, "booking_opens_at": opens.UTC().Format(time.RFC3339)})
	sid := idOf(t, r)
	tok, _ := a.resident("rv-early")
	r = a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid})
	wantStatus(t, r, http.StatusUnprocessableEntity, "booking_closed")
	want := opens.In(a.app.cfg.Location).Format("2006-01-02 15:04")
	if msg := r.JSON(t)["error"].(map[string]any)["message"].(string); !strings.Contains(msg, want) {
		t.Fatalf("message %q does not name the opening time %s (Asia/Shanghai)", msg, want)
	}
}
