package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/points"
)

// postBatch signs and posts a batch body.
func (a *testApp) postBatch(devID int64, secret string, body []byte) response {
	a.t.Helper()
	return a.do("POST", "/api/v1/devices/deposits/batch", "", body, newDeposit(devID, secret, body).headers()...)
}

type batchResults struct {
	Results []struct {
		EventID       string `json:"event_id"`
		PointsAwarded int    `json:"points_awarded"`
		Duplicate     bool   `json:"duplicate"`
		Error         *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"results"`
}

func eventMap(id, token string, grams int, quality string, at time.Time) map[string]any {
	return map[string]any{"event_id": id, "resident_token": token, "weight_grams": grams, "quality": quality, "occurred_at": at.Format(time.RFC3339)}
}

// An offline bin's batch: every event answered in order, good ones credited once,
// each bad one refused in its own result without failing the others; a resident
// token is judged at the time it was shown, so a code shown two days ago is
// credited while a fresh code pinned to an old time, an expired, a forged and a
// never-issued one are not; the daily cap counts the day of occurred_at.
func TestDepositBatchPerEventResults(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("bob")
	_, alice := a.resident("alice")
	_, carol := a.resident("carol")
	devID, secret := a.newDevice(staffTok, "南天二花园")
	now := time.Now()
	shown := now.Add(-49 * time.Hour) // two days ago, the bin offline since
	at := func(t time.Time) *points.Points { return a.app.pts.points.WithClock(fixedClock(t)) }
	old := at(shown).IssueCode(alice).Token
	fresh := a.app.pts.points.IssueCode(alice).Token
	carolOld := at(shown).IssueCode(carol).Token
	id := func(s string) string { return "b-" + s + "-" + strconv.FormatInt(now.UnixNano(), 36) }

	events := []any{
		eventMap(id("ok"), old, 1500, "ok", shown.Add(5*time.Second)),      // 0: 15 points, two days ago
		eventMap(id("cap"), old, 900, "ok", shown.Add(20*time.Second)),     // 1: 9 raw, 5 left under the cap of 20
		eventMap(id("ok"), old, 1500, "ok", shown.Add(5*time.Second)),      // 2: same event again in the batch
		eventMap(id("late"), old, 500, "ok", shown.Add(61*time.Second)),    // 3: shown after the code expired
		eventMap(id("pinned"), fresh, 500, "ok", shown.Add(5*time.Second)), // 4: today's code on an old event
		eventMap(id("forged"), "bm90LWEtdG9rZW4", 500, "ok", shown),        // 5: never issued
		eventMap(id("altered"), old[:len(old)-2]+"AA", 500, "ok", shown),   // 6: altered
		eventMap(id("heavy"), old, 20001, "ok", shown.Add(5*time.Second)),  // 7: out of range
		eventMap(id("ancient"), old, 500, "ok", now.Add(-73*time.Hour)),    // 8: beyond DEVICE_BACKLOG_MAX
		"not an object", // 9
		map[string]any{"event_id": id("partial"), "weight_grams": 300},                 // 10: missing fields
		eventMap(id("today"), fresh, 700, "ok", now),                                   // 11: online event, today's cap
		eventMap(id("carol"), carolOld, 300, "contaminated", shown.Add(3*time.Second)), // 12: contaminated: 0
	}
	body, _ := json.Marshal(map[string]any{"events": events})
	r := a.postBatch(devID, secret, body)
	if r.Status != http.StatusOK {
		t.Fatalf("batch: %d %s", r.Status, r.Body)
	}
	var res batchResults
	r.Decode(t, &res)
	if len(res.Results) != len(events) {
		t.Fatalf("%d results for %d events", len(res.Results), len(events))
	}
	type want struct {
		points int
		dup    bool
		code   string
	}
	wants := []want{{15, false, ""}, {5, false, ""}, {15, true, ""}, {0, false, "token_expired"}, {0, false, "token_invalid"},
		{0, false, "token_invalid"}, {0, false, "token_invalid"}, {0, false, "weight_out_of_range"}, {0, false, "invalid_request"},
		{0, false, "invalid_request"}, {0, false, "invalid_request"}, {7, false, ""}, {0, false, ""}}
	for i, w := range wants {
		got := res.Results[i]
		code := ""
		if got.Error != nil {
			code = got.Error.Code
			if got.Error.Message == "" {
				t.Errorf("event %d: error without a message", i)
			}
		}
		if got.PointsAwarded != w.points || got.Duplicate != w.dup || code != w.code {
			t.Errorf("event %d: got %+v %q, want %+v", i, got, code, w)
		}
	}
	if res.Results[0].EventID != id("ok") || res.Results[10].EventID != id("partial") || res.Results[9].EventID != "" {
		t.Errorf("event ids not echoed: %s", r.Body)
	}
	if m := res.Results[10].Error.Message; !strings.HasPrefix(m, "events[10].") {
		t.Errorf("missing-field message %q does not say which event", m)
	}
	if got := a.balance(alice); got != 27 {
		t.Fatalf("alice's balance %d, want 15+5+7", got)
	}
	// The cap counts the day of occurred_at: two days ago is full, today has 7.
	day := func(t time.Time) string { return models.DateOf(t.In(a.app.cfg.Location)).String() }
	for d, w := range map[string]int{day(shown): 20, day(now): 7} {
		if n := a.count(`SELECT COALESCE(SUM(points_awarded), 0) FROM bin_deposits WHERE user_id = ? AND local_day = ?`, alice, d); n != w {
			t.Errorf("alice earned %d on %s, want %d", n, d, w)
		}
	}
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE device_id = ?`, devID); n != 4 {
		t.Fatalf("%d deposits recorded, want 4 (refused events record nothing)", n)
	}

	// The bin flushes the same backlog again (it never saw the answer): all
	// duplicates with the first answers, nothing credited twice.
	r = a.postBatch(devID, secret, body)
	var again batchResults
	r.Decode(t, &again)
	for _, i := range []int{0, 1, 2, 11, 12} {
		if g := again.Results[i]; !g.Duplicate || g.PointsAwarded != res.Results[i].PointsAwarded || g.Error != nil {
			t.Errorf("replayed event %d: %+v", i, g)
		}
	}
	if got := a.balance(alice); got != 27 {
		t.Fatalf("balance after the replay %d", got)
	}

	// Whole-request failures.
	for name, tc := range map[string]struct {
		body   string
		status int
	}{
		"not json":        {`{"events": [`, 400},
		"array":           {`[]`, 400},
		"no events":       {`{}`, 400},
		"empty":           {`{"events": []}`, 400},
		"events not list": {`{"events": {}}`, 400},
		"two objects":     {`{"events": [{}]} {}`, 400},
		"too many":        {`{"events": [` + strings.Repeat(`{},`, points.MaxDepositBatch) + `{}]}`, 400},
		"too large":       {`{"events": ["` + strings.Repeat("x", 600<<10) + `"]}`, 413},
	} {
		r := a.postBatch(devID, secret, []byte(tc.body))
		if r.Status != tc.status {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	d := newDeposit(devID, secret, body)
	d.signBody = []byte(`{"events": []}`) // signature over another body
	if r := a.do("POST", "/api/v1/devices/deposits/batch", "", body, d.headers()...); r.Status != http.StatusUnauthorized {
		t.Errorf("bad signature: %d", r.Status)
	}
	stale := newDeposit(devID, secret, body)
	stale.timestamp = strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10) // the upload must be fresh
	if r := a.do("POST", "/api/v1/devices/deposits/batch", "", body, stale.headers()...); r.Status != http.StatusUnauthorized {
		t.Errorf("stale X-Timestamp: %d", r.Status)
	}
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE device_id = ?`, devID); n != 4 {
		t.Fatalf("%d deposits after the refused uploads", n)
	}
}

// A 3-day backlog of 5 bins × 2,000 events, each flushed by scripts/binsim's
// offline mode with every batch sent twice at once: every event is recorded
// once, the ledger has one entry per credited deposit, balances equal their
// ledgers, and each resident's points per day are exactly min(cap, what the
// deposits were worth) — checked in MySQL.
func TestOfflineBacklogReplayedTwice(t *testing.T) {
	const bins, perBin, residents = 5, 2000, 40
	a := newIsolatedTestApp(t)
	staffTok, _ := a.staff("bob")
	users := make([]int64, residents)
	for i := range users {
		_, users[i] = a.resident(fmt.Sprintf("offline%d", i))
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "binsim")
	if out, err := exec.Command("go", "build", "-o", bin, "nantian/scripts/binsim").CombinedOutput(); err != nil {
		t.Fatalf("build binsim: %v\n%s", err, out)
	}
	now := time.Now()
	span := 71 * time.Hour // the bins were offline 3 days (inside DEVICE_BACKLOG_MAX)
	type binRun struct {
		id     int64
		secret string
		tokens string
		out    []byte
		err    error
	}
	runs := make([]*binRun, bins)
	for b := range runs {
		id, secret := a.newDevice(staffTok, "南天二花园")
		var lines strings.Builder
		for k := range perBin {
			shown := now.Add(-span + time.Duration(k)*span/perBin + time.Duration(b)*7*time.Second)
			uid := users[(k*bins+b)%residents]
			fmt.Fprintf(&lines, "%s %s\n", shown.Format(time.RFC3339), a.app.pts.points.WithClock(fixedClock(shown)).IssueCode(uid).Token)
		}
		path := filepath.Join(dir, fmt.Sprintf("tokens-%d.txt", b))
		if err := os.WriteFile(path, []byte(lines.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		runs[b] = &binRun{id: id, secret: secret, tokens: path}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, "-url", a.URL, "-device", strconv.FormatInt(r.id, 10), "-offline", "72h", "-tokens", r.tokens,
				"-n", strconv.Itoa(perBin), "-batch", "500", "-repeat", "2", "-c", "2", "-grams", "0", "-timeout", "60s")
			cmd.Env = append(os.Environ(), "BINSIM_SECRET="+r.secret)
			r.out, r.err = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	took := time.Since(start)
	t.Logf("backlog of %d bins × %d events, each batch sent twice at once: replayed in %s", bins, perBin, took.Round(time.Millisecond))

	summary := regexp.MustCompile(`events answered: (\d+), points credited: (\d+), duplicates: (\d+), refused: map\[\]`)
	var devices []string
	for b, r := range runs {
		if r.err != nil {
			t.Fatalf("binsim for bin %d: %v\n%s", b, r.err, r.out)
		}
		m := summary.FindSubmatch(r.out)
		if m == nil || string(m[1]) != strconv.Itoa(2*perBin) || string(m[3]) != strconv.Itoa(perBin) {
			t.Fatalf("bin %d: want %d answers, %d duplicates, none refused:\n%s", b, 2*perBin, perBin, r.out)
		}
		if !strings.Contains(string(r.out), "by status: map[200:8]") {
			t.Fatalf("bin %d uploads:\n%s", b, r.out)
		}
		credited, _ := strconv.Atoi(string(m[2]))
		if n := a.count(`SELECT COALESCE(SUM(points_awarded), 0) FROM bin_deposits WHERE device_id = ?`, r.id); n != credited {
			t.Errorf("bin %d: binsim counted %d points credited, MySQL has %d", b, credited, n)
		}
		devices = append(devices, strconv.FormatInt(r.id, 10))
	}
	in := "(" + strings.Join(devices, ",") + ")"
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits WHERE device_id IN ` + in); n != bins*perBin {
		t.Fatalf("%d deposits recorded, want %d (each event once)", n, bins*perBin)
	}
	// One earn entry per credited deposit, of its amount, and none other.
	if n := a.count(`SELECT COUNT(*) FROM bin_deposits d LEFT JOIN points_ledger l ON l.kind = 'earn' AND l.source_id = d.id
		WHERE d.device_id IN ` + in + ` AND ((d.points_awarded > 0 AND (l.id IS NULL OR l.amount <> d.points_awarded)) OR (d.points_awarded = 0 AND l.id IS NOT NULL))`); n != 0 {
		t.Fatalf("%d deposits whose ledger entry is missing, wrong or extra", n)
	}
	if n := a.count(`SELECT COUNT(*) FROM (SELECT source_id FROM points_ledger WHERE kind = 'earn' GROUP BY source_id HAVING COUNT(*) > 1) x`); n != 0 {
		t.Fatalf("%d deposits credited more than once", n)
	}
	// The cap per resident and business day of occurred_at: greedy awards sum to
	// exactly min(cap, raw points) whatever order the copies arrived in.
	rows, err := a.app.db.QueryContext(context.Background(), `SELECT user_id, local_day, SUM(points_awarded),
		SUM(CASE WHEN quality = 'ok' THEN FLOOR(weight_grams / ?) ELSE 0 END),
		SUM(local_day <> DATE(CONVERT_TZ(occurred_at, '+00:00', '+08:00')))
		FROM bin_deposits WHERE device_id IN `+in+` GROUP BY user_id, local_day`, a.app.cfg.Points.GramsPerPoint)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	days := map[string]bool{}
	capped := 0
	for rows.Next() {
		var uid int64
		var day time.Time
		var got, raw, wrongDay int
		if err := rows.Scan(&uid, &day, &got, &raw, &wrongDay); err != nil {
			t.Fatal(err)
		}
		days[day.Format(time.DateOnly)] = true
		if want := min(raw, a.app.cfg.Points.DailyCap); got != want {
			t.Errorf("user %d on %s: %d points, want min(cap, %d) = %d", uid, day.Format(time.DateOnly), got, raw, want)
		}
		if got == a.app.cfg.Points.DailyCap {
			capped++
		}
		if wrongDay != 0 {
			t.Errorf("user %d: %d deposits filed under a day other than occurred_at's in Asia/Shanghai", uid, wrongDay)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(days) < 3 || capped == 0 {
		t.Fatalf("backlog covered %d days, %d resident-days at the cap: the test does not exercise the cap", len(days), capped)
	}
	for _, uid := range users {
		a.balance(uid) // balance = ledger sum, never negative
	}
}
