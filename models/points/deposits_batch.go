package points

// Offline bins (issue 14): a bin that lost its network buffers its deposits and
// uploads them later, one by one or in batches (POST /devices/deposits/batch).
//
// What is judged at which time:
//   - the request (X-Timestamp, nonce, signature) at upload time, as always: a
//     captured upload cannot be replayed later;
//   - the event at the time it happened (occurred_at, the bin's clock): it may lie
//     up to BacklogMax (DEVICE_BACKLOG_MAX, 72 h) in the past and at most ClockSkew
//     in the future; the daily cap counts occurred_at's day (APP_TIMEZONE);
//   - the resident token at the time it was shown: a token is sealed (user,
//     expiry) and can neither be forged nor altered, so its issue time is
//     expiry − CodeTTL, and it is good for an event that occurred in
//     [issue − ClockSkew, expiry) — a bin's clock may run late by up to the skew,
//     and an event can be judged no later than its upload (an online event is
//     checked against the server's clock as before). A token shown two days ago
//     at an offline bin is credited; a fresh token pinned to an old occurred_at
//     (to get round a past day's cap) is token_invalid, and anything not sealed by
//     this server is token_invalid.
//
// Each event is applied at most once per bin: (device_id, event_id) is unique,
// a known event answers duplicate with what it was awarded first, and copies of
// one event racing in two uploads serialise on the resident's account lock, the
// loser's insert hitting the unique key.

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"nantian/models"
)

// MaxDepositBatch is the most events one batch upload may carry.
const MaxDepositBatch = 500

// BatchOutcome is one event's answer: its result, or the domain error that
// refused it (Err, a *models.Error with the contract's code and message).
type BatchOutcome struct {
	DepositResult
	Err *models.Error
}

// resolveCode opens a resident token and returns its user and expiry;
// ErrTokenInvalid for anything this server did not seal.
func resolveCode(codes cipher.AEAD, token string) (int64, time.Time, error) {
	if len(token) > 200 {
		return 0, time.Time{}, ErrTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	n := codes.NonceSize()
	if err != nil || len(raw) < n {
		return 0, time.Time{}, ErrTokenInvalid
	}
	plain, err := codes.Open(nil, raw[:n], raw[n:], []byte(codeAAD))
	if err != nil || len(plain) != 16 {
		return 0, time.Time{}, ErrTokenInvalid
	}
	return int64(binary.BigEndian.Uint64(plain[:8])), time.UnixMilli(int64(binary.BigEndian.Uint64(plain[8:]))), nil
}

// ResolveCodeAt returns the user a token names if it was valid when shown at
// shownAt (see the file comment): ErrTokenExpired when shownAt is at or after its
// expiry, ErrTokenInvalid when it is not this server's or shownAt is before it
// was issued (beyond the bin's clock skew). An event is never judged later than
// now, so an online deposit's token is checked against the server clock.
func (p *Points) ResolveCodeAt(token string, shownAt time.Time) (int64, error) {
	uid, exp, err := resolveCode(p.codes, token)
	if err != nil {
		return 0, err
	}
	at := shownAt
	if now := p.Now(); at.After(now) {
		at = now
	}
	if !at.Before(exp) {
		return 0, ErrTokenExpired
	}
	if at.Before(exp.Add(-p.CodeTTL - p.ClockSkew)) {
		return 0, ErrTokenInvalid
	}
	return uid, nil
}

// checkEvent applies the per-event rules that need no database: event id,
// weight, occurred_at window, token at occurred_at. It returns the resident.
func (p *Points) checkEvent(in DepositInput) (int64, *models.Error) {
	if !validEventID(in.EventID) {
		return 0, models.Invalid("event_id", "1 到 64 个可见 ASCII 字符")
	}
	if *in.WeightGrams < int64(p.MinWeight) || *in.WeightGrams > int64(p.MaxWeight) {
		return 0, ErrWeightOutOfRange
	}
	now := p.Now()
	if d := in.OccurredAt.Sub(now); d > p.ClockSkew {
		return 0, models.Invalid("occurred_at", "晚于服务器时间超过 %d 秒", int(p.ClockSkew/time.Second))
	}
	if now.Sub(in.OccurredAt) > p.BacklogMax {
		return 0, models.Invalid("occurred_at", "早于服务器时间超过 %s，超出离线补传期限", p.BacklogMax)
	}
	uid, err := p.ResolveCodeAt(in.ResidentToken, in.OccurredAt)
	if err != nil {
		e, _ := models.AsError(err)
		return 0, e
	}
	return uid, nil
}

// RecordDeposits credits a bin's events, each at most once, and answers one
// outcome per event in order. A refused event (bad token, weight, time) is
// reported in its outcome and does not stop the others; the same event_id twice
// in one upload is applied once (later copies answer duplicate). An error return
// is a failure of the store (MySQL): nothing of this call was applied, and
// uploading the same events again is safe.
func (p *Points) RecordDeposits(ctx context.Context, dev Authenticated, events []DepositInput) ([]BatchOutcome, error) {
	out := make([]BatchOutcome, len(events))
	// Known events first, before their token or weight are looked at, so a bin's
	// late retry never fails.
	ids := make([]string, 0, len(events))
	for _, in := range events {
		if validEventID(in.EventID) {
			ids = append(ids, in.EventID)
		}
	}
	known, err := p.findDeposits(ctx, p.DB, dev.ID, ids)
	if err != nil {
		return nil, err
	}
	first := map[string]int{} // event id → index of the copy that will be applied
	dupOf := map[int]int{}    // later copy → first copy
	owner := map[int]int64{}  // index → resident, for the events to apply
	var apply []int
	for i, in := range events {
		if prev, ok := known[in.EventID]; ok {
			out[i].DepositResult = prev
			continue
		}
		if j, ok := first[in.EventID]; ok {
			dupOf[i] = j // answered like its first copy once that is applied
			continue
		}
		uid, e := p.checkEvent(in)
		if e != nil {
			out[i].Err = e
			continue
		}
		first[in.EventID] = i
		owner[i] = uid
		apply = append(apply, i)
	}
	if len(apply) > 0 {
		if err := p.creditEvents(ctx, dev, events, apply, owner, out); err != nil {
			return nil, err
		}
	}
	for i, j := range dupOf {
		out[i] = out[j]
		out[i].Duplicate = out[j].Err == nil
	}
	return out, nil
}

// errDepositRace: another upload inserted one of these event ids (with another
// resident's token, so our account locks did not order us); the transaction is
// rolled back and run again, which then sees that event as known.
var errDepositRace = errors.New("deposit inserted concurrently")

// creditEvents applies events[apply] in one transaction under the account locks
// of every resident involved, taken in user id order (so two uploads sharing
// residents queue rather than deadlock). The locks serialise these deposits with
// every other deposit, redemption and adjustment of those residents, so the
// daily cap holds across concurrent uploads, and a copy of the same backlog
// arriving at once waits and then finds every event known. The statements are
// per upload, not per event (one insert of all deposits, one of all ledger
// entries), so a 500-event backlog costs a handful of round trips.
func (p *Points) creditEvents(ctx context.Context, dev Authenticated, events []DepositInput, apply []int, owner map[int]int64, out []BatchOutcome) error {
	var users []int64
	seen := map[int64]bool{}
	for _, i := range apply {
		if u := owner[i]; !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	slices.Sort(users)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = models.InTxRetry(ctx, p.DB, func(tx *sql.Tx) error {
			for _, i := range apply {
				out[i] = BatchOutcome{}
			}
			return p.creditInTx(ctx, tx, dev, events, apply, owner, users, out)
		})
		if !errors.Is(err, errDepositRace) {
			return err
		}
	}
	return err
}

func placeholders(n int) string { return "?" + strings.Repeat(", ?", n-1) }

func int64Args(xs []int64) []any {
	args := make([]any, len(xs))
	for i, x := range xs {
		args[i] = x
	}
	return args
}

func (p *Points) creditInTx(ctx context.Context, tx *sql.Tx, dev Authenticated, events []DepositInput, apply []int, owner map[int]int64, users []int64, out []BatchOutcome) error {
	// A code shown just before its owner deleted the account still passes the
	// token check: a deleted account earns nothing (the share locks order this
	// against a deletion in progress).
	active := map[int64]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM users WHERE id IN (`+placeholders(len(users))+`) AND status = 'active'
		ORDER BY id LOCK IN SHARE MODE`, int64Args(users)...)
	if err != nil {
		return fmt.Errorf("load code owners: %w", err)
	}
	if _, err := models.ScanAll(rows, "scan code owner", func(r models.RowScanner) (int64, error) {
		var id int64
		err := r.Scan(&id)
		active[id] = true
		return id, err
	}); err != nil {
		return err
	}
	var live []int64
	for _, u := range users {
		if active[u] {
			live = append(live, u)
		}
	}
	balance, err := p.lockAccounts(ctx, tx, live)
	if err != nil {
		return err
	}
	// Under the locks: which events landed meanwhile (a concurrent copy of this
	// upload), and what each resident's days already earned.
	ids := make([]string, 0, len(apply))
	for _, i := range apply {
		ids = append(ids, events[i].EventID)
	}
	known, err := p.findDeposits(ctx, tx, dev.ID, ids)
	if err != nil {
		return err
	}
	type userDay struct {
		user int64
		day  string
	}
	earned := map[userDay]int{}
	var days []any
	daySeen := map[string]bool{}
	for _, i := range apply {
		if d := models.DateOf(events[i].OccurredAt.In(p.Loc)).String(); !daySeen[d] {
			daySeen[d] = true
			days = append(days, d)
		}
	}
	if len(live) > 0 {
		rows, err = tx.QueryContext(ctx, `SELECT user_id, local_day, COALESCE(SUM(points_awarded), 0) FROM bin_deposits
			WHERE user_id IN (`+placeholders(len(live))+`) AND local_day IN (`+placeholders(len(days))+`) GROUP BY user_id, local_day`,
			append(int64Args(live), days...)...)
		if err != nil {
			return fmt.Errorf("points earned per day: %w", err)
		}
		if _, err := models.ScanAll(rows, "scan points per day", func(r models.RowScanner) (int, error) {
			var k userDay
			var day time.Time
			var n int
			err := r.Scan(&k.user, &day, &n)
			k.day = day.Format(time.DateOnly)
			earned[k] = n
			return n, err
		}); err != nil {
			return err
		}
	}

	now := p.Now()
	var vals []string
	var args []any
	var credited []int // indices awarded points, in upload order
	for _, i := range apply {
		in, uid := events[i], owner[i]
		if !active[uid] {
			out[i].Err = ErrTokenInvalid
			continue
		}
		if prev, ok := known[in.EventID]; ok {
			out[i].DepositResult = prev
			continue
		}
		weight := int(*in.WeightGrams)
		raw := 0
		if in.Quality == QualityOK {
			raw = weight / p.GramsPerPoint
		}
		k := userDay{uid, models.DateOf(in.OccurredAt.In(p.Loc)).String()}
		award := max(0, min(raw, p.DailyCap-earned[k]))
		earned[k] += award
		out[i].PointsAwarded = award
		vals = append(vals, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, in.EventID, dev.ID, uid, dev.Estate, weight, in.Quality, award, k.day, in.OccurredAt.UTC(), now)
		if award > 0 {
			credited = append(credited, i)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO bin_deposits (event_id, device_id, user_id, estate, weight_grams, quality, points_awarded, local_day, occurred_at, created_at)
		VALUES `+strings.Join(vals, ", "), args...); err != nil {
		if models.IsDuplicate(err) {
			return errDepositRace
		}
		return fmt.Errorf("insert deposits: %w", err)
	}
	if len(credited) == 0 {
		return nil
	}
	// The ledger entries name their deposits; ids are read back rather than
	// derived from LastInsertId (interleaved auto-increment does not promise
	// consecutive ids for one statement).
	ids = ids[:0]
	for _, i := range credited {
		ids = append(ids, events[i].EventID)
	}
	depID, err := p.depositIDs(ctx, tx, dev.ID, ids)
	if err != nil {
		return err
	}
	exp := p.ExpiryOf(now)
	vals, args = vals[:0], args[:0]
	total := map[int64]int{}
	for _, i := range credited {
		uid, amount := owner[i], out[i].PointsAwarded
		total[uid] += amount
		vals = append(vals, "(?, 'earn', ?, ?, ?, ?, NULL, '', ?)")
		args = append(args, uid, amount, balance[uid]+total[uid], depID[events[i].EventID], exp, now)
	}
	var cases []string
	var caseArgs, inArgs []any
	for _, uid := range live {
		if n := total[uid]; n > 0 {
			cases = append(cases, "WHEN ? THEN ?")
			caseArgs = append(caseArgs, uid, n)
			inArgs = append(inArgs, uid)
		}
	}
	// The balance moves in the transaction that appends the entries explaining
	// it, under the same locks (points.go's invariant); these are credits only.
	if _, err := tx.ExecContext(ctx, `UPDATE points_accounts SET balance = balance + CASE user_id `+strings.Join(cases, " ")+` END, updated_at = ?
		WHERE user_id IN (`+placeholders(len(inArgs))+`)`, append(append(caseArgs, now), inArgs...)...); err != nil {
		return fmt.Errorf("update balances: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO points_ledger (user_id, kind, amount, balance_after, source_id, expires_at, actor_id, reason, created_at)
		VALUES `+strings.Join(vals, ", "), args...); err != nil {
		return fmt.Errorf("append ledger: %w", err)
	}
	return nil
}

// lockAccounts is lockAccount for several residents at once, in id order:
// creates the missing account rows and locks them all, returning the balances.
func (p *Points) lockAccounts(ctx context.Context, tx *sql.Tx, users []int64) (map[int64]int, error) {
	bal := make(map[int64]int, len(users))
	if len(users) == 0 {
		return bal, nil
	}
	now := p.Now()
	vals := make([]string, len(users))
	args := make([]any, 0, 3*len(users))
	for i, u := range users {
		vals[i] = "(?, 0, ?, ?)"
		args = append(args, u, p.lastBoundary(now), now)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO points_accounts (user_id, balance, expired_through, updated_at) VALUES `+
		strings.Join(vals, ", ")+` ON DUPLICATE KEY UPDATE user_id = user_id`, args...); err != nil {
		return nil, fmt.Errorf("ensure points accounts: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT user_id, balance FROM points_accounts WHERE user_id IN (`+placeholders(len(users))+`)
		ORDER BY user_id FOR UPDATE`, int64Args(users)...)
	if err != nil {
		return nil, fmt.Errorf("lock points accounts: %w", err)
	}
	_, err = models.ScanAll(rows, "scan points account", func(r models.RowScanner) (int64, error) {
		var u int64
		var b int
		err := r.Scan(&u, &b)
		bal[u] = b
		return u, err
	})
	return bal, err
}

// depositIDs maps this bin's event ids to their deposit row ids.
func (p *Points) depositIDs(ctx context.Context, tx *sql.Tx, deviceID int64, ids []string) (map[string]int64, error) {
	args := make([]any, 0, len(ids)+1)
	args = append(args, deviceID)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := tx.QueryContext(ctx, `SELECT event_id, id FROM bin_deposits WHERE device_id = ? AND event_id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("deposit ids: %w", err)
	}
	m := make(map[string]int64, len(ids))
	_, err = models.ScanAll(rows, "scan deposit id", func(r models.RowScanner) (int64, error) {
		var e string
		var id int64
		err := r.Scan(&e, &id)
		m[e] = id
		return id, err
	})
	return m, err
}

// findDeposits returns what each of ids (this bin's event ids) was awarded, for
// the ones already recorded, as duplicate results.
func (p *Points) findDeposits(ctx context.Context, q models.Querier, deviceID int64, ids []string) (map[string]DepositResult, error) {
	found := make(map[string]DepositResult, len(ids))
	for len(ids) > 0 {
		part := ids[:min(len(ids), MaxDepositBatch)]
		ids = ids[len(part):]
		args := make([]any, 0, len(part)+1)
		args = append(args, deviceID)
		for _, id := range part {
			args = append(args, id)
		}
		rows, err := q.QueryContext(ctx, `SELECT event_id, points_awarded FROM bin_deposits WHERE device_id = ? AND event_id IN (?`+
			strings.Repeat(", ?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("find deposits: %w", err)
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("scan deposit: %w", err)
			}
			found[id] = DepositResult{PointsAwarded: n, Duplicate: true}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("find deposits: %w", err)
		}
	}
	return found, nil
}
