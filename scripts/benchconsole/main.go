// Command benchconsole is the data and scan tool behind scripts/bench-console.sh:
// wrk measures the console pages; this tool fills the day they show and
// measures check-in scans, which wrk cannot express (each scan consumes a code).
//
//	benchconsole seed -dsn DSN -url URL -dir DIR   a day of 200 sessions and 5,000 bookings; prints shell vars
//	benchconsole scan -url URL -dir DIR -n 200     200 check-in scans one after another, timed
//	benchconsole pages -url URL -dir DIR -d 5s     every console page, timed (Server-Timing and client), with /healthz
//
// The day is written straight into MySQL (the booking engine's rules are not
// what is measured, and 5,000 bookings through the API would take minutes on
// a loaded machine): 20 programs, half needing approval; 200 sessions between
// 06:00 and 20:00 today (Asia/Shanghai), one of them starting in 30 minutes
// with 300 confirmed bookings for the scans; residents with real names and
// encrypted phones. Around it, what the other pages show on a busy desk: 400
// complaints (200 open, their deadlines spread around now), 20 rewards with
// 150 redemptions waiting, 12 bins, 3,000 audit entries. A staff member and
// an admin sign in through the dev login.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"nantian/models"
	"nantian/scripts/internal/subcmd"
)

func main() {
	subcmd.Main("benchconsole",
		subcmd.Cmd{Name: "seed", Run: seed},
		subcmd.Cmd{Name: "scan", Run: scan},
		subcmd.Cmd{Name: "pages", Run: pages},
	)
}

const (
	programs     = 20
	sessions     = 200
	bookings     = 5000
	scanBookings = 300
	residents    = 2500
)

var surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
var given = []string{"秀英", "桂兰", "建国", "淑珍", "志强", "丽华", "海燕", "明", "伟", "芳", "军", "静", "敏", "磊", "洋"}

func seed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	dsn := fs.String("dsn", "", "MySQL DSN of the bench database")
	base := fs.String("url", "", "server URL")
	dir := fs.String("dir", ".", "output directory")
	dataKey := fs.String("data-key", "", "DATA_KEY the server uses, to encrypt phones as it does")
	_ = fs.Parse(args)
	ctx := context.Background()
	db, err := models.OpenDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return err
	}
	var cipher *models.DataCipher
	if *dataKey != "" {
		if cipher, err = models.NewDataCipher(*dataKey); err != nil {
			return err
		}
	}
	now := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO users (openid, role, nickname, real_name, created_at, updated_at)
		VALUES ('bench-console-staff', 'staff', '前台小周', '周晓岚', ?, ?), ('bench-console-admin', 'admin', '站长', '陈国栋', ?, ?)`, now, now, now, now)
	if err != nil {
		return fmt.Errorf("staff: %w", err)
	}
	staffID, _ := res.LastInsertId()
	// Residents, in batches.
	var firstUser int64
	for i := 0; i < residents; i += 500 {
		var q strings.Builder
		q.WriteString(`INSERT INTO users (openid, role, nickname, real_name, estate, created_at, updated_at) VALUES `)
		vals := []any{}
		for j := i; j < min(i+500, residents); j++ {
			if j > i {
				q.WriteString(",")
			}
			q.WriteString("(?, 'resident', ?, ?, '南天一花园', ?, ?)")
			name := string(surnames[j%len(surnames)]) + given[(j/len(surnames))%len(given)]
			vals = append(vals, fmt.Sprintf("bench-console-r%d", j), "微信用户", name, now, now)
		}
		res, err := tx.ExecContext(ctx, q.String(), vals...)
		if err != nil {
			return fmt.Errorf("residents: %w", err)
		}
		if i == 0 {
			firstUser, _ = res.LastInsertId()
		}
	}
	if cipher != nil {
		for u := firstUser; u < firstUser+residents; u++ {
			enc, err := cipher.Seal("users", "phone", u, fmt.Sprintf("139%08d", u))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE users SET phone_enc = ? WHERE id = ?`, enc, u); err != nil {
				return err
			}
		}
	}
	var progIDs []int64
	for i := range programs {
		kind, approval := "activity", i%2 == 0
		if approval {
			kind = "night_school"
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO programs (kind, title, description, category, audience, venue, fee_fen, requires_approval, status, created_at, updated_at)
			VALUES (?, ?, '', '', 'all', ?, 0, ?, 'active', ?, ?)`, kind, fmt.Sprintf("测试项目 %02d", i+1), fmt.Sprintf("活动室 %d", i%6+1), approval, now, now)
		if err != nil {
			return fmt.Errorf("program: %w", err)
		}
		id, _ := res.LastInsertId()
		progIDs = append(progIDs, id)
	}
	lt := now.In(loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 6, 0, 0, 0, loc)
	rng := rand.New(rand.NewPCG(1, 2))
	remaining := bookings - scanBookings
	var deskSession int64
	var codes []string
	for i := range sessions {
		start := day.Add(time.Duration(i) * 4 * time.Minute)
		per := remaining / (sessions - 1)
		if i == sessions-1 {
			per = remaining - per*(sessions-2)
		}
		if i == 0 { // the scan session: starts in 30 minutes
			start, per = now.Add(30*time.Minute), scanBookings
		}
		prog := progIDs[i%programs]
		approval := i%programs%2 == 0
		res, err := tx.ExecContext(ctx, `INSERT INTO sessions (program_id, starts_at, ends_at, venue, capacity, booked, waitlisted, status, created_at, updated_at)
			VALUES (?, ?, ?, '', ?, 0, 0, 'open', ?, ?)`, prog, start.UTC(), start.Add(90*time.Minute).UTC(), per+10, now, now)
		if err != nil {
			return fmt.Errorf("session: %w", err)
		}
		sid, _ := res.LastInsertId()
		if i == 0 {
			deskSession = sid
		}
		users := rng.Perm(residents)[:per]
		var q strings.Builder
		q.WriteString(`INSERT INTO bookings (session_id, program_id, user_id, participant, live_participant, status, code, checked_in_at, created_at, updated_at) VALUES `)
		vals := []any{}
		booked := 0
		for j, u := range users {
			status := "confirmed"
			switch {
			case i == 0:
			case approval && j%6 == 0:
				status = "pending"
			case start.Before(now) && j%4 != 0:
				status = "attended"
			case j%25 == 0:
				status = "cancelled"
			}
			uid := firstUser + int64(u)
			part := fmt.Sprintf("u%d", uid)
			var live *string
			if status != "cancelled" {
				live = &part
				booked++
			}
			var checked *time.Time
			if status == "attended" {
				t := start.Add(-5 * time.Minute).UTC()
				checked = &t
			}
			code := fmt.Sprintf("B%09d", int64(i)*100000+int64(j))
			if i == 0 {
				codes = append(codes, code)
			}
			if j > 0 {
				q.WriteString(",")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			created := now.Add(-time.Duration(rng.IntN(7*24*60)) * time.Minute).UTC()
			vals = append(vals, sid, prog, uid, part, live, status, code, checked, created, created)
		}
		if _, err := tx.ExecContext(ctx, q.String(), vals...); err != nil {
			return fmt.Errorf("bookings: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = ? WHERE id = ?`, booked, sid); err != nil {
			return err
		}
	}
	if err := seedDesk(ctx, tx, rng, now, firstUser, staffID); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "codes"), []byte(strings.Join(codes, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	// Sign the staff member in as a browser would (the dev login), and read
	// the form token from a page.
	cookie, csrf, err := devLogin(*base, "bench-console-staff")
	if err != nil {
		return err
	}
	adminCookie, _, err := devLogin(*base, "bench-console-admin")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "console.env"), []byte(fmt.Sprintf("%s\n%s\n%d\n%s\n", cookie, csrf, deskSession, adminCookie)), 0o600); err != nil {
		return err
	}
	var pending int
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings WHERE status = 'pending'`).Scan(&pending)
	fmt.Printf("CONSOLE_COOKIE=%q\nDESK_SESSION=%d\nPENDING=%d\n", cookie, deskSession, pending)
	return nil
}

// seedDesk fills what the pages beyond the day's board show.
func seedDesk(ctx context.Context, tx *sql.Tx, rng *rand.Rand, now time.Time, firstUser, staffID int64) error {
	estates := []string{"南天一花园", "南天二花园", "百花园一期", "百花园二期", "国城花园"}
	cats := []string{"物业管理", "充电难", "房屋漏水", "噪音扰民", "环境卫生", "公共设施", "邻里纠纷", "安全隐患", "其他"}
	open := []string{"submitted", "accepted", "contacted", "reopened"}
	for i := range 400 {
		created := now.Add(-time.Duration(rng.IntN(20*24*60)) * time.Minute)
		status := open[i%len(open)]
		if i >= 200 {
			status = []string{"resolved", "closed"}[i%2]
		}
		if i < 200 { // open ones: deadlines spread from 2 h overdue to 20 h ahead
			created = now.Add(-time.Duration(rng.IntN(24*60)) * time.Minute)
		}
		var accepted, contacted, resolved, closed *time.Time
		at := func(d time.Duration) *time.Time { t := created.Add(d).UTC(); return &t }
		switch status {
		case "accepted":
			accepted = at(5 * time.Minute)
		case "contacted":
			accepted, contacted = at(5*time.Minute), at(20*time.Minute)
		case "resolved", "closed":
			accepted, contacted, resolved = at(5*time.Minute), at(20*time.Minute), at(10*time.Hour)
			if status == "closed" {
				closed = at(30 * time.Hour)
			}
		}
		content := fmt.Sprintf("%s：楼道灯坏了一个多星期，晚上老人上下楼看不清，请尽快派人维修。（第 %d 件）", cats[i%len(cats)], i+1)
		res, err := tx.ExecContext(ctx, `INSERT INTO complaints (user_id, category, content, estate, location, status, created_at, cycle_started_at,
				accept_due_at, contact_due_at, resolve_due_at, accepted_at, contacted_at, resolved_at, closed_at, handler_id, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			firstUser+int64(i%residents), cats[i%len(cats)], content, estates[i%len(estates)], fmt.Sprintf("%d 栋 %d 单元", i%30+1, i%4+1), status,
			created.UTC(), created.UTC(), created.Add(10*time.Minute).UTC(), created.Add(30*time.Minute).UTC(), created.Add(24*time.Hour).UTC(),
			accepted, contacted, resolved, closed, staffID, now.UTC())
		if err != nil {
			return fmt.Errorf("complaint: %w", err)
		}
		cid, _ := res.LastInsertId()
		if _, err := tx.ExecContext(ctx, `INSERT INTO complaint_events (complaint_id, status, at, actor_role, actor_id, note) VALUES (?, 'submitted', ?, 'resident', ?, '')`,
			cid, created.UTC(), firstUser+int64(i%residents)); err != nil {
			return fmt.Errorf("complaint event: %w", err)
		}
	}
	for i := range 20 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rewards (name, description, cost_points, stock, active, created_at, updated_at) VALUES (?, '', ?, ?, 1, ?, ?)`,
			fmt.Sprintf("兑换礼品 %02d", i+1), 50+i*10, 100+i, now.UTC(), now.UTC()); err != nil {
			return fmt.Errorf("reward: %w", err)
		}
	}
	var firstReward int64
	if err := tx.QueryRowContext(ctx, `SELECT MIN(id) FROM rewards`).Scan(&firstReward); err != nil {
		return err
	}
	for i := range 300 {
		status, fulfilled := "pending", (*time.Time)(nil)
		if i >= 150 {
			t := now.Add(-time.Duration(i) * time.Hour).UTC()
			status, fulfilled = "fulfilled", &t
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO redemptions (user_id, reward_id, cost_points, status, pickup_code, pickup_by, created_at, fulfilled_at, fulfilled_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, firstUser+int64(i*7%residents), firstReward+int64(i%20), 50+i%20*10, status, fmt.Sprintf("P%07d", i),
			now.Add(7*24*time.Hour).UTC(), now.Add(-time.Duration(i)*time.Hour).UTC(), fulfilled, nullIf(fulfilled == nil, staffID)); err != nil {
			return fmt.Errorf("redemption: %w", err)
		}
	}
	for i := range 12 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO devices (estate, name, secret_enc, status, created_by, created_at, updated_at, last_seen_at) VALUES (?, ?, ?, 'active', ?, ?, ?, ?)`,
			estates[i%len(estates)], fmt.Sprintf("%d 号厨余桶", i+1), []byte("bench-secret"), staffID, now.UTC(), now.UTC(), now.Add(-time.Duration(i)*time.Minute).UTC()); err != nil {
			return fmt.Errorf("device: %w", err)
		}
	}
	actions := []string{"POST /console/sessions/{id}/checkin", "POST /console/approvals/confirm", "POST /api/v1/staff/complaints/:id/accept", "POST /console/points/fulfil"}
	for i := 0; i < 3000; i += 500 {
		var q strings.Builder
		q.WriteString(`INSERT INTO audit_log (actor_id, actor_role, door, action, target, status, request_body, response_body, created_at) VALUES `)
		vals := []any{}
		for j := i; j < i+500; j++ {
			if j > i {
				q.WriteString(",")
			}
			q.WriteString("(?, 'staff', 'console', ?, ?, 200, ?, ?, ?)")
			vals = append(vals, staffID, actions[j%len(actions)], fmt.Sprintf("id=%d", j+1), `{"code":"B000000001"}`,
				fmt.Sprintf(`{"id":%d,"status":"attended","session_id":%d}`, j+1, j%200+1), now.Add(-time.Duration(3000-j)*time.Minute).UTC())
		}
		if _, err := tx.ExecContext(ctx, q.String(), vals...); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

func nullIf(null bool, v int64) any {
	if null {
		return nil
	}
	return v
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func devLogin(base, openid string) (cookie, csrf string, err error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := hc.PostForm(base+"/console/dev-login", url.Values{"openid": {openid}})
	if err != nil {
		return "", "", err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	u, _ := url.Parse(base + "/console/")
	for _, c := range jar.Cookies(u) {
		if c.Name == "nt_console" {
			cookie = c.Value
		}
	}
	m := csrfRe.FindSubmatch(body)
	if cookie == "" || m == nil {
		return "", "", fmt.Errorf("dev login: %d, no session", res.StatusCode)
	}
	return cookie, string(m[1]), nil
}

// scan checks in n codes of the desk session one after another, as the
// scanner does (the page's fetch with HX-Request), and prints the server's
// answer times.
func scan(args []string) error {
	fs := flag.NewFlagSet("scan", flag.ExitOnError)
	base := fs.String("url", "", "server URL")
	dir := fs.String("dir", ".", "directory seed wrote into")
	n := fs.Int("n", 200, "scans")
	_ = fs.Parse(args)
	env, err := os.ReadFile(filepath.Join(*dir, "console.env"))
	if err != nil {
		return err
	}
	parts := strings.Fields(string(env))
	cookie, csrf, session := parts[0], parts[1], parts[2]
	raw, err := os.ReadFile(filepath.Join(*dir, "codes"))
	if err != nil {
		return err
	}
	codes := strings.Fields(string(raw))
	if *n > len(codes) {
		*n = len(codes)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	var times []time.Duration
	ok := 0
	for _, code := range codes[:*n] {
		req, _ := http.NewRequest("POST", *base+"/console/sessions/"+session+"/checkin", strings.NewReader(url.Values{"code": {code}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", csrf)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.AddCookie(&http.Cookie{Name: "nt_console", Value: cookie})
		t0 := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		times = append(times, time.Since(t0))
		if res.StatusCode == http.StatusOK && strings.Contains(string(body), `class="ok"`) {
			ok++
		}
	}
	slices.Sort(times)
	q := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))].Microseconds()) / 1000 }
	fmt.Printf("checkin_scan          n=%d ok=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f\n", len(times), ok, q(0.5), q(0.99), q(1))
	if ok != len(times) {
		return fmt.Errorf("%d of %d scans were not accepted", len(times)-ok, len(times))
	}
	return nil
}

// pageTimes is one page's measurement: the server's own time per request
// (its Server-Timing header: the queries and the rendering), the client's
// (that plus the loopback and reading the body), and throughput.
type pageTimes struct {
	server, client []time.Duration
	bytes          int
	rps            float64
	cpu            time.Duration // server CPU per request (user+system), 0 unknown
}

// pages times every console page one request after another for d each (the
// server's render time, without queueing), then with conns connections for
// d (throughput), beside GET /healthz measured the same way. It prints one
// line per page and returns an error if a page answers anything but 200.
func pages(args []string) error {
	fs := flag.NewFlagSet("pages", flag.ExitOnError)
	base := fs.String("url", "", "server URL")
	dir := fs.String("dir", ".", "directory seed wrote into")
	d := fs.Duration("d", 5*time.Second, "time per page and pass")
	conns := fs.Int("conns", 8, "connections of the throughput pass")
	only := fs.String("only", "", "comma-separated page names to run (default all)")
	withHealth := fs.Bool("healthz", true, "measure /healthz first, for the ratios (off: to profile one page alone)")
	pid := fs.Int("pid", 0, "the server's process id: adds its CPU time per request (from /proc), which a loaded machine does not inflate")
	_ = fs.Parse(args)
	env, err := os.ReadFile(filepath.Join(*dir, "console.env"))
	if err != nil {
		return err
	}
	parts := strings.Fields(string(env))
	staff, session, admin := parts[0], parts[2], parts[3]
	list := []struct{ name, path, cookie string }{
		{"healthz", "/healthz", ""},
		{"today", "/console/", staff},
		{"today_live", "/console/today/live", staff},
		{"sessions", "/console/sessions", staff},
		{"desk", "/console/sessions/" + session, staff},
		{"approvals", "/console/approvals", staff},
		{"programs", "/console/programs", staff},
		{"complaints", "/console/complaints", staff},
		{"points", "/console/points", staff},
		{"reports", "/console/reports", staff},
		{"admin_users", "/console/admin/users", admin},
		{"admin_audit", "/console/admin/audit", admin},
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conns + 1}}
	get := func(path, cookie string) (time.Duration, time.Duration, int, error) {
		req, _ := http.NewRequest("GET", *base+path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "nt_console", Value: cookie})
		}
		t0 := time.Now()
		res, err := hc.Do(req)
		if err != nil {
			return 0, 0, 0, err
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		client := time.Since(t0)
		if res.StatusCode != http.StatusOK {
			return 0, 0, 0, fmt.Errorf("GET %s: %d", path, res.StatusCode)
		}
		var server time.Duration
		if v, ok := strings.CutPrefix(res.Header.Get("Server-Timing"), "app;dur="); ok {
			var ms float64
			fmt.Sscanf(v, "%g", &ms)
			server = time.Duration(ms * float64(time.Millisecond))
		}
		return server, client, int(n), nil
	}
	q := func(ts []time.Duration, p float64) float64 {
		if len(ts) == 0 {
			return 0
		}
		s := slices.Clone(ts)
		slices.Sort(s)
		return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
	}
	var health *pageTimes
	fmt.Printf("%-12s %6s %8s | %-28s | %-24s | %s\n", "page", "n", "KiB", "server (Server-Timing) ms", "client ms (p50/p99)", "vs healthz")
	failed := 0
	for _, pg := range list {
		if pg.name == "healthz" && !*withHealth || pg.name != "healthz" && len(want) > 0 && !want[pg.name] {
			continue
		}
		var t pageTimes
		for range 3 { // warm up, and fail early
			if _, _, _, err := get(pg.path, pg.cookie); err != nil {
				return err
			}
		}
		cpu0 := procCPU(*pid)
		for end := time.Now().Add(*d); time.Now().Before(end); {
			s, c, n, err := get(pg.path, pg.cookie)
			if err != nil {
				return err
			}
			t.server, t.client, t.bytes = append(t.server, s), append(t.client, c), n
		}
		if cpu0 >= 0 {
			t.cpu = (procCPU(*pid) - cpu0) / time.Duration(len(t.client))
		}
		// Throughput: conns clients for d.
		var total atomicCount
		done := make(chan error, *conns)
		end := time.Now().Add(*d)
		for range *conns {
			go func() {
				for time.Now().Before(end) {
					if _, _, _, err := get(pg.path, pg.cookie); err != nil {
						done <- err
						return
					}
					total.add()
				}
				done <- nil
			}()
		}
		for range *conns {
			if err := <-done; err != nil {
				return err
			}
		}
		t.rps = float64(total.get()) / d.Seconds()
		if pg.name == "healthz" {
			health = &t
			fmt.Printf("%-12s %6d %8.1f | %-28s | p50=%-7.2f p99=%-8.2f | %.0f req/s at %d conns\n", pg.name, len(t.client), float64(t.bytes)/1024,
				"(not a console page)", q(t.client, .5), q(t.client, .99), t.rps, *conns)
			continue
		}
		verdict := "met"
		if q(t.server, .5) >= 50 {
			verdict, failed = "NOT met", failed+1
		}
		cpu := ""
		if t.cpu > 0 {
			cpu = fmt.Sprintf(", server CPU %.1f ms/req", float64(t.cpu.Microseconds())/1000)
		}
		ratio := "(no /healthz run)"
		if health != nil {
			ratio = fmt.Sprintf("latency x%.1f, req/s %.3f", q(t.client, .5)/q(health.client, .5), t.rps/health.rps)
		}
		fmt.Printf("%-12s %6d %8.1f | p50=%-7.2f p99=%-7.2f %-7s | p50=%-7.2f p99=%-8.2f | %s (%.0f req/s)%s\n", pg.name, len(t.client), float64(t.bytes)/1024,
			q(t.server, .5), q(t.server, .99), verdict, q(t.client, .5), q(t.client, .99), ratio, t.rps, cpu)
	}
	fmt.Printf("target: server p50 < 50 ms on every page; %d page(s) not met\n", failed)
	if failed > 0 {
		return fmt.Errorf("%d page(s) over 50 ms at p50", failed)
	}
	return nil
}

// atomicCount counts requests across the throughput goroutines.
type atomicCount struct{ n atomic.Int64 }

func (a *atomicCount) add()       { a.n.Add(1) }
func (a *atomicCount) get() int64 { return a.n.Load() }

// procCPU is the process's user+system CPU time so far (/proc/PID/stat, in
// clock ticks of 10 ms), or -1 when pid is 0 or unreadable.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces, inside parentheses):
	// state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b)[i+1:])
	if len(f) < 13 {
		return -1
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
