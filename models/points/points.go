package points

// Food-waste points: resident codes, deposits, the ledger and its balance.
//
// Invariants (architecture.md): the ledger is append-only; points_accounts.balance
// changes only in the transaction that appends the entry explaining it; nothing
// takes it below zero. Every transaction that touches a resident's points first
// locks that resident's points_accounts row, which serialises the daily cap,
// redemptions, adjustments, refunds and expiry for that resident without a
// global lock. Lock order is always account → reward → redemption row insert, so
// those transactions cannot deadlock each other.

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"nantian/models"

	"github.com/go-sql-driver/mysql"
)

// Points errors.
var (
	ErrTokenExpired       = &models.Error{Kind: models.KindRule, Code: "token_expired", Message: "积分码已过期，请刷新后重新扫码"}
	ErrTokenInvalid       = &models.Error{Kind: models.KindRule, Code: "token_invalid", Message: "积分码无效"}
	ErrWeightOutOfRange   = &models.Error{Kind: models.KindRule, Code: "weight_out_of_range", Message: "称重数据超出合理范围"}
	ErrInsufficientPoints = &models.Error{Kind: models.KindConflict, Code: "insufficient_points", Message: "积分不足"}
	ErrOutOfStock         = &models.Error{Kind: models.KindConflict, Code: "out_of_stock", Message: "该奖品已兑完"}
)

// Ledger entry kinds.
const (
	LedgerEarn   = "earn"
	LedgerRedeem = "redeem"
	LedgerRefund = "refund"
	LedgerExpire = "expire"
	LedgerAdjust = "adjust"
)

// Deposit qualities.
const (
	QualityOK           = "ok"
	QualityContaminated = "contaminated"
)

// Points is the points store. Build it with NewPoints.
type Points struct {
	DB            *sql.DB
	Now           models.Clock
	Loc           *time.Location
	GramsPerPoint int
	DailyCap      int
	MinWeight     int
	MaxWeight     int
	CodeTTL       time.Duration
	ClockSkew     time.Duration
	PickupWithin  time.Duration
	BacklogMax    time.Duration // DEVICE_BACKLOG_MAX: how old an offline bin's event may be
	codes         cipher.AEAD
}

// PointsConfig is what NewPoints needs from config.PointsRules.
type PointsConfig struct {
	GramsPerPoint, DailyCap, MinWeight, MaxWeight int
	CodeTTL, ClockSkew, PickupWithin, BacklogMax  time.Duration
	Key                                           string // POINTS_DEVICE_KEY
}

// NewPoints builds the store.
func NewPoints(db *sql.DB, now models.Clock, loc *time.Location, c PointsConfig) (*Points, error) {
	aead, err := newGCM(deriveKey(c.Key, "resident-code"))
	if err != nil {
		return nil, err
	}
	return &Points{DB: db, Now: now, Loc: loc, GramsPerPoint: c.GramsPerPoint, DailyCap: c.DailyCap,
		MinWeight: c.MinWeight, MaxWeight: c.MaxWeight, CodeTTL: c.CodeTTL, ClockSkew: c.ClockSkew,
		PickupWithin: c.PickupWithin, BacklogMax: c.BacklogMax, codes: aead}, nil
}

// WithClock returns a copy of the store reading time from now (tests, jobs).
func (p *Points) WithClock(now models.Clock) *Points {
	cp := *p
	cp.Now = now
	return &cp
}

// ---- resident codes ----

// ResidentCode is what the mini-program turns into a QR code for the bin.
type ResidentCode struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

const codeAAD = "nantian resident code v1"

// IssueCode seals (user id, expiry) with AES-GCM: the token reveals neither the
// user id nor the openid, cannot be forged or altered, needs no storage (so any
// instance can resolve it, Redis or not) and is useless after ExpiresAt.
func (p *Points) IssueCode(userID int64) ResidentCode {
	exp := p.Now().Add(p.CodeTTL)
	var plain [16]byte
	binary.BigEndian.PutUint64(plain[:8], uint64(userID))
	binary.BigEndian.PutUint64(plain[8:], uint64(exp.UnixMilli()))
	nonce := make([]byte, p.codes.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := p.codes.Seal(nonce, nonce, plain[:], []byte(codeAAD))
	return ResidentCode{Token: base64.RawURLEncoding.EncodeToString(sealed), ExpiresAt: exp.In(p.Loc)}
}

// ---- accounts ----

// yearStart is 00:00 on 1 January of year y in loc, as UTC.
func yearStart(y int, loc *time.Location) time.Time {
	return time.Date(y, 1, 1, 0, 0, 0, 0, loc).UTC()
}

// ExpiryOf is when points credited at t expire: the end of the next calendar year
// (in APP_TIMEZONE).
func (p *Points) ExpiryOf(t time.Time) time.Time { return yearStart(t.In(p.Loc).Year()+2, p.Loc) }

// lastBoundary is the most recent year end at or before t: everything with
// expires_at <= it has expired.
func (p *Points) lastBoundary(t time.Time) time.Time { return yearStart(t.In(p.Loc).Year(), p.Loc) }

// lockAccount creates the resident's account row if needed and locks it for the
// rest of tx, returning the balance. INSERT ... ON DUPLICATE KEY UPDATE takes the
// exclusive lock directly (INSERT IGNORE would take a shared one and deadlock on
// the upgrade when two transactions race).
func (p *Points) lockAccount(ctx context.Context, tx *sql.Tx, userID int64) (int, error) {
	now := p.Now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO points_accounts (user_id, balance, expired_through, updated_at)
		VALUES (?, 0, ?, ?) ON DUPLICATE KEY UPDATE user_id = user_id`, userID, p.lastBoundary(now), now); err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1452 { // no such user
			return 0, models.ErrNotFound
		}
		return 0, fmt.Errorf("ensure points account: %w", err)
	}
	var bal int
	if err := tx.QueryRowContext(ctx, `SELECT balance FROM points_accounts WHERE user_id = ? FOR UPDATE`, userID).Scan(&bal); err != nil {
		return 0, fmt.Errorf("lock points account: %w", err)
	}
	return bal, nil
}

// entry is a ledger row to append.
type entry struct {
	userID    int64
	kind      string
	amount    int
	sourceID  *int64
	expiresAt *time.Time
	actorID   *int64
	reason    string
}

// post appends e and moves the balance by e.amount in tx; the account must be
// locked by lockAccount. The guarded UPDATE (and the UNSIGNED column and CHECK
// behind it) refuse to go below zero. Returns the entry id and the new balance.
func (p *Points) post(ctx context.Context, tx *sql.Tx, e entry) (int64, int, error) {
	now := p.Now()
	res, err := tx.ExecContext(ctx, `UPDATE points_accounts SET balance = balance + ?, updated_at = ?
		WHERE user_id = ? AND CAST(balance AS SIGNED) + ? >= 0`, e.amount, now, e.userID, e.amount)
	if err != nil {
		return 0, 0, fmt.Errorf("update balance: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, 0, ErrInsufficientPoints
	}
	var bal int
	if err := tx.QueryRowContext(ctx, `SELECT balance FROM points_accounts WHERE user_id = ?`, e.userID).Scan(&bal); err != nil {
		return 0, 0, fmt.Errorf("read balance: %w", err)
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO points_ledger (user_id, kind, amount, balance_after, source_id, expires_at, actor_id, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.userID, e.kind, e.amount, bal, e.sourceID, models.NullTime(e.expiresAt), e.actorID, e.reason, now)
	if err != nil {
		if models.IsDuplicate(err) {
			return 0, 0, errAlreadyPosted
		}
		return 0, 0, fmt.Errorf("append ledger: %w", err)
	}
	id, err := res.LastInsertId()
	return id, bal, err
}

// errAlreadyPosted: the (kind, source) entry exists; the caller lost a race with
// another instance doing the same thing and rolls back.
var errAlreadyPosted = errors.New("ledger entry already posted")

// ---- deposits ----

// DepositInput is the bin's event body.
type DepositInput struct {
	EventID       string    `json:"event_id" binding:"required,max=64"`
	ResidentToken string    `json:"resident_token" binding:"required,max=200"`
	WeightGrams   *int64    `json:"weight_grams" binding:"required"`
	Quality       string    `json:"quality" binding:"required,oneof=ok contaminated"`
	OccurredAt    time.Time `json:"occurred_at" binding:"required"`
}

// DepositResult is the webhook's answer.
type DepositResult struct {
	PointsAwarded int  `json:"points_awarded"`
	Duplicate     bool `json:"duplicate"`
}

func validEventID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// RecordDeposit credits a bin event once: RecordDeposits with one event, its
// refusal returned as the error. The same event_id from the same bin again
// (concurrently or years later; ids are the bin's own, compared exactly) answers
// Duplicate with what was awarded the first time, before the token or weight are
// looked at, so a bin's late retry never fails. Clean waste earns one point per
// full GramsPerPoint, contaminated nothing, and no more than DailyCap per
// resident per business day of occurred_at: the cap is computed under the
// resident's account lock, so concurrent deposits cannot exceed it.
func (p *Points) RecordDeposit(ctx context.Context, dev Authenticated, in DepositInput) (DepositResult, error) {
	out, err := p.RecordDeposits(ctx, dev, []DepositInput{in})
	if err != nil {
		return DepositResult{}, err
	}
	if out[0].Err != nil {
		return DepositResult{}, out[0].Err
	}
	return out[0].DepositResult, nil
}

// ---- balance and ledger ----

// Summary is GET /points.
type Summary struct {
	Balance     int `json:"balance"`
	TodayEarned int `json:"today_earned"`
	DailyCap    int `json:"daily_cap"`
}

// Summary returns the balance and what was earned today (APP_TIMEZONE).
func (p *Points) Summary(ctx context.Context, userID int64) (Summary, error) {
	s := Summary{DailyCap: p.DailyCap}
	err := p.DB.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT balance FROM points_accounts WHERE user_id = ?), 0),
		COALESCE((SELECT SUM(points_awarded) FROM bin_deposits WHERE user_id = ? AND local_day = ?), 0)`,
		userID, userID, models.DateOf(p.Now().In(p.Loc)).String()).Scan(&s.Balance, &s.TodayEarned)
	if err != nil {
		return s, fmt.Errorf("points summary: %w", err)
	}
	return s, nil
}

// LedgerEntry is one line of a resident's points history.
type LedgerEntry struct {
	ID           int64      `json:"id"`
	Kind         string     `json:"kind"`
	Amount       int        `json:"amount"`
	BalanceAfter int        `json:"balance_after"`
	SourceID     *int64     `json:"source_id"`
	ExpiresAt    *time.Time `json:"expires_at"`
	Reason       string     `json:"reason"`
	CreatedAt    time.Time  `json:"created_at"`
	UserID       int64      `json:"-"`
	ActorID      *int64     `json:"-"` // the staff member of an adjustment; shown to staff only
}

const ledgerColumns = `id, user_id, kind, amount, balance_after, source_id, expires_at, actor_id, reason, created_at`

func (p *Points) scanEntry(row interface{ Scan(...any) error }) (LedgerEntry, error) {
	var e LedgerEntry
	err := row.Scan(&e.ID, &e.UserID, &e.Kind, &e.Amount, &e.BalanceAfter, &e.SourceID, &e.ExpiresAt, &e.ActorID, &e.Reason, &e.CreatedAt)
	e.CreatedAt = e.CreatedAt.In(p.Loc)
	if e.ExpiresAt != nil {
		t := e.ExpiresAt.In(p.Loc)
		e.ExpiresAt = &t
	}
	return e, err
}

// Ledger lists a resident's entries, newest first; page.AfterID is the cursor
// (entries with a smaller id than it).
func (p *Points) Ledger(ctx context.Context, userID int64, page models.Page) ([]LedgerEntry, error) {
	before := page.AfterID
	if before == 0 {
		before = 1<<63 - 1
	}
	rows, err := p.DB.QueryContext(ctx, `SELECT `+ledgerColumns+` FROM points_ledger WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
		userID, before, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("list ledger: %w", err)
	}
	return models.ScanAll(rows, "scan ledger", p.scanEntry)
}

// ---- staff adjustments ----

// AdjustmentInput is a staff correction: amount is signed, reason required.
type AdjustmentInput struct {
	UserID int64  `json:"user_id" binding:"required,gt=0"`
	Amount int    `json:"amount" binding:"required,ne=0,min=-100000,max=100000"`
	Reason string `json:"reason" binding:"required,max=200"`
}

// Adjust appends an adjust entry recording the staff member and the reason. A
// deduction larger than the balance is refused (409 insufficient_points).
func (p *Points) Adjust(ctx context.Context, staffID int64, in AdjustmentInput) (LedgerEntry, error) {
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Reason == "" {
		return LedgerEntry{}, models.Invalid("reason", "必填")
	}
	var id int64
	err := models.InTx(ctx, p.DB, func(tx *sql.Tx) error {
		// Only a live account: a deleted one is blanked and a walk-in merged into
		// a WeChat account is a tombstone, so points posted there would be
		// stranded. The share lock (user row before account, as a merge takes
		// them) makes a concurrent merge either move this entry or come first.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ? AND status = 'active' AND merged_into IS NULL LOCK IN SHARE MODE`, in.UserID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return models.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("adjust: find user: %w", err)
		}
		if _, err := p.lockAccount(ctx, tx, in.UserID); err != nil {
			return err
		}
		e := entry{userID: in.UserID, kind: LedgerAdjust, amount: in.Amount, actorID: &staffID, reason: in.Reason}
		if in.Amount > 0 {
			exp := p.ExpiryOf(p.Now())
			e.expiresAt = &exp
		}
		id, _, err = p.post(ctx, tx, e)
		return err
	})
	if err != nil {
		return LedgerEntry{}, err
	}
	return p.scanEntry(p.DB.QueryRowContext(ctx, `SELECT `+ledgerColumns+` FROM points_ledger WHERE id = ?`, id))
}

// ---- expiry ----

// ExpirePoints writes the expiry entries for every resident whose points passed
// the end of the next calendar year, oldest first. Credits (earn, refund, positive
// adjust) are lots expiring at the end of the year after they were made, in the
// order they were made; debits consume the oldest lots first. So at a year end T,
// what remains of the lots expiring by T is
//
//	max(0, sum(credits with expires_at <= T) - sum(all debits so far))
//
// (debits include earlier expiries), which needs no mutable "remaining" column and
// keeps the ledger append-only. Each resident is handled in its own transaction
// picked with FOR UPDATE SKIP LOCKED, marked done through T with a guarded
// update, and the (expire, year) unique key stops a double entry: several
// instances can run it at once. Returns the number of residents whose points expired.
func (p *Points) ExpirePoints(ctx context.Context) (int, error) {
	boundary := p.lastBoundary(p.Now())
	year := int64(boundary.In(p.Loc).Year() - 1) // the year whose end this is
	expired := 0
	for {
		var done bool
		err := models.InTx(ctx, p.DB, func(tx *sql.Tx) error {
			var userID int64
			err := tx.QueryRowContext(ctx, `SELECT user_id FROM points_accounts WHERE expired_through < ?
				ORDER BY expired_through, user_id LIMIT 1 FOR UPDATE SKIP LOCKED`, boundary).Scan(&userID)
			if errors.Is(err, sql.ErrNoRows) {
				done = true
				return nil
			}
			if err != nil {
				return fmt.Errorf("pick account to expire: %w", err)
			}
			var credits, debits int
			if err := tx.QueryRowContext(ctx, `SELECT
				COALESCE(SUM(CASE WHEN amount > 0 AND expires_at <= ? THEN amount ELSE 0 END), 0),
				COALESCE(SUM(CASE WHEN amount < 0 THEN -amount ELSE 0 END), 0)
				FROM points_ledger WHERE user_id = ?`, boundary, userID).Scan(&credits, &debits); err != nil {
				return fmt.Errorf("sum ledger: %w", err)
			}
			var posted int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM points_ledger WHERE kind = 'expire' AND source_id = ? AND user_id = ?`,
				year, userID).Scan(&posted); err != nil {
				return fmt.Errorf("check expiry entry: %w", err)
			}
			if n := credits - debits; n > 0 && posted == 0 {
				if _, _, err := p.post(ctx, tx, entry{userID: userID, kind: LedgerExpire, amount: -n, sourceID: &year,
					reason: fmt.Sprintf("%d 年及以前获得的积分已于 %d 年底到期", year-1, year)}); err != nil {
					return err
				}
				expired++
			}
			_, err = tx.ExecContext(ctx, `UPDATE points_accounts SET expired_through = ? WHERE user_id = ? AND expired_through < ?`,
				boundary, userID, boundary)
			return err
		})
		if err != nil {
			return expired, fmt.Errorf("expire points: %w", err)
		}
		if done || ctx.Err() != nil {
			return expired, ctx.Err()
		}
	}
}
