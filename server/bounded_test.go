package main

// Bounded work (issue 15): a client that hangs up is a 499, not a 500, and its
// statement stops on the server; report endpoints are cached and limited per
// staff member; with MYSQL_REPLICA_DSN the reports read the replica.

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/testdb"
)

// likeDB is a database of the test's own with the current schema (CreateLike).
func likeDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	// Migrated, not copied with CREATE TABLE LIKE: the report rollups are kept by
	// triggers (0028, 0029), which LIKE does not copy, and the reports read them.
	dsn, drop, err := testdb.CreateMigrated(context.Background(), models.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

// requestsWithStatus reads http_requests_total for a route and status.
func requestsWithStatus(t *testing.T, a *testApp, route, status string) float64 {
	t.Helper()
	families, err := a.app.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["status"] == status {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// A client that disconnects while its request waits on MySQL: the request is
// logged and counted as 499 (not 500, not an error line), and the statement it
// was waiting on is stopped on the server while the lock it waits for is still
// held.
func TestClientDisconnectIs499AndStopsItsQuery(t *testing.T) {
	dsn, db := likeDB(t)
	var logs testdb.SyncBuffer
	ta := startTestApp(t, testdb.RedisPrefix(), map[string]string{"MYSQL_DSN": dsn}, &logs)
	tok, _ := ta.staff("disconnect-staff")

	ctx := context.Background()
	locker, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	if _, err := locker.ExecContext(ctx, `LOCK TABLES bookings WRITE`); err != nil {
		t.Fatal(err)
	}
	defer locker.ExecContext(ctx, `UNLOCK TABLES`)

	cctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, "GET", ta.URL+"/api/v1/staff/bookings", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the list answered %d while bookings was locked", resp.StatusCode)
	}

	deadline := time.Now().Add(10 * time.Second)
	for requestsWithStatus(t, ta, "/api/v1/staff/bookings", "499") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no 499 counted for the abandoned request; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := requestsWithStatus(t, ta, "/api/v1/staff/bookings", "500"); n != 0 {
		t.Fatalf("the disconnect was also counted as %v 500s", n)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"route":"/api/v1/staff/bookings"`) || (strings.Contains(l, `"msg":"http"`) && strings.Contains(l, `"status":499`)) {
			line = l
		}
	}
	if !strings.Contains(line, `"status":499`) || !strings.Contains(line, `"level":"INFO"`) {
		t.Fatalf("access log line for the abandoned request: %q, want status 499 at INFO; log:\n%s", line, logs.String())
	}

	// The statement waiting for the lock is gone although the lock is still held.
	var name string
	if err := db.QueryRowContext(ctx, `SELECT DATABASE()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second) // milliseconds normally; room for a loaded machine
	for {
		var waiting int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT b.id FROM bookings%'`, name).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the abandoned request's statement still waits on the server 10 s after the client left")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// insertComplaint files a work order directly, received at at.
func insertComplaint(t *testing.T, db *sql.DB, userID int64, at time.Time) {
	t.Helper()
	if _, err := db.Exec(`INSERT INTO complaints (user_id, category, content, estate, status, created_at, cycle_started_at,
		accept_due_at, contact_due_at, resolve_due_at, updated_at) VALUES (?, '噪音扰民', '楼上装修', '南天一花园', 'submitted', ?, ?, ?, ?, ?, ?)`,
		userID, at, at, at.Add(10*time.Minute), at.Add(30*time.Minute), at.Add(24*time.Hour), at); err != nil {
		t.Fatal(err)
	}
}

func insertUser(t *testing.T, db *sql.DB, openid string) int64 {
	t.Helper()
	res, err := db.Exec(`INSERT INTO users (openid, created_at, updated_at) VALUES (?, NOW(3), NOW(3))`, openid)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := res.LastInsertId()
	return id
}

// Report answers are served from the cache for REPORT_CACHE_TTL (a new work
// order does not show until it expires, another question is computed afresh),
// and each staff member gets RATE_REPORT_PER_MIN of them a minute: then 429 in
// the contract's envelope, while a colleague still gets answers.
func TestReportsCachedAndLimitedPerStaff(t *testing.T) {
	dsn, db := likeDB(t)
	ta := newTestApp(t, map[string]string{"MYSQL_DSN": dsn, "REPORT_CACHE_TTL": "30s", "RATE_REPORT_PER_MIN": "3"})
	tok, _ := ta.staff("report-staff")
	other, _ := ta.staff("report-colleague")
	user := insertUser(t, db, "report-filer")
	day := time.Date(2025, 6, 1, 4, 0, 0, 0, time.UTC)
	insertComplaint(t, db, user, day)

	received := func(tok, query string) (int, int) {
		r := ta.do("GET", "/api/v1/staff/complaints/stats"+query, tok, nil)
		if r.Status != http.StatusOK {
			return r.Status, -1
		}
		return r.Status, int(r.JSON(t)["received"].(float64))
	}
	if st, n := received(tok, "?from=2025-01-01&to=2025-12-31"); st != 200 || n != 1 {
		t.Fatalf("first stats: %d received %d, want 200 and 1", st, n)
	}
	insertComplaint(t, db, user, day.Add(time.Hour))
	if st, n := received(tok, "?from=2025-01-01&to=2025-12-31"); st != 200 || n != 1 {
		t.Fatalf("stats again within the TTL: %d received %d, want the cached 1", st, n)
	}
	if st, n := received(tok, "?from=2025-06-01&to=2025-06-30"); st != 200 || n != 2 {
		t.Fatalf("another range: %d received %d, want a fresh 2", st, n)
	}
	r := ta.do("GET", "/api/v1/staff/complaints/stats?from=2025-01-01&to=2025-12-31", tok, nil)
	if r.Status != http.StatusTooManyRequests || r.ErrorCode() != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("4th report in a minute: %d %s (Retry-After %q), want 429 rate_limited", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if st, n := received(other, "?from=2025-01-01&to=2025-12-31"); st != 200 || n != 1 {
		t.Fatalf("a colleague's report: %d received %d, want 200 (own limit) and the cached 1", st, n)
	}
}

// With MYSQL_REPLICA_DSN the report endpoints read the replica's pool and the
// lists the primary's. The "replica" here is a second database holding other
// rows, so which one answered shows in the figures.
func TestReportsReadReplicaWhenSet(t *testing.T) {
	primaryDSN, primary := likeDB(t)
	replicaDSN, replica := likeDB(t)
	for i := 0; i < 3; i++ {
		insertComplaint(t, replica, insertUser(t, replica, fmt.Sprintf("replica-filer-%d", i)), time.Date(2025, 3, 1+i, 4, 0, 0, 0, time.UTC))
	}
	// The deposit statistics and the annual report read the replica too.
	dev, err := replica.Exec(`INSERT INTO devices (estate, name, secret_enc, created_by, created_at, updated_at) VALUES ('南天一花园', '桶', x'00', 1, NOW(3), NOW(3))`)
	if err != nil {
		t.Fatal(err)
	}
	devID, _ := dev.LastInsertId()
	at := time.Date(2025, 3, 1, 4, 0, 0, 0, time.UTC)
	if _, err := replica.Exec(`INSERT INTO bin_deposits (event_id, device_id, user_id, estate, weight_grams, quality, points_awarded, local_day, occurred_at, created_at)
		VALUES ('replica-e1', ?, 1, '南天一花园', 1500, 'ok', 15, '2025-03-01', ?, ?)`, devID, at, at); err != nil {
		t.Fatal(err)
	}
	ta := newTestApp(t, map[string]string{"MYSQL_DSN": primaryDSN, "MYSQL_REPLICA_DSN": replicaDSN})
	tok, _ := ta.staff("replica-staff") // logs in on the primary
	var staffOnReplica int
	if err := replica.QueryRow(`SELECT COUNT(*) FROM users WHERE openid LIKE 'openid-replica-staff%'`).Scan(&staffOnReplica); err != nil || staffOnReplica != 0 {
		t.Fatalf("the login wrote to the replica (%d, %v)", staffOnReplica, err)
	}

	r := ta.do("GET", "/api/v1/staff/complaints/stats?from=2025-01-01&to=2025-12-31", tok, nil)
	if r.Status != http.StatusOK || r.JSON(t)["received"].(float64) != 3 {
		t.Fatalf("complaint stats: %d %.300s, want the replica's 3 work orders", r.Status, r.Body)
	}
	r = ta.do("GET", "/api/v1/staff/reports/annual?year=2025", tok, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"received":3`) {
		t.Fatalf("annual report: %d %.500s, want the replica's 3 work orders received", r.Status, r.Body)
	}
	r = ta.do("GET", "/api/v1/staff/points/stats?from=2025-01-01&to=2025-12-31", tok, nil)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"deposits":1`) {
		t.Fatalf("points stats: %d %.500s, want the replica's one deposit", r.Status, r.Body)
	}
	// The work queue is not a report: it reads the primary, which has none.
	r = ta.do("GET", "/api/v1/staff/complaints", tok, nil)
	if r.Status != http.StatusOK || len(r.JSON(t)["items"].([]any)) != 0 {
		t.Fatalf("complaint list: %d %.300s, want the primary's empty queue", r.Status, r.Body)
	}
	var onPrimary int
	if err := primary.QueryRow(`SELECT COUNT(*) FROM complaints`).Scan(&onPrimary); err != nil || onPrimary != 0 {
		t.Fatalf("primary complaints: %d %v", onPrimary, err)
	}
}

// Statements inside a request's transaction carry MYSQL_TX_STATEMENT_TIMEOUT: a
// booking whose transaction waits on the session's row lock waits while the
// holder is quick, and is stopped by MySQL at the limit when the holder is
// stuck, answering the contract's 503 `unavailable` (no booking made), instead
// of waiting out innodb_lock_wait_timeout past the driver's read timeout.
func TestTxStatementLimitBoundsARequestsLockWait(t *testing.T) {
	a := newTestApp(t, map[string]string{"MYSQL_TX_STATEMENT_TIMEOUT": "1s"})
	staff, _ := a.staff("txlimit-staff")
	first, _ := a.resident("txlimit-first")
	second, _ := a.resident("txlimit-second")
	prog := a.createProgram(staff, map[string]any{"kind": "activity", "title": "锁等待"})
	sess := a.createSession(staff, prog, 48*time.Hour, 10)

	ctx := context.Background()
	holderDB, err := sql.Open("mysql", testDSN) // a plain pool: no limits of the app's
	if err != nil {
		t.Fatal(err)
	}
	defer holderDB.Close()
	// hold locks the session's row for d and returns when it is locked.
	hold := func(d time.Duration) <-chan error {
		locked, done := make(chan struct{}), make(chan error, 1)
		go func() {
			done <- models.InTx(ctx, holderDB, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `SELECT id FROM sessions WHERE id = ? FOR UPDATE`, sess)
				close(locked)
				if err == nil {
					time.Sleep(d)
				}
				return err
			})
		}()
		<-locked
		return done
	}

	held := hold(400 * time.Millisecond)
	start := time.Now()
	wantStatus(t, book(a, first, map[string]any{"session_id": sess}), 201, "")
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("the booking took %s: it did not wait for the session's lock, so this test proves nothing", took)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}

	held = hold(6 * time.Second)
	start = time.Now()
	wantStatus(t, book(a, second, map[string]any{"session_id": sess}), 503, "unavailable")
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("the stuck lock wait answered after %s, want about the 1 s limit", took)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if n := a.liveBookings(sess); n != 1 {
		t.Fatalf("%d live bookings after the stopped one, want 1", n)
	}
}
