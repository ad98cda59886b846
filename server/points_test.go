package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"nantian/models/points"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The webhook's authentication: only a correctly signed, fresh, never-seen request
// from an active device is credited; everything else is 401 and changes nothing.
func TestDepositSignatureChecks(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	resTok, resID := a.resident("alice")
	devID, secret := a.newDevice(staffTok, "南天一花园")
	code := a.residentCode(resTok)
	now := time.Now()

	// A correct signature is accepted: 350 g of clean waste is 3 points.
	ok := newDeposit(devID, secret, depositBody(randomID("ev-"), code, 350, "ok", now))
	r := a.postDeposit(ok)
	if r.Status != http.StatusOK || r.JSON(t)["points_awarded"].(float64) != 3 || r.JSON(t)["duplicate"].(bool) {
		t.Fatalf("valid deposit: %d %s", r.Status, r.Body)
	}

	otherID, otherSecret := a.newDevice(staffTok, "国城花园")
	disabledID, disabledSecret := a.newDevice(staffTok, "百花园一期")
	if r := a.do("POST", "/api/v1/staff/devices/"+strconv.FormatInt(disabledID, 10)+"/disable", staffTok, nil); r.Status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}

	cases := []struct {
		name  string
		spoil func(d *deposit)
	}{
		{"wrong secret", func(d *deposit) { d.secret = otherSecret }},
		{"another device's id with its own secret mismatch", func(d *deposit) { d.deviceID = strconv.FormatInt(otherID, 10) }},
		{"altered body", func(d *deposit) {
			d.signBody = d.body
			d.body = bytes.Replace(d.body, []byte(`"weight_grams":200`), []byte(`"weight_grams":900`), 1)
		}},
		{"stale timestamp", func(d *deposit) { d.timestamp = strconv.FormatInt(time.Now().Unix()-302, 10) }},
		{"future timestamp", func(d *deposit) { d.timestamp = strconv.FormatInt(time.Now().Unix()+302, 10) }},
		{"replayed nonce", func(d *deposit) { d.nonce = ok.nonce }},
		{"unknown device", func(d *deposit) { d.deviceID = "999999999" }},
		{"disabled device", func(d *deposit) { d.deviceID = strconv.FormatInt(disabledID, 10); d.secret = disabledSecret }},
		{"missing signature", func(d *deposit) { d.sig = " " }},
		{"uppercase signature", func(d *deposit) {
			ts, _ := strconv.ParseInt(d.timestamp, 10, 64)
			d.sig = strings.ToUpper(points.SignDeposit([]byte(d.secret), ts, d.nonce, d.body))
		}},
		{"non-canonical timestamp", func(d *deposit) { d.timestamp = "0" + d.timestamp }},
		{"short nonce", func(d *deposit) { d.nonce = "abc" }},
		{"missing device id", func(d *deposit) { d.deviceID = "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeposit(devID, secret, depositBody(randomID("ev-"), code, 200, "ok", now))
			tc.spoil(d)
			r := a.postDeposit(d)
			if r.Status != http.StatusUnauthorized || r.ErrorCode() != "unauthorized" {
				t.Fatalf("want 401, got %d %s", r.Status, r.Body)
			}
		})
	}
	// A stale timestamp inside the window (299 s) is still fine.
	d := newDeposit(devID, secret, depositBody(randomID("ev-"), code, 100, "ok", now))
	d.timestamp = strconv.FormatInt(time.Now().Unix()-298, 10)
	if r := a.postDeposit(d); r.Status != http.StatusOK {
		t.Fatalf("299 s old: %d %s", r.Status, r.Body)
	}
	// Only the two accepted deposits exist and were credited.
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE user_id = ?`, resID); n != 2 {
		t.Fatalf("deposits stored: %d, want 2", n)
	}
	if bal := a.balance(resID); bal != 4 {
		t.Fatalf("balance %d, want 4", bal)
	}

	// Rotating the secret: the old one stops working, the new one works.
	r = a.do("POST", "/api/v1/staff/devices/"+strconv.FormatInt(devID, 10)+"/rotate-secret", staffTok, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	newSecret := r.JSON(t)["secret"].(string)
	if r := a.sendDeposit(devID, secret, randomID("ev-"), code, 100, "ok"); r.Status != http.StatusUnauthorized {
		t.Fatalf("old secret after rotation: %d", r.Status)
	}
	if r := a.sendDeposit(devID, newSecret, randomID("ev-"), code, 100, "ok"); r.Status != http.StatusOK {
		t.Fatalf("new secret: %d %s", r.Status, r.Body)
	}
}

// Rule and shape errors: 422 for weight and tokens, 400 for malformed bodies,
// 413 for oversize ones; none of them credits anything.
func TestDepositValidation(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	resTok, resID := a.resident("alice")
	devID, secret := a.newDevice(staffTok, "南天二花园")
	code := a.residentCode(resTok)
	expired := a.app.pts.points.WithClock(fixedClock(time.Now().Add(-61 * time.Second))).IssueCode(resID).Token

	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"zero weight", depositBody(randomID("e"), code, 0, "ok", time.Now()), 422, "weight_out_of_range"},
		{"negative weight", depositBody(randomID("e"), code, -5, "ok", time.Now()), 422, "weight_out_of_range"},
		{"over 20 kg", depositBody(randomID("e"), code, 20001, "ok", time.Now()), 422, "weight_out_of_range"},
		{"expired token", depositBody(randomID("e"), expired, 500, "ok", time.Now()), 422, "token_expired"},
		{"forged token", depositBody(randomID("e"), "not-a-token", 500, "ok", time.Now()), 422, "token_invalid"},
		{"altered token", depositBody(randomID("e"), code[:len(code)-2]+"AA", 500, "ok", time.Now()), 422, "token_invalid"},
		{"bad quality", depositBody(randomID("e"), code, 500, "dirty", time.Now()), 400, "invalid_request"},
		// Within DEVICE_BACKLOG_MAX, but the token was issued now, not an hour ago:
		// a fresh code cannot be pinned to an old time (offline_bins_test.go).
		{"fresh token, old occurred_at", depositBody(randomID("e"), code, 500, "ok", time.Now().Add(-time.Hour)), 422, "token_invalid"},
		{"occurred beyond the backlog", depositBody(randomID("e"), code, 500, "ok", time.Now().Add(-73*time.Hour)), 400, "invalid_request"},
		{"occurred in the future", depositBody(randomID("e"), code, 500, "ok", time.Now().Add(6*time.Minute)), 400, "invalid_request"},
		{"not json", []byte(`{"event_id":`), 400, "invalid_request"},
		{"missing fields", []byte(`{}`), 400, "invalid_request"},
		{"oversize", []byte(`{"event_id":"` + strings.Repeat("x", 9000) + `"}`), 413, "payload_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.postDeposit(newDeposit(devID, secret, tc.body))
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Fatalf("want %d %s, got %d %s", tc.status, tc.code, r.Status, r.Body)
			}
		})
	}
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE device_id = ?`, devID); n != 0 {
		t.Fatalf("refused deposits were stored: %d", n)
	}
	// Contaminated waste is recorded (it counts in statistics) but earns nothing.
	r := a.sendDeposit(devID, secret, randomID("e"), code, 1500, "contaminated")
	if r.Status != http.StatusOK || r.JSON(t)["points_awarded"].(float64) != 0 {
		t.Fatalf("contaminated: %d %s", r.Status, r.Body)
	}
	if bal := a.balance(resID); bal != 0 {
		t.Fatalf("balance %d after contaminated", bal)
	}
	// The code reveals neither the user id nor the openid: it is sealed, and two
	// codes for the same resident share nothing recognisable.
	raw, err := base64.RawURLEncoding.DecodeString(code)
	var uid [8]byte
	binary.BigEndian.PutUint64(uid[:], uint64(resID))
	if err != nil || bytes.Contains(raw, uid[:]) || bytes.Contains(raw, []byte("openid")) {
		t.Fatalf("code leaks identity: %s", code)
	}
	if again := a.residentCode(resTok); again == code {
		t.Fatalf("two codes are identical")
	}
}

// The same event_id 50 times at once: one credit, 49 duplicates, and a late
// retry after the resident's code expired is still a duplicate, not a 422.
func TestDepositEventIdempotent(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	resTok, resID := a.resident("alice")
	devID, secret := a.newDevice(staffTok, "百花园二期")
	code := a.residentCode(resTok)
	event := randomID("ev-")
	body := depositBody(event, code, 1234, "ok", time.Now())

	const n = 50
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = a.postDeposit(newDeposit(devID, secret, body))
		}()
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if r.Status != http.StatusOK {
			t.Fatalf("concurrent copy: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		if m["points_awarded"].(float64) != 12 {
			t.Fatalf("points_awarded %v, want 12 for every copy", m["points_awarded"])
		}
		if !m["duplicate"].(bool) {
			fresh++
		}
	}
	if fresh != 1 {
		t.Fatalf("%d copies answered as new, want 1", fresh)
	}
	if c := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE event_id = ?`, event); c != 1 {
		t.Fatalf("%d deposit rows", c)
	}
	if c := a.count(`SELECT COUNT(*) FROM points_ledger WHERE user_id = ? AND kind = 'earn'`, resID); c != 1 {
		t.Fatalf("%d earn entries", c)
	}
	if bal := a.balance(resID); bal != 12 {
		t.Fatalf("balance %d, want 12", bal)
	}
	// Late retry with an expired code (another body, same event): still a duplicate.
	expired := a.app.pts.points.WithClock(fixedClock(time.Now().Add(-time.Hour))).IssueCode(resID).Token
	r := a.postDeposit(newDeposit(devID, secret, depositBody(event, expired, 1234, "ok", time.Now())))
	if r.Status != http.StatusOK || !r.JSON(t)["duplicate"].(bool) {
		t.Fatalf("late retry: %d %s", r.Status, r.Body)
	}
	if bal := a.balance(resID); bal != 12 {
		t.Fatalf("balance %d after retry", bal)
	}
}

// 200 deposits of 5 points each at once for one resident: exactly the daily cap
// (20) is credited, across two bins, and today_earned says so.
func TestDailyCapConcurrent(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	resTok, resID := a.resident("alice")
	dev1, sec1 := a.newDevice(staffTok, "南天一花园")
	dev2, sec2 := a.newDevice(staffTok, "南天二花园")
	code := a.residentCode(resTok)

	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev, sec := dev1, sec1
			if i%2 == 1 {
				dev, sec = dev2, sec2
			}
			r := a.sendDeposit(dev, sec, randomID("cap-"), code, 599, "ok")
			if r.Status != http.StatusOK {
				t.Errorf("deposit: %d %s", r.Status, r.Body)
				return
			}
			mu.Lock()
			total += int(r.JSON(t)["points_awarded"].(float64))
			mu.Unlock()
		}()
	}
	wg.Wait()
	var sum int
	if err := a.app.db.QueryRow(`SELECT COALESCE(SUM(points_awarded), 0) FROM bin_deposits WHERE user_id = ?`, resID).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	if sum != 20 || total != 20 {
		t.Fatalf("awarded %d in MySQL (%d in responses), want the cap 20", sum, total)
	}
	if c := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE user_id = ?`, resID); c != n {
		t.Fatalf("%d deposits recorded, want %d (capped ones are still deposits)", c, n)
	}
	if bal := a.balance(resID); bal != 20 {
		t.Fatalf("balance %d, want 20", bal)
	}
	r := a.do("GET", "/api/v1/points", resTok, nil)
	m := r.JSON(t)
	if r.Status != 200 || m["balance"].(float64) != 20 || m["today_earned"].(float64) != 20 || m["daily_cap"].(float64) != 20 {
		t.Fatalf("summary: %d %s", r.Status, r.Body)
	}
}

// Redis down: the nonce cache cannot be checked, so the webhook refuses with 503
// (fail closed) and credits nothing.
func TestDepositRedisDown(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	_, resID := a.resident("alice")
	devID, secret := a.newDevice(staffTok, "国城花园")
	down := newTestApp(t, map[string]string{"REDIS_ADDR": "127.0.0.1:1"})
	code := down.app.pts.points.IssueCode(resID).Token
	r := down.postDeposit(newDeposit(devID, secret, depositBody(randomID("e"), code, 500, "ok", time.Now())))
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "unavailable" {
		t.Fatalf("want 503, got %d %s", r.Status, r.Body)
	}
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE device_id = ?`, devID); n != 0 {
		t.Fatalf("deposit stored without a nonce check")
	}
}

func TestDeviceManagement(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	resTok, _ := a.resident("alice")
	if r := a.do("POST", "/api/v1/staff/devices", resTok, map[string]any{"estate": "国城花园", "name": "x"}); r.Status != http.StatusForbidden {
		t.Fatalf("resident creating a device: %d", r.Status)
	}
	if r := a.do("POST", "/api/v1/staff/devices", staffTok, map[string]any{"estate": "火星花园", "name": "x"}); r.Status != http.StatusBadRequest {
		t.Fatalf("unknown estate: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/api/v1/staff/devices", staffTok, map[string]any{"estate": "国城花园"}); r.Status != http.StatusBadRequest {
		t.Fatalf("missing name: %d %s", r.Status, r.Body)
	}
	id, secret := a.newDevice(staffTok, "国城花园")
	if len(secret) != 64 {
		t.Fatalf("secret %q", secret)
	}
	// The stored form is not the secret (a dump alone cannot sign).
	var enc []byte
	if err := a.app.db.QueryRow(`SELECT secret_enc FROM devices WHERE id = ?`, id).Scan(&enc); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte(secret)) || len(enc) < 32 {
		t.Fatalf("secret stored in the clear")
	}
	// Listing never shows secrets.
	r := a.do("GET", "/api/v1/staff/devices?estate=国城花园", staffTok, nil)
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), secret) || !strings.Contains(string(r.Body), `"id":`+strconv.FormatInt(id, 10)) {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	path := "/api/v1/staff/devices/" + strconv.FormatInt(id, 10)
	if r := a.do("POST", path+"/disable", staffTok, nil); r.Status != 200 || r.JSON(t)["status"] != "disabled" {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", path+"/disable", staffTok, nil); r.Status != http.StatusConflict || r.ErrorCode() != "invalid_transition" {
		t.Fatalf("disable twice: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", path+"/enable", staffTok, nil); r.Status != 200 || r.JSON(t)["status"] != "active" {
		t.Fatalf("enable: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", "/api/v1/staff/devices/987654321/rotate-secret", staffTok, nil); r.Status != http.StatusNotFound {
		t.Fatalf("rotate unknown: %d", r.Status)
	}
	// A ciphertext moved onto another device's row does not decrypt there.
	id2, secret2 := a.newDevice(staffTok, "国城花园")
	if _, err := a.app.db.Exec(`UPDATE devices SET secret_enc = ? WHERE id = ?`, enc, id2); err != nil {
		t.Fatal(err)
	}
	resTok2, _ := a.resident("carol")
	code := a.residentCode(resTok2)
	if r := a.sendDeposit(id2, secret, randomID("e"), code, 100, "ok"); r.Status != http.StatusUnauthorized {
		t.Fatalf("swapped ciphertext accepted: %d", r.Status)
	}
	if r := a.sendDeposit(id2, secret2, randomID("e"), code, 100, "ok"); r.Status != http.StatusUnauthorized {
		t.Fatalf("swapped ciphertext accepted with own secret: %d", r.Status)
	}
}

func TestStaffAdjustments(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("bob")
	resTok, resID := a.resident("alice")
	r := a.do("POST", "/api/v1/staff/points/adjustments", staffTok, map[string]any{"user_id": resID, "amount": 50, "reason": "活动奖励"})
	if r.Status != http.StatusCreated {
		t.Fatalf("adjust: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["actor_id"].(float64) != float64(staffID) || m["kind"] != "adjust" || m["reason"] != "活动奖励" || m["balance_after"].(float64) != 50 {
		t.Fatalf("adjust entry: %s", r.Body)
	}
	for _, tc := range []struct {
		body   map[string]any
		status int
		code   string
	}{
		{map[string]any{"user_id": resID, "amount": -51, "reason": "扣多了"}, 409, "insufficient_points"},
		{map[string]any{"user_id": resID, "amount": -5}, 400, "invalid_request"},
		{map[string]any{"user_id": resID, "amount": 5, "reason": "   "}, 400, "invalid_request"},
		{map[string]any{"user_id": resID, "amount": 0, "reason": "零"}, 400, "invalid_request"},
		{map[string]any{"user_id": 99999999, "amount": 5, "reason": "无此人"}, 404, "not_found"},
	} {
		if r := a.do("POST", "/api/v1/staff/points/adjustments", staffTok, tc.body); r.Status != tc.status || r.ErrorCode() != tc.code {
			t.Fatalf("%v: want %d %s, got %d %s", tc.body, tc.status, tc.code, r.Status, r.Body)
		}
	}
	if r := a.do("POST", "/api/v1/staff/points/adjustments", resTok, map[string]any{"user_id": resID, "amount": 5, "reason": "x"}); r.Status != 403 {
		t.Fatalf("resident adjusting: %d", r.Status)
	}
	if r := a.do("POST", "/api/v1/staff/points/adjustments", staffTok, map[string]any{"user_id": resID, "amount": -20, "reason": "纠正"}); r.Status != 201 {
		t.Fatalf("deduct: %d %s", r.Status, r.Body)
	}
	if bal := a.balance(resID); bal != 30 {
		t.Fatalf("balance %d", bal)
	}
	var actor int64
	if err := a.app.db.QueryRow(`SELECT actor_id FROM points_ledger WHERE user_id = ? AND amount = -20`, resID).Scan(&actor); err != nil || actor != staffID {
		t.Fatalf("actor not recorded: %d %v", actor, err)
	}
	// The resident's ledger shows both, newest first, and pages.
	r = a.do("GET", "/api/v1/points/ledger?limit=1", resTok, nil)
	var page struct {
		Items      []map[string]any `json:"items"`
		NextCursor string           `json:"next_cursor"`
	}
	r.Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["amount"].(float64) != -20 || page.NextCursor == "" {
		t.Fatalf("ledger page 1: %s", r.Body)
	}
	r = a.do("GET", "/api/v1/points/ledger?limit=1&cursor="+page.NextCursor, resTok, nil)
	r.Decode(t, &page)
	if len(page.Items) != 1 || page.Items[0]["amount"].(float64) != 50 {
		t.Fatalf("ledger page 2: %s", r.Body)
	}
	// Another resident sees none of it.
	otherTok, _ := a.resident("eve")
	r = a.do("GET", "/api/v1/points/ledger", otherTok, nil)
	r.Decode(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("other resident sees entries: %s", r.Body)
	}
}

// Statistics by estate and month, checked against known deposits (in 2039 so no
// other test's or the annual report's data shares the period).
func TestDepositStatistics(t *testing.T) {
	a := newIsolatedTestApp(t)
	staffTok, _ := a.staff("bob")
	_, u1 := a.resident("alice")
	_, u2 := a.resident("carol")
	d1, _ := a.newDevice(staffTok, "南天一花园")
	d2, _ := a.newDevice(staffTok, "国城花园")
	loc := mustLoc(t, "Asia/Shanghai")
	ctx := context.Background()
	dep := func(at time.Time, dev int64, estate string, user int64, grams int, q string) {
		p := a.app.pts.points.WithClock(fixedClock(at))
		w := int64(grams)
		if _, err := p.RecordDeposit(ctx, points.Authenticated{ID: dev, Estate: estate}, points.DepositInput{
			EventID: randomID("st-"), ResidentToken: p.IssueCode(user).Token, WeightGrams: &w, Quality: q, OccurredAt: at}); err != nil {
			t.Fatalf("deposit: %v", err)
		}
	}
	// 31 Jan 23:30 local is still January (UTC would say the same day; 1 Feb 00:30 local is Jan 31 in UTC).
	dep(time.Date(2039, 1, 31, 23, 30, 0, 0, loc), d1, "南天一花园", u1, 1250, "ok")        // 12 pts
	dep(time.Date(2039, 2, 1, 0, 30, 0, 0, loc), d1, "南天一花园", u1, 800, "ok")           // 8 pts, February locally
	dep(time.Date(2039, 2, 3, 10, 0, 0, 0, loc), d1, "南天一花园", u2, 400, "contaminated") // 0 pts
	dep(time.Date(2039, 2, 3, 11, 0, 0, 0, loc), d2, "国城花园", u2, 2600, "ok")           // 20 pts (26 capped)
	dep(time.Date(2039, 2, 3, 12, 0, 0, 0, loc), d2, "国城花园", u2, 500, "ok")            // 0 pts: cap reached

	r := a.do("GET", "/api/v1/staff/points/stats?from=2039-01-01&to=2039-12-31", staffTok, nil)
	if r.Status != 200 {
		t.Fatalf("stats: %d %s", r.Status, r.Body)
	}
	var st points.DepositStatistics
	r.Decode(t, &st)
	want := points.DepositFigures{Deposits: 5, Grams: 5550, Kilograms: 5.55, Participants: 2, PointsAwarded: 40}
	if st.Totals != want {
		t.Fatalf("totals %+v, want %+v", st.Totals, want)
	}
	wantRows := []points.DepositRow{
		{Estate: "南天一花园", Month: "2039-01", DepositFigures: points.DepositFigures{Deposits: 1, Grams: 1250, Kilograms: 1.25, Participants: 1, PointsAwarded: 12}},
		{Estate: "南天一花园", Month: "2039-02", DepositFigures: points.DepositFigures{Deposits: 2, Grams: 1200, Kilograms: 1.2, Participants: 2, PointsAwarded: 8}},
		{Estate: "国城花园", Month: "2039-02", DepositFigures: points.DepositFigures{Deposits: 2, Grams: 3100, Kilograms: 3.1, Participants: 1, PointsAwarded: 20}},
	}
	if len(st.Rows) != len(wantRows) {
		t.Fatalf("rows %+v", st.Rows)
	}
	for i := range wantRows {
		if st.Rows[i] != wantRows[i] {
			t.Fatalf("row %d: %+v, want %+v", i, st.Rows[i], wantRows[i])
		}
	}
	if r := a.do("GET", "/api/v1/staff/points/stats?from=2039-02-30", staffTok, nil); r.Status != 400 {
		t.Fatalf("bad date: %d", r.Status)
	}
	if r := a.do("GET", "/api/v1/staff/points/stats?from=2039-03-01&to=2039-02-01", staffTok, nil); r.Status != 400 {
		t.Fatalf("reversed range: %d", r.Status)
	}
}

// A points code shown just before the account was deleted earns nothing.
func TestDeletedAccountCodeEarnsNothing(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("delcode-staff")
	tok, uid := a.resident("delcode")
	devID, secret := a.newDevice(staff, "南天一花园")
	code := a.residentCode(tok)
	if r := a.do("DELETE", "/api/v1/me", tok, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	r := a.sendDeposit(devID, secret, randomID("ev-"), code, 500, "ok")
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "token_invalid" {
		t.Fatalf("deposit for a deleted account: %d %s", r.Status, r.Body)
	}
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE user_id = ?`, uid); n != 0 {
		t.Fatalf("%d deposits stored", n)
	}
}

// Event ids are the bin's own: another bin using the same id, or the same bin
// using an id that differs only in case, is a different event and earns points;
// the same bin repeating an id is a duplicate.
func TestDepositEventIDsArePerBinAndExact(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("evscope-staff")
	tok, uid := a.resident("evscope")
	dev1, sec1 := a.newDevice(staff, "南天一花园")
	dev2, sec2 := a.newDevice(staff, "国城花园")
	code := a.residentCode(tok)
	id := randomID("evt-")
	for _, c := range []struct {
		dev        int64
		sec, event string
		dup        bool
	}{
		{dev1, sec1, id, false},
		{dev2, sec2, id, false},                  // another bin, same number
		{dev1, sec1, strings.ToUpper(id), false}, // differs only in case
		{dev1, sec1, id, true},                   // a real repeat
	} {
		r := a.sendDeposit(c.dev, c.sec, c.event, code, 300, "ok")
		if r.Status != http.StatusOK || r.JSON(t)["duplicate"] != c.dup {
			t.Fatalf("device %d event %s: %d %s (want duplicate=%v)", c.dev, c.event, r.Status, r.Body, c.dup)
		}
	}
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE user_id = ?`, uid); n != 3 {
		t.Fatalf("%d deposits, want 3", n)
	}
	if b := a.balance(uid); b != 9 {
		t.Fatalf("balance %d, want 9", b)
	}
}

// A retried staff adjustment with the same Idempotency-Key credits once.
func TestAdjustmentIdempotent(t *testing.T) {
	a := newTestApp(t)
	staff, _ := a.staff("adjidem")
	_, uid := a.resident("adjidem-res")
	body := map[string]any{"user_id": uid, "amount": 5, "reason": "补录"}
	key := uniqueName(t, "adj")
	for i := 0; i < 2; i++ {
		if r := a.do("POST", "/api/v1/staff/points/adjustments", staff, body, "Idempotency-Key", key); r.Status != http.StatusCreated {
			t.Fatalf("adjust %d: %d %s", i, r.Status, r.Body)
		}
	}
	body["amount"] = 6
	if r := a.do("POST", "/api/v1/staff/points/adjustments", staff, body, "Idempotency-Key", key); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key: %d %s", r.Status, r.Body)
	}
	if b := a.balance(uid); b != 5 {
		t.Fatalf("balance %d, want 5", b)
	}
}
