package booking

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"nantian/models"

	"github.com/redis/go-redis/v9"
)

// Gate is the Redis capacity gate in front of the MySQL guard (architecture.md,
// "Redis gate, MySQL guard"). Per session it keeps a hash (cap, open) and the set of
// participants holding a place; taken is the set's cardinality, so the two can never
// disagree. Every operation is one Lua script, so a duplicate or an overflow is
// refused atomically however many requests arrive at once. All keys of one program
// share the hash tag {p:<program id>}, so enrolment in a whole course takes every
// session's place in one script call, also on Redis Cluster.
//
// The gate only ever refuses early: a place it grants is confirmed by the guard
// (UPDATE ... WHERE booked < capacity), and released again when the guard refuses.
// So drift (a flush, a failed release, a rebuild racing an in-flight booking) can
// turn people away until the reconciler repairs it, but can never oversell.
type Gate struct {
	R *models.Redis
	// Load reads a session's gate state from MySQL (capacity, open, live
	// participants) for rebuilds.
	Load func(ctx context.Context, sessionID int64) (GateState, error)

	// downUntil (unix nanos) is a small circuit breaker: after a Redis error the
	// gate is skipped for a second, so bookings go straight to the guard instead of
	// each paying a timeout.
	downUntil atomic.Int64
}

// GateState is what a gate is rebuilt from.
type GateState struct {
	ProgramID    int64
	Capacity     int
	Open         bool
	Participants []string
	ExpireAt     time.Time // the keys are useless after the session ends
}

// Gate results.
type GateResult int

// Outcomes of a take.
const (
	GateTaken     GateResult = 1  // the place is held for this participant
	GateFull      GateResult = 0  // no place left
	GateDuplicate GateResult = -1 // the participant already holds a place
	GateMissing   GateResult = -2 // keys absent: rebuild from MySQL, retry
	GateClosed    GateResult = -3 // session not open for bookings
	GateSkipped   GateResult = -9 // Redis unavailable or gate off: ask the guard
)

// ErrGateDown means Redis did not answer; callers fall back to the guard.
var ErrGateDown = errors.New("gate: redis unavailable")

// Every script checks the hash first: an empty set does not exist in Redis, so the
// hash is the "this gate was loaded" marker.
var (
	takeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if redis.call('HGET', KEYS[1], 'open') ~= '1' then return -3 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -1 end
if redis.call('SCARD', KEYS[2]) >= tonumber(redis.call('HGET', KEYS[1], 'cap')) then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1`)

	// takeMany: KEYS are hash1, set1, hash2, set2, ...; returns {code, index}.
	takeManyScript = redis.NewScript(`
local n = #KEYS / 2
for i = 1, n do
  local h, s = KEYS[2*i-1], KEYS[2*i]
  if redis.call('EXISTS', h) == 0 then return {-2, i} end
  if redis.call('HGET', h, 'open') ~= '1' then return {-3, i} end
  if redis.call('SISMEMBER', s, ARGV[1]) == 1 then return {-1, i} end
  if redis.call('SCARD', s) >= tonumber(redis.call('HGET', h, 'cap')) then return {0, i} end
end
for i = 1, n do redis.call('SADD', KEYS[2*i], ARGV[1]) end
return {1, 0}`)

	// release: ARGV are members to remove; removing a non-member is a no-op, so a
	// release can never free someone else's place twice.
	releaseScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV do n = n + redis.call('SREM', KEYS[2], ARGV[i]) end
return n`)

	// swap: a freed place handed to the first in line in the same MySQL
	// transaction; only touches a loaded gate.
	swapScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
if ARGV[1] ~= '' then redis.call('SREM', KEYS[2], ARGV[1]) end
if ARGV[2] ~= '' then redis.call('SADD', KEYS[2], ARGV[2]) end
return 1`)

	// load: ARGV = force, cap, open, expire-at-ms, members...; without force it
	// only fills a missing gate, so two rebuilders never overwrite live takes.
	loadScript = redis.NewScript(`
if ARGV[1] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'cap', ARGV[2], 'open', ARGV[3])
for i = 5, #ARGV, 1000 do
  redis.call('SADD', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
if #ARGV >= 5 then redis.call('PEXPIREAT', KEYS[2], ARGV[4]) end
return 1`)

	// setCap changes the capacity of a loaded gate.
	setCapScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
redis.call('HSET', KEYS[1], 'cap', ARGV[1])
return 1`)
)

func (g *Gate) keys(programID, sessionID int64) (hash, members string) {
	tag := "{p:" + strconv.FormatInt(programID, 10) + "}"
	base := g.R.Key("gate", tag, "s", strconv.FormatInt(sessionID, 10))
	return base, base + ":m"
}

// Down reports whether the breaker is open (Redis failed within the last second).
func (g *Gate) Down() bool { return time.Now().UnixNano() < g.downUntil.Load() }

// fail records a Redis error; redis.Nil is an answer, not a failure.
func (g *Gate) fail(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	g.downUntil.Store(time.Now().Add(time.Second).UnixNano())
	return fmt.Errorf("%w: %w", ErrGateDown, err)
}

// Take asks the gate for one place. It rebuilds a missing gate from MySQL under a
// short lock and retries. GateSkipped (with a nil error) means Redis is down and the
// caller must go straight to the guard.
func (g *Gate) Take(ctx context.Context, programID, sessionID int64, participant string) (GateResult, error) {
	if g.Down() {
		return GateSkipped, nil
	}
	h, m := g.keys(programID, sessionID)
	for attempt := 0; ; attempt++ {
		n, err := takeScript.Run(ctx, g.R.Client, []string{h, m}, participant).Int()
		if err != nil {
			g.fail(err)
			return GateSkipped, nil
		}
		if GateResult(n) != GateMissing {
			return GateResult(n), nil
		}
		if attempt >= 3 {
			return GateSkipped, nil // could not rebuild in time: the guard decides
		}
		if err := g.rebuild(ctx, programID, sessionID); err != nil {
			if errors.Is(err, ErrGateDown) {
				return GateSkipped, nil
			}
			return 0, err
		}
	}
}

// TakeMany takes one place in every session at once, all or nothing. On a refusal
// it returns the result and the index of the session that refused. Each missing
// gate costs one rebuild and one retry, so the retries scale with the number of
// sessions (a course of n lessons may find all n gates missing).
func (g *Gate) TakeMany(ctx context.Context, programID int64, sessionIDs []int64, participant string) (GateResult, int, error) {
	if g.Down() || len(sessionIDs) == 0 {
		return GateSkipped, 0, nil
	}
	keys := make([]string, 0, 2*len(sessionIDs))
	for _, id := range sessionIDs {
		h, m := g.keys(programID, id)
		keys = append(keys, h, m)
	}
	for attempt := 0; ; attempt++ {
		res, err := takeManyScript.Run(ctx, g.R.Client, keys, participant).Int64Slice()
		if err != nil || len(res) != 2 {
			g.fail(err)
			return GateSkipped, 0, nil
		}
		code, idx := GateResult(res[0]), int(res[1])-1
		if code != GateMissing {
			return code, idx, nil
		}
		if attempt >= len(sessionIDs)+2 {
			return GateSkipped, 0, nil
		}
		if err := g.rebuild(ctx, programID, sessionIDs[idx]); err != nil {
			if errors.Is(err, ErrGateDown) {
				return GateSkipped, 0, nil
			}
			return 0, 0, err
		}
	}
}

// Release gives places back (the guard refused, or a booking stopped being live).
// Errors are logged by the caller's drift repair, not returned: the reconciler
// fixes a gate that kept a place it should have freed.
func (g *Gate) Release(ctx context.Context, programID, sessionID int64, participants ...string) {
	if len(participants) == 0 {
		return
	}
	h, m := g.keys(programID, sessionID)
	args := make([]any, len(participants))
	for i, p := range participants {
		args[i] = p
	}
	if err := releaseScript.Run(ctx, g.R.Client, []string{h, m}, args...).Err(); err != nil {
		g.fail(err)
	}
}

// Swap moves a place from one participant to another (a waiting-list promotion);
// either may be empty.
func (g *Gate) Swap(ctx context.Context, programID, sessionID int64, from, to string) {
	h, m := g.keys(programID, sessionID)
	if err := swapScript.Run(ctx, g.R.Client, []string{h, m}, from, to).Err(); err != nil {
		g.fail(err)
	}
}

// SetCapacity resizes a loaded gate at once (a missing one is rebuilt on demand).
func (g *Gate) SetCapacity(ctx context.Context, programID, sessionID int64, capacity int) {
	h, m := g.keys(programID, sessionID)
	if err := setCapScript.Run(ctx, g.R.Client, []string{h, m}, capacity).Err(); err != nil {
		g.fail(err)
	}
}

// Drop deletes a session's gate (closed, cancelled, moved): the next take rebuilds
// it from MySQL.
func (g *Gate) Drop(ctx context.Context, programID, sessionID int64) {
	h, m := g.keys(programID, sessionID)
	if err := g.R.Client.Del(ctx, h, m).Err(); err != nil {
		g.fail(err)
	}
}

// Members returns the participants holding a place in the session's gate (none
// when the gate is not loaded), for the sold-out mark.
func (g *Gate) Members(ctx context.Context, programID, sessionID int64) ([]string, error) {
	if g.Down() {
		return nil, ErrGateDown
	}
	_, set := g.keys(programID, sessionID)
	m, err := g.R.Client.SMembers(ctx, set).Result()
	if err != nil {
		return nil, g.fail(err)
	}
	return m, nil
}

// Inspect returns a loaded gate's capacity and taken count; ok is false when the
// gate is not loaded.
func (g *Gate) Inspect(ctx context.Context, programID, sessionID int64) (capacity, taken int, open, ok bool, err error) {
	h, m := g.keys(programID, sessionID)
	pipe := g.R.Client.Pipeline()
	hv := pipe.HMGet(ctx, h, "cap", "open")
	sc := pipe.SCard(ctx, m)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, false, false, g.fail(err)
	}
	vals := hv.Val()
	if len(vals) != 2 || vals[0] == nil {
		return 0, 0, false, false, nil
	}
	capacity, _ = strconv.Atoi(fmt.Sprint(vals[0]))
	return capacity, int(sc.Val()), fmt.Sprint(vals[1]) == "1", true, nil
}

// GateView is what a loaded gate holds for one session; Loaded is false when the
// gate's keys are missing.
type GateView struct {
	Capacity int
	Open     bool
	Members  []string
	Loaded   bool
}

// GateRef names one session's gate.
type GateRef struct{ ProgramID, SessionID int64 }

// Views reads many gates in one pipelined round trip (go-redis splits it by node
// on a Cluster): the reconciler looks at every upcoming session each pass, and a
// round trip per session would cost thousands per pass.
func (g *Gate) Views(ctx context.Context, refs []GateRef) ([]GateView, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	pipe := g.R.Client.Pipeline()
	hvs := make([]*redis.SliceCmd, len(refs))
	sms := make([]*redis.StringSliceCmd, len(refs))
	for i, ref := range refs {
		h, m := g.keys(ref.ProgramID, ref.SessionID)
		hvs[i] = pipe.HMGet(ctx, h, "cap", "open")
		sms[i] = pipe.SMembers(ctx, m)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, g.fail(err)
	}
	out := make([]GateView, len(refs))
	for i := range refs {
		vals := hvs[i].Val()
		if len(vals) != 2 || vals[0] == nil {
			continue
		}
		capacity, _ := strconv.Atoi(fmt.Sprint(vals[0]))
		out[i] = GateView{Capacity: capacity, Open: fmt.Sprint(vals[1]) == "1", Members: sms[i].Val(), Loaded: true}
	}
	return out, nil
}

// Store writes a gate from MySQL state; force overwrites a loaded one (the
// reconciler), otherwise only a missing gate is filled.
func (g *Gate) Store(ctx context.Context, sessionID int64, st GateState, force bool) error {
	h, m := g.keys(st.ProgramID, sessionID)
	open := "0"
	if st.Open {
		open = "1"
	}
	f := "0"
	if force {
		f = "1"
	}
	exp := st.ExpireAt
	if exp.IsZero() || exp.Before(time.Now()) {
		exp = time.Now().Add(time.Hour)
	}
	args := []any{f, st.Capacity, open, exp.UnixMilli()}
	for _, p := range st.Participants {
		args = append(args, p)
	}
	if err := loadScript.Run(ctx, g.R.Client, []string{h, m}, args...).Err(); err != nil {
		return g.fail(err)
	}
	return nil
}

// rebuild refills a missing gate from MySQL under a short lock, so a crowd hitting
// a flushed Redis causes one MySQL read, not thousands. Those who do not get the
// lock wait briefly for the holder to finish.
func (g *Gate) rebuild(ctx context.Context, programID, sessionID int64) error {
	h, _ := g.keys(programID, sessionID)
	release, ok, err := g.R.TryLock(ctx, h+":lock", 3*time.Second)
	if err != nil {
		return g.fail(err)
	}
	if !ok {
		for range 60 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
			n, err := g.R.Client.Exists(ctx, h).Result()
			if err != nil {
				return g.fail(err)
			}
			if n == 1 {
				return nil
			}
		}
		return nil // the caller retries a bounded number of times, then uses the guard
	}
	defer release()
	st, err := g.Load(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("rebuild gate %d: %w", sessionID, err)
	}
	st.ProgramID = programID
	return g.Store(ctx, sessionID, st, false)
}
