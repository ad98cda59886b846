// Command drill is the fault drill behind scripts/drill.sh. It runs the real
// server binary with MySQL and Redis behind toxiproxy (embedded as a library),
// sends booking crowds while it breaks things — Redis cut, MySQL cut, Redis keys
// flushed, the server SIGKILLed and restarted, and a points crowd with both stores
// cut — and after each drill checks in MySQL that nothing was oversold, counts
// match the bookings, no outbox row was lost and no balance went wrong. It prints
// a table and exits 1 if any invariant failed.
//
// Everything is local: loopback addresses only, a throwaway database
// (nantian_drill_*) and Redis prefix (drill:<run>:) removed at the end, and every
// request loop is bounded.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// row is one line of the result table.
type row struct {
	name         string
	book         *tally
	cancels      int
	booked, live string
	ready        time.Duration
	notes        []string
	failures     []string
}

func (r *row) ok() bool { return len(r.failures) == 0 }

func main() {
	mysqlAddr := flag.String("mysql", "127.0.0.1:3306", "MySQL/MariaDB address (root, no password)")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	crowd := flag.Int("crowd", 300, "distinct residents per booking crowd")
	capacity := flag.Int("capacity", 12, "places per drill session")
	span := flag.Duration("span", 4*time.Second, "how long each crowd takes to send")
	outage := flag.Duration("outage", 2*time.Second, "how long each store is cut")
	keep := flag.Bool("keep-log", false, "keep the temp dir with the server log")
	latency := flag.Duration("mysql-latency", 2*time.Millisecond, "latency the MySQL proxy adds to every answer")
	sentinel := flag.Bool("sentinel", true, "run drill 7 (Sentinel failover; needs redis-server and redis-sentinel, ports 18201-18213)")
	flag.Parse()
	for _, a := range []string{*mysqlAddr, *redisAddr} {
		if !strings.HasPrefix(a, "127.0.0.1:") && !strings.HasPrefix(a, "localhost:") && !strings.HasPrefix(a, "[::1]:") {
			fmt.Fprintln(os.Stderr, "drill: only loopback stores are allowed, got", a)
			os.Exit(2)
		}
	}
	code, err := run(*mysqlAddr, *redisAddr, *crowd, *capacity, *span, *outage, *latency, *keep, *sentinel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "drill:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(mysqlAddr, redisAddr string, crowd, capacity int, span, outage, latency time.Duration, keep, sentinel bool) (int, error) {
	ctx := context.Background()
	t0 := time.Now()
	e, err := newEnv(ctx, mysqlAddr, redisAddr, latency)
	failed := err != nil
	defer func() {
		if failed && e.work != "" {
			fmt.Fprintf(os.Stderr, "drill: server log kept in %s\n", e.work)
		}
		e.close(keep || failed)
	}()
	if err != nil {
		return 1, err
	}
	fmt.Printf("drill run %s: database %s, redis prefix %s, mysql proxy %s, redis proxy %s\n",
		e.run, e.dbName, e.prefix, e.mysqlProxy.Listen, e.redisProxy.Listen)
	if err := e.mintUsers(ctx, crowd, capacity+4); err != nil {
		failed = true
		return 1, fmt.Errorf("users: %w", err)
	}
	if err := e.start(); err != nil {
		failed = true
		return 1, err
	}
	if _, err := e.waitReady(30 * time.Second); err != nil {
		failed = true
		return 1, err
	}
	if err := e.createProgram(); err != nil {
		failed = true
		return 1, err
	}
	faultAt := span / 4
	drills := []struct {
		name  string
		fault func(r *row) string // runs faultAt into the crowd; returns a note
	}{
		{"0 baseline (no fault)", nil},
		{"1 Redis cut", func(r *row) string {
			return e.cut(e.redisProxy, outage, &r.ready)
		}},
		{"2 MySQL cut", func(r *row) string {
			return e.cut(e.mysqlProxy, outage, &r.ready)
		}},
		{"3 Redis flush", func(*row) string {
			n, err := e.flushPrefix(ctx)
			if err != nil {
				return "flush failed: " + err.Error()
			}
			time.Sleep(span / 4)
			m, _ := e.flushPrefix(ctx)
			return fmt.Sprintf("deleted %d then %d keys", n, m)
		}},
		{"4 SIGKILL + restart", func(r *row) string {
			e.kill()
			if err := e.start(); err != nil {
				return "restart failed: " + err.Error()
			}
			d, err := e.waitReady(30 * time.Second)
			if err != nil {
				return "not ready after restart: " + err.Error()
			}
			r.ready = d
			return fmt.Sprintf("killed; ready again %s after restart", d.Round(10*time.Millisecond))
		}},
	}
	var rows []*row
	for _, d := range drills {
		r := &row{name: d.name, book: &tally{}}
		rows = append(rows, r)
		sid, err := e.newSession(capacity)
		if err != nil {
			failed = true
			return 1, err
		}
		var wg sync.WaitGroup
		if d.fault != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(faultAt)
				r.notes = append(r.notes, d.fault(r))
			}()
		}
		res := e.bookingCrowd(ctx, sid, span)
		wg.Wait()
		r.book = &res.book
		r.cancels = res.cancel.by[200]
		e.finishBookingDrill(ctx, r, sid, res)
		fmt.Printf("  %-22s done: %s\n", r.name, r.summary())
	}
	rows = append(rows, e.pointsDrill(ctx, crowd/3, outage, span))
	fmt.Printf("  %-22s done: %s\n", rows[len(rows)-1].name, rows[len(rows)-1].summary())
	rows = append(rows, e.paymentsDrill(ctx, outage))
	fmt.Printf("  %-22s done: %s\n", rows[len(rows)-1].name, rows[len(rows)-1].summary())
	switch {
	case sentinel && haveRedisBinaries():
		rows = append(rows, e.sentinelDrill(ctx, capacity, span))
		fmt.Printf("  %-22s done: %s\n", rows[len(rows)-1].name, rows[len(rows)-1].summary())
	case sentinel:
		fmt.Println("  7 Sentinel failover    skipped: redis-server or redis-sentinel not installed (apt install redis-server redis-sentinel)")
	}

	printTable(os.Stdout, rows)
	fmt.Printf("\nwhole run: %s\n", time.Since(t0).Round(time.Second))
	for _, r := range rows {
		if !r.ok() {
			failed = true
		}
	}
	if failed {
		return 1, nil
	}
	return 0, nil
}

// finishBookingDrill waits for the server to be ready and the reconciler to
// repair the gate, probes for leaked places, then checks every invariant.
func (e *env) finishBookingDrill(ctx context.Context, r *row, sid int64, res *crowdResult) {
	fail := func(format string, args ...any) { r.failures = append(r.failures, fmt.Sprintf(format, args...)) }
	if _, err := e.waitReady(20 * time.Second); err != nil {
		fail("not ready: %v", err)
		return
	}
	if n := r.book.bad5xx() + res.cancel.bad5xx(); n > 0 {
		fail("%d answers were 5xx other than 503", n)
	}
	if ok, why := e.gateAgrees(ctx, sid, 10*e.reconcileEvery); !ok {
		fail("gate still disagrees with MySQL after the reconciler: %s", why)
	}
	got, err := e.topUp(sid)
	if err != nil {
		fail("%v", err)
	}
	if got > 0 {
		r.notes = append(r.notes, fmt.Sprintf("top-up took %d free places", got))
	}
	s, err := e.session(ctx, sid)
	if err != nil {
		fail("read session: %v", err)
		return
	}
	r.booked, r.live = fmt.Sprint(s.Booked), fmt.Sprint(s.Live)
	if s.Booked != s.Capacity {
		fail("session has %d of %d places booked after the top-up: a place leaked", s.Booked, s.Capacity)
	}
	if len(res.unanswered) > 0 {
		var k int
		args := []any{sid}
		q := `SELECT COUNT(*) FROM bookings WHERE session_id = ? AND user_id IN (?` + strings.Repeat(", ?", len(res.unanswered)-1) + `)`
		for _, u := range res.unanswered {
			args = append(args, u)
		}
		if err := e.db.QueryRowContext(ctx, q, args...).Scan(&k); err == nil {
			r.notes = append(r.notes, fmt.Sprintf("%d residents met a fault and got no 201 on retry; %d of them have a booking anyway (committed, answer lost)", len(res.unanswered), k))
		}
	}
	bad, err := e.checkAll(ctx, res.confirmed)
	if err != nil {
		fail("%v", err)
	}
	r.failures = append(r.failures, bad...)
}

// pointsDrill: residents with 25 points each (room for two 10-point rewards)
// redeem three times each from a reward with less stock than that, while Redis
// and then MySQL are cut.
func (e *env) pointsDrill(ctx context.Context, n int, outage, span time.Duration) *row {
	r := &row{name: "5 points, both cut", book: &tally{}}
	fail := func(format string, args ...any) { r.failures = append(r.failures, fmt.Sprintf(format, args...)) }
	const stock = 40
	st, m := e.call("POST", "/api/v1/staff/rewards", e.staff, map[string]any{"name": "演练环保袋", "cost_points": 10, "stock": stock})
	if st != http.StatusCreated {
		fail("create reward: %d %v", st, m)
		return r
	}
	rewardID := int64(m["id"].(float64))
	people := e.residents[:n]
	for _, p := range people {
		if st, m := e.call("POST", "/api/v1/staff/points/adjustments", e.staff, map[string]any{"user_id": p.id, "amount": 25, "reason": "演练"}); st != http.StatusCreated {
			fail("grant points: %d %v", st, m)
			return r
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(span / 5)
		r.notes = append(r.notes, e.cut(e.redisProxy, outage/2, &r.ready))
		r.notes = append(r.notes, e.cut(e.mysqlProxy, outage/2, &r.ready))
	}()
	total := 3 * len(people)
	step := span / time.Duration(total)
	start := time.Now()
	var cw sync.WaitGroup
	for i := range total {
		p := people[i%len(people)]
		cw.Add(1)
		go func() {
			defer cw.Done()
			time.Sleep(time.Until(start.Add(time.Duration(i) * step)))
			st, _ := e.call("POST", "/api/v1/redemptions", p.token, map[string]any{"reward_id": rewardID},
				"Idempotency-Key", fmt.Sprintf("drill-redeem-%d-%d", p.id, i))
			r.book.add(st)
		}()
	}
	cw.Wait()
	wg.Wait()
	if _, err := e.waitReady(20 * time.Second); err != nil {
		fail("not ready: %v", err)
		return r
	}
	if k := r.book.bad5xx(); k > 0 {
		fail("%d answers were 5xx other than 503", k)
	}
	redeemed, bad, err := e.checkRedemptions(ctx, rewardID, stock)
	if err != nil {
		fail("%v", err)
	}
	r.failures = append(r.failures, bad...)
	r.booked, r.live = fmt.Sprintf("%d redeemed", redeemed), fmt.Sprintf("stock %d", stock-redeemed)
	if redeemed != stock {
		r.notes = append(r.notes, fmt.Sprintf("only %d of %d in stock redeemed", redeemed, stock))
	}
	more, err := e.checkAll(ctx, nil)
	if err != nil {
		fail("%v", err)
	}
	r.failures = append(r.failures, more...)
	return r
}

func (r *row) summary() string {
	if r.ok() {
		return "invariants OK; " + strings.Join(r.notes, "; ")
	}
	return "FAIL: " + strings.Join(r.failures, "; ")
}

func printTable(w *os.File, rows []*row) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "drill\trequests\t201\t409\t503\tno answer\tother\tcancels\tbooked\tlive\tready again\tinvariants")
	for _, r := range rows {
		n, desc := r.book.other()
		other := fmt.Sprint(n)
		if desc != "" {
			other += " (" + desc + ")"
		}
		inv := "OK"
		if !r.ok() {
			inv = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", r.name, r.book.total(), r.book.by[201], r.book.by[409],
			r.book.by[503], r.book.by[-1], other, r.cancels, r.booked, r.live, readyCell(r), inv)
	}
	tw.Flush()
	for _, r := range rows {
		if len(r.notes) > 0 {
			fmt.Fprintf(w, "  %s: %s\n", r.name, strings.Join(r.notes, "; "))
		}
		for _, f := range r.failures {
			fmt.Fprintf(w, "  %s FAIL: %s\n", r.name, f)
		}
	}
}

// readyCell is how long /readyz took to answer 200 after the fault ended ("-":
// the drill never took it down).
func readyCell(r *row) string {
	if r.ready == 0 {
		return "-"
	}
	return r.ready.Round(time.Millisecond).String()
}
