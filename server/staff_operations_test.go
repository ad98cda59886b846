package main

// The staff operations (models/ops) audit themselves, whichever door called
// them. These tests hold every staff route of the API and every state-changing
// route of the console against one rule — one call, one audit entry naming
// the actor, the door, and the state before and after — and call operations
// with no HTTP at all to find their entry and their follow-ups.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/catalog"
	"nantian/models/consolelogin"
	"nantian/models/ops"
)

// auditRow is one audit_log row as the tests read it.
type auditRow struct {
	id                   int64
	actorID              int64
	role, door, action   string
	target, requestID    string
	status               int
	input, before, after sql.NullString
}

// auditSince returns the audit rows written after id, oldest first.
func (a *testApp) auditSince(id int64) []auditRow {
	a.t.Helper()
	rows, err := a.app.db.Query(`SELECT id, actor_id, actor_role, door, action, target, request_id, status, request_body, before_body, response_body
		FROM audit_log WHERE id > ? AND action NOT LIKE 'READ %' ORDER BY id`, id)
	if err != nil {
		a.t.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.id, &r.actorID, &r.role, &r.door, &r.action, &r.target, &r.requestID, &r.status, &r.input, &r.before, &r.after); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

func (a *testApp) lastAuditID() int64 {
	a.t.Helper()
	var id int64
	if err := a.app.db.QueryRow(`SELECT COALESCE(MAX(id), 0) FROM audit_log`).Scan(&id); err != nil {
		a.t.Fatal(err)
	}
	return id
}

// consoleUser is a console session opened for a user, with its CSRF token.
type consoleUser struct {
	cookie, csrf string
}

func (a *testApp) consoleSession(userID int64) consoleUser {
	a.t.Helper()
	var openid string
	if err := a.app.db.QueryRow(`SELECT openid FROM users WHERE id = ?`, userID).Scan(&openid); err != nil {
		a.t.Fatal(err)
	}
	tok, _, err := a.app.consoleLogins.OpenByOpenID(context.Background(), openid)
	if err != nil {
		a.t.Fatal(err)
	}
	var u consoleUser
	u.cookie = tok
	if err := a.app.db.QueryRow(`SELECT csrf FROM console_sessions WHERE id_hash = SHA2(?, 256)`, tok).Scan(&u.csrf); err != nil {
		a.t.Fatal(err)
	}
	return u
}

// consolePost posts a console form (multipart when file is set, for the
// import) as the session's user; it returns the status and X-Request-Id.
func (a *testApp) consolePost(u consoleUser, path string, form url.Values, multipartForm bool) (int, string) {
	a.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", u.csrf)
	var body bytes.Buffer
	ctype := "application/x-www-form-urlencoded"
	if multipartForm {
		mw := multipart.NewWriter(&body)
		for k, vs := range form {
			for _, v := range vs {
				_ = mw.WriteField(k, v)
			}
		}
		mw.Close()
		ctype = mw.FormDataContentType()
	} else {
		body.WriteString(form.Encode())
	}
	req, err := http.NewRequest("POST", a.URL+path, &body)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.AddCookie(&http.Cookie{Name: "nt_console", Value: u.cookie})
	resp, err := noRedirect.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Request-Id")
}

// opCase is one call of a staff operation through a door. prep runs before
// the audit log is looked at (fixtures it makes do not count) and returns the
// request; the call must leave exactly one entry.
type opCase struct {
	route  string // the router's or the console's pattern this call exercises
	action string // the entry's action (for the API: the route itself)
	admin  bool
	// API: path and JSON body. Console: path and form (multipart for imports).
	prep      func() (path string, body any)
	multipart bool
	status    int  // the door's answer
	before    bool // the entry must hold the state before (an existing thing changed)
	after     func(r response)
}

// TestEveryStaffOperationIsAudited calls every staff and admin state change
// through both doors and finds, for each call, exactly one audit entry with
// the actor, the door, the request id of the call, what was asked, the state
// before (where a thing existed) and after. The tables are held against the
// routers: a new staff route (API) or state-changing console route without a
// case here fails the test, so an operation that forgets to audit cannot be
// added unseen.
func TestEveryStaffOperationIsAudited(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("ops-audit-staff")
	adminTok, adminID := a.staff("ops-audit-admin", "admin")
	resTok, resID := a.resident("ops-audit-res")
	_, otherID := a.resident("ops-audit-other")
	ctx := context.Background()

	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "审计全覆盖", "requires_approval": true})
	sid := a.createSession(staffTok, pid, 72*time.Hour, 10)
	pending := func(tok string, sessionID int64) int64 {
		t.Helper()
		r := book(a, tok, map[string]any{"session_id": sessionID})
		wantStatus(t, r, http.StatusCreated, "")
		return idOf(t, r)
	}
	freshSession := func() int64 { return a.createSession(staffTok, pid, 96*time.Hour, 5) }
	startedSession := func() int64 {
		s := a.createSession(staffTok, pid, 72*time.Hour, 5)
		a.startSession(s)
		return s
	}
	checkinCode := func() string {
		s := a.createSession(staffTok, pid, 72*time.Hour, 5)
		tok, _ := a.resident("ops-audit-checkin")
		b := pending(tok, s)
		wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/bookings/%d/confirm", b), staffTok, nil), 200, "")
		a.openCheckIn(s)
		var code string
		if err := a.app.db.QueryRow(`SELECT code FROM bookings WHERE id = ?`, b).Scan(&code); err != nil {
			t.Fatal(err)
		}
		return code
	}
	complaintID := func(state string) int64 {
		id := a.fileComplaint(resTok, nil)
		steps := []struct{ path, state string }{{"accept", "accepted"}, {"contact", "contacted"}}
		for _, s := range steps {
			if state == "submitted" {
				break
			}
			wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/complaints/%d/%s", id, s.path), staffTok, map[string]any{"note": "已电话联系"}), 200, "")
			if s.state == state {
				break
			}
		}
		return id
	}
	device := func() int64 { id, _ := a.newDevice(staffTok, "南天一花园"); return id }
	disabledDevice := func() int64 {
		d := device()
		wantStatus(t, a.do("POST", fmt.Sprintf("/api/v1/staff/devices/%d/disable", d), staffTok, nil), 200, "")
		return d
	}
	reward := func() int64 { return a.newReward(staffTok, 10, 5) }
	pickup := func() string {
		a.grant(staffTok, resID, 50)
		r := a.do("POST", "/api/v1/redemptions", resTok, map[string]any{"reward_id": reward()})
		wantStatus(t, r, http.StatusCreated, "")
		return r.JSON(t)["pickup_code"].(string)
	}
	ticket := func() string {
		tk, err := a.app.consoleLogins.Ticket(ctx, consolelogin.NewBrowserNonce())
		if err != nil {
			t.Fatal(err)
		}
		return tk.Code
	}
	var walkIn, walkInBooking int64
	walkInSession := a.createSession(staffTok, a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "代预约审计", "requires_approval": false}), 72*time.Hour, 5)
	tag := fmt.Sprintf("OPS%d", time.Now().UnixNano())
	importCSVBody := func(day int) string {
		return importHeader + fmt.Sprintf("activity,审计导入%s,all,文艺,党群服务中心,2024-03-%02d 19:00,2024-03-%02d 21:00,20,12,\n", tag, day, day)
	}
	id := func(n int64) string { return fmt.Sprint(n) }

	api := []opCase{
		{route: "POST /api/v1/staff/programs", status: 201, prep: func() (string, any) {
			return "/api/v1/staff/programs", map[string]any{"kind": "activity", "title": "新项目"}
		}},
		{route: "PATCH /api/v1/staff/programs/:id", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/programs/" + id(pid), map[string]any{"venue": "邻里之家"}
		}},
		{route: "POST /api/v1/staff/programs/:id/sessions", status: 201, prep: func() (string, any) {
			start := time.Now().Add(120 * time.Hour).Truncate(time.Second)
			return "/api/v1/staff/programs/" + id(pid) + "/sessions", map[string]any{"starts_at": start.Format(time.RFC3339),
				"ends_at": start.Add(time.Hour).Format(time.RFC3339), "capacity": 3}
		}},
		{route: "PATCH /api/v1/staff/sessions/:id", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/sessions/" + id(sid), map[string]any{"capacity": 12}
		}},
		{route: "POST /api/v1/staff/bookings/:id/confirm", status: 200, before: true, prep: func() (string, any) {
			tok, _ := a.resident("ops-audit-confirm")
			return "/api/v1/staff/bookings/" + id(pending(tok, sid)) + "/confirm", nil
		}},
		{route: "POST /api/v1/staff/bookings/:id/reject", status: 200, before: true, prep: func() (string, any) {
			tok, _ := a.resident("ops-audit-reject")
			return "/api/v1/staff/bookings/" + id(pending(tok, sid)) + "/reject", map[string]any{"reason": "名额已满"}
		}},
		{route: "POST /api/v1/staff/checkins", status: 200, prep: func() (string, any) {
			return "/api/v1/staff/checkins", map[string]any{"code": checkinCode()}
		}},
		{route: "POST /api/v1/staff/sessions/:id/close", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/sessions/" + id(startedSession()) + "/close", nil
		}},
		{route: "POST /api/v1/staff/sessions/:id/cancel", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/sessions/" + id(freshSession()) + "/cancel", nil
		}},
		{route: "POST /api/v1/staff/console-logins", status: 204, prep: func() (string, any) {
			return "/api/v1/staff/console-logins", map[string]any{"ticket": ticket()}
		}},
		// No merchant in this app: the refund is refused, and the refused
		// attempt is audited with the booking as it stood.
		{route: "POST /api/v1/staff/bookings/:id/refund", status: 409, before: true, prep: func() (string, any) {
			tok, _ := a.resident("ops-audit-refund")
			return "/api/v1/staff/bookings/" + id(pending(tok, sid)) + "/refund", map[string]any{"reason": "活动改期"}
		}},
		{route: "POST /api/v1/staff/residents", status: 201, prep: func() (string, any) {
			return "/api/v1/staff/residents", map[string]any{"real_name": "赵阿姨", "phone": newPhone()}
		}, after: func(r response) { walkIn = idOf(t, r) }},
		{route: "POST /api/v1/staff/residents/:id/children", status: 201, prep: func() (string, any) {
			return "/api/v1/staff/residents/" + id(walkIn) + "/children", map[string]any{"name": "赵小宝", "birth_date": "2021-05-01", "guardian_consent": true}
		}},
		{route: "POST /api/v1/staff/residents/:id/bookings", status: 201, prep: func() (string, any) {
			return "/api/v1/staff/residents/" + id(walkIn) + "/bookings", map[string]any{"session_id": walkInSession}
		}, after: func(r response) { walkInBooking = idOf(t, r) }},
		{route: "POST /api/v1/staff/residents/:id/bookings/:booking_id/checkin", status: 422, prep: func() (string, any) {
			// Three days before the session: refused (check-in is not open yet), audited.
			return fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/checkin", walkIn, walkInBooking), nil
		}},
		{route: "POST /api/v1/staff/residents/:id/bookings/:booking_id/cancel", status: 200, prep: func() (string, any) {
			return fmt.Sprintf("/api/v1/staff/residents/%d/bookings/%d/cancel", walkIn, walkInBooking), nil
		}},
		{route: "POST /api/v1/staff/residents/:id/enrollments", status: 201, prep: func() (string, any) {
			course := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "代报名课程", "requires_approval": false})
			a.createSession(staffTok, course, 72*time.Hour, 5)
			return "/api/v1/staff/residents/" + id(walkIn) + "/enrollments", map[string]any{"program_id": course}
		}},
		{route: "POST /api/v1/staff/complaints/:id/accept", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/complaints/" + id(complaintID("submitted")) + "/accept", map[string]any{"note": "马上处理"}
		}},
		{route: "POST /api/v1/staff/complaints/:id/contact", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/complaints/" + id(complaintID("accepted")) + "/contact", map[string]any{"note": "已电话联系"}
		}},
		{route: "POST /api/v1/staff/complaints/:id/resolve", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/complaints/" + id(complaintID("contacted")) + "/resolve", map[string]any{"resolution": "已修好"}
		}},
		{route: "POST /api/v1/staff/devices", status: 201, prep: func() (string, any) {
			return "/api/v1/staff/devices", map[string]any{"estate": "南天一花园", "name": randomID("bin-")}
		}},
		{route: "POST /api/v1/staff/devices/:id/disable", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/devices/" + id(device()) + "/disable", nil
		}},
		{route: "POST /api/v1/staff/devices/:id/enable", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/devices/" + id(disabledDevice()) + "/enable", nil
		}},
		{route: "POST /api/v1/staff/devices/:id/rotate-secret", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/devices/" + id(device()) + "/rotate-secret", nil
		}},
		{route: "POST /api/v1/staff/rewards", status: 201, prep: func() (string, any) {
			return "/api/v1/staff/rewards", map[string]any{"name": "环保袋", "cost_points": 10, "stock": 3}
		}},
		{route: "PATCH /api/v1/staff/rewards/:id", status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/staff/rewards/" + id(reward()), map[string]any{"stock": 9}
		}},
		{route: "POST /api/v1/staff/redemptions/:pickup_code/fulfil", status: 200, prep: func() (string, any) {
			return "/api/v1/staff/redemptions/" + pickup() + "/fulfil", nil
		}},
		{route: "POST /api/v1/staff/points/adjustments", status: 201, prep: func() (string, any) {
			return "/api/v1/staff/points/adjustments", map[string]any{"user_id": resID, "amount": 5, "reason": "补录"}
		}},
		{route: "POST /api/v1/staff/imports/sessions", status: 201, prep: func() (string, any) {
			return "/api/v1/staff/imports/sessions", importCSVBody(5)
		}},
		{route: "PUT /api/v1/admin/users/:id/role", admin: true, status: 200, before: true, prep: func() (string, any) {
			return "/api/v1/admin/users/" + id(otherID) + "/role", map[string]any{"role": "resident"}
		}},
	}

	// The API table covers every staff and admin route that changes state.
	covered := map[string]bool{}
	for _, c := range api {
		covered[c.route] = true
	}
	for _, r := range routeList(a) {
		if r.Method == http.MethodGet || !(strings.HasPrefix(r.Path, "/api/v1/staff/") || strings.HasPrefix(r.Path, "/api/v1/admin/")) {
			continue
		}
		if key := r.Method + " " + r.Path; !covered[key] {
			t.Errorf("staff route %s has no case here: give it an audited operation (models/ops) and a case", key)
		}
	}

	check := func(c opCase, door string, actorID int64, role string, since int64, gotStatus int, requestID string) {
		t.Helper()
		rows := a.auditSince(since)
		if len(rows) != 1 {
			t.Errorf("%s via %s: %d audit entries, want exactly 1: %+v", c.route, door, len(rows), rows)
			return
		}
		e := rows[0]
		want := c.action
		if want == "" {
			want = c.route
		}
		wantEntry := e.action == want && e.door == door && e.actorID == actorID && e.role == role && e.requestID == requestID && requestID != ""
		switch {
		case !wantEntry:
			t.Errorf("%s via %s: entry %+v, want action %q door %s actor %d (%s) request %q", c.route, door, e, want, door, actorID, role, requestID)
		case gotStatus < 300 && !e.after.Valid:
			t.Errorf("%s via %s: no after-state in %+v", c.route, door, e)
		case c.before && !e.before.Valid:
			t.Errorf("%s via %s: no before-state in %+v", c.route, door, e)
		case door == models.DoorAPI && e.status != gotStatus:
			t.Errorf("%s via %s: entry status %d, the door answered %d", c.route, door, e.status, gotStatus)
		}
		for _, secret := range []string{`"secret":"`, "ticket"} {
			if strings.Contains(e.after.String+e.input.String, secret) && !strings.Contains(e.after.String, `"secret":"***"`) {
				t.Errorf("%s via %s: the entry holds %s: %+v", c.route, door, secret, e)
			}
		}
	}

	for _, c := range api {
		path, body := c.prep()
		tok, actor, role := staffTok, staffID, models.RoleStaff
		if c.admin {
			tok, actor, role = adminTok, adminID, models.RoleAdmin
		}
		since := a.lastAuditID()
		method := strings.SplitN(c.route, " ", 2)[0]
		var r response
		if s, ok := body.(string); ok {
			r = a.do(method, path, tok, s, "Content-Type", "text/csv")
		} else {
			r = a.do(method, path, tok, body)
		}
		if r.Status != c.status {
			t.Errorf("%s: %d %s, want %d", c.route, r.Status, r.Body, c.status)
			continue
		}
		check(c, models.DoorAPI, actor, role, since, r.Status, r.Header.Get("X-Request-Id"))
		if c.after != nil {
			c.after(r)
		}
	}

	// --- the console door ---
	clerk := a.consoleSession(staffID)
	boss := a.consoleSession(adminID)
	deskSession := a.createSession(staffTok, pid, 72*time.Hour, 10)
	seriesProgram := a.createProgram(staffTok, map[string]any{"kind": "night_school", "title": "系列审计"})
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	day := time.Now().In(a.app.cfg.Location).AddDate(0, 0, 10)
	local := func(h int) string {
		return time.Date(day.Year(), day.Month(), day.Day(), h, 0, 0, 0, a.app.cfg.Location).Format("2006-01-02T15:04")
	}
	console := []opCase{
		{route: "POST /console/programs", action: ops.ActionProgramCreate, status: 303, prep: func() (string, any) {
			return "/console/programs", form("kind", "activity", "title", "控制台项目", "approval", "")
		}},
		{route: "POST /console/programs/{id}", action: ops.ActionProgramPatch, status: 303, before: true, prep: func() (string, any) {
			return "/console/programs/" + id(pid), form("venue", "党群服务中心 2 楼")
		}},
		{route: "POST /console/programs/{id}/sessions", action: ops.ActionSessionCreate, status: 303, prep: func() (string, any) {
			return "/console/programs/" + id(pid) + "/sessions", form("starts_at", local(19), "ends_at", local(21), "capacity", "8")
		}},
		{route: "POST /console/programs/{id}/series", action: ops.ActionSessionCreate, status: 303, prep: func() (string, any) {
			// One date picked from the preview: one session, one entry.
			d := day.AddDate(0, 0, 1)
			q := form("from", d.Format("2006-01-02"), "weeks", "1", "start", "09:00", "end", "10:00", "capacity", "6",
				"opens", "0", "day", fmt.Sprint(int(d.Weekday())))
			page := a.consoleGet(clerk, "/console/programs/"+id(seriesProgram)+"/series?"+q.Encode())
			fp := regexp.MustCompile(`name="fingerprint" value="([^"]+)"`).FindStringSubmatch(page)
			pick := regexp.MustCompile(`name="pick" value="([^"]+)"`).FindStringSubmatch(page)
			if fp == nil || pick == nil {
				t.Fatalf("series preview without a plan: %s", page)
			}
			q.Set("fingerprint", fp[1])
			q.Set("pick", pick[1])
			return "/console/programs/" + id(seriesProgram) + "/series", q
		}},
		{route: "POST /console/approvals/confirm", action: ops.ActionBookingConfirm, status: 303, before: true, prep: func() (string, any) {
			tok, _ := a.resident("ops-console-confirm")
			return "/console/approvals/confirm", form("one", id(pending(tok, deskSession)))
		}},
		{route: "POST /console/approvals/reject", action: ops.ActionBookingReject, status: 303, before: true, prep: func() (string, any) {
			tok, _ := a.resident("ops-console-reject")
			b := pending(tok, deskSession)
			return "/console/approvals/reject", form("reject", id(b), "reason-"+id(b), "名额留给本社区居民")
		}},
		{route: "POST /console/sessions/{id}/checkin", action: ops.ActionDeskCheckIn, status: 303, prep: func() (string, any) {
			code := checkinCode()
			var s int64
			if err := a.app.db.QueryRow(`SELECT session_id FROM bookings WHERE code = ?`, code).Scan(&s); err != nil {
				t.Fatal(err)
			}
			return "/console/sessions/" + id(s) + "/checkin", form("code", code)
		}},
		{route: "POST /console/sessions/{id}/close", action: ops.ActionSessionClose, status: 303, before: true, prep: func() (string, any) {
			return "/console/sessions/" + id(startedSession()) + "/close", nil
		}},
		{route: "POST /console/sessions/{id}/cancel", action: ops.ActionSessionCancel, status: 303, before: true, prep: func() (string, any) {
			return "/console/sessions/" + id(freshSession()) + "/cancel", form("confirm", "yes")
		}},
		{route: "POST /console/sessions/{id}/capacity", action: ops.ActionSessionPatch, status: 303, before: true, prep: func() (string, any) {
			return "/console/sessions/" + id(deskSession) + "/capacity", form("capacity", "11")
		}},
		{route: "POST /console/sessions/{id}/walk-in", action: ops.ActionDeskWalkInBook, status: 303, prep: func() (string, any) {
			return "/console/sessions/" + id(deskSession) + "/walk-in", form("real_name", "钱阿婆", "phone", newPhone())
		}},
		{route: "POST /console/complaints/{id}/{action}", action: ops.ActionComplaintAccept, status: 303, before: true, prep: func() (string, any) {
			return "/console/complaints/" + id(complaintID("submitted")) + "/accept", nil
		}},
		{route: "POST /console/complaints/{id}/{action}", action: ops.ActionComplaintContact, status: 303, before: true, prep: func() (string, any) {
			return "/console/complaints/" + id(complaintID("accepted")) + "/contact", form("note", "上门查看")
		}},
		{route: "POST /console/complaints/{id}/{action}", action: ops.ActionComplaintResolve, status: 303, before: true, prep: func() (string, any) {
			return "/console/complaints/" + id(complaintID("contacted")) + "/resolve", form("resolution", "已更换充电桩")
		}},
		{route: "POST /console/points/fulfil", action: ops.ActionFulfil, status: 303, prep: func() (string, any) {
			return "/console/points/fulfil", form("code", pickup())
		}},
		{route: "POST /console/points/rewards", action: ops.ActionRewardCreate, status: 303, prep: func() (string, any) {
			return "/console/points/rewards", form("name", "洗衣液", "cost_points", "20", "stock", "4")
		}},
		{route: "POST /console/points/rewards/{id}", action: ops.ActionRewardPatch, status: 303, before: true, prep: func() (string, any) {
			return "/console/points/rewards/" + id(reward()), form("stock", "7")
		}},
		{route: "POST /console/points/devices", action: ops.ActionDeviceCreate, status: 200, prep: func() (string, any) {
			return "/console/points/devices", form("estate", "南天一花园", "name", randomID("bin-"))
		}},
		{route: "POST /console/points/devices/{id}/{action}", action: ops.ActionDeviceDisable, status: 303, before: true, prep: func() (string, any) {
			return "/console/points/devices/" + id(device()) + "/disable", nil
		}},
		{route: "POST /console/points/devices/{id}/{action}", action: ops.ActionDeviceEnable, status: 303, before: true, prep: func() (string, any) {
			return "/console/points/devices/" + id(disabledDevice()) + "/enable", nil
		}},
		{route: "POST /console/imports/commit", action: ops.ActionImportHistory, multipart: true, status: 303, prep: func() (string, any) {
			return "/console/imports/commit", form("csv", importCSVBody(6), "file_name", "history.csv")
		}},
		{route: "POST /console/admin/users/{id}/role", action: ops.ActionSetRole, admin: true, status: 303, before: true, prep: func() (string, any) {
			return "/console/admin/users/" + id(otherID) + "/role", form("role", "resident")
		}},
	}
	// Console routes that change nothing a staff operation owns.
	notOperations := map[string]string{
		"POST /console/dev-login":       "opens a console session (dev and test only); the session is the login's, not an action",
		"POST /console/logout":          "ends the clerk's own session",
		"POST /console/imports/preview": "checks a file, writes nothing",
	}
	covered = map[string]bool{}
	for _, c := range console {
		covered[c.route] = true
	}
	for _, p := range a.app.console.Routes() {
		if strings.HasPrefix(p, "GET ") || !strings.Contains(p, " ") {
			continue // reads; a method-less pattern is the console's 404
		}
		if _, ok := notOperations[p]; !ok && !covered[p] {
			t.Errorf("console route %s has no case here: have it call an audited operation (models/ops) and add a case", p)
		}
	}
	for _, c := range console {
		path, body := c.prep()
		u, actor, role := clerk, staffID, models.RoleStaff
		if c.admin {
			u, actor, role = boss, adminID, models.RoleAdmin
		}
		f, _ := body.(url.Values)
		since := a.lastAuditID()
		status, requestID := a.consolePost(u, path, f, c.multipart)
		if status != c.status {
			t.Errorf("%s (%s): %d, want %d", c.route, c.action, status, c.status)
			continue
		}
		check(c, models.DoorConsole, actor, role, since, 200, requestID)
	}
}

// consoleGet fetches a console page as the session's user.
func (a *testApp) consoleGet(u consoleUser, path string) string {
	a.t.Helper()
	req, err := http.NewRequest("GET", a.URL+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "nt_console", Value: u.cookie})
	resp, err := noRedirect.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b.String())
	}
	return b.String()
}

// TestStaffOperationCalledDirectlyAuditsAndFollowsUp calls operations as a
// CLI or worker would, with no HTTP: cancelling a session leaves its audit
// entry (door cli, before and after) and tells every resident with a live
// booking; raising a session's capacity promotes the waiting list and tells
// the promoted resident; the catalogue cache is invalidated by the operation,
// not by a handler.
func TestStaffOperationCalledDirectlyAuditsAndFollowsUp(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("ops-direct")
	ctx := context.Background()
	actor := models.Actor{UserID: staffID, Role: models.RoleStaff, Door: models.DoorCLI, RequestID: "cli-run-1"}
	op := a.app.operations

	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "直接调用", "requires_approval": false})
	sid := a.createSession(staffTok, pid, 72*time.Hour, 1)
	holder, holderID := a.resident("ops-direct-holder")
	waiter, waiterID := a.resident("ops-direct-waiter")
	wantStatus(t, book(a, holder, map[string]any{"session_id": sid}), http.StatusCreated, "")
	r := book(a, waiter, map[string]any{"session_id": sid, "waitlist": true})
	wantStatus(t, r, http.StatusCreated, "")
	waitID := idOf(t, r)

	// Fill the cache with the program as it is now.
	if r := a.do("GET", fmt.Sprintf("/api/v1/programs/%d", pid), "", nil); r.Status != http.StatusOK {
		t.Fatalf("program: %d", r.Status)
	}

	// Capacity 1 → 2: the waiting resident moves up and is told.
	since := a.lastAuditID()
	two := 2
	s, err := op.Sessions.Patch(ctx, actor, sid, catalog.SessionPatch{Capacity: &two})
	if err != nil || s.Capacity != 2 {
		t.Fatalf("patch: %+v %v", s, err)
	}
	rows := a.auditSince(since)
	if len(rows) != 1 || rows[0].action != ops.ActionSessionPatch || rows[0].door != models.DoorCLI || rows[0].requestID != "cli-run-1" ||
		rows[0].actorID != staffID || rows[0].target != fmt.Sprintf("id=%d", sid) ||
		!strings.Contains(rows[0].before.String, `"capacity":1`) || !strings.Contains(rows[0].after.String, `"capacity":2`) {
		t.Fatalf("patch entry: %+v", rows)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'confirmed'`, waitID); n != 1 {
		t.Fatal("the raised capacity did not promote the waiting list")
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND event LIKE 'booking_%'`, waiterID); n < 1 {
		t.Fatal("the promoted resident was not told")
	}
	if r := a.do("GET", fmt.Sprintf("/api/v1/programs/%d", pid), "", nil); !strings.Contains(string(r.Body), `"capacity":2`) {
		t.Fatalf("the catalogue cache still shows the old capacity: %s", r.Body)
	}

	// Cancel: one entry, every live booking cancelled and its resident told.
	since = a.lastAuditID()
	if _, err := op.Sessions.Cancel(ctx, actor, sid); err != nil {
		t.Fatal(err)
	}
	rows = a.auditSince(since)
	if len(rows) != 1 || rows[0].action != ops.ActionSessionCancel || rows[0].door != models.DoorCLI ||
		!strings.Contains(rows[0].before.String, `"status":"open"`) || !strings.Contains(rows[0].after.String, `"status":"cancelled"`) {
		t.Fatalf("cancel entry: %+v", rows)
	}
	if n := a.liveBookings(sid); n != 0 {
		t.Fatalf("%d live bookings left in a cancelled session", n)
	}
	for _, uid := range []int64{holderID, waiterID} {
		if n := a.sqlInt(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND event = 'booking_cancelled'`, uid); n != 1 {
			t.Fatalf("resident %d: %d cancellation notices, want 1", uid, n)
		}
	}
	if r := a.do("GET", fmt.Sprintf("/api/v1/sessions/%d", sid), "", nil); !strings.Contains(string(r.Body), `"status":"cancelled"`) {
		t.Fatalf("the catalogue cache still shows the session open: %s", r.Body)
	}

	// A refused call is audited too, with what was asked and the state before;
	// an actor who is not staff is refused before anything is read or written.
	since = a.lastAuditID()
	if _, err := op.Sessions.Cancel(ctx, actor, sid); err == nil {
		t.Fatal("cancelled a cancelled session")
	}
	if rows := a.auditSince(since); len(rows) != 1 || rows[0].status != http.StatusConflict || rows[0].after.Valid || !rows[0].before.Valid {
		t.Fatalf("refused cancel entry: %+v", rows)
	}
	since = a.lastAuditID()
	_, residentID := a.resident("ops-direct-nobody")
	if _, err := op.Sessions.Cancel(ctx, models.Actor{UserID: residentID, Role: models.RoleResident, Door: models.DoorCLI}, sid); err != models.ErrForbidden {
		t.Fatalf("a resident's cancel: %v, want forbidden", err)
	}
	if rows := a.auditSince(since); len(rows) != 0 {
		t.Fatalf("a refused actor left entries: %+v", rows)
	}
}

// TestDeletingAChildCancelsItsLiveBookings erases a child through the privacy
// operation (the one DELETE /me/children/{id} calls): the child's bookings of
// sessions to come are cancelled (their places freed for others), and the
// guardian's own booking stays.
func TestDeletingAChildCancelsItsLiveBookings(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("ops-child-staff")
	tok, uid := a.resident("ops-child-guardian")
	wantStatus(t, a.do("PATCH", "/api/v1/me", tok, map[string]any{"birth_date": "1985-01-01"}), 200, "")
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "亲子活动", "audience": "all", "requires_approval": false})
	sid := a.createSession(staffTok, pid, 72*time.Hour, 5)
	r := a.do("POST", "/api/v1/me/children", tok, map[string]any{"name": "小明", "birth_date": "2018-04-01", "guardian_consent": true})
	wantStatus(t, r, http.StatusCreated, "")
	childID := idOf(t, r)
	r = book(a, tok, map[string]any{"session_id": sid, "child_id": childID})
	wantStatus(t, r, http.StatusCreated, "")
	childBooking := idOf(t, r)
	r = book(a, tok, map[string]any{"session_id": sid})
	wantStatus(t, r, http.StatusCreated, "")
	own := idOf(t, r)

	guardian := models.Actor{UserID: uid, Role: models.RoleResident, Door: models.DoorCLI}
	// Another user cannot erase the child: it does not exist for them.
	_, otherID := a.resident("ops-child-other")
	if err := a.app.privacy.service.DeleteChild(context.Background(), models.Actor{UserID: otherID, Role: models.RoleResident, Door: models.DoorCLI}, childID); err != models.ErrNotFound {
		t.Fatalf("another user's erase: %v, want not found", err)
	}
	if err := a.app.privacy.service.DeleteChild(context.Background(), guardian, childID); err != nil {
		t.Fatal(err)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'cancelled'`, childBooking); n != 1 {
		t.Fatal("the erased child's booking is still live")
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'confirmed'`, own); n != 1 {
		t.Fatal("the guardian's own booking was touched")
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM children WHERE id = ?`, childID); n != 0 {
		t.Fatal("the child is still stored")
	}
	if n := a.sqlInt(`SELECT booked FROM sessions WHERE id = ?`, sid); n != 1 {
		t.Fatalf("the session counts %d booked, want 1 (the child's place freed)", n)
	}
}
