package main

// Regression tests for rough edges found by walking through the API as the
// mini-program and as centre staff against the dev server.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// errorMessage returns error.message of an envelope.
func errorMessage(t *testing.T, r response) string {
	t.Helper()
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	r.Decode(t, &e)
	return e.Error.Message
}

// A value that its own decoder refuses (a date, a time) is a 400 whose message
// names the field in Chinese, not Go's English parse error without a field;
// type errors say the JSON type, not the Go type.
func TestBindMessagesNameTheField(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("bindmsg-staff")
	tok, _ := a.resident("bindmsg")
	pid := a.createProgram(staff, map[string]any{"kind": "activity", "title": "插花"})
	devID, secret := a.newDevice(staff, "南天一花园")

	deposit := newDeposit(devID, secret, []byte(`{"event_id":"ev-bindmsg","resident_token":"x","weight_grams":300,"quality":"ok","occurred_at":"yesterday"}`))
	cases := []struct {
		name string
		r    response
		want []string
	}{
		{"impossible date", a.do("PATCH", "/api/v1/me", tok, `{"nickname":"小爱","birth_date":"1990-13-45"}`),
			[]string{"birth_date: ", "YYYY-MM-DD"}},
		{"date of a child", a.do("POST", "/api/v1/me/children", tok, `{"name":"小明","birth_date":"2025-02-30","guardian_consent":true}`),
			[]string{"birth_date: ", "YYYY-MM-DD"}},
		{"date not a string", a.do("PATCH", "/api/v1/me", tok, `{"birth_date":19900506}`),
			[]string{"birth_date: ", "YYYY-MM-DD"}},
		{"time without offset", a.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), staff,
			`{"starts_at":"2026-12-20 14:00","ends_at":"2026-12-20T16:00:00+08:00","capacity":3}`),
			[]string{"starts_at: ", "RFC 3339"}},
		{"bin time", a.postDeposit(deposit), []string{"occurred_at: ", "RFC 3339"}},
		// The first error in the body's order is the bad time; a later field of
		// the wrong type (sorting first by name) must not take the blame.
		{"time then type", a.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", pid), staff,
			`{"starts_at":"soon","ends_at":"2026-12-20T16:00:00+08:00","capacity":"3"}`),
			[]string{"starts_at: ", "RFC 3339"}},
		{"array body", a.do("PATCH", "/api/v1/me", tok, `[]`), []string{"JSON 对象"}},
		{"wrong type", a.do("PATCH", "/api/v1/me", tok, `{"nickname":123}`), []string{"nickname: ", "字符串"}},
		{"empty title", a.do("PATCH", fmt.Sprintf("/api/v1/staff/programs/%d", pid), staff, `{"title":""}`), []string{"title: 不能为空"}},
		{"long nickname", a.do("PATCH", "/api/v1/me", tok, map[string]any{"nickname": strings.Repeat("南", 65)}), []string{"nickname: ", "64 个字符"}},
	}
	for _, c := range cases {
		if c.r.Status != http.StatusBadRequest || c.r.ErrorCode() != "invalid_request" {
			t.Errorf("%s: %d %s", c.name, c.r.Status, c.r.Body)
			continue
		}
		msg := errorMessage(t, c.r)
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", c.name, msg, w)
			}
		}
		for _, leak := range []string{"parsing time", "want YYYY", "int64", "models.", "请求无效"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: message %q leaks %q", c.name, msg, leak)
			}
		}
	}
	// Nothing was changed by the refused profile edit.
	r := a.do("GET", "/api/v1/me", tok, nil)
	if m := r.JSON(t); m["nickname"] != "" || m["birth_date"] != nil {
		t.Errorf("refused PATCH changed the profile: %s", r.Body)
	}
}

// Closing a session that has not started yet used to mark every confirmed
// booking no_show (a 爽约 toward the ban) and expire the pending ones, for a
// session nobody could have attended yet. It is refused; once the session has
// started, closing works as before.
func TestCloseSessionBeforeStartIsRefused(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("early-close-staff")
	_, sid := a.hotSession(staff, 5, false)
	tok, _ := a.resident("early-close")
	bid := idOf(t, book(a, tok, map[string]any{"session_id": sid}))

	r := a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/close", sid), staff, nil)
	wantStatus(t, r, http.StatusConflict, "invalid_transition")
	if msg := errorMessage(t, r); !strings.Contains(msg, "尚未开始") {
		t.Errorf("message %q does not say the session has not started", msg)
	}
	if st := a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", bid), tok, nil).JSON(t)["status"]; st != "confirmed" {
		t.Fatalf("booking after a refused close: %v, want confirmed", st)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND no_show_at IS NULL`, bid); n != 1 {
		t.Fatalf("refused close recorded a no-show")
	}
	if s := a.do("GET", fmt.Sprintf("/api/v1/sessions/%d", sid), "", nil).JSON(t); s["status"] != "open" || s["booked"].(float64) != 1 {
		t.Fatalf("session after a refused close: %v", s)
	}

	a.startSession(sid)
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/sessions/%d/close", sid), staff, nil)
	wantStatus(t, r, http.StatusOK, "")
	if m := r.JSON(t); m["no_shows"].(float64) != 1 {
		t.Errorf("close after the start: %s", r.Body)
	}
}

// Enrolling in a whole course whose gates are not in Redis (first enrolment
// after a start, a flush, or expiry) rebuilt at most three of them and then
// skipped the gate, so a course of four or more lessons — every 青年夜校 course
// in the demo catalogue — left gates that did not count the enrolment until the
// reconciler repaired them. Every gate must hold the new place at once.
func TestEnrolmentLoadsEveryMissingGate(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("gate-enrol-staff")
	pid := a.createProgram(staff, map[string]any{"kind": "night_school", "title": "粤语", "fee_fen": 5000})
	var sids []int64
	for i := range 6 {
		sids = append(sids, a.createSession(staff, pid, time.Duration(24*(i+1))*time.Hour, 20))
	}
	ctx := t.Context()
	gateKeys := func(sid int64) (string, string) {
		h := fmt.Sprintf("%sgate:{p:%d}:s:%d", a.prefix, pid, sid)
		return h, h + ":m"
	}
	for _, sid := range sids {
		h, m := gateKeys(sid)
		if err := a.app.rdb.Del(ctx, h, m).Err(); err != nil {
			t.Fatal(err)
		}
	}
	tok, uid := a.resident("gate-enrol")
	r := a.do("POST", fmt.Sprintf("/api/v1/programs/%d/enrollments", pid), tok, nil)
	wantStatus(t, r, http.StatusCreated, "")
	member := fmt.Sprintf("u%d", uid)
	for _, sid := range sids {
		h, m := gateKeys(sid)
		if n, err := a.app.rdb.Exists(ctx, h).Result(); err != nil || n != 1 {
			t.Errorf("session %d: gate not loaded (%v)", sid, err)
			continue
		}
		if ok, err := a.app.rdb.SIsMember(ctx, m, member).Result(); err != nil || !ok {
			t.Errorf("session %d: gate does not hold the enrolment (%v)", sid, err)
		}
		a.assertCounts(sid)
	}
}

// A staff points adjustment for a deleted account, or for a walk-in already
// merged into a WeChat account, answered 201 and posted points nobody can ever
// see or spend. Both are 404 now, and nothing is posted.
func TestAdjustmentRefusesDeletedAndMergedAccounts(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("adjust-dead-staff")

	gone, goneID := a.resident("adjust-deleted")
	if r := a.do("DELETE", "/api/v1/me", gone, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	phone := newPhone()
	walk := createWalkIn(t, a, staffTok, "林伯", phone)
	tok, uid := a.resident("adjust-merged")
	if r := a.do("POST", "/api/v1/me/phone", tok, map[string]string{"code": "phone-" + phone}); r.Status != http.StatusOK {
		t.Fatalf("phone: %d %s", r.Status, r.Body)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND merged_into = ?`, walk, uid); n != 1 {
		t.Fatal("walk-in not merged")
	}
	for name, id := range map[string]int64{"deleted": goneID, "merged walk-in": walk} {
		r := a.do("POST", "/api/v1/staff/points/adjustments", staffTok, map[string]any{"user_id": id, "amount": 50, "reason": "活动奖励"})
		if r.Status != http.StatusNotFound || r.ErrorCode() != "not_found" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
		if n := a.count(`SELECT COUNT(*) FROM points_ledger WHERE user_id = ?`, id); n != 0 {
			t.Errorf("%s: %d ledger entries posted", name, n)
		}
	}
	// The live account the walk-in became still takes adjustments.
	a.grant(staffTok, uid, 5)
	if b := a.balance(uid); b != 5 {
		t.Errorf("balance %d, want 5", b)
	}
}

// Deleting a child (PIPL) left the child's upcoming 临时托 bookings live with
// child_id null: a place held, confirmable and checked in for a child whose
// record is gone. They are cancelled first now, and the place goes back; a
// past attended booking keeps its count and loses the link, as before.
func TestDeletingAChildCancelsItsUpcomingBookings(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("childdel-staff")
	tok, _ := a.resident("childdel")
	cc := a.createProgram(staff, map[string]any{"kind": "childcare", "title": "临时托"})
	past := a.createSession(staff, cc, 48*time.Hour, 12)
	soon := a.createSession(staff, cc, 72*time.Hour, 12)
	later := a.createSession(staff, cc, 96*time.Hour, 1)
	birth := time.Now().AddDate(-2, 0, 0).Format(time.DateOnly)
	kid := idOf(t, a.do("POST", "/api/v1/me/children", tok, map[string]any{"name": "豆豆", "birth_date": birth, "guardian_consent": true}))
	other := idOf(t, a.do("POST", "/api/v1/me/children", tok, map[string]any{"name": "果果", "birth_date": birth, "guardian_consent": true}))

	attended := idOf(t, book(a, tok, map[string]any{"session_id": past, "child_id": kid}))
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", attended), staff, nil), 200, "")
	code := a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", attended), tok, nil).JSON(t)["code"]
	a.openCheckIn(past)
	wantStatus(t, a.do("POST", "/api/v1/staff/checkins", staff, map[string]any{"code": code}), 200, "")
	pending := idOf(t, book(a, tok, map[string]any{"session_id": soon, "child_id": kid}))
	confirmed := idOf(t, book(a, tok, map[string]any{"session_id": later, "child_id": kid}))
	wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", confirmed), staff, nil), 200, "")
	sibling := idOf(t, book(a, tok, map[string]any{"session_id": soon, "child_id": other}))
	a.startSession(past)

	wantStatus(t, a.do("DELETE", fmt.Sprintf("/api/v1/me/children/%d", kid), tok, nil), http.StatusNoContent, "")

	status := func(id int64) string {
		return a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", id), tok, nil).JSON(t)["status"].(string)
	}
	for _, id := range []int64{pending, confirmed} {
		if st := status(id); st != "cancelled" {
			t.Errorf("booking %d of the deleted child: %s, want cancelled", id, st)
		}
	}
	if st := status(attended); st != "attended" {
		t.Errorf("past booking: %s, want attended", st)
	}
	if st := status(sibling); st != "pending" {
		t.Errorf("the other child's booking: %s, want pending", st)
	}
	for _, sid := range []int64{soon, later} {
		a.assertCounts(sid)
	}
	if s := a.do("GET", fmt.Sprintf("/api/v1/sessions/%d", later), "", nil).JSON(t); s["remaining"].(float64) != 1 {
		t.Errorf("the place was not given back: %v", s)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM children WHERE id = ?`, kid); n != 0 {
		t.Errorf("child not deleted")
	}
	// Someone else's child, or one already gone: 404, nothing cancelled.
	intruder, _ := a.resident("childdel-other")
	wantStatus(t, a.do("DELETE", fmt.Sprintf("/api/v1/me/children/%d", other), intruder, nil), http.StatusNotFound, "not_found")
	if st := status(sibling); st != "pending" {
		t.Errorf("another resident's delete touched the booking: %s", st)
	}
	wantStatus(t, a.do("DELETE", fmt.Sprintf("/api/v1/me/children/%d", kid), tok, nil), http.StatusNotFound, "not_found")
}

// A path with a trailing slash was answered by gin's router itself with a
// 301/307 redirect: no X-Request-Id, an HTML body, and no access-log line,
// since the middleware never ran. The contract's paths have no trailing slash;
// such a path is now an unknown route like any other: a 404 envelope with a
// request id, logged once.
func TestTrailingSlashIsAnEnvelopedNotFound(t *testing.T) {
	var logs safeBuffer
	a := startTestApp(t, "test:slash:"+uniqueName(t, "p")+":", nil, &logs)
	tok, _ := a.resident("slash")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v1/programs/"},
		{"POST", "/api/v1/bookings/"},
		{"GET", "/api/v1/me/"},
	} {
		req, err := http.NewRequest(c.method, a.URL+c.path, strings.NewReader(`{"session_id":1}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		r := response{Status: res.StatusCode, Header: res.Header, Body: body}
		if r.Status != http.StatusNotFound || r.ErrorCode() != "not_found" || r.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s %s: %d %v %s", c.method, c.path, r.Status, r.Header, body)
		}
		if !strings.Contains(logs.String(), `"path":"`+c.path+`"`) {
			t.Errorf("%s %s: not in the access log", c.method, c.path)
		}
	}
}
