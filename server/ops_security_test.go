package main

// The attack review's fixes for what the service believes about a request and
// where it shows its internals (issue 14, item 9): /metrics only on METRICS_ADDR,
// the client IP only from the trusted proxies' one header, X-Request-Id only from
// those proxies, and non-JSON bodies refused on JSON routes.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"nantian/config"
	"nantian/models/testdb"
)

// metricsStatus calls the METRICS_ADDR listener's handler.
func (a *testApp) metricsStatus(method, path string) int {
	w := httptest.NewRecorder()
	a.app.metricsHandler().ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w.Code
}

// metricsPage is GET /metrics on the METRICS_ADDR listener's handler.
func (a *testApp) metricsPage() string {
	a.t.Helper()
	w := httptest.NewRecorder()
	a.app.metricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusOK {
		a.t.Fatalf("metrics: %d", w.Code)
	}
	return w.Body.String()
}

// series returns the value of one exact series line ("name{labels}") or fails.
func series(t *testing.T, page, name string) string {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("metrics lack %s", name)
	return ""
}

func TestMetricsNotOnThePublicListener(t *testing.T) {
	a := newTestApp(t)
	r := a.do("GET", "/metrics", "", nil)
	if r.Status != http.StatusNotFound || r.ErrorCode() != "not_found" {
		t.Fatalf("public GET /metrics: %d %s, want 404 not_found", r.Status, r.Body)
	}
	for _, p := range []string{"/metrics/", "/api/v1/metrics", "/debug/pprof/"} {
		if r := a.do("GET", p, "", nil); r.Status != http.StatusNotFound {
			t.Errorf("public GET %s: %d", p, r.Status)
		}
	}
	// The metrics listener serves /metrics and nothing else (no API, no probes).
	for path, want := range map[string]int{"/metrics": 200, "/healthz": 404, "/api/v1/programs": 404, "/": 404} {
		if got := a.metricsStatus("GET", path); got != want {
			t.Errorf("metrics listener GET %s: %d, want %d", path, got, want)
		}
	}
	if got := a.metricsStatus("POST", "/metrics"); got == http.StatusOK {
		t.Error("metrics listener answers POST /metrics")
	}
}

// TestServeListensForMetricsSeparately runs Serve as `nantian serve` does, with
// two listeners: the API's has no /metrics, the metrics one has it.
func TestServeListensForMetricsSeparately(t *testing.T) {
	a := newServableApp(t)
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, api, metrics) }()
	get := func(ln net.Listener, path string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if s, _ := get(api, "/metrics"); s != http.StatusNotFound {
		t.Errorf("API listener /metrics: %d", s)
	}
	if s, _ := get(api, "/healthz"); s != http.StatusOK {
		t.Errorf("API listener /healthz: %d", s)
	}
	s, body := get(metrics, "/metrics")
	if s != http.StatusOK || !strings.Contains(body, `nantian_dependency_up{dependency="mysql"} 1`) {
		t.Errorf("metrics listener: %d %.300s", s, body)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := http.Get("http://" + metrics.Addr().String() + "/metrics"); err == nil {
		t.Error("metrics listener still open after shutdown")
	}
}

// TestConfigRefusesMetricsOnTheAPIAddress: the same address for both would put
// /metrics back on the public listener.
func TestConfigRefusesMetricsOnTheAPIAddress(t *testing.T) {
	for env, ok := range map[[2]string]bool{
		{":8080", ":8080"}:          false,
		{":8080", "127.0.0.1:9464"}: true,
		{":8080", "off"}:            true,
		{":8080", "9464"}:           false,
	} {
		_, err := config.Load(testEnv(testdb.RedisPrefix(), map[string]string{"HTTP_ADDR": env[0], "METRICS_ADDR": env[1]}))
		if (err == nil) != ok {
			t.Errorf("HTTP_ADDR=%s METRICS_ADDR=%s: err %v", env[0], env[1], err)
		}
	}
}

// TestDependencyUpGauges cuts MySQL and Redis (through TCP proxies) and reads
// nantian_dependency_up, which the MySQLDown and RedisDown alerts use.
func TestDependencyUpGauges(t *testing.T) {
	dsn, err := mysql.ParseDSN(testDSN)
	if err != nil {
		t.Fatal(err)
	}
	mp := startProxy(t, dsn.Addr)
	dsn.Addr = mp.ln.Addr().String()
	rp := startProxy(t, testdb.RedisAddr())
	a := newTestApp(t, map[string]string{"MYSQL_DSN": dsn.FormatDSN(), "REDIS_ADDR": rp.ln.Addr().String(), "NOTIFY_WORKER": "false"})
	up := func(page string) string {
		return series(t, page, `nantian_dependency_up{dependency="mysql"}`) + "/" + series(t, page, `nantian_dependency_up{dependency="redis"}`)
	}
	if got := up(a.metricsPage()); got != "1/1" {
		t.Fatalf("both up: mysql/redis = %s", got)
	}
	rp.cut()
	if got := up(a.metricsPage()); got != "1/0" {
		t.Errorf("Redis cut: mysql/redis = %s, want 1/0", got)
	}
	mp.cut()
	if got := up(a.metricsPage()); got != "0/0" {
		t.Errorf("both cut: mysql/redis = %s, want 0/0", got)
	}
	mp.restore()
	rp.restore()
	deadline := time.Now().Add(5 * time.Second)
	for up(a.metricsPage()) != "1/1" {
		if time.Now().After(deadline) {
			t.Fatalf("after restore: mysql/redis = %s", up(a.metricsPage()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReconcilerRepairsAreCounted: a gate that disagrees with MySQL on two passes
// is rewritten and nantian_reconciler_repairs_total goes up by one, not per pass.
func TestReconcilerRepairsAreCounted(t *testing.T) {
	a := newTestApp(t, map[string]string{"BOOKING_RECONCILE_EVERY": "1h"})
	staff, _ := a.staff("rep")
	pid, sid := a.hotSession(staff, 3, false)
	toks, _ := a.quickResidents(1)
	wantStatus(t, book(a, toks[0], map[string]any{"session_id": sid}), 201, "")
	before := series(t, a.metricsPage(), "nantian_reconciler_repairs_total")
	ctx := context.Background()
	pass := func() {
		t.Helper()
		a.app.rdb.Del(ctx, a.prefix+"bookings:reconciler:lease")
		if err := a.app.bookings.reconciler.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	pass() // nothing drifted: no repair
	if got := series(t, a.metricsPage(), "nantian_reconciler_repairs_total"); got != before {
		t.Fatalf("repairs without drift: %s → %s", before, got)
	}
	members := fmt.Sprintf("%sgate:{p:%d}:s:%d:m", a.prefix, pid, sid)
	if err := a.app.rdb.SAdd(ctx, members, "u999999999").Err(); err != nil { // a ghost holder
		t.Fatal(err)
	}
	pass() // first disagreement: suspected only
	if got := series(t, a.metricsPage(), "nantian_reconciler_repairs_total"); got != before {
		t.Fatalf("repaired on the first pass: %s → %s", before, got)
	}
	pass()
	pass() // repaired on the second; the third finds nothing
	var b, g float64
	fmt.Sscan(before, &b)
	fmt.Sscan(series(t, a.metricsPage(), "nantian_reconciler_repairs_total"), &g)
	if g != b+1 {
		t.Fatalf("repairs %v → %v, want one more", b, g)
	}
	if ok, _ := a.app.rdb.SIsMember(ctx, members, "u999999999").Result(); ok {
		t.Fatal("ghost holder still in the gate")
	}
}

// accessLines returns the access-log lines ("msg":"http") logged so far.
func accessLines(t *testing.T, log *testdb.SyncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "http" {
			out = append(out, m)
		}
	}
	return out
}

// lastAccess sends one request and returns its access-log line.
func lastAccess(t *testing.T, a *testApp, log *testdb.SyncBuffer, headers ...string) (response, map[string]any) {
	t.Helper()
	r := a.do("GET", "/api/v1/programs", "", nil, headers...)
	lines := accessLines(t, log)
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i]["request_id"] == r.Header.Get("X-Request-Id") {
			return r, lines[i]
		}
	}
	t.Fatalf("no access line for request %s", r.Header.Get("X-Request-Id"))
	return r, nil
}

// TestClientIPOnlyFromTheTrustedProxyHeader: X-Real-IP (or any header) sent by a
// client is never its IP; with a trusted proxy only TRUSTED_PROXY_HEADER is read.
func TestClientIPOnlyFromTheTrustedProxyHeader(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		headers []string
		want    string
	}{
		{"no proxy trusted, X-Real-IP", nil, []string{"X-Real-IP", "198.51.100.7"}, "127.0.0.1"},
		{"no proxy trusted, X-Forwarded-For", nil, []string{"X-Forwarded-For", "198.51.100.7"}, "127.0.0.1"},
		{"trusted proxy, client-set X-Real-IP", map[string]string{"TRUSTED_PROXIES": "127.0.0.1"}, []string{"X-Real-IP", "198.51.100.7"}, "127.0.0.1"},
		{"trusted proxy, X-Forwarded-For", map[string]string{"TRUSTED_PROXIES": "127.0.0.1"}, []string{"X-Forwarded-For", "198.51.100.8"}, "198.51.100.8"},
		{"trusted proxy, both headers", map[string]string{"TRUSTED_PROXIES": "127.0.0.0/8"}, []string{"X-Real-IP", "198.51.100.7", "X-Forwarded-For", "198.51.100.8"}, "198.51.100.8"},
		{"header configured to X-Real-IP", map[string]string{"TRUSTED_PROXIES": "127.0.0.1", "TRUSTED_PROXY_HEADER": "X-Real-IP"}, []string{"X-Real-IP", "198.51.100.7", "X-Forwarded-For", "198.51.100.8"}, "198.51.100.7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := &testdb.SyncBuffer{}
			a := startTestApp(t, testdb.RedisPrefix(), tc.env, log)
			_, line := lastAccess(t, a, log, tc.headers...)
			if line["ip"] != tc.want {
				t.Fatalf("access log ip = %v, want %s", line["ip"], tc.want)
			}
		})
	}
}

// TestClientRequestIDOnlyFromTrustedProxies: a client's X-Request-Id is replaced
// by a fresh one (response, access log and audit all carry the fresh one); the
// trusted proxy's is kept.
func TestClientRequestIDOnlyFromTrustedProxies(t *testing.T) {
	log := &testdb.SyncBuffer{}
	a := startTestApp(t, testdb.RedisPrefix(), nil, log)
	r, line := lastAccess(t, a, log, "X-Request-Id", "chosen-by-client-1")
	if id := r.Header.Get("X-Request-Id"); id == "chosen-by-client-1" || len(id) != 24 || line["request_id"] != id {
		t.Fatalf("untrusted client: response id %q, logged %v", id, line["request_id"])
	}
	// A staff action with a chosen id: the audit entry has the fresh id.
	staff, _ := a.staff("rid")
	r = a.do("POST", "/api/v1/staff/programs", staff, map[string]any{"kind": "activity", "title": "审计编号"}, "X-Request-Id", "chosen-by-client-2")
	if r.Status != http.StatusCreated || r.Header.Get("X-Request-Id") == "chosen-by-client-2" {
		t.Fatalf("staff action: %d id %q", r.Status, r.Header.Get("X-Request-Id"))
	}
	var n int
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE request_id = 'chosen-by-client-2'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("audit rows under the client's id: %d (%v)", n, err)
	}
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM audit_log WHERE request_id = ?`, r.Header.Get("X-Request-Id")).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit rows under the fresh id: %d (%v)", n, err)
	}

	log2 := &testdb.SyncBuffer{}
	b := startTestApp(t, testdb.RedisPrefix(), map[string]string{"TRUSTED_PROXIES": "127.0.0.1"}, log2)
	r, line = lastAccess(t, b, log2, "X-Request-Id", "lb-trace-7f3a")
	if r.Header.Get("X-Request-Id") != "lb-trace-7f3a" || line["request_id"] != "lb-trace-7f3a" {
		t.Fatalf("trusted proxy's id not kept: %q / %v", r.Header.Get("X-Request-Id"), line["request_id"])
	}
}

// TestNonJSONBodiesRefused: a body that is not declared JSON is 415
// unsupported_media_type on every kind of JSON route, and nothing changes: no
// program, no profile change, no booking, no audit entry.
func TestNonJSONBodiesRefused(t *testing.T) {
	a := newTestApp(t)
	staff, staffID := a.staff("ct-staff")
	resident, residentID := a.resident("ct-res")
	pid := a.createProgram(staff, map[string]any{"kind": "activity", "title": "类型检查", "requires_approval": false})
	sid := a.createSession(staff, pid, 72*time.Hour, 5)
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := a.app.db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	auditBefore := count(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ?`, staffID)
	cases := []struct {
		method, path, token, ctype, body string
	}{
		{"POST", "/api/v1/staff/programs", staff, "text/plain", `{"kind":"activity","title":"纯文本"}`},
		{"POST", "/api/v1/staff/programs", staff, "application/x-www-form-urlencoded", `kind=activity&title=表单`},
		{"PATCH", fmt.Sprintf("/api/v1/staff/programs/%d", pid), staff, "text/plain; charset=utf-8", `{"title":"改了"}`},
		{"PATCH", "/api/v1/me", resident, "text/plain", `{"nickname":"改了"}`},
		{"POST", "/api/v1/bookings", resident, "text/plain", fmt.Sprintf(`{"session_id":%d}`, sid)},
		{"POST", "/api/v1/auth/wechat", "", "text/plain", `{"code":"x:1"}`},
		{"POST", "/api/v1/devices/deposits", "", "text/plain", `{}`},
	}
	for _, tc := range cases {
		r := a.do(tc.method, tc.path, tc.token, tc.body, "Content-Type", tc.ctype)
		if r.Status != http.StatusUnsupportedMediaType || r.ErrorCode() != "unsupported_media_type" {
			t.Errorf("%s %s as %s: %d %s, want 415 unsupported_media_type", tc.method, tc.path, tc.ctype, r.Status, r.Body)
		}
	}
	if n := count(`SELECT COUNT(*) FROM programs WHERE title IN ('纯文本', '表单', '改了')`); n != 0 {
		t.Errorf("%d programs created or renamed by non-JSON bodies", n)
	}
	if n := count(`SELECT COUNT(*) FROM bookings WHERE user_id = ?`, residentID); n != 0 {
		t.Errorf("%d bookings made by a text/plain body", n)
	}
	if n := count(`SELECT COUNT(*) FROM users WHERE id = ? AND nickname = '改了'`, residentID); n != 0 {
		t.Error("profile changed by a text/plain body")
	}
	if n := count(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ?`, staffID); n != auditBefore {
		t.Errorf("refused requests were audited as actions: %d → %d entries", auditBefore, n)
	}
	// The same bodies as JSON go through; a charset parameter is fine.
	r := a.do("PATCH", "/api/v1/me", resident, `{"nickname":"改了"}`, "Content-Type", "application/json; charset=utf-8")
	if r.Status != http.StatusOK {
		t.Fatalf("JSON with charset: %d %s", r.Status, r.Body)
	}
	// Body-less actions still need no Content-Type.
	bk := book(a, resident, map[string]any{"session_id": sid})
	wantStatus(t, bk, 201, "")
	if r := a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", idOf(t, bk)), resident, nil); r.Status != http.StatusOK {
		t.Fatalf("cancel without a body: %d %s", r.Status, r.Body)
	}
}
