package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"nantian/models"
	"nantian/models/account"
	"nantian/scripts/fakepay"
	"nantian/scripts/fakewechat"
)

// jwtSecret is shared by the server child and the token minting below.
const jwtSecret = "drill-jwt-secret-at-least-32-bytes-long-xxxx"

// resident is a logged-in resident of the drill database.
type resident struct {
	id    int64
	token string
}

// env is everything one drill run owns: a throwaway database and Redis prefix,
// two TCP proxies, the fake WeChat, and the server child process.
type env struct {
	run, dbName, prefix  string
	mysqlAddr, redisAddr string
	db                   *sql.DB       // direct to the drill database (setup and checks)
	rdb                  *redis.Client // direct to Redis (flush, gate inspection, cleanup)
	mysqlProxy           *toxiproxy.Proxy
	redisProxy           *toxiproxy.Proxy
	wx                   *httptest.Server
	pay                  *fakepay.Server // the fake WeChat Pay (payments drill)
	payTS                *httptest.Server
	work                 string // temp dir: binary and server log
	bin                  string
	httpAddr             string
	base                 string
	hc                   *http.Client
	reconcileEvery       time.Duration
	mysqlLatency         time.Duration
	redisEnv             []string // overrides REDIS_ADDR=<proxy> for the server (Sentinel drill)

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	logf   *os.File

	staff     string
	residents []resident       // the crowd
	reserve   []resident       // never in a crowd: they probe for leaked places afterwards
	tokens    map[int64]string // user id → token, for the churner
	programID int64
	sessionN  int
}

func dsnFor(addr, db string) string {
	return fmt.Sprintf("root:@tcp(%s)/%s?parseTime=true&loc=UTC&charset=utf8mb4", addr, db)
}

// newEnv creates the database, proxies and fake WeChat, and builds the server.
func newEnv(ctx context.Context, mysqlAddr, redisAddr string, mysqlLatency time.Duration) (*env, error) {
	run := fmt.Sprintf("%d%03d", os.Getpid(), time.Now().UnixMilli()%1000)
	e := &env{run: run, dbName: "nantian_drill_" + run, prefix: "drill:" + run + ":",
		mysqlAddr: mysqlAddr, redisAddr: redisAddr, reconcileEvery: 500 * time.Millisecond, mysqlLatency: mysqlLatency}
	admin, err := sql.Open("mysql", dsnFor(mysqlAddr, ""))
	if err != nil {
		return e, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+e.dbName+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return e, fmt.Errorf("create database: %w", err)
	}
	if err := models.Migrate(ctx, dsnFor(mysqlAddr, e.dbName)); err != nil {
		return e, err
	}
	if e.db, err = models.OpenDB(ctx, dsnFor(mysqlAddr, e.dbName)); err != nil {
		return e, err
	}
	e.rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
	if err := e.rdb.Ping(ctx).Err(); err != nil {
		return e, fmt.Errorf("redis: %w", err)
	}

	// Toxiproxy embedded as a library: one proxy per store, on loopback ports
	// chosen by the kernel. Disabling a proxy closes every connection through it
	// and refuses new ones, which is what a dead store looks like to the server.
	tp := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	e.mysqlProxy = toxiproxy.NewProxy(tp, "mysql", "127.0.0.1:0", mysqlAddr)
	e.redisProxy = toxiproxy.NewProxy(tp, "redis", "127.0.0.1:0", redisAddr)
	for _, p := range []*toxiproxy.Proxy{e.mysqlProxy, e.redisProxy} {
		if err := p.Start(); err != nil {
			return e, fmt.Errorf("proxy %s: %w", p.Name, err)
		}
	}

	// MySQL across a network: a few milliseconds each way, so transactions are
	// still in flight when a cut or a SIGKILL lands.
	if e.mysqlLatency > 0 {
		spec := fmt.Sprintf(`{"name":"net","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d,"jitter":%d}}`,
			e.mysqlLatency.Milliseconds(), e.mysqlLatency.Milliseconds()/2)
		if _, err := e.mysqlProxy.Toxics.AddToxicJson(strings.NewReader(spec)); err != nil {
			return e, fmt.Errorf("latency toxic: %w", err)
		}
	}

	e.wx = httptest.NewServer(fakewechat.New(fakewechat.Options{AppID: "wxdevappid", Secret: "dev-wechat-secret"}))

	if e.work, err = os.MkdirTemp("", "nantian-drill-"); err != nil {
		return e, err
	}
	e.bin = filepath.Join(e.work, "nantian")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.bin, "./server")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return e, fmt.Errorf("go build ./server: %w", err)
	}
	if e.logf, err = os.Create(filepath.Join(e.work, "server.log")); err != nil {
		return e, err
	}
	if err := e.startFakePay(); err != nil {
		return e, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return e, err
	}
	e.httpAddr = ln.Addr().String()
	ln.Close()
	e.base = "http://" + e.httpAddr
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	e.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return e, nil
}

// close stops the server and the proxies and removes the database, the Redis
// keys under the drill prefix and the temp dir: nothing else is touched.
func (e *env) close(keepLog bool) {
	e.kill()
	if e.mysqlProxy != nil {
		e.mysqlProxy.Stop()
	}
	if e.redisProxy != nil {
		e.redisProxy.Stop()
	}
	if e.wx != nil {
		e.wx.Close()
	}
	if e.payTS != nil {
		e.payTS.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if e.db != nil {
		e.db.Close()
	}
	if strings.HasPrefix(e.dbName, "nantian_drill_") {
		if admin, err := sql.Open("mysql", dsnFor(e.mysqlAddr, "")); err == nil {
			if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+e.dbName+"`"); err != nil {
				fmt.Fprintln(os.Stderr, "drill: drop database:", err)
			}
			admin.Close()
		}
	}
	if e.rdb != nil && strings.HasPrefix(e.prefix, "drill:") {
		if _, err := e.flushPrefix(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "drill: remove redis keys:", err)
		}
		e.rdb.Close()
	}
	if e.logf != nil {
		e.logf.Close()
	}
	if e.work != "" && !keepLog {
		os.RemoveAll(e.work)
	}
}

// flushPrefix deletes every Redis key under the drill prefix (and only those).
func (e *env) flushPrefix(ctx context.Context) (int, error) {
	n := 0
	iter := e.rdb.Scan(ctx, 0, e.prefix+"*", 500).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := e.rdb.Del(ctx, batch...).Err(); err != nil {
				return n, err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	if len(batch) > 0 {
		if err := e.rdb.Del(ctx, batch...).Err(); err != nil {
			return n, err
		}
		n += len(batch)
	}
	return n, nil
}

// start runs the real server binary, its stores behind the proxies.
func (e *env) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cmd := exec.Command(e.bin, "serve")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"APP_ENV=test", "GIN_MODE=release",
		"HTTP_ADDR=" + e.httpAddr,
		"MYSQL_DSN=" + dsnFor(e.mysqlProxy.Listen, e.dbName),
		"REDIS_KEY_PREFIX=" + e.prefix,
		"JWT_SECRET=" + jwtSecret,
		"WECHAT_API_BASE=" + e.wx.URL,
		"BOOKING_RECONCILE_EVERY=" + e.reconcileEvery.String(),
		"NOTIFY_POLL_EVERY=500ms",
		"SHUTDOWN_TIMEOUT=2s",
		"UPLOAD_DIR=" + filepath.Join(e.work, "uploads"),
	}
	if e.redisEnv != nil {
		cmd.Env = append(cmd.Env, e.redisEnv...) // the Sentinel drill
	} else {
		cmd.Env = append(cmd.Env, "REDIS_ADDR="+e.redisProxy.Listen)
	}
	cmd.Env = append(cmd.Env, e.payEnv()...)
	cmd.Stdout, cmd.Stderr = e.logf, e.logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	e.cmd, e.exited = cmd, done
	return nil
}

// kill SIGKILLs the server (no graceful shutdown: in-flight requests die).
func (e *env) kill() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.exited
	e.cmd = nil
}

// waitReady polls /readyz until it answers 200, and returns how long it took.
func (e *env) waitReady(limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	for time.Since(t0) < limit {
		e.mu.Lock()
		exited := e.exited
		e.mu.Unlock()
		select {
		case <-exited:
			return 0, errors.New("server exited; see its log")
		default:
		}
		res, err := e.hc.Get(e.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("/readyz not 200 after %s", limit)
}

// call does one API request; status -1 means no HTTP answer (connection refused,
// reset, timeout).
func (e *env) call(method, path, token string, body any, header ...string) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		return -1, nil
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.hc.Do(req)
	if err != nil {
		return -1, nil
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m
}

// mintUsers creates the staff member and the residents straight in MySQL, with
// access tokens signed by the server's JWT secret (as scripts/bench does: logging
// hundreds of people in through WeChat is not what a drill is about).
func (e *env) mintUsers(ctx context.Context, crowd, reserve int) error {
	users := &account.Users{DB: e.db, Now: models.SystemClock}
	tokens := &account.Tokens{DB: e.db, Secret: []byte(jwtSecret), AccessTTL: time.Hour, RefreshTTL: 2 * time.Hour, Now: models.SystemClock}
	login := func(openid, role string) (resident, error) {
		u, err := users.UpsertWeChat(ctx, openid, "")
		if err != nil {
			return resident{}, err
		}
		if role != models.RoleResident {
			if _, err := users.SetRole(ctx, u.ID, role); err != nil {
				return resident{}, err
			}
		}
		p, err := tokens.NewLogin(ctx, u.ID, role)
		return resident{id: u.ID, token: p.AccessToken}, err
	}
	s, err := login("drill-staff", models.RoleStaff)
	if err != nil {
		return err
	}
	e.staff = s.token
	all := make([]resident, crowd+reserve)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 16)
	for i := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := login(fmt.Sprintf("drill-resident-%d", i), models.RoleResident)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			all[i] = r
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	e.residents, e.reserve = all[:crowd], all[crowd:]
	e.tokens = map[int64]string{}
	for _, r := range all {
		e.tokens[r.id] = r.token
	}
	return nil
}

// createProgram makes the drill's activity: no approval, so every booking that
// gets a place is confirmed at once and writes a booking_confirmed outbox row.
func (e *env) createProgram() error {
	st, m := e.call("POST", "/api/v1/staff/programs", e.staff, map[string]any{
		"kind": "activity", "title": "消防演练讲座", "requires_approval": false,
		"description": "故障演练用的活动", "category": "安全", "venue": "党群服务中心"})
	if st != http.StatusCreated {
		return fmt.Errorf("create program: %d %v", st, m)
	}
	e.programID = int64(m["id"].(float64))
	return nil
}

// newSession creates a fresh session of the drill program.
func (e *env) newSession(capacity int) (int64, error) {
	e.sessionN++
	start := time.Now().Add(time.Duration(48+e.sessionN) * time.Hour).Truncate(time.Minute)
	st, m := e.call("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", e.programID), e.staff, map[string]any{
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(time.Hour).Format(time.RFC3339), "capacity": capacity})
	if st != http.StatusCreated {
		return 0, fmt.Errorf("create session: %d %v", st, m)
	}
	return int64(m["id"].(float64)), nil
}

// cut disables a proxy for d: every open connection is closed and new ones are
// refused, then the proxy listens again on the same address. Halfway through it
// asks /readyz, which must say 503 (a load balancer takes the instance out);
// after the restore it measures how long until /readyz is 200 again.
func (e *env) cut(p *toxiproxy.Proxy, d time.Duration, recovered *time.Duration) string {
	p.Stop()
	time.Sleep(d / 2)
	during, _ := e.call("GET", "/readyz", "", nil)
	time.Sleep(d - d/2)
	if err := p.Start(); err != nil {
		return "restore failed: " + err.Error()
	}
	back, err := e.waitReady(20 * time.Second)
	*recovered = max(*recovered, back)
	if err != nil {
		return fmt.Sprintf("%s proxy off %s; /readyz %d during, NOT ready after: %v", p.Name, d, during, err)
	}
	return fmt.Sprintf("%s off %s, /readyz %d during it, 200 again %s after restore", p.Name, d, during, back.Round(time.Millisecond))
}
