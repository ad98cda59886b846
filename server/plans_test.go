package main

// Plans that cannot rot (issue 15): every staff and admin GET route is called,
// with each of its filters, on a database holding tens of thousands of rows per
// big table — enough that MariaDB's optimizer picks the plan it would pick at
// district size — while a testdb.Recorder captures the SQL the real handlers and
// stores run. Each captured SELECT is EXPLAINed and run under ANALYZE FORMAT=JSON;
// a full scan, a filesort over thousands of rows, a dependent subquery or a
// read of thousands of rows of a big table fails the test, naming the route and
// the query. A new route fails until it has a case here; a new query on an old
// route is covered without anyone listing it.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/config"
	"nantian/models"
	"nantian/models/testdb"
)

// planRows is the size of the big tables. 50k is where the plans the issue saw at
// 1-2M rows already show (the optimizer's choices depend on proportions).
const planRows = 50000

// planCase is how one GET route is called: values for its path parameters
// (filled from planIDs) and the query strings to try.
type planCase struct {
	params  map[string]string
	queries []string
	// pending: the route's queries are known not to scale yet and are being
	// replaced (the reason says by what). The test checks they still have
	// problems, so an entry left behind after the fix fails too.
	pending string
}

// planIDs are rows of the generated data the cases point at.
type planIDs struct {
	session, walkIn, staff int64
	bookingCursor          string
	complaintCursor        string
	residentCursor         string
}

func planCases(ids planIDs) map[string]planCase {
	q := url.QueryEscape
	sid, wid := fmt.Sprint(ids.session), fmt.Sprint(ids.walkIn)
	return map[string]planCase{
		"/api/v1/staff/bookings": {queries: []string{"", "?status=attended", "?status=waitlisted", "?status=pending",
			"?status=confirmed", "?status=expired", "?limit=100", "?cursor=" + ids.bookingCursor, "?status=attended&cursor=" + ids.bookingCursor,
			"?session_id=" + sid, "?session_id=" + sid + "&status=waitlisted"}},
		"/api/v1/staff/sessions/:id/roster.csv": {params: map[string]string{"id": sid}, queries: []string{""}},
		"/api/v1/staff/residents": {queries: []string{"", "?limit=100", "?cursor=" + ids.residentCursor,
			"?name=" + q("王"), "?name=" + q("王1"), "?phone=13800138000"}},
		"/api/v1/staff/residents/:id":          {params: map[string]string{"id": wid}, queries: []string{""}},
		"/api/v1/staff/residents/:id/bookings": {params: map[string]string{"id": wid}, queries: []string{"", "?status=attended"}},
		"/api/v1/staff/complaints": {queries: []string{"", "?status=closed", "?status=submitted", "?overdue=true",
			"?needs_review=true", "?category=" + q("噪音扰民"), "?estate=" + q("南天一花园"),
			"?category=" + q("噪音扰民") + "&estate=" + q("南天一花园"), "?cursor=" + ids.complaintCursor,
			"?overdue=true&estate=" + q("国城花园")}},
		"/api/v1/staff/complaints/stats": {queries: []string{"", "?from=2025-01-01&to=2025-12-31", "?from=2025-03-10&to=2025-05-20"}},
		"/api/v1/staff/devices":          {queries: []string{"", "?estate=" + q("南天一花园")}},
		"/api/v1/staff/rewards":          {queries: []string{""}},
		"/api/v1/staff/redemptions":      {queries: []string{"", "?status=pending", "?status=fulfilled"}},
		"/api/v1/staff/points/stats":     {queries: []string{"", "?from=2025-01-01&to=2025-12-31"}},
		"/api/v1/staff/reports/annual":   {queries: []string{"?year=2025"}},
		// Without a merchant (this app has none) the payment lists answer empty
		// without SQL; payments_test.go runs them against the fake pay server.
		"/api/v1/staff/payments":         {queries: []string{"", "?status=paid"}},
		"/api/v1/staff/payments/summary": {queries: []string{""}},
		"/api/v1/staff/payments.csv":     {queries: []string{""}},
		"/api/v1/admin/audit": {queries: []string{"", "?actor_id=" + fmt.Sprint(ids.staff), "?action=" + q("checkins"),
			"?from=" + q(time.Now().Add(-24*time.Hour).Format(time.RFC3339))}},
	}
}

func TestStaffListPlans(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := testdb.CreateLike(ctx, testDSN, "estates", "schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	planDB, err := testdb.OpenPlanDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { planDB.Close() })
	start := time.Now()
	fillPlanData(t, planDB)
	t.Logf("generated the plan data in %s", time.Since(start).Round(time.Millisecond))

	rec := &testdb.Recorder{}
	ta := startBareApp(t, dsn, rec.Wrap)
	staffTok, staffID := ta.staff("plan-admin", models.RoleAdmin)
	ids := pickPlanIDs(t, planDB)
	ids.staff = staffID
	sizes, err := testdb.TableSizes(ctx, planDB)
	if err != nil {
		t.Fatal(err)
	}
	checkPlans(t, ta, planDB, rec, staffTok, planCases(ids), sizes)
}

// checkPlans calls every case and checks the plan of every SELECT it ran.
func checkPlans(t *testing.T, ta *testApp, planDB *sql.DB, rec *testdb.Recorder, tok string, cases map[string]planCase, sizes map[string]int64) {
	t.Helper()
	ctx := context.Background()
	engine, ok := ta.app.handler.(*gin.Engine)
	if !ok {
		t.Fatalf("app handler is %T, not the gin engine", ta.app.handler)
	}
	for _, r := range engine.Routes() {
		if r.Method == http.MethodGet && (strings.HasPrefix(r.Path, "/api/v1/staff/") || strings.HasPrefix(r.Path, "/api/v1/admin/")) {
			if _, ok := cases[r.Path]; !ok {
				t.Errorf("GET %s has no case in planCases (plans_test.go): add it with its filters so its queries are EXPLAINed", r.Path)
			}
		}
	}
	paths := make([]string, 0, len(cases))
	for p := range cases {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	checked := 0
	for _, path := range paths {
		pc := cases[path]
		target := path
		for k, v := range pc.params {
			target = strings.ReplaceAll(target, ":"+k, v)
		}
		troubled := false
		for _, query := range pc.queries {
			rec.Start()
			r := ta.do("GET", target+query, tok, nil)
			stmts := rec.Stop()
			if r.Status == http.StatusServiceUnavailable && pc.pending != "" {
				// A scan over the whole table ran past MYSQL_STATEMENT_TIMEOUT
				// (a loaded machine): the symptom the pending fix removes.
				troubled = true
				t.Logf("pending (%s): GET %s%s: 503 (statement limit)", pc.pending, target, query)
				continue
			}
			if r.Status != http.StatusOK {
				t.Errorf("GET %s%s: %d %.300s", target, query, r.Status, r.Body)
				continue
			}
			seen := map[string]bool{}
			for _, st := range stmts {
				if !testdb.IsRead(st.Query) || seen[st.Query] {
					continue
				}
				seen[st.Query] = true
				problems, err := testdb.PlanProblems(ctx, planDB, st, testdb.PlanRules{}, sizes)
				if err != nil {
					t.Errorf("GET %s%s: %v\n    query: %s", target, query, err, oneLine(st.Query))
					continue
				}
				checked++
				if len(problems) == 0 {
					continue
				}
				troubled = true
				if pc.pending != "" {
					t.Logf("pending (%s): GET %s%s: %s\n    query: %s", pc.pending, target, query, strings.Join(problems, "; "), oneLine(st.Query))
					continue
				}
				t.Errorf("GET %s%s: %s\n    query: %s", target, query, strings.Join(problems, "; "), oneLine(st.Query))
			}
		}
		if pc.pending != "" && !troubled {
			t.Errorf("GET %s is marked pending (%s) but all its queries now pass: remove the pending mark in planCases", path, pc.pending)
		}
	}
	t.Logf("checked %d distinct queries over %d routes", checked, len(paths))
}

// oneLine squeezes a query's whitespace for the failure message.
func oneLine(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 600 {
		q = q[:600] + "…"
	}
	return q
}

// startBareApp starts an app on dsn without its background workers (so what the
// recorder captures is the request's SQL only), with the MySQL pools' connectors
// wrapped by wrap.
func startBareApp(t *testing.T, dsn string, wrap func(driver.Connector) driver.Connector, overrides ...map[string]string) *testApp {
	t.Helper()
	prefix := testdb.RedisPrefix()
	ov := map[string]string{"MYSQL_DSN": dsn}
	for _, o := range overrides {
		for k, v := range o {
			ov[k] = v
		}
	}
	cfg, err := config.Load(testEnv(prefix, ov))
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAppWith(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), appOptions{wrapDB: wrap})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		srv.Close()
		_ = testdb.DeletePrefix(context.Background(), a.rdb, prefix)
		a.Close()
	})
	return &testApp{t: t, app: a, srv: srv, URL: srv.URL, prefix: prefix}
}

// estatesSQL picks one of the five seeded estates by n.
const estatesSQL = `ELT(1 + %s %% 5, '南天一花园', '南天二花园', '百花园一期', '百花园二期', '国城花园')`

func estateOf(n string) string { return fmt.Sprintf(estatesSQL, n) }

// fillPlanData bulk-loads valid rows with INSERT ... SELECT over MariaDB's
// sequence engine (seq_1_to_N): a few seconds for the whole set. Ids start at 1
// in the fresh database, so rows refer to each other by arithmetic. Three years
// of history end now; about 2% of work orders are still open, as in a district
// whose staff keep up.
func fillPlanData(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	n := planRows
	stmts := []string{
		// 40k residents (ids 1..40000), 5k walk-ins (40001..45000), 2k merged walk-in tombstones.
		fmt.Sprintf(`INSERT INTO users (openid, role, nickname, real_name, estate, building, room, created_at, updated_at)
			SELECT CONCAT('plan-o', seq), 'resident', CONCAT('居民', seq), CONCAT(ELT(1 + seq %% 5, '王', '李', '张', '刘', '陈'), seq),
			%s, CONCAT(1 + seq %% 20, '栋'), CONCAT(100 + seq %% 30), NOW(3) - INTERVAL (seq %% 1000) DAY, NOW(3) FROM seq_1_to_40000`, estateOf("seq")),
		fmt.Sprintf(`INSERT INTO users (openid, role, real_name, estate, building, room, walkin_phone, created_by, created_at, updated_at)
			SELECT NULL, 'resident', CONCAT(ELT(1 + seq %% 5, '王', '李', '张', '刘', '陈'), 'w', seq), %s, '1栋', '101',
			UNHEX(SHA2(CONCAT('plan-walkin-', seq), 256)), 1, NOW(3) - INTERVAL (seq %% 900) DAY, NOW(3) FROM seq_1_to_5000`, estateOf("seq")),
		`INSERT INTO users (openid, role, real_name, merged_into, merged_at, created_at, updated_at)
			SELECT NULL, 'resident', CONCAT('并', seq), seq, NOW(3), NOW(3) - INTERVAL 400 DAY, NOW(3) FROM seq_1_to_2000`,
		`INSERT INTO programs (kind, title, description, category, audience, venue, fee_fen, requires_approval, status, created_at, updated_at)
			SELECT ELT(1 + seq % 3, 'night_school', 'childcare', 'activity'), CONCAT('课程', seq), '', '', 'all', '党群服务中心', 0, seq % 4 = 0,
			'active', NOW(3) - INTERVAL 1100 DAY, NOW(3) FROM seq_1_to_40`,
		// 3,000 sessions over ~1000 days, one every 8 hours, 20 bookings each.
		`INSERT INTO sessions (program_id, starts_at, ends_at, venue, capacity, booked, waitlisted, status, created_at, updated_at)
			SELECT 1 + seq % 40, NOW(3) - INTERVAL 1000 DAY + INTERVAL seq * 8 HOUR, NOW(3) - INTERVAL 1000 DAY + INTERVAL seq * 8 + 2 HOUR,
			'', 30, 14, 1, 'open', NOW(3) - INTERVAL 1100 DAY, NOW(3) FROM seq_1_to_3000`,
		fmt.Sprintf(`INSERT INTO bookings (session_id, program_id, user_id, participant, live_participant, status, code, created_at, updated_at)
			SELECT b.sid, 1 + b.sid %% 40, b.uid, CONCAT('u', b.uid), IF(b.st IN ('waitlisted','pending','confirmed','attended'), CONCAT('u', b.uid), NULL),
			b.st, CONCAT('P', LPAD(b.seq, 9, '0')), NOW(3) - INTERVAL 1000 DAY + INTERVAL b.sid * 8 HOUR - INTERVAL 48 HOUR, NOW(3)
			FROM (SELECT seq, 1 + (seq - 1) DIV 20 AS sid, 1 + (seq * 7919) %% 40000 AS uid,
				CASE WHEN seq %% 100 < 55 THEN 'attended' WHEN seq %% 100 < 70 THEN 'cancelled' WHEN seq %% 100 < 80 THEN 'confirmed'
				WHEN seq %% 100 < 86 THEN 'waitlisted' WHEN seq %% 100 < 91 THEN 'no_show' WHEN seq %% 100 < 95 THEN 'pending'
				WHEN seq %% 100 < 98 THEN 'rejected' ELSE 'expired' END AS st FROM seq_1_to_%d) b`, 60000),
		// Work orders, one every ~30 minutes for three years; 2% still open, 0.2%
		// held for review (rare, as in a district: walking the primary key for a
		// page of them reads ~10,000 rows, which the test must see).
		fmt.Sprintf(`INSERT INTO complaints (user_id, category, content, estate, location, status, needs_review, created_at, cycle_started_at,
			accept_due_at, contact_due_at, resolve_due_at, accepted_at, contacted_at, resolved_at, closed_at, resolution, updated_at)
			SELECT 1 + seq %% 40000, ELT(1 + seq %% 9, '物业管理', '充电难', '房屋漏水', '噪音扰民', '环境卫生', '公共设施', '邻里纠纷', '安全隐患', '其他'),
			'内容', %s, '', c.st, seq %% 499 = 0, c.at, c.at, c.at + INTERVAL 10 MINUTE, c.at + INTERVAL 30 MINUTE, c.at + INTERVAL 24 HOUR,
			IF(c.st = 'submitted', NULL, c.at + INTERVAL 5 MINUTE), IF(c.st IN ('submitted', 'accepted'), NULL, c.at + INTERVAL 20 MINUTE),
			IF(c.st IN ('resolved', 'closed'), c.at + INTERVAL 5 HOUR, NULL), IF(c.st = 'closed', c.at + INTERVAL 3 DAY, NULL), '已处理', NOW(3)
			FROM (SELECT seq, NOW(3) - INTERVAL (%d - seq) * 30 MINUTE AS at,
				CASE WHEN seq %% 100 < 61 THEN 'closed' WHEN seq %% 100 < 98 THEN 'resolved' WHEN seq %% 100 < 99 THEN 'submitted' ELSE 'accepted' END AS st
				FROM seq_1_to_%d) c`, estateOf("seq"), n, n),
		fmt.Sprintf(`INSERT INTO devices (estate, name, secret_enc, status, created_by, created_at, updated_at)
			SELECT %s, CONCAT('智能桶', seq), UNHEX(REPEAT('00', 40)), 'active', 1, NOW(3) - INTERVAL 1000 DAY, NOW(3) FROM seq_1_to_20`, estateOf("seq")),
		fmt.Sprintf(`INSERT INTO bin_deposits (event_id, device_id, user_id, estate, weight_grams, quality, points_awarded, local_day, occurred_at, created_at)
			SELECT CONCAT('plan-e', seq), 1 + seq %% 20, 1 + seq %% 40000, %s, 500, 'ok', 5, DATE(d.at), d.at, d.at
			FROM (SELECT seq, NOW(3) - INTERVAL (%d - seq) * 30 MINUTE AS at FROM seq_1_to_%d) d`, estateOf("(1 + seq % 20)"), n, n),
		fmt.Sprintf(`INSERT INTO points_ledger (user_id, kind, amount, balance_after, source_id, expires_at, reason, created_at)
			SELECT 1 + seq %% 40000, 'earn', 5, 5, seq, NOW(3) + INTERVAL 300 DAY, '', NOW(3) - INTERVAL (%d - seq) * 30 MINUTE FROM seq_1_to_%d`, n, n),
		`INSERT INTO rewards (name, description, cost_points, stock, active, created_at, updated_at)
			SELECT CONCAT('奖品', seq), '', 10 * seq, 100, 1, NOW(3) - INTERVAL 900 DAY, NOW(3) FROM seq_1_to_10`,
		`INSERT INTO redemptions (user_id, reward_id, cost_points, status, pickup_code, pickup_by, created_at, fulfilled_at)
			SELECT 1 + seq % 40000, 1 + seq % 10, 10, ELT(1 + seq % 20, 'pending', 'cancelled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled',
			'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled',
			'fulfilled', 'fulfilled', 'fulfilled', 'cancelled'), CONCAT('P', REPLACE(REPLACE(LPAD(seq, 7, '0'), '0', 'Z'), '1', 'Y')), NOW(3) + INTERVAL 30 DAY, NOW(3) - INTERVAL (20000 - seq) HOUR, NULL
			FROM seq_1_to_20000`,
		fmt.Sprintf(`INSERT INTO audit_log (actor_id, actor_role, door, action, target, status, request_id, ip, created_at)
			SELECT 1 + seq %% 50, 'staff', 'api', ELT(1 + seq %% 4, 'POST /api/v1/staff/checkins', 'POST /api/v1/staff/complaints/:id/accept',
			'PATCH /api/v1/staff/sessions/:id', 'GET /api/v1/staff/residents/:id'), CONCAT('id=', seq), 200, CONCAT('r', seq), '127.0.0.1',
			NOW(3) - INTERVAL (%d - seq) * 30 MINUTE FROM seq_1_to_%d`, n, n),
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The keys are known unique and there are no foreign keys in a CreateLike
	// copy: skip the checks, and keep the load to seconds.
	if _, err := conn.ExecContext(ctx, `SET SESSION unique_checks = 0, foreign_key_checks = 0`); err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		start := time.Now()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("generate plan data: %v\n%s", err, oneLine(q))
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Logf("slow generation (%s): %.80s", d.Round(time.Millisecond), oneLine(q))
		}
	}
	var residents, first int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(id) FROM users WHERE openid LIKE 'plan-o%'`).Scan(&residents, &first); err != nil || residents != 40000 || first != 1 {
		t.Fatalf("generated residents: %d from id %d (%v); the rows refer to ids 1..40000", residents, first, err)
	}
	for _, tbl := range []string{"users", "programs", "sessions", "bookings", "complaints", "devices", "bin_deposits", "points_ledger", "rewards", "redemptions", "audit_log"} {
		if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+tbl); err != nil {
			t.Fatalf("analyze %s: %v", tbl, err)
		}
	}
}

// pickPlanIDs finds the rows the cases point at.
func pickPlanIDs(t *testing.T, db *sql.DB) planIDs {
	t.Helper()
	ctx := context.Background()
	var ids planIDs
	if err := db.QueryRowContext(ctx, `SELECT session_id FROM bookings WHERE status = 'waitlisted' ORDER BY id DESC LIMIT 1`).Scan(&ids.session); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT id FROM users WHERE walkin_phone IS NOT NULL ORDER BY id LIMIT 1 OFFSET 2500`).Scan(&ids.walkIn); err != nil {
		t.Fatal(err)
	}
	ids.bookingCursor = models.EncodeCursor(30000)
	ids.complaintCursor = models.EncodeCursor(10000) // an old page: newest first, ids below 10000
	ids.residentCursor = models.EncodeCursor(ids.walkIn)
	return ids
}
