// Command bench is the load tool behind scripts/bench-booking.sh. wrk measures the
// steady endpoints; this tool prepares the data wrk needs and runs the flash crowd,
// which wrk cannot express: each of 2,000 distinct residents books a 12-place
// session exactly once, with a fixed number of requests in flight.
//
//	bench setup   -dsn DSN -secret JWT_SECRET -n 2000 -dir DIR   users + tokens (straight into MySQL)
//	bench prepare -url URL -dir DIR                              program, a sold-out session (prints ids)
//	bench flash   -url URL -dir DIR -rounds 3 -c 64              the flash crowd, one fresh session per round
//	bench flash   ... -program ID -capacity 400 -n 400           every request gets a place (free vs paid path)
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"nantian/models"
	"nantian/models/account"
	"nantian/scripts/internal/subcmd"
)

func main() {
	subcmd.Main("bench",
		subcmd.Cmd{Name: "setup", Run: setup},
		subcmd.Cmd{Name: "prepare", Run: prepare},
		subcmd.Cmd{Name: "flash", Run: flash},
	)
}

// setup creates a staff user and n residents with access tokens, directly in the
// stores (logging 2,000 people in through WeChat is not what is being measured).
func setup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	dsn := fs.String("dsn", "", "MySQL DSN of the bench database")
	secret := fs.String("secret", "", "JWT secret the server uses")
	n := fs.Int("n", 2000, "residents")
	dir := fs.String("dir", ".", "output directory")
	_ = fs.Parse(args)
	ctx := context.Background()
	db, err := models.OpenDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	users := &account.Users{DB: db, Now: models.SystemClock}
	tokens := &account.Tokens{DB: db, Secret: []byte(*secret), AccessTTL: 6 * time.Hour, RefreshTTL: 24 * time.Hour, Now: models.SystemClock}
	login := func(openid, role string) (string, error) {
		u, err := users.UpsertWeChat(ctx, openid, "")
		if err != nil {
			return "", err
		}
		if role != models.RoleResident {
			if _, err := users.SetRole(ctx, u.ID, role); err != nil {
				return "", err
			}
		}
		p, err := tokens.NewLogin(ctx, u.ID, role)
		return p.AccessToken, err
	}
	staff, err := login("bench-staff", models.RoleStaff)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*dir, "staff.token"), []byte(staff), 0o600); err != nil {
		return err
	}
	toks := make([]string, *n)
	var wg sync.WaitGroup
	errs := make(chan error, *n)
	sem := make(chan struct{}, 16)
	for i := range *n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t, err := login(fmt.Sprintf("bench-resident-%d", i), models.RoleResident)
			if err != nil {
				errs <- err
				return
			}
			toks[i] = t
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*dir, "residents.tokens"), []byte(strings.Join(toks, "\n")+"\n"), 0o600)
}

type client struct {
	base string
	hc   *http.Client
}

func newClient(base string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (c *client) do(method, path, token string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, nil
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			out = append(out, s)
		}
	}
	return out, sc.Err()
}

func (c *client) newSession(staff string, programID int64, capacity int, startsIn time.Duration) (int64, error) {
	start := time.Now().Add(startsIn).Truncate(time.Second)
	st, m, err := c.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", programID), staff, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(2 * time.Hour).Format(time.RFC3339), "capacity": capacity})
	if err != nil || st != http.StatusCreated {
		return 0, fmt.Errorf("create session: %d %v %v", st, m, err)
	}
	return int64(m["id"].(float64)), nil
}

// prepare creates the program wrk reads and a session sold out by the last
// resident; it prints shell assignments.
func prepare(args []string) error {
	fs := flag.NewFlagSet("prepare", flag.ExitOnError)
	base := fs.String("url", "", "server base URL")
	dir := fs.String("dir", ".", "directory with the tokens")
	_ = fs.Parse(args)
	c := newClient(*base, 4)
	staff, err := os.ReadFile(filepath.Join(*dir, "staff.token"))
	if err != nil {
		return err
	}
	res, err := readLines(filepath.Join(*dir, "residents.tokens"))
	if err != nil {
		return err
	}
	st, m, err := c.do("POST", "/api/v1/staff/programs", string(staff), map[string]any{
		"kind": "night_school", "title": "青年夜校·粤语", "fee_fen": 5000, "requires_approval": true,
		"description": "从日常对话学粤语。", "category": "语言", "venue": "党群服务中心多功能室"})
	if err != nil || st != http.StatusCreated {
		return fmt.Errorf("create program: %d %v %v", st, m, err)
	}
	pid := int64(m["id"].(float64))
	for i := range 4 { // a realistic course page: several upcoming lessons
		if _, err := c.newSession(string(staff), pid, 20, time.Duration(24*(i+2))*time.Hour); err != nil {
			return err
		}
	}
	sold, err := c.newSession(string(staff), pid, 1, 24*time.Hour)
	if err != nil {
		return err
	}
	if st, m, err := c.do("POST", "/api/v1/bookings", res[len(res)-1], map[string]any{"session_id": sold}); err != nil || st != http.StatusCreated {
		return fmt.Errorf("fill sold-out session: %d %v %v", st, m, err)
	}
	// The paid path beside the free one: two programs that confirm at once, one
	// free, one with a fee (collected through WeChat Pay when the server has a
	// merchant: each booking then opens an order and places it at WeChat).
	ids := map[string]int64{}
	for name, fee := range map[string]int{"FREE_PROGRAM": 0, "PAID_PROGRAM": 5000} {
		st, m, err := c.do("POST", "/api/v1/staff/programs", string(staff), map[string]any{
			"kind": "night_school", "title": "青年夜校·爵士舞", "fee_fen": fee, "requires_approval": false,
			"description": "基本功与组合。", "category": "舞蹈", "venue": "党群服务中心多功能室"})
		if err != nil || st != http.StatusCreated {
			return fmt.Errorf("create program: %d %v %v", st, m, err)
		}
		ids[name] = int64(m["id"].(float64))
	}
	fmt.Printf("PROGRAM_ID=%d\nSOLDOUT_SESSION=%d\nFREE_PROGRAM=%d\nPAID_PROGRAM=%d\n", pid, sold, ids["FREE_PROGRAM"], ids["PAID_PROGRAM"])
	return nil
}

// flash runs the flash crowd: per round a fresh 12-place session, then every
// resident books it once with c requests in flight. It prints req/s and p99 over
// all rounds, and checks MySQL's view through the API (exactly 12 booked).
func flash(args []string) error {
	fs := flag.NewFlagSet("flash", flag.ExitOnError)
	base := fs.String("url", "", "server base URL")
	dir := fs.String("dir", ".", "directory with the tokens")
	program := fs.Int64("program", 0, "program id")
	rounds := fs.Int("rounds", 3, "rounds (fresh session each)")
	conc := fs.Int("c", 64, "requests in flight")
	capacity := fs.Int("capacity", 12, "places per session")
	label := fs.String("label", "flash", "label for the output line")
	n := fs.Int("n", 0, "residents in the crowd (0: all)")
	_ = fs.Parse(args)
	staffB, err := os.ReadFile(filepath.Join(*dir, "staff.token"))
	if err != nil {
		return err
	}
	staff := string(staffB)
	toks, err := readLines(filepath.Join(*dir, "residents.tokens"))
	if err != nil {
		return err
	}
	toks = toks[:len(toks)-1] // the last one filled the sold-out session
	if *n > 0 && *n < len(toks) {
		toks = toks[:*n]
	}
	c := newClient(*base, *conc)
	var lat []time.Duration
	var total time.Duration
	statuses := map[int]int{}
	for r := range *rounds {
		before := statuses[http.StatusCreated]
		sid, err := c.newSession(staff, *program, *capacity, time.Duration(10+r)*24*time.Hour)
		if err != nil {
			return err
		}
		// Warm-up, not measured: the crowd is logged in and waiting in the app
		// when the session opens (each instance caches a login's principal).
		warm := make(chan string)
		var wwg sync.WaitGroup
		for range *conc {
			wwg.Add(1)
			go func() {
				defer wwg.Done()
				for tok := range warm {
					_, _, _ = c.do("GET", "/api/v1/bookings?limit=1", tok, nil)
				}
			}()
		}
		for _, t := range toks {
			warm <- t
		}
		close(warm)
		wwg.Wait()
		work := make(chan string)
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for range *conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var local []time.Duration
				loc := map[int]int{}
				for tok := range work {
					t0 := time.Now()
					st, _, err := c.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid})
					local = append(local, time.Since(t0))
					if err != nil {
						st = -1
					}
					loc[st]++
				}
				mu.Lock()
				lat = append(lat, local...)
				for k, v := range loc {
					statuses[k] += v
				}
				mu.Unlock()
			}()
		}
		for _, t := range toks {
			work <- t
		}
		close(work)
		wg.Wait()
		total += time.Since(start)
		st, m, err := c.do("GET", fmt.Sprintf("/api/v1/sessions/%d", sid), staff, nil)
		if err != nil || st != 200 {
			return fmt.Errorf("read session: %d %v", st, err)
		}
		// MySQL's count must be what the 201s say, never above the capacity; a
		// crowd on a session larger than itself (or a WeChat Pay that answered
		// 503 payments_unavailable, holding nothing) books fewer.
		got, booked := statuses[http.StatusCreated]-before, int(m["booked"].(float64))
		if booked != got || booked > *capacity || (got < *capacity && len(toks) > *capacity && statuses[http.StatusServiceUnavailable] == 0) {
			return fmt.Errorf("round %d: booked %d, %d answered 201, capacity %d, statuses %v", r, booked, got, *capacity, statuses)
		}
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	rps := float64(len(lat)) / total.Seconds()
	fmt.Printf("%s requests=%d rounds=%d in_flight=%d req_per_s=%.0f p50_ms=%.2f p99_ms=%.2f statuses=%v\n",
		*label, len(lat), *rounds, *conc, rps, ms(p(0.50)), ms(p(0.99)), statuses)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
