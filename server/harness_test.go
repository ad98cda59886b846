package main

// The test harness: every API test runs the real app (router, stores, workers)
// in-process against a throwaway MariaDB database, a unique Redis key prefix and the
// fake WeChat server, and checks every response against openapi.yaml.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"nantian"
	"nantian/config"
	"nantian/models"
	"nantian/models/testdb"
	"nantian/scripts/fakewechat"
)

// Shared by every test in the package (set up once in TestMain).
var (
	testDSN    string
	fakeWX     *fakewechat.Server
	fakeWXURL  string
	specRouter routers.Router
	codeSeq    atomic.Int64
)

const (
	testAppID  = "wxtestappid"
	testSecret = "test-wechat-secret-value"
)

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
	testDSN = dsn
	fakeWX = fakewechat.New(fakewechat.Options{AppID: testAppID, Secret: testSecret})
	ts := httptest.NewServer(fakeWX)
	defer ts.Close()
	fakeWXURL = ts.URL

	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(nantian.OpenAPI)
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi.yaml:", err)
		return 1
	}
	if err := doc.Validate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "openapi.yaml invalid:", err)
		return 1
	}
	doc.Servers = nil
	if specRouter, err = gorillamux.NewRouter(doc); err != nil {
		fmt.Fprintln(os.Stderr, "openapi router:", err)
		return 1
	}
	defer stopConsoleHarness()
	return m.Run()
}

// testEnv builds the environment for an app; tests override entries.
func testEnv(prefix string, overrides map[string]string) func(string) string {
	env := map[string]string{
		"APP_ENV":          "test",
		"MYSQL_DSN":        testDSN,
		"REDIS_ADDR":       testdb.RedisAddr(),
		"REDIS_KEY_PREFIX": prefix,
		"JWT_SECRET":       "test-jwt-secret-at-least-32-bytes-long!!",
		"WECHAT_APPID":     testAppID,
		"WECHAT_SECRET":    testSecret,
		"WECHAT_API_BASE":  fakeWXURL,
		"UPLOAD_DIR":       os.TempDir(),
		// Tests fire many requests per user from one address; the limits
		// themselves are tested with low values in ratelimit_test.go.
		"RATE_LOGIN_REFUSED_PER_MIN":    "100000",
		"RATE_LOGIN_PER_OPENID_PER_MIN": "100000",
		"RATE_BOOKING_PER_MIN":          "100000",
		"RATE_COMPLAINT_PER_MIN":        "100000",
		"RATE_DEVICE_PER_MIN":           "100000",
		"RATE_SUBSCRIPTION_PER_MIN":     "100000",
		"RATE_REPORT_PER_MIN":           "100000",
		// Report answers are cached for 30 s in production; tests change data
		// and read the figures again at once (reportcache_test.go turns it on).
		"REPORT_CACHE_TTL": "0",
	}
	for k, v := range overrides {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// testApp is one running instance of the service.
type testApp struct {
	t      *testing.T
	app    *app
	srv    *httptest.Server
	URL    string
	prefix string
}

// newTestApp starts an app with its own Redis prefix (shared database). Pass
// env overrides such as {"BOOKING_GATE": "false"}.
func newTestApp(t *testing.T, overrides ...map[string]string) *testApp {
	t.Helper()
	prefix := testdb.RedisPrefix()
	var ov map[string]string
	if len(overrides) > 0 {
		ov = overrides[0]
	}
	return newTestAppWithPrefix(t, prefix, ov)
}

// newIsolatedTestApp starts an app on a database of its own, for tests that check
// figures over a whole table (statistics, lookups by a fixed phone number): on the
// package's shared database another test's rows — or this test's own from an
// earlier `go test -count=N` round — would fall into them.
func newIsolatedTestApp(t *testing.T, overrides ...map[string]string) *testApp {
	t.Helper()
	dsn, drop, err := testdb.CreateMigrated(context.Background(), models.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	ov := map[string]string{"MYSQL_DSN": dsn}
	if len(overrides) > 0 {
		for k, v := range overrides[0] {
			ov[k] = v
		}
	}
	return newTestApp(t, ov)
}

// newTestAppWithPrefix starts an app on a given Redis prefix, so two apps can act
// as two replicas of one deployment.
func newTestAppWithPrefix(t *testing.T, prefix string, overrides map[string]string) *testApp {
	t.Helper()
	return startTestApp(t, prefix, overrides, nil)
}

// startTestApp starts an app; logs go to logTo when given (else nowhere, or stderr
// with TEST_LOG=1). Without logTo the app's warnings and errors are kept and
// printed when the test fails: a 500 in a crowd of a loaded CI run is otherwise a
// status with no cause, and such runs are not repeatable on demand.
func startTestApp(t *testing.T, prefix string, overrides map[string]string, logTo io.Writer) *testApp {
	t.Helper()
	var kept *testdb.SyncBuffer
	if logTo == nil && os.Getenv("TEST_LOG") == "" {
		kept = &testdb.SyncBuffer{}
		logTo = kept
	}
	ta, stop, err := launchApp(prefix, overrides, logTo)
	if err != nil {
		t.Fatal(err)
	}
	ta.t = t
	t.Cleanup(stop)
	if kept != nil {
		t.Cleanup(func() {
			if t.Failed() {
				printWarnings(t, kept.String())
			}
		})
	}
	return ta
}

// printWarnings logs the WARN and ERROR lines of an app's JSON log (the last 40).
func printWarnings(t *testing.T, log string) {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, `"level":"WARN"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	for _, l := range lines {
		t.Log("server:", l)
	}
}

// launchApp starts an app and returns it with the function that stops it; the
// console's browser tests share one app across tests this way.
func launchApp(prefix string, overrides map[string]string, logTo io.Writer) (*testApp, func(), error) {
	// The server's address is known before the config is loaded, so a fake pay
	// server can be told to notify it (WECHATPAY_NOTIFY_BASE "self").
	srv := httptest.NewUnstartedServer(nil)
	if overrides["WECHATPAY_NOTIFY_BASE"] == "self" {
		overrides["WECHATPAY_NOTIFY_BASE"] = "http://" + srv.Listener.Addr().String()
	}
	cfg, err := config.Load(testEnv(prefix, overrides))
	if err != nil {
		srv.Close()
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if os.Getenv("TEST_LOG") != "" {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if logTo != nil {
		logger = slog.New(slog.NewJSONHandler(logTo, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newApp(ctx, cfg, logger)
	if err != nil {
		cancel()
		srv.Close()
		return nil, nil, fmt.Errorf("newApp: %w", err)
	}
	done := a.startWorkers(ctx)
	srv.Config.Handler = a.handler
	srv.Start()
	ta := &testApp{app: a, srv: srv, URL: srv.URL, prefix: prefix}
	stop := func() {
		srv.Close()
		cancel()
		<-done
		_ = testdb.DeletePrefix(context.Background(), a.rdb, prefix)
		a.Close()
	}
	return ta, stop, nil
}

// response is a decoded API answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Decode decodes the body into v.
func (r response) Decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode body: %v: %s", err, r.Body)
	}
}

// ErrorCode returns error.code of an error envelope ("" if not an envelope).
func (r response) ErrorCode() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// do sends a request. body may be nil, a string or []byte (sent as is) or any
// value (sent as JSON). Every response is checked against openapi.yaml.
func (a *testApp) do(method, path, token string, body any, headers ...string) response {
	a.t.Helper()
	return doRequest(a.t, a.URL, method, path, token, body, headers...)
}

func doRequest(t testing.TB, base, method, path, token string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatalf("marshal: %v", err)
		}
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := response{Status: res.StatusCode, Header: res.Header, Body: out}
	if r.Header.Get("X-Request-Id") == "" {
		t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	checkSpec(t, req, r)
	checkLocalTimes(t, method, path, r)
	return r
}

// checkSpec validates a response against openapi.yaml: the route must be
// documented and the body must match the schema for its status.
func checkSpec(t testing.TB, req *http.Request, r response) {
	t.Helper()
	if r.Status == http.StatusNotFound && strings.Contains(string(r.Body), `"接口不存在"`) {
		return // the router's own 404 for an undocumented path is the point of such tests
	}
	if r.Status == http.StatusMethodNotAllowed {
		return
	}
	u := *req.URL
	vreq, _ := http.NewRequest(req.Method, u.String(), nil)
	vreq.Header = req.Header.Clone()
	route, params, err := specRouter.FindRoute(vreq)
	if err != nil {
		t.Errorf("%s %s: not in openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: r.Status,
		Header: r.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	in.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		msg := err.Error()
		if len(msg) > 1500 {
			msg = msg[:1500]
		}
		t.Errorf("%s %s -> %d does not match openapi.yaml: %s\nbody: %.500s", req.Method, req.URL.Path, r.Status, msg, r.Body)
	}
}

// login signs a new user in through the fake WeChat and returns the access token
// and the user id. name picks the openid ("openid-"+name).
func (a *testApp) login(name string) (string, int64) {
	a.t.Helper()
	pair := a.loginPair(name)
	return pair.AccessToken, pair.UserID
}

type loginResult struct {
	AccessToken  string
	RefreshToken string
	UserID       int64
}

func (a *testApp) loginPair(name string) loginResult {
	a.t.Helper()
	code := fmt.Sprintf("%s:%d", name, codeSeq.Add(1))
	r := a.do("POST", "/api/v1/auth/wechat", "", map[string]string{"code": code})
	if r.Status != http.StatusOK {
		a.t.Fatalf("login %s: %d %s", name, r.Status, r.Body)
	}
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		User         struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	r.Decode(a.t, &out)
	return loginResult{out.AccessToken, out.RefreshToken, out.User.ID}
}

// uniqueName makes an openid-safe unique user name for this test.
func uniqueName(t testing.TB, base string) string {
	return fmt.Sprintf("%s-%x-%d", base, time.Now().UnixNano()%1e9, codeSeq.Add(1))
}

// resident logs in a new resident.
func (a *testApp) resident(base string) (string, int64) {
	a.t.Helper()
	return a.login(uniqueName(a.t, base))
}

// staff logs in a new user and makes them staff (or admin) directly in the store.
func (a *testApp) staff(base string, role ...string) (string, int64) {
	a.t.Helper()
	r := models.RoleStaff
	if len(role) > 0 {
		r = role[0]
	}
	tok, id := a.resident(base)
	if _, err := a.app.users.SetRole(context.Background(), id, r); err != nil {
		a.t.Fatalf("set role: %v", err)
	}
	a.app.authCache.InvalidateUser(context.Background(), id)
	return tok, id
}

// createProgram makes a program through the staff API and returns its id.
func (a *testApp) createProgram(staffToken string, body map[string]any) int64 {
	a.t.Helper()
	r := a.do("POST", "/api/v1/staff/programs", staffToken, body)
	if r.Status != http.StatusCreated {
		a.t.Fatalf("create program: %d %s", r.Status, r.Body)
	}
	return int64(r.JSON(a.t)["id"].(float64))
}

// createSession makes a session through the staff API and returns its id.
func (a *testApp) createSession(staffToken string, programID int64, startsIn time.Duration, capacity int) int64 {
	a.t.Helper()
	start := time.Now().Add(startsIn).Truncate(time.Second)
	r := a.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", programID), staffToken, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(2 * time.Hour).Format(time.RFC3339),
		"venue": "党群服务中心", "capacity": capacity,
	})
	if r.Status != http.StatusCreated {
		a.t.Fatalf("create session: %d %s", r.Status, r.Body)
	}
	return int64(r.JSON(a.t)["id"].(float64))
}

// testClock is a settable clock for stores and workers driven by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

// Now reads the clock.
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t (UTC, millisecond precision like the columns).
func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t.UTC().Truncate(time.Millisecond)
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
