package main

// Outbox worker tests: subscribe messages reach the fake WeChat exactly once, with
// trimmed fields, only against a grant, with retries, and safely across crashes
// and several workers. Tests that drive the worker by hand (with a test clock) run
// on a private database so no other app's worker can touch their rows.

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/notify"
	"nantian/models/testdb"
	"nantian/scripts/fakewechat"
)

func newTestClock() *testClock { return &testClock{t: models.SystemClock()} }

// newPrivateDBApp starts apps on a database of their own (migrated, dropped at
// the end). Call the returned function for each instance wanted.
func newPrivateDBApp(t *testing.T, overrides map[string]string) func() *testApp {
	t.Helper()
	ctx := context.Background()
	dsn, drop, err := testdb.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	if err := models.Migrate(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	ov := map[string]string{"MYSQL_DSN": dsn}
	for k, v := range overrides {
		ov[k] = v
	}
	return func() *testApp { return newTestApp(t, ov) }
}

// handWorker is a copy of the app's worker on a test clock.
func handWorker(a *testApp, clock *testClock) *notify.OutboxWorker {
	w := *a.app.outbox
	w.Now = clock.Now
	return &w
}

// notifyUser logs a new resident in and returns token, id and openid.
func notifyUser(a *testApp, base string) (string, int64, string) {
	a.t.Helper()
	name := fmt.Sprintf("%s-%d-%d", base, time.Now().UnixNano()%1e9, codeSeq.Add(1)) // openid fits VARCHAR(64)
	tok, id := a.login(name)
	return tok, id, "openid-" + name
}

// grant records n one-time grants for template through the API: n acceptances,
// since one call counts each template once.
func grant(a *testApp, token, template string, n int) {
	a.t.Helper()
	for range n {
		r := a.do("POST", "/api/v1/me/subscriptions", token, map[string]any{"template_ids": []string{template}})
		if r.Status != http.StatusOK {
			a.t.Fatalf("subscriptions: %d %s", r.Status, r.Body)
		}
	}
}

// enqueue writes an outbox row in its own transaction, as a state change would.
func enqueue(t testing.TB, db *sql.DB, now models.Clock, userID int64, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := models.EnqueueNotification(ctx, tx, now, models.Notification{
		UserID: userID, Event: "booking_confirmed", TemplateKey: models.TemplateBookingResult,
		Page: "pages/bookings/detail?id=1", Data: data,
	}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

type outboxState struct {
	ID            int64
	Status        string
	Attempts      int
	LastError     string
	GrantConsumed bool
	NextAttemptAt time.Time
}

// outboxOf returns the user's outbox rows, oldest first.
func outboxOf(t testing.TB, db *sql.DB, userID int64) []outboxState {
	t.Helper()
	rows, err := db.Query(`SELECT id, status, attempts, last_error, grant_consumed, next_attempt_at FROM outbox WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxState
	for rows.Next() {
		var s outboxState
		if err := rows.Scan(&s.ID, &s.Status, &s.Attempts, &s.LastError, &s.GrantConsumed, &s.NextAttemptAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func onlyRow(t testing.TB, db *sql.DB, userID int64) outboxState {
	t.Helper()
	rows := outboxOf(t, db, userID)
	if len(rows) != 1 {
		t.Fatalf("want 1 outbox row for user %d, have %d", userID, len(rows))
	}
	return rows[0]
}

func remainingGrants(t testing.TB, db *sql.DB, userID int64, template string) int {
	t.Helper()
	var n int
	err := db.QueryRow(`SELECT remaining FROM subscription_grants WHERE user_id = ? AND template_id = ?`, userID, template).Scan(&n)
	if err == sql.ErrNoRows {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sentTo returns the messages the fake WeChat accepted for openid.
func sentTo(openid string) []fakewechat.SentMessage {
	var out []fakewechat.SentMessage
	for _, m := range fakeWX.Sent() {
		if m.ToUser == openid {
			out = append(out, m)
		}
	}
	return out
}

// waitStatus polls until the user's only row has status (the real worker runs).
func waitStatus(t testing.TB, db *sql.DB, userID int64, status string) outboxState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := outboxOf(t, db, userID)
		if len(rows) == 1 && rows[0].Status == status {
			return rows[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox of user %d never reached %s: %+v", userID, status, rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const tplBooking = "tpl-booking-result" // config default for booking_result

var fastWorker = map[string]string{"NOTIFY_POLL_EVERY": "10ms"}

func TestNotifySendsOnceWithTrimmedFields(t *testing.T) {
	a := newTestApp(t, fastWorker)
	tok, uid, openid := notifyUser(a, "notify")
	grant(a, tok, tplBooking, 1)
	title := strings.Repeat("南天社区夜校书法课", 4) // 36 runes
	code := strings.Repeat("A1", 20)        // 40 runes
	enqueue(t, a.app.db, models.SystemClock, uid, map[string]string{
		"thing1":            title,
		"phrase2":           "预约已经确认",
		"character_string3": code,
		"time4":             "2024-03-05 19:00",
	})
	row := waitStatus(t, a.app.db, uid, notify.OutboxSent)
	time.Sleep(100 * time.Millisecond) // ten more polls: nothing more may go out
	msgs := sentTo(openid)
	if len(msgs) != 1 {
		t.Fatalf("want exactly 1 message to %s, got %d", openid, len(msgs))
	}
	m := msgs[0]
	want := map[string]string{
		"thing1":            string([]rune(title)[:19]) + "…",
		"phrase2":           "预约已经确",
		"character_string3": code[:32],
		"time4":             "2024-03-05 19:00",
	}
	for k, v := range want {
		if m.Data[k] != v {
			t.Errorf("%s = %q, want %q", k, m.Data[k], v)
		}
	}
	if m.TemplateID != tplBooking || m.Page != "pages/bookings/detail?id=1" {
		t.Errorf("template %q page %q", m.TemplateID, m.Page)
	}
	if row.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", row.Attempts)
	}
	if n := remainingGrants(t, a.app.db, uid, tplBooking); n != 0 {
		t.Errorf("grant not consumed: remaining %d", n)
	}
}

func TestNotifyWithoutGrantIsSkipped(t *testing.T) {
	a := newTestApp(t, fastWorker)
	tok, uid, openid := notifyUser(a, "nogrant")
	grant(a, tok, "tpl-complaint-update", 1) // a grant for another template does not count
	enqueue(t, a.app.db, models.SystemClock, uid, map[string]string{"thing1": "夜校报名成功"})
	row := waitStatus(t, a.app.db, uid, notify.OutboxSkipped)
	time.Sleep(100 * time.Millisecond)
	if n := len(sentTo(openid)); n != 0 {
		t.Fatalf("sent %d messages without a grant", n)
	}
	if !strings.Contains(row.LastError, "grant") || row.Attempts != 0 {
		t.Errorf("row = %+v", row)
	}
	if n := remainingGrants(t, a.app.db, uid, "tpl-complaint-update"); n != 1 {
		t.Errorf("other template's grant touched: %d", n)
	}
	if s := onlyRow(t, a.app.db, uid); s.Status != notify.OutboxSkipped {
		t.Errorf("skipped row was retried: %+v", s)
	}
}

func TestNotifyWalkInWithoutOpenIDIsSkipped(t *testing.T) {
	a := newTestApp(t, fastWorker)
	now := models.SystemClock()
	res, err := a.app.db.Exec(`INSERT INTO users (role, real_name, created_at, updated_at) VALUES ('resident', '王阿姨', ?, ?)`, now, now)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := res.LastInsertId()
	if _, err := a.app.users.AddSubscriptionGrants(context.Background(), uid, []string{tplBooking}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, a.app.db, models.SystemClock, uid, map[string]string{"thing1": "长者合唱团"})
	row := waitStatus(t, a.app.db, uid, notify.OutboxSkipped)
	if !strings.Contains(row.LastError, "openid") {
		t.Errorf("last_error = %q", row.LastError)
	}
	if n := remainingGrants(t, a.app.db, uid, tplBooking); n != 1 {
		t.Errorf("walk-in's grant consumed: %d", n)
	}
}

func TestNotifyUserRefusedConsumesNothingAndIsNotRetried(t *testing.T) {
	newApp := newPrivateDBApp(t, map[string]string{"NOTIFY_WORKER": "false"})
	a := newApp()
	clock := newTestClock()
	w := handWorker(a, clock)
	tok, uid, openid := notifyUser(a, "refuser")
	grant(a, tok, tplBooking, 1)
	enqueue(t, a.app.db, clock.Now, uid, map[string]string{"thing1": "亲子阅读"})

	fakeWX.FailSends(fakewechat.ErrCodeUserRefused, 1)
	t.Cleanup(func() { fakeWX.FailSends(0, 0) })
	if n, err := w.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	row := onlyRow(t, a.app.db, uid)
	if row.Status != notify.OutboxRefused || row.GrantConsumed || row.Attempts != 1 {
		t.Fatalf("after 43101: %+v", row)
	}
	if n := remainingGrants(t, a.app.db, uid, tplBooking); n != 1 {
		t.Fatalf("43101 consumed the grant: remaining %d", n)
	}
	clock.Advance(48 * time.Hour)
	if n, err := w.RunOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("refused row claimed again: %d, %v", n, err)
	}
	if n := len(sentTo(openid)); n != 0 {
		t.Fatalf("sent %d", n)
	}
}

func TestNotifyRetriesWithBackoffThenSends(t *testing.T) {
	newApp := newPrivateDBApp(t, map[string]string{"NOTIFY_WORKER": "false", "NOTIFY_BACKOFF_BASE": "1m"})
	a := newApp()
	clock := newTestClock()
	w := handWorker(a, clock)
	ctx := context.Background()
	tok, uid, openid := notifyUser(a, "retry")
	grant(a, tok, tplBooking, 1)
	enqueue(t, a.app.db, clock.Now, uid, map[string]string{"thing1": "太极拳"})
	t0 := clock.Now()

	// Attempt 1: WeChat "system busy" (-1).
	fakeWX.FailSends(fakewechat.ErrCodeSystemBusy, 1)
	t.Cleanup(func() { fakeWX.FailSends(0, 0); fakeWX.SetDown(false) })
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	row := onlyRow(t, a.app.db, uid)
	if row.Status != notify.OutboxPending || row.Attempts != 1 || !row.GrantConsumed || row.LastError == "" ||
		!row.NextAttemptAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after -1: %+v (t0 %s)", row, t0)
	}
	// Not due before the backoff has passed.
	clock.Advance(time.Minute - time.Millisecond)
	if n, _ := w.RunOnce(ctx); n != 0 {
		t.Fatalf("claimed %d rows before the backoff ended", n)
	}
	// Attempt 2: WeChat down (HTTP 503); the backoff doubles.
	clock.Advance(time.Millisecond)
	fakeWX.SetDown(true)
	if n, _ := w.RunOnce(ctx); n != 1 {
		t.Fatalf("attempt 2 claimed %d", n)
	}
	fakeWX.SetDown(false)
	row = onlyRow(t, a.app.db, uid)
	if row.Status != notify.OutboxPending || row.Attempts != 2 || !row.NextAttemptAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("after down: %+v", row)
	}
	clock.Advance(2*time.Minute - time.Millisecond)
	if n, _ := w.RunOnce(ctx); n != 0 {
		t.Fatalf("claimed %d rows before the doubled backoff ended", n)
	}
	// Attempt 3 succeeds, on the grant taken at attempt 1 (the user had only one).
	clock.Advance(time.Millisecond)
	if n, _ := w.RunOnce(ctx); n != 1 {
		t.Fatalf("attempt 3 claimed %d", n)
	}
	row = onlyRow(t, a.app.db, uid)
	if row.Status != notify.OutboxSent || row.Attempts != 3 {
		t.Fatalf("after attempt 3: %+v", row)
	}
	if n := len(sentTo(openid)); n != 1 {
		t.Fatalf("want 1 message, got %d", n)
	}
	if n := remainingGrants(t, a.app.db, uid, tplBooking); n != 0 {
		t.Fatalf("remaining %d", n)
	}
}

func TestNotifyGivesUpAfterMaxAttemptsAndReturnsGrant(t *testing.T) {
	newApp := newPrivateDBApp(t, map[string]string{"NOTIFY_WORKER": "false", "NOTIFY_BACKOFF_BASE": "1s", "NOTIFY_MAX_ATTEMPTS": "3"})
	a := newApp()
	clock := newTestClock()
	w := handWorker(a, clock)
	tok, uid, openid := notifyUser(a, "giveup")
	grant(a, tok, tplBooking, 1)
	enqueue(t, a.app.db, clock.Now, uid, map[string]string{"thing1": "义诊"})
	fakeWX.FailSends(fakewechat.ErrCodeSystemBusy, 10)
	t.Cleanup(func() { fakeWX.FailSends(0, 0) })
	for i := 0; i < 5; i++ {
		if _, err := w.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
	}
	row := onlyRow(t, a.app.db, uid)
	if row.Status != notify.OutboxFailed || row.Attempts != 3 || row.GrantConsumed {
		t.Fatalf("row = %+v", row)
	}
	if n := remainingGrants(t, a.app.db, uid, tplBooking); n != 1 {
		t.Fatalf("grant not given back: %d", n)
	}
	if n := len(sentTo(openid)); n != 0 {
		t.Fatalf("sent %d", n)
	}
}

// A worker that claims a row and dies before sending leaves it 'sending'; after
// the lease another worker (the restarted instance) sends it exactly once, on the
// grant the dead one took. The dead claim, should its worker wake up late, sends
// nothing.
func TestNotifyCrashBetweenClaimAndSendSendsOnceAfterRestart(t *testing.T) {
	newApp := newPrivateDBApp(t, map[string]string{"NOTIFY_WORKER": "false", "NOTIFY_LEASE": "30s"})
	a := newApp()
	clock := newTestClock()
	ctx := context.Background()
	tok, uid, openid := notifyUser(a, "crash")
	grant(a, tok, tplBooking, 1)
	enqueue(t, a.app.db, clock.Now, uid, map[string]string{"thing1": "周三夜校"})

	dead := handWorker(a, clock)
	claimed, settled, err := dead.Claim(ctx)
	if err != nil || len(claimed) != 1 || settled != 0 {
		t.Fatalf("claim = %d, %d, %v", len(claimed), settled, err)
	}
	// ... and the process dies here: no send, no outcome.
	if row := onlyRow(t, a.app.db, uid); row.Status != notify.OutboxSending || !row.GrantConsumed {
		t.Fatalf("after claim: %+v", row)
	}
	if n := remainingGrants(t, a.app.db, uid, tplBooking); n != 0 {
		t.Fatalf("claim did not take the grant: %d", n)
	}

	// The restarted instance: a new app on the same database.
	b := newApp()
	restarted := handWorker(b, clock)
	clock.Advance(30*time.Second - time.Millisecond)
	if n, _ := restarted.RunOnce(ctx); n != 0 {
		t.Fatalf("row taken while the lease held: %d", n)
	}
	if n := len(sentTo(openid)); n != 0 {
		t.Fatalf("sent during the lease: %d", n)
	}
	clock.Advance(time.Millisecond)
	if n, _ := restarted.RunOnce(ctx); n != 1 {
		t.Fatalf("lease expired but row not reclaimed: %d", n)
	}
	row := onlyRow(t, a.app.db, uid)
	if row.Status != notify.OutboxSent || row.Attempts != 2 {
		t.Fatalf("after restart: %+v", row)
	}
	// The dead worker's stale claim must neither send nor overwrite.
	dead.Deliver(ctx, claimed[0])
	if n := len(sentTo(openid)); n != 1 {
		t.Fatalf("want exactly 1 message after the crash, got %d", n)
	}
	if n := remainingGrants(t, a.app.db, uid, tplBooking); n != 0 {
		t.Fatalf("remaining %d", n)
	}
	if row := onlyRow(t, a.app.db, uid); row.Status != notify.OutboxSent {
		t.Fatalf("stale claim changed the row: %+v", row)
	}
}

// Two instances (plus extra pollers hammering both) share one outbox while rows
// are being written: every row goes out exactly once.
func TestNotifyTwoWorkersSendEachRowOnce(t *testing.T) {
	const users, perUser = 10, 20
	newApp := newPrivateDBApp(t, map[string]string{"NOTIFY_POLL_EVERY": "5ms", "NOTIFY_BATCH": "7"})
	a, b := newApp(), newApp()
	type u struct {
		id     int64
		openid string
	}
	var us []u
	for i := 0; i < users; i++ {
		tok, id, openid := notifyUser(a, fmt.Sprintf("pair%d", i))
		grant(a, tok, tplBooking, perUser)
		us = append(us, u{id, openid})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pollers sync.WaitGroup
	for i := 0; i < 8; i++ {
		w := a.app.outbox
		if i%2 == 1 {
			w = b.app.outbox
		}
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			for ctx.Err() == nil {
				if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
					t.Errorf("RunOnce: %v", err)
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for i, usr := range us {
		for j := 0; j < perUser; j++ {
			writers.Add(1)
			go func() {
				defer writers.Done()
				enqueue(t, a.app.db, models.SystemClock, usr.id, map[string]string{"character_string1": fmt.Sprintf("u%d-m%d", i, j)})
			}()
		}
	}
	writers.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var sent, other int
		if err := a.app.db.QueryRow(`SELECT COALESCE(SUM(status = 'sent'), 0), COALESCE(SUM(status <> 'sent'), 0) FROM outbox`).Scan(&sent, &other); err != nil {
			t.Fatal(err)
		}
		if sent == users*perUser {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d sent (%d other)", sent, users*perUser, other)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	pollers.Wait()
	for i, usr := range us {
		seen := map[string]int{}
		for _, m := range sentTo(usr.openid) {
			seen[m.Data["character_string1"]]++
		}
		for j := 0; j < perUser; j++ {
			if k := fmt.Sprintf("u%d-m%d", i, j); seen[k] != 1 {
				t.Errorf("%s sent %d times", k, seen[k])
			}
		}
		if len(seen) != perUser {
			t.Errorf("user %d: %d distinct messages", i, len(seen))
		}
		if n := remainingGrants(t, a.app.db, usr.id, tplBooking); n != 0 {
			t.Errorf("user %d: %d grants left", i, n)
		}
	}
	var multi int
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE attempts <> 1`).Scan(&multi); err != nil {
		t.Fatal(err)
	}
	if multi != 0 {
		t.Errorf("%d rows were claimed more than once", multi)
	}
}
