package points

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"nantian/models"
)

// Redemption statuses.
const (
	RedemptionPending   = "pending"
	RedemptionFulfilled = "fulfilled"
	RedemptionCancelled = "cancelled"
)

// ErrRewardNameTaken: reward names are unique so staff and residents can tell them apart.
var ErrRewardNameTaken = &models.Error{Kind: models.KindConflict, Code: "reward_name_taken", Message: "已有同名奖品"}

// Reward is a good residents can redeem points for at the center.
type Reward struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CostPoints  int       `json:"cost_points"`
	Stock       int       `json:"stock"`
	Active      bool      `json:"active"`
	CreatedAt   time.Time `json:"created_at"`
}

// RewardInput creates a reward.
type RewardInput struct {
	Name        string `json:"name" binding:"required,max=64"`
	Description string `json:"description" binding:"max=500"`
	CostPoints  int    `json:"cost_points" binding:"required,min=1,max=1000000"`
	Stock       int    `json:"stock" binding:"min=0,max=1000000"`
	Active      *bool  `json:"active"`
}

// RewardPatch changes a reward; nil fields stay. Stock is set absolutely, under
// the reward's row lock, so it never goes negative.
type RewardPatch struct {
	Name        *string `json:"name" binding:"omitempty,max=64"`
	Description *string `json:"description" binding:"omitempty,max=500"`
	CostPoints  *int    `json:"cost_points" binding:"omitempty,min=1,max=1000000"`
	Stock       *int    `json:"stock" binding:"omitempty,min=0,max=1000000"`
	Active      *bool   `json:"active"`
}

const rewardColumns = `id, name, description, cost_points, stock, active, created_at`

func (p *Points) scanReward(row interface{ Scan(...any) error }) (Reward, error) {
	var r Reward
	err := row.Scan(&r.ID, &r.Name, &r.Description, &r.CostPoints, &r.Stock, &r.Active, &r.CreatedAt)
	r.CreatedAt = r.CreatedAt.In(p.Loc)
	return r, err
}

// CreateReward adds a reward (active unless said otherwise).
func (p *Points) CreateReward(ctx context.Context, in RewardInput) (Reward, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return Reward{}, models.Invalid("name", "必填")
	}
	active := in.Active == nil || *in.Active
	now := p.Now()
	res, err := p.DB.ExecContext(ctx, `INSERT INTO rewards (name, description, cost_points, stock, active, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, in.Name, in.Description, in.CostPoints, in.Stock, active, now, now)
	if models.IsDuplicate(err) {
		return Reward{}, ErrRewardNameTaken
	}
	if err != nil {
		return Reward{}, fmt.Errorf("insert reward: %w", err)
	}
	id, _ := res.LastInsertId()
	return p.GetReward(ctx, id)
}

// GetReward returns one reward.
func (p *Points) GetReward(ctx context.Context, id int64) (Reward, error) {
	return models.ScanOne(p.DB.QueryRowContext(ctx, `SELECT `+rewardColumns+` FROM rewards WHERE id = ?`, id), "get reward", p.scanReward)
}

// PatchReward edits a reward.
func (p *Points) PatchReward(ctx context.Context, id int64, in RewardPatch) (Reward, error) {
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" {
			return Reward{}, models.Invalid("name", "不能为空")
		}
		in.Name = &n
	}
	err := models.InTx(ctx, p.DB, func(tx *sql.Tx) error {
		var exists int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM rewards WHERE id = ? FOR UPDATE`, id).Scan(&exists); errors.Is(err, sql.ErrNoRows) {
			return models.ErrNotFound
		} else if err != nil {
			return fmt.Errorf("lock reward: %w", err)
		}
		_, err := tx.ExecContext(ctx, `UPDATE rewards SET name = COALESCE(?, name), description = COALESCE(?, description),
			cost_points = COALESCE(?, cost_points), stock = COALESCE(?, stock), active = COALESCE(?, active), updated_at = ?
			WHERE id = ?`, in.Name, in.Description, in.CostPoints, in.Stock, in.Active, p.Now(), id)
		if models.IsDuplicate(err) {
			return ErrRewardNameTaken
		}
		if err != nil {
			return fmt.Errorf("update reward: %w", err)
		}
		return nil
	})
	if err != nil {
		return Reward{}, err
	}
	return p.GetReward(ctx, id)
}

// ListRewards lists rewards by id; activeOnly for residents.
func (p *Points) ListRewards(ctx context.Context, activeOnly bool, page models.Page) ([]Reward, error) {
	q := `SELECT ` + rewardColumns + ` FROM rewards WHERE id > ?`
	if activeOnly {
		q += ` AND active = 1`
	}
	rows, err := p.DB.QueryContext(ctx, q+` ORDER BY id LIMIT ?`, page.AfterID, page.Limit)
	if err != nil {
		return nil, fmt.Errorf("list rewards: %w", err)
	}
	return models.ScanAll(rows, "scan reward", p.scanReward)
}

// Redemption is a reward taken with points, waiting at the center for pickup.
type Redemption struct {
	ID          int64      `json:"id"`
	UserID      int64      `json:"user_id"`
	RewardID    int64      `json:"reward_id"`
	RewardName  string     `json:"reward_name"`
	CostPoints  int        `json:"cost_points"`
	Status      string     `json:"status"`
	PickupCode  string     `json:"pickup_code"`
	PickupBy    time.Time  `json:"pickup_by"`
	CreatedAt   time.Time  `json:"created_at"`
	FulfilledAt *time.Time `json:"fulfilled_at"`
	CancelledAt *time.Time `json:"cancelled_at"`
}

const redemptionColumns = `d.id, d.user_id, d.reward_id, r.name, d.cost_points, d.status, d.pickup_code, d.pickup_by, d.created_at, d.fulfilled_at, d.cancelled_at`
const redemptionFrom = ` FROM redemptions d JOIN rewards r ON r.id = d.reward_id `

func (p *Points) scanRedemption(row interface{ Scan(...any) error }) (Redemption, error) {
	var x Redemption
	err := row.Scan(&x.ID, &x.UserID, &x.RewardID, &x.RewardName, &x.CostPoints, &x.Status, &x.PickupCode, &x.PickupBy, &x.CreatedAt, &x.FulfilledAt, &x.CancelledAt)
	x.PickupBy, x.CreatedAt = x.PickupBy.In(p.Loc), x.CreatedAt.In(p.Loc)
	for _, t := range []*time.Time{x.FulfilledAt, x.CancelledAt} {
		if t != nil {
			*t = t.In(p.Loc)
		}
	}
	return x, err
}

// pickupAlphabet leaves out 0/O and 1/I/L, which staff misread.
const pickupAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

func newPickupCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = pickupAlphabet[int(b[i])%len(pickupAlphabet)]
	}
	return string(b)
}

// Redeem takes cost_points from the resident and one unit of stock, and creates a
// pending redemption with a pickup code, all in one transaction with the
// "ready for pickup" notification in the outbox. The resident's account row is
// locked first, then the reward's: however many redemptions arrive at once, each
// sees the balance and stock the previous one left, so neither goes below zero
// (the guarded UPDATEs and UNSIGNED columns would refuse it anyway).
func (p *Points) Redeem(ctx context.Context, userID, rewardID int64) (Redemption, error) {
	var id int64
	// The unclaimed-redemption job locks redemption, account, reward in another
	// order; should InnoDB pick this transaction as a deadlock victim it rolled
	// back whole, so it is simply run again.
	err := models.InTxRetry(ctx, p.DB, func(tx *sql.Tx) error {
		bal, err := p.lockAccount(ctx, tx, userID)
		if err != nil {
			return err
		}
		var cost, stock int
		var name string
		var active bool
		err = tx.QueryRowContext(ctx, `SELECT name, cost_points, stock, active FROM rewards WHERE id = ? FOR UPDATE`, rewardID).Scan(&name, &cost, &stock, &active)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !active) {
			return models.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("lock reward: %w", err)
		}
		if stock < 1 {
			return ErrOutOfStock
		}
		if bal < cost {
			return ErrInsufficientPoints
		}
		res, err := tx.ExecContext(ctx, `UPDATE rewards SET stock = stock - 1, updated_at = ? WHERE id = ? AND stock > 0`, p.Now(), rewardID)
		if err != nil {
			return fmt.Errorf("take stock: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrOutOfStock
		}
		now := p.Now()
		pickupBy := now.Add(p.PickupWithin)
		var code string
		for attempt := 0; ; attempt++ {
			code = newPickupCode()
			res, err = tx.ExecContext(ctx, `INSERT INTO redemptions (user_id, reward_id, cost_points, status, pickup_code, pickup_by, created_at)
				VALUES (?, ?, ?, 'pending', ?, ?, ?)`, userID, rewardID, cost, code, pickupBy, now)
			if err == nil {
				break
			}
			if !models.IsDuplicate(err) || attempt == 4 {
				return fmt.Errorf("insert redemption: %w", err)
			}
		}
		if id, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("redemption id: %w", err)
		}
		if _, _, err := p.post(ctx, tx, entry{userID: userID, kind: LedgerRedeem, amount: -cost, sourceID: &id, reason: name}); err != nil {
			return err
		}
		return models.EnqueueNotification(ctx, tx, p.Now, models.Notification{
			UserID: userID, Event: "redemption_ready", TemplateKey: models.TemplateRedemptionReady,
			Page: "pages/points/redemption?id=" + strconv.FormatInt(id, 10),
			Data: map[string]string{"thing1": name, "character_string2": code, "time3": pickupBy.In(p.Loc).Format("2006-01-02")},
		})
	})
	if err != nil {
		return Redemption{}, err
	}
	return p.GetRedemption(ctx, id)
}

// GetRedemption returns one redemption.
func (p *Points) GetRedemption(ctx context.Context, id int64) (Redemption, error) {
	return models.ScanOne(p.DB.QueryRowContext(ctx, `SELECT `+redemptionColumns+redemptionFrom+`WHERE d.id = ?`, id), "get redemption", p.scanRedemption)
}

// RedemptionFilter narrows a redemption list; UserID 0 means everyone (staff).
type RedemptionFilter struct {
	UserID int64
	Status string
	Page   models.Page
}

// ListRedemptions lists redemptions newest first (cursor = ids below it).
func (p *Points) ListRedemptions(ctx context.Context, f RedemptionFilter) ([]Redemption, error) {
	before := f.Page.AfterID
	if before == 0 {
		before = 1<<63 - 1
	}
	q := `SELECT ` + redemptionColumns + redemptionFrom + `WHERE d.id < ?`
	args := []any{before}
	if f.UserID != 0 {
		q += ` AND d.user_id = ?`
		args = append(args, f.UserID)
	}
	if f.Status != "" {
		q += ` AND d.status = ?`
		args = append(args, f.Status)
	}
	rows, err := p.DB.QueryContext(ctx, q+` ORDER BY d.id DESC LIMIT ?`, append(args, f.Page.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("list redemptions: %w", err)
	}
	return models.ScanAll(rows, "scan redemption", p.scanRedemption)
}

// Fulfil hands the reward over: pending → fulfilled by pickup code (guarded; a
// second scan or a cancelled one answers 409 invalid_transition).
func (p *Points) Fulfil(ctx context.Context, staffID int64, code string) (Redemption, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	var id int64
	var status string
	err := p.DB.QueryRowContext(ctx, `SELECT id, status FROM redemptions WHERE pickup_code = ?`, code).Scan(&id, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return Redemption{}, models.ErrNotFound
	}
	if err != nil {
		return Redemption{}, fmt.Errorf("find redemption: %w", err)
	}
	now := p.Now()
	res, err := p.DB.ExecContext(ctx, `UPDATE redemptions SET status = 'fulfilled', fulfilled_at = ?, fulfilled_by = ?
		WHERE id = ? AND status = 'pending'`, now, staffID, id)
	if err != nil {
		return Redemption{}, fmt.Errorf("fulfil redemption: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Redemption{}, models.ErrInvalidTransition
	}
	return p.GetRedemption(ctx, id)
}

// CancelUnclaimed cancels pending redemptions whose pickup window has passed,
// refunds their points (a refund entry) and puts the item back in stock. One
// redemption per transaction, picked with FOR UPDATE SKIP LOCKED and moved with a
// guarded UPDATE, so several instances can run it together and a staff member
// fulfilling at the same moment either wins (no refund) or gets 409.
func (p *Points) CancelUnclaimed(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		var done bool
		err := models.InTx(ctx, p.DB, func(tx *sql.Tx) error {
			var id, userID, rewardID int64
			var cost int
			err := tx.QueryRowContext(ctx, `SELECT id, user_id, reward_id, cost_points FROM redemptions
				WHERE status = 'pending' AND pickup_by <= ? ORDER BY pickup_by, id LIMIT 1 FOR UPDATE SKIP LOCKED`, p.Now()).
				Scan(&id, &userID, &rewardID, &cost)
			if errors.Is(err, sql.ErrNoRows) {
				done = true
				return nil
			}
			if err != nil {
				return fmt.Errorf("pick unclaimed redemption: %w", err)
			}
			res, err := tx.ExecContext(ctx, `UPDATE redemptions SET status = 'cancelled', cancelled_at = ? WHERE id = ? AND status = 'pending'`, p.Now(), id)
			if err != nil {
				return fmt.Errorf("cancel redemption: %w", err)
			}
			if k, _ := res.RowsAffected(); k == 0 {
				return nil
			}
			if _, err := p.lockAccount(ctx, tx, userID); err != nil {
				return err
			}
			exp := p.ExpiryOf(p.Now())
			if _, _, err := p.post(ctx, tx, entry{userID: userID, kind: LedgerRefund, amount: cost, sourceID: &id, expiresAt: &exp,
				reason: "兑换超过领取期限未领取，积分退回"}); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE rewards SET stock = stock + 1, updated_at = ? WHERE id = ?`, p.Now(), rewardID); err != nil {
				return fmt.Errorf("restock reward: %w", err)
			}
			n++
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("cancel unclaimed: %w", err)
		}
		if done {
			return n, nil
		}
	}
	return n, ctx.Err()
}

// SeedDemoRewards adds a few rewards for the demo, idempotently (by name).
func SeedDemoRewards(ctx context.Context, db *sql.DB, now models.Clock) error {
	t := now()
	for _, r := range []struct {
		name, desc  string
		cost, stock int
	}{
		{"环保购物袋", "可折叠帆布袋，党群服务中心领取", 50, 200},
		{"洗洁精 500ml", "家用洗洁精一瓶", 80, 100},
		{"抽纸（3包）", "家用抽纸三包", 100, 100},
		{"厨余沥水篮", "厨余垃圾沥水篮，方便干湿分离", 150, 50},
		{"绿植盆栽", "小型绿植一盆，邻里之家领取", 300, 20},
	} {
		if _, err := db.ExecContext(ctx, `INSERT INTO rewards (name, description, cost_points, stock, active, created_at, updated_at)
			VALUES (?, ?, ?, ?, 1, ?, ?) ON DUPLICATE KEY UPDATE id = id`, r.name, r.desc, r.cost, r.stock, t, t); err != nil {
			return fmt.Errorf("seed reward %s: %w", r.name, err)
		}
	}
	return nil
}
