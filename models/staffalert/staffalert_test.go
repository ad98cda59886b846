package staffalert

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/complaint"
	"nantian/models/testdb"
)

var testDB *sql.DB

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	ctx := context.Background()
	dsn, drop, err := testdb.CreateMigrated(ctx, models.Migrate)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer drop()
	if testDB, err = models.OpenDB(ctx, dsn); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDB.Close()
	return m.Run()
}

// fakeSender records messages and fails on demand.
type fakeSender struct {
	mu    sync.Mutex
	sent  []string
	fails int
}

func (f *fakeSender) SendMarkdown(_ context.Context, content string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return errors.New("wechat robot send: unavailable")
	}
	f.sent = append(f.sent, content)
	return nil
}

func (f *fakeSender) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

// fixture is the package's database emptied for one test (tests do not run in
// parallel, so counts over a table are this test's alone), with a filer.
type fixture struct {
	t      *testing.T
	db     *sql.DB
	clock  *clock
	sender *fakeSender
	userID int64
}

func newFixture(t *testing.T, start time.Time) *fixture {
	t.Helper()
	db := testDB
	for _, table := range []string{"staff_alerts", "complaint_events", "complaints", "users"} {
		if _, err := db.Exec("DELETE FROM " + table); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{t: t, db: db, clock: &clock{t: start}, sender: &fakeSender{}}
	res, err := db.Exec(`INSERT INTO users (openid, role, created_at, updated_at) VALUES ('openid-filer', 'resident', ?, ?)`, start, start)
	if err != nil {
		t.Fatal(err)
	}
	f.userID, _ = res.LastInsertId()
	return f
}

// alerts builds an Alerts over the fixture, as one instance would.
func (f *fixture) alerts() *Alerts {
	return &Alerts{
		DB: f.db, Sender: f.sender, Now: f.clock.Now, Loc: shanghai,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		AcceptLead: 3 * time.Minute, ContactLead: 10 * time.Minute, ResolveLead: 2 * time.Hour,
		Stale: time.Hour, ConsoleURL: "https://console.example.cn",
		PollEvery: time.Second, Lease: 2 * time.Minute,
		BackoffBase: 30 * time.Second, BackoffMax: 10 * time.Minute, MaxAttempts: 3,
		PerMinute: 1000, Batch: 50,
	}
}

// file inserts a submitted complaint filed at the clock's now with the 10-30-24
// due times, the way the complaint domain stores them.
func (f *fixture) file(content string) int64 {
	f.t.Helper()
	now := f.clock.Now()
	res, err := f.db.Exec(`INSERT INTO complaints (user_id, category, content, estate, location, status, created_at,
		cycle_started_at, accept_due_at, contact_due_at, resolve_due_at, updated_at)
		VALUES (?, '充电难', ?, '南天一花园', '3栋架空层', 'submitted', ?, ?, ?, ?, ?, ?)`,
		f.userID, content, now, now, now.Add(10*time.Minute), now.Add(30*time.Minute), now.Add(24*time.Hour), now)
	if err != nil {
		f.t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

func (f *fixture) setStatus(id int64, status string) {
	f.t.Helper()
	if _, err := f.db.Exec(`UPDATE complaints SET status = ? WHERE id = ?`, status, id); err != nil {
		f.t.Fatal(err)
	}
}

// rows returns "kind:status" of every alert of a complaint, in id order.
func (f *fixture) rows(id int64) []string {
	f.t.Helper()
	rs, err := f.db.Query(`SELECT kind, cycle, status FROM staff_alerts WHERE complaint_id = ? ORDER BY id`, id)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var k, s string
		var c int
		if err := rs.Scan(&k, &c, &s); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%d:%s", k, c, s))
	}
	return out
}

func (f *fixture) run(a *Alerts) {
	f.t.Helper()
	if err := a.RunOnce(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// The whole life of one work order: one message when filed, one per limit shortly
// before it passes, none for a step already done, nothing more however often the
// worker runs — and a new instance (a restart) adds nothing either.
func TestOneMessagePerLimit(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC) // 09:00 in Shanghai
	f := newFixture(t, t0)
	a := f.alerts()
	id := f.file("楼下电动车充电桩坏了三天，电话 138 1234 5678 随时打")

	for range 3 {
		f.run(a)
	}
	msgs := f.sender.messages()
	if len(msgs) != 1 {
		t.Fatalf("after filing: %d messages, want 1: %q", len(msgs), msgs)
	}
	m := msgs[0]
	for _, want := range []string{"新诉求", fmt.Sprintf("第 %d 号", id), "充电难", "南天一花园 · 3栋架空层", "受理时限：09:10（还剩 10 分钟）", "（号码已隐去）",
		fmt.Sprintf("(https://console.example.cn/console/complaints/%d)", id)} {
		if !strings.Contains(m, want) {
			t.Errorf("new-complaint message lacks %q:\n%s", want, m)
		}
	}
	if strings.Contains(m, "5678") {
		t.Errorf("message leaks the phone number:\n%s", m)
	}

	// 6 minutes in: not yet within the accept lead (3 min before 09:10).
	f.clock.Add(6 * time.Minute)
	f.run(a)
	if n := len(f.sender.messages()); n != 1 {
		t.Fatalf("6 min in: %d messages, want 1", n)
	}
	// 8 minutes in: accept limit in 2 minutes.
	f.clock.Add(2 * time.Minute)
	f.run(a)
	f.run(a)
	msgs = f.sender.messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1], "受理即将超时") || !strings.Contains(msgs[1], "还剩 2 分钟") {
		t.Fatalf("8 min in: want the accept alert, got %q", msgs)
	}
	// Staff accept it; the contact limit (09:30) comes within its lead at 09:20.
	f.setStatus(id, complaint.ComplaintAccepted)
	f.clock.Add(13 * time.Minute) // 09:21
	f.run(a)
	msgs = f.sender.messages()
	if len(msgs) != 3 || !strings.Contains(msgs[2], "联系居民即将超时") {
		t.Fatalf("09:21: want the contact alert, got %q", msgs)
	}
	// Contacted; the resolve limit is tomorrow 09:00, alerted from 07:00.
	f.setStatus(id, complaint.ComplaintContacted)
	f.clock.Add(20*time.Hour + 30*time.Minute) // 05:51 next day
	f.run(a)
	if n := len(f.sender.messages()); n != 3 {
		t.Fatalf("05:51 next day: %d messages, want 3", n)
	}
	f.clock.Add(2 * time.Hour) // 07:51
	f.run(a)
	msgs = f.sender.messages()
	if len(msgs) != 4 || !strings.Contains(msgs[3], "办结即将超时") || !strings.Contains(msgs[3], "09:00（还剩 1 小时 9 分钟）") {
		t.Fatalf("07:51: want the resolve alert, got %q", msgs)
	}
	// A restarted instance (fresh Alerts, same database) and more polls add nothing.
	b := f.alerts()
	for range 3 {
		f.run(b)
		f.run(a)
	}
	if n := len(f.sender.messages()); n != 4 {
		t.Fatalf("after restart: %d messages, want 4", n)
	}
	if got, want := f.rows(id), []string{"new/0:sent", "accept/0:sent", "contact/0:sent", "resolve/0:sent"}; !equal(got, want) {
		t.Fatalf("alert rows %v, want %v", got, want)
	}
}

// A step done before its alert's turn came is skipped, not announced; and a step
// done before its lead never gets a row at all.
func TestDoneStepsAreNotAlerted(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	a := f.alerts()
	id := f.file("路灯不亮")
	if _, err := a.Scan(context.Background()); err != nil { // the "new" row exists ...
		t.Fatal(err)
	}
	f.setStatus(id, complaint.ComplaintAccepted) // ... but it was accepted before sending
	f.run(a)
	f.clock.Add(8 * time.Minute) // accept lead: already accepted, so no row
	f.run(a)
	if msgs := f.sender.messages(); len(msgs) != 0 {
		t.Fatalf("messages for done steps: %q", msgs)
	}
	if got, want := f.rows(id), []string{"new/0:skipped"}; !equal(got, want) {
		t.Fatalf("alert rows %v, want %v", got, want)
	}
}

// A reworked order (reopened: a new cycle with new due times) is announced again,
// once, as 退回重办; the earlier cycle's alerts do not repeat.
func TestReworkIsANewCycle(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	a := f.alerts()
	id := f.file("噪音")
	f.run(a)
	f.clock.Add(2 * time.Hour)
	now := f.clock.Now()
	if _, err := f.db.Exec(`UPDATE complaints SET status = 'reopened', reopen_count = 1, cycle_started_at = ?,
		accept_due_at = ?, contact_due_at = ?, resolve_due_at = ? WHERE id = ?`,
		now, now.Add(10*time.Minute), now.Add(30*time.Minute), now.Add(24*time.Hour), id); err != nil {
		t.Fatal(err)
	}
	f.run(a)
	f.run(a)
	msgs := f.sender.messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1], "退回重办") {
		t.Fatalf("want a rework message, got %q", msgs)
	}
	if got, want := f.rows(id), []string{"new/0:sent", "new/1:sent"}; !equal(got, want) {
		t.Fatalf("alert rows %v, want %v", got, want)
	}
}

// Switching alerts on (or coming back from an outage) does not flood the group with
// old news: filings and limits more than Stale ago get no row. A limit that passed
// recently is announced as overdue.
func TestStaleAndOverdue(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	old := f.file("两小时前的诉求")
	f.clock.Add(100 * time.Minute)
	recent := f.file("刚才的诉求")
	f.clock.Add(15 * time.Minute) // recent: accept limit passed 5 minutes ago
	a := f.alerts()
	f.run(a)
	if got := f.rows(old); len(got) != 0 {
		t.Fatalf("stale complaint got alerts %v", got)
	}
	if got, want := f.rows(recent), []string{"new/0:sent", "accept/0:sent"}; !equal(got, want) {
		t.Fatalf("recent complaint alerts %v, want %v", got, want)
	}
	msgs := f.sender.messages()
	if len(msgs) != 2 || !strings.Contains(msgs[1], "受理已超时") || !strings.Contains(msgs[1], "已超时 5 分钟") {
		t.Fatalf("want an overdue accept alert, got %q", msgs)
	}
}

// Failed sends are retried with backoff, then given up; a sender that died while
// sending leaves its row abandoned, never resent.
func TestRetryGiveUpAndAbandon(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	a := f.alerts()
	id := f.file("漏水")
	f.sender.fails = 1
	f.run(a)
	var attempts int
	var next time.Time
	var lastErr string
	if err := f.db.QueryRow(`SELECT attempts, next_attempt_at, last_error FROM staff_alerts WHERE complaint_id = ?`, id).Scan(&attempts, &next, &lastErr); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || !next.Equal(t0.Add(30*time.Second)) || lastErr == "" {
		t.Fatalf("after a failure: attempts %d, next %v, err %q", attempts, next, lastErr)
	}
	f.run(a) // not due yet
	if len(f.sender.messages()) != 0 {
		t.Fatal("retried before the backoff")
	}
	f.clock.Add(30 * time.Second)
	f.run(a)
	if got, want := f.rows(id), []string{"new/0:sent"}; !equal(got, want) || len(f.sender.messages()) != 1 {
		t.Fatalf("after retry: rows %v, messages %d", got, len(f.sender.messages()))
	}

	// Give up after MaxAttempts (3): 30 s, then 60 s backoff.
	id2 := f.file("第二件")
	f.sender.fails = 10
	for _, wait := range []time.Duration{0, 30 * time.Second, time.Minute, 10 * time.Minute} {
		f.clock.Add(wait)
		f.run(a)
	}
	if got := f.rows(id2); len(got) == 0 || got[0] != "new/0:failed" {
		t.Fatalf("after max attempts: %v, want new/0:failed first", got)
	}

	// A row left 'sending' (its sender died) is abandoned after the lease.
	f.sender.fails = 0
	id3 := f.file("第三件")
	if _, err := a.Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Exec(`UPDATE staff_alerts SET status = 'sending', claimed_at = ? WHERE complaint_id = ?`, f.clock.Now(), id3); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)
	f.run(a)
	if got, want := f.rows(id3), []string{"new/0:sending"}; !equal(got, want) {
		t.Fatalf("within the lease: %v, want %v", got, want)
	}
	f.clock.Add(2 * time.Minute)
	f.run(a)
	f.run(a)
	if got, want := f.rows(id3), []string{"new/0:abandoned"}; !equal(got, want) {
		t.Fatalf("past the lease: %v, want %v", got, want)
	}
	for _, m := range f.sender.messages() {
		if (strings.Contains(m, "新诉求") && strings.Contains(m, fmt.Sprintf("第 %d 号\n", id2))) || strings.Contains(m, fmt.Sprintf("第 %d 号\n", id3)) {
			t.Fatalf("a failed or abandoned row was sent:\n%s", m)
		}
	}
}

// PerMinute caps messages across instances; the rest wait for the next minute.
func TestPerMinuteCap(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	a := f.alerts()
	a.PerMinute = 3
	for i := range 5 {
		f.file(fmt.Sprintf("第 %d 件", i))
	}
	f.run(a)
	f.run(a)
	if n := len(f.sender.messages()); n != 3 {
		t.Fatalf("first minute: %d messages, want 3", n)
	}
	f.clock.Add(61 * time.Second)
	f.run(a)
	if n := len(f.sender.messages()); n != 5 {
		t.Fatalf("next minute: %d messages, want 5", n)
	}
}

// Many instances scanning and sending at once — 100 goroutines, each its own
// Alerts over one database — still send exactly one message per complaint per
// limit, checked in MySQL and in what the group received.
func TestConcurrentInstances(t *testing.T) {
	t0 := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	f := newFixture(t, t0)
	const complaints = 40
	ids := make([]int64, complaints)
	for i := range ids {
		ids[i] = f.file(fmt.Sprintf("第 %d 件诉求", i))
	}
	f.clock.Add(8 * time.Minute) // "new" and "accept" both due
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := f.alerts()
			for range 3 {
				if err := a.RunOnce(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f.run(f.alerts()) // whatever a contended round left pending
	var rows, sent int
	if err := f.db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(status = 'sent'), 0) FROM staff_alerts`).Scan(&rows, &sent); err != nil {
		t.Fatal(err)
	}
	if rows != 2*complaints || sent != 2*complaints {
		t.Fatalf("staff_alerts: %d rows, %d sent; want %d of each", rows, sent, 2*complaints)
	}
	per := map[string]int{}
	for _, m := range f.sender.messages() {
		for _, id := range ids {
			if strings.Contains(m, fmt.Sprintf("第 %d 号\n", id)) {
				kind := "new"
				if strings.Contains(m, "即将超时") {
					kind = "accept"
				}
				per[fmt.Sprintf("%d/%s", id, kind)]++
			}
		}
	}
	if len(per) != 2*complaints {
		t.Fatalf("messages cover %d (complaint, limit) pairs, want %d", len(per), 2*complaints)
	}
	for k, n := range per {
		if n != 1 {
			t.Errorf("%s: %d messages", k, n)
		}
	}
}

func TestMessageSafety(t *testing.T) {
	a := &Alerts{Loc: shanghai}
	now := time.Date(2025, 3, 3, 1, 0, 0, 0, time.UTC)
	w := workOrder{complaint.Complaint{ID: 7, Status: complaint.ComplaintSubmitted, Category: "安全隐患", Estate: "南天二花园",
		Location: "**5栋** <font>", Content: "打 +86 139-0013-9000 或 ０７５５８８８８８８８８\n[点我](http://x)", AcceptDueAt: now.Add(10 * time.Minute)}}
	m := a.message(KindNew, w, now)
	for _, bad := range []string{"9000", "８８８８", "**5栋**", "<font>", "[点我]", "\n[", "console/complaints"} {
		if strings.Contains(m, bad) {
			t.Errorf("message contains %q:\n%s", bad, m)
		}
	}
	if !strings.Contains(m, "（号码已隐去）") {
		t.Errorf("phones not masked:\n%s", m)
	}
	w.NeedsReview = true
	if m := a.message(KindNew, w, now); strings.Contains(m, "打") || !strings.Contains(m, "待人工审核") {
		t.Errorf("unreviewed text must not be quoted:\n%s", m)
	}
	// A room number or a short count is not a phone.
	if got := maskPhones("3栋1201室，等了 45 分钟"); got != "3栋1201室，等了 45 分钟" {
		t.Errorf("maskPhones over-masks: %q", got)
	}
	for d, want := range map[time.Duration]string{
		30 * time.Second:  "还剩 1 分钟",
		10 * time.Minute:  "还剩 10 分钟",
		-90 * time.Second: "已超时 1 分钟",
		-3 * time.Hour:    "已超时 3 小时",
		25 * time.Hour:    "还剩 25 小时",
	} {
		if got := remaining(now.Add(d), now); got != want {
			t.Errorf("remaining(%v) = %q, want %q", d, got, want)
		}
	}
}
