package main

// The Sentinel drill: a real redis-server master and replica and three
// redis-sentinel processes (Debian's packages) on ports 18201-18213, the server
// restarted against them with REDIS_SENTINEL_ADDRS/REDIS_MASTER_NAME (go-redis's
// failover client), and a booking crowd during which the master is SIGKILLed.
// Just before the kill the master drops its replica's link (CLIENT KILL TYPE
// replica), so the gate writes of the last few hundred milliseconds exist on the
// master only: the promoted replica has lost them, as happens with asynchronous
// replication, and the reconciler must rebuild the gate from MySQL. Bookings must
// resume after the promotion with no oversell (the usual MySQL checks).

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	sentinelMasterName = "drillmaster"
	masterPort         = 18201
	replicaPort        = 18202
)

var sentinelPorts = []int{18211, 18212, 18213}

// redisCluster is the processes the drill started (and stops, by pid).
type redisCluster struct {
	dir   string
	procs map[int]*exec.Cmd // port → process
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (rc *redisCluster) spawn(port int, name string, args ...string) error {
	if ln, err := net.Listen("tcp", addr(port)); err != nil {
		return fmt.Errorf("port %d is taken: %w", port, err)
	} else {
		ln.Close()
	}
	logf, err := os.Create(filepath.Join(rc.dir, fmt.Sprintf("%d.log", port)))
	if err != nil {
		return err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the drill
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s on %d: %w", name, port, err)
	}
	go cmd.Wait()
	rc.procs[port] = cmd
	return nil
}

func (rc *redisCluster) kill(port int) {
	if p := rc.procs[port]; p != nil && p.Process != nil {
		_ = p.Process.Kill()
		delete(rc.procs, port)
	}
}

func (rc *redisCluster) stop() {
	for port := range rc.procs {
		rc.kill(port)
	}
}

// startRedisCluster starts master, replica and three sentinels and waits until
// every sentinel knows the replica and the two other sentinels.
func startRedisCluster(ctx context.Context, dir string) (*redisCluster, error) {
	rc := &redisCluster{dir: dir, procs: map[int]*exec.Cmd{}}
	common := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
	if err := rc.spawn(masterPort, "redis-server", append([]string{"--port", strconv.Itoa(masterPort)}, common...)...); err != nil {
		return rc, err
	}
	if err := rc.spawn(replicaPort, "redis-server", append([]string{"--port", strconv.Itoa(replicaPort), "--replicaof", "127.0.0.1", strconv.Itoa(masterPort)}, common...)...); err != nil {
		return rc, err
	}
	for _, p := range sentinelPorts {
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", p))
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 1\n",
			p, dir, sentinelMasterName, masterPort, sentinelMasterName, sentinelMasterName, sentinelMasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return rc, err
		}
		if err := rc.spawn(p, "redis-sentinel", conf); err != nil {
			return rc, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range sentinelPorts {
		s := redis.NewSentinelClient(&redis.Options{Addr: addr(p)})
		defer s.Close()
		for {
			reps, _ := s.Replicas(ctx, sentinelMasterName).Result()
			others, _ := s.Sentinels(ctx, sentinelMasterName).Result()
			if len(reps) == 1 && len(others) == 2 && replicaLinkUp(ctx) {
				break
			}
			if time.Now().After(deadline) {
				return rc, fmt.Errorf("sentinel %d: sees %d replicas and %d other sentinels after 30 s", p, len(reps), len(others))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return rc, nil
}

func replicaLinkUp(ctx context.Context) bool {
	c := redis.NewClient(&redis.Options{Addr: addr(replicaPort)})
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	return err == nil && strings.Contains(info, "master_link_status:up")
}

// masterPortNow asks a sentinel which port the master is on (0 if it cannot say).
func masterPortNow(ctx context.Context) int {
	for _, p := range sentinelPorts {
		s := redis.NewSentinelClient(&redis.Options{Addr: addr(p), DialTimeout: 200 * time.Millisecond})
		a, err := s.GetMasterAddrByName(ctx, sentinelMasterName).Result()
		s.Close()
		if err == nil && len(a) == 2 {
			n, _ := strconv.Atoi(a[1])
			return n
		}
	}
	return 0
}

// gateSet reads the session gate's members on one Redis (nil if unreadable).
func (e *env) gateSet(ctx context.Context, port int, password string, sid int64) map[string]bool {
	c := redis.NewClient(&redis.Options{Addr: addr(port), Password: password})
	defer c.Close()
	ms, err := c.SMembers(ctx, fmt.Sprintf("%sgate:{p:%d}:s:%d:m", e.prefix, e.programID, sid)).Result()
	if err != nil {
		return nil
	}
	set := map[string]bool{}
	for _, m := range ms {
		set[m] = true
	}
	return set
}

// missingFrom counts the members of a that b lacks.
func missingFrom(a, b map[string]bool) int {
	n := 0
	for m := range a {
		if !b[m] {
			n++
		}
	}
	return n
}

// sentinelDrill runs drill 7. It restarts the server against the sentinels and
// leaves it that way (it is the last drill).
func (e *env) sentinelDrill(ctx context.Context, capacity int, span time.Duration) *row {
	r := &row{name: "7 Sentinel failover", book: &tally{}}
	fail := func(format string, args ...any) { r.failures = append(r.failures, fmt.Sprintf(format, args...)) }
	dir := filepath.Join(e.work, "sentinel")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fail("%v", err)
		return r
	}
	rc, err := startRedisCluster(ctx, dir)
	defer rc.stop()
	if err != nil {
		fail("redis master/replica/sentinels: %v (logs in %s)", err, dir)
		return r
	}
	var sentinels []string
	for _, p := range sentinelPorts {
		sentinels = append(sentinels, addr(p))
	}
	e.kill()
	e.redisEnv = []string{"REDIS_SENTINEL_ADDRS=" + strings.Join(sentinels, ","), "REDIS_MASTER_NAME=" + sentinelMasterName}
	if err := e.start(); err != nil {
		fail("restart against the sentinels: %v", err)
		return r
	}
	if _, err := e.waitReady(30 * time.Second); err != nil {
		fail("not ready against the sentinels: %v", err)
		return r
	}
	// The checks read the gate through the sentinels too, wherever the master is.
	direct := e.rdb
	e.rdb = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: sentinelMasterName, SentinelAddrs: sentinels})
	defer func() { e.rdb.Close(); e.rdb = direct }()

	sid, err := e.newSession(capacity)
	if err != nil {
		fail("%v", err)
		return r
	}
	crowdSpan := 2 * span // long enough for part of the crowd to come after the promotion
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Let the first bookings replicate, then cut the replica off: the
		// master takes a password the replica does not have, so after CLIENT
		// KILL the replica cannot reconnect and resync, and everything written
		// from now on exists on the master only.
		time.Sleep(crowdSpan / 80) // a few bookings in: the gate is loaded and replicated
		const lock = "drill-replica-locked-out"
		master := redis.NewClient(&redis.Options{Addr: addr(masterPort), PoolSize: 1})
		err := master.ConfigSet(ctx, "requirepass", lock).Err()
		if err == nil {
			err = master.ClientKillByFilter(ctx, "TYPE", "replica").Err()
		}
		master.Close()
		if err != nil {
			fail("cutting the replica off: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // bookings and cancels land on the master only
		onMaster := e.gateSet(ctx, masterPort, lock, sid)
		onReplica := e.gateSet(ctx, replicaPort, "", sid)
		t0 := time.Now()
		rc.kill(masterPort)
		var promoted time.Duration
		for time.Since(t0) < 30*time.Second {
			if masterPortNow(ctx) == replicaPort {
				promoted = time.Since(t0)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if promoted == 0 {
			fail("the sentinels did not promote the replica within 30 s")
		}
		if _, err := e.waitReady(30 * time.Second); err != nil {
			fail("not ready after the failover: %v", err)
		}
		r.ready = time.Since(t0)
		lost, stale := missingFrom(onMaster, onReplica), missingFrom(onReplica, onMaster)
		r.notes = append(r.notes, fmt.Sprintf("replica cut off 500 ms before the master was SIGKILLed: the master's gate had %d members, the replica's %d (%d lost, %d stale); replica promoted %s after the kill; /readyz 200 again %s after the kill",
			len(onMaster), len(onReplica), lost, stale, promoted.Round(time.Millisecond), r.ready.Round(time.Millisecond)))
		if lost+stale == 0 {
			r.notes = append(r.notes, "no gate write was lost this run (the crowd wrote nothing in the window)")
		}
	}()
	res := e.bookingCrowd(ctx, sid, crowdSpan)
	<-done
	r.book = &res.book
	r.cancels = res.cancel.by[200]
	// finishBookingDrill's top-up books the freed places through the new master,
	// and its checks read the gate there and compare it with MySQL.
	e.finishBookingDrill(ctx, r, sid, res)
	return r
}

// haveRedisBinaries reports whether redis-server and redis-sentinel are installed.
func haveRedisBinaries() bool {
	for _, b := range []string{"redis-server", "redis-sentinel"} {
		if _, err := exec.LookPath(b); err != nil {
			return false
		}
	}
	return true
}
