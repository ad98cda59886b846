package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"nantian/models/booking/invariant"
)

// session reads one session's counts as MySQL sees them (invariant.Counts).
func (e *env) session(ctx context.Context, id int64) (invariant.Counts, error) {
	cs, err := invariant.Sessions(ctx, e.db, id)
	if err == nil && len(cs) != 1 {
		err = fmt.Errorf("session %d not found", id)
	}
	if err != nil {
		return invariant.Counts{}, err
	}
	return cs[0], nil
}

// checkAll runs the invariants over the whole drill database (every session and
// every account, not just the last drill's) and returns one line per violation.
func (e *env) checkAll(ctx context.Context, confirmedSeen []int64) ([]string, error) {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	q := func(query string, each func(scan func(...any) error) error) error {
		rows, err := e.db.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows.Scan); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	// 1. no oversell; booked and waitlisted equal what the bookings say.
	counts, err := invariant.Sessions(ctx, e.db)
	for _, c := range counts {
		bad = append(bad, c.Violations()...)
	}
	if err != nil {
		return nil, fmt.Errorf("check sessions: %w", err)
	}
	// 2. outbox: every confirmed booking of this approval-free program has exactly
	// one booking_confirmed/booking_promoted row, and no such row names a booking
	// that does not exist (the row and the change share one transaction).
	err = q(`SELECT b.id, b.status, COUNT(o.id) FROM bookings b
		JOIN programs p ON p.id = b.program_id AND p.requires_approval = 0
		LEFT JOIN outbox o ON o.event IN ('booking_confirmed', 'booking_promoted') AND o.page = CONCAT('pages/bookings/detail?id=', b.id)
		GROUP BY b.id, b.status`, func(scan func(...any) error) error {
		var id int64
		var status string
		var n int
		if err := scan(&id, &status, &n); err != nil {
			return err
		}
		if status == "confirmed" && n == 0 {
			add("booking %d is confirmed but has no outbox row", id)
		}
		if n > 1 {
			add("booking %d has %d confirmation outbox rows", id, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check outbox: %w", err)
	}
	err = q(`SELECT o.id, o.page FROM outbox o WHERE o.event IN ('booking_confirmed', 'booking_promoted')
		AND NOT EXISTS (SELECT 1 FROM bookings b WHERE o.page = CONCAT('pages/bookings/detail?id=', b.id))`, func(scan func(...any) error) error {
		var id int64
		var page string
		if err := scan(&id, &page); err != nil {
			return err
		}
		add("outbox row %d (%s) announces a booking that does not exist", id, page)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check outbox orphans: %w", err)
	}
	for _, id := range confirmedSeen {
		var n int
		// booking_promoted counts: a waiting-list booking can be promoted by a
		// concurrent cancel between its commit and the read that answers 201.
		if err := e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE event IN ('booking_confirmed', 'booking_promoted') AND page = ?`,
			"pages/bookings/detail?id="+strconv.FormatInt(id, 10)).Scan(&n); err != nil {
			return nil, err
		}
		if n != 1 {
			add("booking %d was answered 201 confirmed but has %d confirmation outbox rows", id, n)
		}
	}
	// 3. points: no negative balance; balance equals the ledger's sum and its last
	// balance_after.
	err = q(`SELECT a.user_id, CAST(a.balance AS SIGNED), COALESCE((SELECT SUM(l.amount) FROM points_ledger l WHERE l.user_id = a.user_id), 0),
		COALESCE((SELECT CAST(l.balance_after AS SIGNED) FROM points_ledger l WHERE l.user_id = a.user_id ORDER BY l.id DESC LIMIT 1), 0)
		FROM points_accounts a`, func(scan func(...any) error) error {
		var user, bal, sum, last int64
		if err := scan(&user, &bal, &sum, &last); err != nil {
			return err
		}
		if bal < 0 || bal != sum || bal != last {
			add("user %d: balance %d, ledger sum %d, last balance_after %d", user, bal, sum, last)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check points: %w", err)
	}
	return bad, nil
}

// checkRedemptions checks a reward after the points drill: stock never below
// zero and exactly what the redemptions took, one redeem ledger entry and one
// redemption_ready outbox row per redemption.
func (e *env) checkRedemptions(ctx context.Context, rewardID int64, initialStock int) (redeemed int, bad []string, err error) {
	var stock, ledger, outbox int
	if err = e.db.QueryRowContext(ctx, `SELECT CAST(stock AS SIGNED) FROM rewards WHERE id = ?`, rewardID).Scan(&stock); err != nil {
		return
	}
	if err = e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM redemptions WHERE reward_id = ?`, rewardID).Scan(&redeemed); err != nil {
		return
	}
	if err = e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM points_ledger l JOIN redemptions r ON r.id = l.source_id AND r.user_id = l.user_id
		WHERE l.kind = 'redeem' AND r.reward_id = ?`, rewardID).Scan(&ledger); err != nil {
		return
	}
	if err = e.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox o JOIN redemptions r ON o.page = CONCAT('pages/points/redemption?id=', r.id)
		WHERE o.event = 'redemption_ready' AND r.reward_id = ?`, rewardID).Scan(&outbox); err != nil {
		return
	}
	if stock < 0 || stock+redeemed != initialStock {
		bad = append(bad, fmt.Sprintf("reward %d: stock %d + %d redemptions != initial %d", rewardID, stock, redeemed, initialStock))
	}
	if ledger != redeemed {
		bad = append(bad, fmt.Sprintf("reward %d: %d redemptions but %d redeem ledger entries", rewardID, redeemed, ledger))
	}
	if outbox != redeemed {
		bad = append(bad, fmt.Sprintf("reward %d: %d redemptions but %d redemption_ready outbox rows", rewardID, redeemed, outbox))
	}
	return
}

// gateAgrees reports whether the session's Redis gate (if loaded) holds exactly
// MySQL's capacity and the participants of its live bookings; it waits up to
// limit for the reconciler. A stale member turns its owner away with
// already_booked; a missing one lets the gate grant a place the guard refuses.
func (e *env) gateAgrees(ctx context.Context, sessionID int64, limit time.Duration) (bool, string) {
	h := fmt.Sprintf("%sgate:{p:%d}:s:%d", e.prefix, e.programID, sessionID)
	deadline := time.Now().Add(limit)
	for {
		why, err := e.gateDiff(ctx, sessionID, h)
		if err != nil {
			return false, err.Error()
		}
		if why == "" {
			return true, ""
		}
		if time.Now().After(deadline) {
			return false, why
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *env) gateDiff(ctx context.Context, sessionID int64, h string) (string, error) {
	s, err := e.session(ctx, sessionID)
	if err != nil {
		return "", err
	}
	capS, err := e.rdb.HGet(ctx, h, "cap").Result()
	if err != nil { // not loaded: rebuilt from MySQL on the next take
		return "", nil
	}
	members, err := e.rdb.SMembers(ctx, h+":m").Result()
	if err != nil {
		return "", err
	}
	rows, err := e.db.QueryContext(ctx, `SELECT participant FROM bookings WHERE session_id = ? AND status IN ('pending', 'awaiting_payment', 'confirmed', 'attended')`, sessionID)
	if err != nil {
		return "", err
	}
	live := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return "", err
		}
		live[p] = true
	}
	rows.Close()
	var stale, missing []string
	inGate := map[string]bool{}
	for _, m := range members {
		inGate[m] = true
		if !live[m] {
			stale = append(stale, m)
		}
	}
	for p := range live {
		if !inGate[p] {
			missing = append(missing, p)
		}
	}
	c, _ := strconv.Atoi(capS)
	if c == s.Capacity && len(stale) == 0 && len(missing) == 0 {
		return "", nil
	}
	return fmt.Sprintf("gate cap %d with %d members, MySQL capacity %d booked %d; in the gate without a live booking %v, live but not in the gate %v",
		c, len(members), s.Capacity, s.Booked, stale, missing), nil
}
