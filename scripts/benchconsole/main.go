// Command benchconsole is the data and scan tool behind scripts/bench-console.sh:
// wrk measures the console pages; this tool fills the day they show and
// measures check-in scans, which wrk cannot express (each scan consumes a code).
//
//	benchconsole seed -dsn DSN -url URL -dir DIR   a day of 200 sessions and 5,000 bookings; prints shell vars
//	benchconsole scan -url URL -dir DIR -n 200     200 check-in scans one after another, timed
//
// The day is written straight into MySQL (the booking engine's rules are not
// what is measured, and 5,000 bookings through the API would take minutes on
// a loaded machine): 20 programs, half needing approval; 200 sessions between
// 06:00 and 20:00 today (Asia/Shanghai), one of them starting in 30 minutes
// with 300 confirmed bookings for the scans; residents with real names and
// encrypted phones. The staff member signs in through the dev login.
package main

import (
	"context"
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
	"time"

	"nantian/models"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchconsole seed|scan [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = seed(os.Args[2:])
	case "scan":
		err = scan(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchconsole:", err)
		os.Exit(1)
	}
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (openid, role, nickname, real_name, created_at, updated_at)
		VALUES ('bench-console-staff', 'staff', '前台小周', '周晓岚', ?, ?)`, now, now); err != nil {
		return fmt.Errorf("staff: %w", err)
	}
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
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "codes"), []byte(strings.Join(codes, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	// Sign the staff member in as a browser would (the dev login), and read
	// the form token from a page.
	cookie, csrf, err := devLogin(*base)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "console.env"), []byte(fmt.Sprintf("%s\n%s\n%d\n", cookie, csrf, deskSession)), 0o600); err != nil {
		return err
	}
	var pending int
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings WHERE status = 'pending'`).Scan(&pending)
	fmt.Printf("CONSOLE_COOKIE=%q\nDESK_SESSION=%d\nPENDING=%d\n", cookie, deskSession, pending)
	return nil
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func devLogin(base string) (cookie, csrf string, err error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	res, err := hc.PostForm(base+"/console/dev-login", url.Values{"openid": {"bench-console-staff"}})
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
