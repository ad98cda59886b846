package booking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"nantian/models"
)

// Reconciler is the booking engine's background job. Every pass it
//  1. expires pending and waitlisted bookings whose session has started, freeing
//     their places (no promotion: the session has begun);
//  2. hands free places of upcoming sessions to their waiting lists (a crash
//     between a free and its promotion, or a capacity raise on a dead instance);
//  3. compares each upcoming session's gate with MySQL and rewrites a gate that
//     disagrees twice in a row (once may be a booking between gate and commit).
//
// It is safe with several instances: a Redis lease lets one run a pass at a time,
// and every session it touches is locked with SELECT ... FOR UPDATE SKIP LOCKED, so
// even without the lease (Redis down) two passes never handle the same session at
// once, and each change is a guarded transition anyway.
type Reconciler struct {
	B     *Bookings
	Redis *models.Redis // the pass's lease
	Every time.Duration
	Log   *slog.Logger
	// OnRepair, when set, is called once per gate rewritten because it disagreed
	// with MySQL (the server counts these as nantian_reconciler_repairs_total:
	// repairs should be rare, a steady stream means something keeps drifting).
	OnRepair func()

	suspect map[int64]int // session id → consecutive passes its gate disagreed
}

// Run reconciles every Every until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	models.EveryTick(ctx, r.Every, r.Log, "reconcile pass failed", r.Pass)
}

// Pass runs one reconciliation if this instance gets the lease (or Redis is down).
func (r *Reconciler) Pass(ctx context.Context) error {
	release, ok, err := r.Redis.TryLock(ctx, r.Redis.Key("bookings", "reconciler", "lease"), r.Every)
	if err == nil && !ok {
		return nil // another instance holds it
	}
	defer release()
	return errors.Join(r.expire(ctx), r.promote(ctx), r.repairGates(ctx))
}

// lockSkip locks a session row unless another transaction holds it.
func lockSkip(ctx context.Context, tx *sql.Tx, sessionID int64) (bool, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM sessions WHERE id = ? FOR UPDATE SKIP LOCKED`, sessionID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// onSession runs fn in a transaction holding the session's row, with the
// session's meta, unless another transaction holds the row (a booking or a
// staff change under way: the next pass comes back to it). It returns the meta
// read, the zero meta when it skipped.
func (r *Reconciler) onSession(ctx context.Context, id int64, fn func(tx *sql.Tx, m sessionMeta) error) (sessionMeta, error) {
	var m sessionMeta
	err := r.B.tx(ctx, func(tx *sql.Tx) error {
		m = sessionMeta{} // a retried transaction starts afresh
		if ok, err := lockSkip(ctx, tx, id); !ok || err != nil {
			return err
		}
		meta, err := r.B.loadMeta(ctx, tx, id)
		if err != nil {
			return err
		}
		m = meta
		return fn(tx, m)
	})
	return m, err
}

func (r *Reconciler) expire(ctx context.Context) error {
	now := r.B.Now()
	ids, err := models.QueryColumn[int64](ctx, r.B.DB, `SELECT DISTINCT b.session_id FROM bookings b JOIN sessions s ON s.id = b.session_id
		WHERE b.status IN ('pending', 'waitlisted') AND s.starts_at <= ? LIMIT 200`, now)
	if err != nil {
		return fmt.Errorf("find expired: %w", err)
	}
	for _, id := range ids {
		m, err := r.onSession(ctx, id, func(tx *sql.Tx, _ sessionMeta) error {
			var pending, waiting int
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'waitlisted'), 0)
				FROM bookings WHERE session_id = ? AND status IN ('pending', 'waitlisted')`, id).Scan(&pending, &waiting); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE bookings SET status = 'expired', live_participant = NULL, updated_at = ?
				WHERE session_id = ? AND status IN ('pending', 'waitlisted')`, now, id); err != nil {
				return fmt.Errorf("expire bookings: %w", err)
			}
			_, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked - ?, waitlisted = waitlisted - ?, updated_at = ? WHERE id = ?`, pending, waiting, now, id)
			return err
		})
		if err != nil {
			return fmt.Errorf("expire session %d: %w", id, err)
		}
		if m.SessionID != 0 {
			r.B.forget(m.SessionID, m.ProgramID)
		}
	}
	return nil
}

func (r *Reconciler) promote(ctx context.Context) error {
	now := r.B.Now()
	ids, err := models.QueryColumn[int64](ctx, r.B.DB, `SELECT id FROM sessions WHERE status = 'open' AND starts_at > ? AND waitlisted > 0 AND booked < capacity LIMIT 200`, now)
	if err != nil {
		return fmt.Errorf("find promotable: %w", err)
	}
	for _, id := range ids {
		var promoted []promotion
		m, err := r.onSession(ctx, id, func(tx *sql.Tx, m sessionMeta) error {
			var err error
			promoted, err = r.B.fillFromWaitlist(ctx, tx, m, now)
			return err
		})
		if err != nil {
			return fmt.Errorf("promote session %d: %w", id, err)
		}
		if len(promoted) > 0 {
			r.B.afterFree(ctx, m, nil, promoted)
		}
	}
	return nil
}

// repairGates rewrites gates that disagree with MySQL on capacity, openness or
// who holds a place, when they disagreed on the previous pass too. Comparing the
// members, not just their number, matters after a Redis outage: a cancel whose
// release failed leaves its participant in the gate (turned away with
// already_booked when they try again, even for the waiting list) while a booking
// made through the guard alone is missing from it, and the two cancel out in a
// count.
func (r *Reconciler) repairGates(ctx context.Context) error {
	if !r.B.GateEnabled {
		return nil
	}
	now := r.B.Now()
	rows, err := r.B.DB.QueryContext(ctx, `SELECT id, program_id, capacity, booked FROM sessions WHERE status = 'open' AND starts_at > ? ORDER BY starts_at LIMIT 2000`, now)
	if err != nil {
		return fmt.Errorf("gate sessions: %w", err)
	}
	type row struct {
		id, pid          int64
		capacity, booked int
	}
	all, err := models.ScanAll(rows, "scan gate session", func(r models.RowScanner) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.pid, &x.capacity, &x.booked)
	})
	if err != nil {
		return err
	}
	ids := make([]int64, len(all))
	refs := make([]GateRef, len(all))
	for i, x := range all {
		ids[i] = x.id
		refs[i] = GateRef{ProgramID: x.pid, SessionID: x.id}
	}
	live, err := r.liveParticipants(ctx, ids)
	if err != nil {
		return err
	}
	views, err := r.B.Gate.Views(ctx, refs)
	if err != nil {
		return fmt.Errorf("inspect gates: %w", err)
	}
	if r.suspect == nil {
		r.suspect = map[int64]int{}
	}
	seen := map[int64]int{}
	for i, x := range all {
		v := views[i]
		if !v.Loaded || (v.Capacity == x.capacity && v.Open && sameSet(v.Members, live[x.id])) {
			continue // a missing gate is rebuilt on demand
		}
		seen[x.id] = r.suspect[x.id] + 1
		if seen[x.id] < 2 {
			continue
		}
		st, err := r.B.GateState(ctx, x.id)
		if err != nil {
			return err
		}
		if err := r.B.Gate.Store(ctx, x.id, st, true); err != nil {
			return err
		}
		delete(seen, x.id)
		r.B.soldOut.Delete(x.id)
		if r.OnRepair != nil {
			r.OnRepair()
		}
		r.Log.InfoContext(ctx, "gate repaired", "session_id", x.id, "gate_taken", len(v.Members), "mysql_booked", x.booked,
			"live", len(live[x.id]), "gate_cap", v.Capacity, "capacity", x.capacity)
	}
	r.suspect = seen
	return nil
}

// liveParticipants returns, per session, who holds a place in MySQL.
func (r *Reconciler) liveParticipants(ctx context.Context, sessionIDs []int64) (map[int64]map[string]bool, error) {
	out := map[int64]map[string]bool{}
	if len(sessionIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(sessionIDs))
	for i, id := range sessionIDs {
		args[i] = id
	}
	rows, err := r.B.DB.QueryContext(ctx, `SELECT session_id, participant FROM bookings
		WHERE session_id IN (?`+strings.Repeat(", ?", len(sessionIDs)-1)+`) AND status IN ('pending', 'awaiting_payment', 'confirmed', 'attended')`, args...)
	if err != nil {
		return nil, fmt.Errorf("gate participants: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var p string
		if err := rows.Scan(&id, &p); err != nil {
			return nil, err
		}
		if out[id] == nil {
			out[id] = map[string]bool{}
		}
		out[id][p] = true
	}
	return out, rows.Err()
}

// sameSet reports whether members are exactly the keys of want.
func sameSet(members []string, want map[string]bool) bool {
	if len(members) != len(want) {
		return false
	}
	for _, m := range members {
		if !want[m] {
			return false
		}
	}
	return true
}
