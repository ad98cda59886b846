package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"nantian/models"
)

// Outbox row statuses. pending and sending are live; the rest are final.
//
//	pending  --claim-->  sending  --WeChat ok-->  sent
//	   ^                    |  \--43101------->  refused   (grant given back)
//	   |                    |   \--no openid/grant--> skipped (decided at claim)
//	   +--WeChat error------+    \--too many attempts--> failed (grant given back)
//	sending past its lease (the worker died) is claimed again like pending.
const (
	OutboxPending = "pending"
	OutboxSending = "sending"
	OutboxSent    = "sent"
	OutboxSkipped = "skipped"
	OutboxRefused = "refused"
	OutboxFailed  = "failed"
)

// Message is a subscribe message as the domain asks for it: to whom (the user's
// openid), which template, the page it opens and the template's field values,
// untrimmed. The adapter (wechat.Notifier) fits the values to WeChat's limits.
type Message struct {
	ToUser     string
	TemplateID string
	Page       string
	Data       map[string]string
}

// ErrRecipientRefused is what a Sender returns (wrapped) when the recipient holds
// no grant for the template at WeChat's end: the message is not retried and the
// grant taken for it is given back.
var ErrRecipientRefused = errors.New("notify: the recipient refused this template")

// SubscribeSender delivers one message; wechat.Notifier is the real one. The
// domain declares the message and the refusal it understands; the adapter
// translates to and from WeChat's own types.
type SubscribeSender interface {
	SendSubscribe(ctx context.Context, m Message) error
}

// OutboxWorker sends outbox rows as WeChat subscribe messages.
//
// Delivery is at-least-once, deliberately. A row is claimed in one short
// transaction that also consumes the user's grant and moves it to 'sending' with a
// lease (claimed_until) and a fresh claim_token; the WeChat call happens after that
// commit, outside any transaction; a second transaction guarded by the token marks
// the outcome. If the process dies between the claim and the outcome, the row stays
// 'sending' until the lease runs out and is then claimed again (without consuming a
// second grant) and sent. So a crash never loses a message; the price is that a
// crash in the short window after WeChat accepted the message but before 'sent' was
// written sends it twice. The alternative, marking 'sent' before calling WeChat,
// would lose the message in that window instead, and a lost booking confirmation
// hurts a resident more than a duplicate one. WeChat offers no idempotency key for
// subscribe messages, so the window cannot be closed from our side.
//
// Several instances may run the worker at once: each row is claimed with
// SELECT ... FOR UPDATE SKIP LOCKED on its primary key plus the due condition, so
// it goes to one claimant, and the claim_token fences a worker whose lease ran out
// (it can no longer finish the row, and does not send once its lease is over).
type OutboxWorker struct {
	DB     *sql.DB
	Sender SubscribeSender
	// Templates maps template keys (TemplateBookingResult, ...) to WeChat template
	// ids from configuration.
	Templates   map[string]string
	Now         models.Clock
	Logger      *slog.Logger
	Batch       int
	Lease       time.Duration // must exceed the worst-case send (adapter timeout x token retry)
	BackoffBase time.Duration
	BackoffMax  time.Duration
	MaxAttempts int
	PollEvery   time.Duration
}

// ClaimedNotification is a row this worker holds the lease on and must send.
type ClaimedNotification struct {
	ID         int64
	Token      string
	Attempts   int
	LeaseUntil time.Time // after this the row may be another worker's
	Message    Message
}

// Run polls for due rows until ctx ends. A full batch is followed at once by the
// next, so a backlog drains without waiting for the ticker.
func (w *OutboxWorker) Run(ctx context.Context) {
	t := time.NewTicker(w.PollEvery)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			n, err := w.RunOnce(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.Logger.WarnContext(ctx, "outbox: poll failed", "err", err)
				}
				break
			}
			if n < w.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce works through one batch of due rows, claiming and sending them one at a
// time, so a lease only ever has to cover a single send however slow WeChat is. It
// returns how many rows it handled (sent, failed or settled without sending).
func (w *OutboxWorker) RunOnce(ctx context.Context) (int, error) {
	now := w.Now()
	ids, err := w.dueIDs(ctx, now)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return n, nil
		}
		c, state, err := w.claimOne(ctx, w.Now(), id)
		if err != nil {
			return n, err
		}
		switch state {
		case claimSend:
			w.Deliver(ctx, c)
			n++
		case claimSettled:
			n++
		}
	}
	return n, nil
}

type outboxRow struct {
	id            int64
	userID        int64
	templateKey   string
	templateID    sql.NullString
	grantConsumed bool
	page          string
	payload       []byte
	status        string
	attempts      int
}

// Claim takes up to Batch due rows without sending them (RunOnce interleaves claim
// and send; Claim exists for callers that send later, such as the crash test):
// pending rows whose next_attempt_at has come and sending rows whose lease ran out.
// Each row is claimed in its own short
// transaction that either gives it its final status (skipped: no openid or no
// grant; failed: unknown template or out of attempts) or consumes one grant (unless
// it holds one from an earlier attempt) and moves it to 'sending' under a new lease.
// It returns the rows to send and how many were settled without sending.
//
// Why one row per transaction, found by a plain read and then locked by primary key
// with FOR UPDATE SKIP LOCKED: a locking scan over the due index keeps locks on the
// index entries of rows it skipped, and a claimer that then waits for a grant lock
// deadlocks with the claimer that owns those rows (MariaDB reported exactly that
// under the two-worker test). Locking one row by primary key, then its grant, in
// every path (claim, outcome, refund) leaves no cycle; a row another worker holds
// or has just claimed is skipped, never waited for.
func (w *OutboxWorker) Claim(ctx context.Context) ([]ClaimedNotification, int, error) {
	now := w.Now()
	ids, err := w.dueIDs(ctx, now)
	if err != nil {
		return nil, 0, err
	}
	var claimed []ClaimedNotification
	settled := 0
	for _, id := range ids {
		c, state, err := w.claimOne(ctx, now, id)
		if err != nil {
			return claimed, settled, err
		}
		switch state {
		case claimSend:
			claimed = append(claimed, c)
		case claimSettled:
			settled++
		}
	}
	return claimed, settled, nil
}

type claimState int

const (
	claimTaken   claimState = iota // another worker has it
	claimSend                      // ours: send it
	claimSettled                   // given a final status without sending
)

// dueIDs lists candidate rows without locking anything; claimOne decides.
func (w *OutboxWorker) dueIDs(ctx context.Context, now time.Time) ([]int64, error) {
	q, err := w.DB.QueryContext(ctx, `SELECT id FROM outbox
		WHERE (status = 'pending' AND next_attempt_at <= ?) OR (status = 'sending' AND claimed_until <= ?)
		ORDER BY id LIMIT ?`, now, now, w.Batch)
	if err != nil {
		return nil, fmt.Errorf("outbox: due rows: %w", err)
	}
	defer q.Close()
	var ids []int64
	for q.Next() {
		var id int64
		if err := q.Scan(&id); err != nil {
			return nil, fmt.Errorf("outbox: scan due row: %w", err)
		}
		ids = append(ids, id)
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("outbox: due rows: %w", err)
	}
	return ids, nil
}

// claimOne locks row id if it is still due and no one else holds it, and decides it.
func (w *OutboxWorker) claimOne(ctx context.Context, now time.Time, id int64) (ClaimedNotification, claimState, error) {
	// READ COMMITTED: the row is re-read as last committed, and no gap locks
	// block EnqueueNotification inserts in the changes' own transactions.
	tx, err := w.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return ClaimedNotification{}, claimTaken, fmt.Errorf("outbox claim: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	var r outboxRow
	err = tx.QueryRowContext(ctx, `SELECT id, user_id, template_key, template_id, grant_consumed, page, payload, status, attempts
		FROM outbox
		WHERE id = ? AND ((status = 'pending' AND next_attempt_at <= ?) OR (status = 'sending' AND claimed_until <= ?))
		FOR UPDATE SKIP LOCKED`, id, now, now).
		Scan(&r.id, &r.userID, &r.templateKey, &r.templateID, &r.grantConsumed, &r.page, &r.payload, &r.status, &r.attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return ClaimedNotification{}, claimTaken, nil
	}
	if err != nil {
		return ClaimedNotification{}, claimTaken, fmt.Errorf("outbox claim: lock %d: %w", id, err)
	}
	c, send, err := w.claimRow(ctx, tx, now, r)
	if err != nil {
		return ClaimedNotification{}, claimTaken, err
	}
	if err := tx.Commit(); err != nil {
		return ClaimedNotification{}, claimTaken, fmt.Errorf("outbox claim: commit: %w", err)
	}
	if send {
		return c, claimSend, nil
	}
	return ClaimedNotification{}, claimSettled, nil
}

// claimRow decides one locked row inside the claim transaction.
func (w *OutboxWorker) claimRow(ctx context.Context, tx *sql.Tx, now time.Time, r outboxRow) (ClaimedNotification, bool, error) {
	templateID := r.templateID.String
	if !r.templateID.Valid {
		templateID = w.Templates[r.templateKey]
	}
	if templateID == "" {
		return ClaimedNotification{}, false, w.settle(ctx, tx, now, r, OutboxFailed, "no template id configured for "+r.templateKey)
	}
	if r.attempts >= w.MaxAttempts {
		// Only a row whose lease ran out on its last attempt gets here; whether
		// WeChat took that attempt is unknown, so the grant is not given back.
		r.grantConsumed = false
		return ClaimedNotification{}, false, w.settle(ctx, tx, now, r, OutboxFailed, "gave up after "+fmt.Sprint(r.attempts)+" attempts")
	}
	var data map[string]string
	if err := json.Unmarshal(r.payload, &data); err != nil || len(data) == 0 {
		return ClaimedNotification{}, false, w.settle(ctx, tx, now, r, OutboxFailed, "payload is not a non-empty object of strings")
	}
	var openid sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT openid FROM users WHERE id = ?`, r.userID).Scan(&openid)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return ClaimedNotification{}, false, fmt.Errorf("outbox claim: user %d: %w", r.userID, err)
	}
	if openid.String == "" {
		// A walk-in resident registered at the desk has no WeChat to send to.
		return ClaimedNotification{}, false, w.settle(ctx, tx, now, r, OutboxSkipped, "user has no openid")
	}
	if !r.grantConsumed {
		res, err := tx.ExecContext(ctx, `UPDATE subscription_grants SET remaining = remaining - 1, updated_at = ?
			WHERE user_id = ? AND template_id = ? AND remaining > 0`, now, r.userID, templateID)
		if err != nil {
			return ClaimedNotification{}, false, fmt.Errorf("outbox claim: consume grant: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ClaimedNotification{}, false, w.settle(ctx, tx, now, r, OutboxSkipped, "no subscribe grant for "+templateID)
		}
	}
	token := newClaimToken()
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'sending', template_id = ?, grant_consumed = 1,
		claim_token = ?, claimed_until = ?, attempts = attempts + 1 WHERE id = ?`,
		templateID, token, now.Add(w.Lease), r.id); err != nil {
		return ClaimedNotification{}, false, fmt.Errorf("outbox claim: mark sending: %w", err)
	}
	return ClaimedNotification{
		ID: r.id, Token: token, Attempts: r.attempts + 1, LeaseUntil: now.Add(w.Lease),
		Message: Message{ToUser: openid.String, TemplateID: templateID, Page: r.page, Data: data},
	}, true, nil
}

// settle gives a locked row a final status at claim time, giving back a grant it
// still holds.
func (w *OutboxWorker) settle(ctx context.Context, tx *sql.Tx, now time.Time, r outboxRow, status, reason string) error {
	if r.grantConsumed && r.templateID.Valid {
		if err := refundGrant(ctx, tx, now, r.userID, r.templateID.String); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = ?, grant_consumed = 0, claim_token = NULL, claimed_until = NULL,
		last_error = ? WHERE id = ?`, status, truncateError(reason), r.id); err != nil {
		return fmt.Errorf("outbox claim: settle %d as %s: %w", r.id, status, err)
	}
	return nil
}

func refundGrant(ctx context.Context, tx *sql.Tx, now time.Time, userID int64, templateID string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO subscription_grants (user_id, template_id, remaining, updated_at) VALUES (?, ?, 1, ?)
		ON DUPLICATE KEY UPDATE remaining = remaining + 1, updated_at = VALUES(updated_at)`, userID, templateID, now); err != nil {
		return fmt.Errorf("outbox: give grant back: %w", err)
	}
	return nil
}

// Deliver sends one claimed row and records the outcome: sent; refused (43101: the
// user holds no grant at WeChat, so ours is given back and the row is not retried);
// otherwise back to pending with exponential backoff, or failed (grant given back)
// once MaxAttempts sends have failed. The outcome is written only while the claim
// is still ours (status 'sending' and our claim_token); a claim whose lease has
// already run out is not sent at all.
func (w *OutboxWorker) Deliver(ctx context.Context, c ClaimedNotification) {
	if !w.Now().Before(c.LeaseUntil) {
		// This worker stalled (GC pause, stopped VM) past its lease: another worker
		// may already be sending the row, so sending too would be a duplicate.
		w.Logger.WarnContext(ctx, "outbox: lease ran out before sending; leaving the row to the next claim", "outbox_id", c.ID)
		return
	}
	sendErr := w.Sender.SendSubscribe(ctx, c.Message)
	// Record the outcome even if ctx ended during the send (shutdown).
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := w.Now()
	err := models.InTx(fctx, w.DB, func(tx *sql.Tx) error {
		var (
			res sql.Result
			err error
		)
		switch {
		case sendErr == nil:
			res, err = tx.ExecContext(fctx, `UPDATE outbox SET status = 'sent', sent_at = ?, claim_token = NULL, claimed_until = NULL, last_error = ''
				WHERE id = ? AND status = 'sending' AND claim_token = ?`, now, c.ID, c.Token)
		case errors.Is(sendErr, ErrRecipientRefused):
			res, err = w.finishUnsent(fctx, tx, now, c, OutboxRefused, sendErr)
		case c.Attempts >= w.MaxAttempts:
			res, err = w.finishUnsent(fctx, tx, now, c, OutboxFailed, sendErr)
		default:
			res, err = tx.ExecContext(fctx, `UPDATE outbox SET status = 'pending', next_attempt_at = ?, claim_token = NULL, claimed_until = NULL, last_error = ?
				WHERE id = ? AND status = 'sending' AND claim_token = ?`, now.Add(w.backoff(c.Attempts)), truncateError(sendErr.Error()), c.ID, c.Token)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errLeaseLost
		}
		return nil
	})
	switch {
	case errors.Is(err, errLeaseLost):
		w.Logger.WarnContext(ctx, "outbox: lease ran out before the outcome was recorded; another worker owns the row",
			"outbox_id", c.ID, "sent", sendErr == nil)
	case err != nil:
		// The row stays 'sending' and is retried when the lease runs out.
		w.Logger.WarnContext(ctx, "outbox: outcome not recorded", "outbox_id", c.ID, "err", err)
	case sendErr != nil:
		w.Logger.InfoContext(ctx, "outbox: send failed", "outbox_id", c.ID, "attempt", c.Attempts, "err", sendErr)
	}
}

var errLeaseLost = errors.New("outbox: claim lost")

// finishUnsent marks a row final without a message having gone out, giving back the
// grant it consumed (only if the row was still ours).
func (w *OutboxWorker) finishUnsent(ctx context.Context, tx *sql.Tx, now time.Time, c ClaimedNotification, status string, sendErr error) (sql.Result, error) {
	var userID int64
	var templateID string
	err := tx.QueryRowContext(ctx, `SELECT user_id, template_id FROM outbox WHERE id = ? AND status = 'sending' AND claim_token = ? FOR UPDATE`,
		c.ID, c.Token).Scan(&userID, &templateID)
	if errors.Is(err, sql.ErrNoRows) {
		return driverResult(0), nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox: lock %d: %w", c.ID, err)
	}
	if err := refundGrant(ctx, tx, now, userID, templateID); err != nil {
		return nil, err
	}
	return tx.ExecContext(ctx, `UPDATE outbox SET status = ?, grant_consumed = 0, claim_token = NULL, claimed_until = NULL, last_error = ?
		WHERE id = ?`, status, truncateError(sendErr.Error()), c.ID)
}

// driverResult is a sql.Result for "nothing matched".
type driverResult int64

func (r driverResult) LastInsertId() (int64, error) { return 0, nil }
func (r driverResult) RowsAffected() (int64, error) { return int64(r), nil }

// backoff is BackoffBase doubled per failed attempt, capped at BackoffMax. There is
// no jitter: rows fail at different moments anyway, and exact times keep tests exact.
func (w *OutboxWorker) backoff(attempts int) time.Duration {
	d := w.BackoffBase
	for i := 1; i < attempts && d < w.BackoffMax; i++ {
		d *= 2
	}
	return min(d, w.BackoffMax)
}

func newClaimToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// truncateError fits a message into last_error (VARCHAR(255) characters).
func truncateError(s string) string {
	s = strings.ToValidUTF8(s, "")
	if utf8.RuneCountInString(s) <= 255 {
		return s
	}
	return string([]rune(s)[:255])
}
