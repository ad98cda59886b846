// Package staffalert tells the service center's staff, in their 企业微信 group,
// about work orders that need them: a new (or reworked) complaint, and each of the
// 10-30-24 limits (accept, contact, resolve) shortly before it passes.
//
// It is its own small package rather than part of the complaint domain because it
// only follows complaints — it never changes one — and has its own table, worker
// and delivery rules. It declares what an alert says; the adapter that posts it to
// the group robot (wechat.Robot, over silenceper's work/robot) is behind Sender, so
// nothing here knows about WeChat.
//
// At most one message per complaint per limit, with any number of instances:
//
//   - Scan finds complaints due an alert and INSERT IGNOREs one staff_alerts row per
//     (complaint, kind, cycle). The unique key decides: two instances scanning at
//     once, or a restart re-scanning, insert nothing new. This is a guarded insert,
//     not a lease, so no instance has to be "the" runner.
//   - The sender claims one pending row at a time (SELECT ... FOR UPDATE SKIP LOCKED,
//     then status 'sending'), sends it outside any transaction and marks it sent. A
//     row found still 'sending' after the lease (the sender died mid-send, and the
//     message may have gone out) is marked 'abandoned', not resent: a duplicate is
//     what the rule forbids, and a missed nudge is covered by the console's queue,
//     where the overdue order shows in red anyway.
//   - Failed sends (WeCom down, errcode, rate limit) go back to pending with an
//     exponential backoff, up to MaxAttempts.
//
// Messages are built when sent, from the complaint as it is then: an alert whose
// step was done meanwhile is skipped, and the time left is current. They never
// carry the resident's phone number: the contact phone is not read, and digit runs
// that look like a phone number in the text are masked.
package staffalert

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"nantian/models"
	"nantian/models/complaint"
)

// Alert kinds: a new work order, and one per limit of the 10-30-24 clock.
const (
	KindNew     = "new"
	KindAccept  = complaint.StepAccept
	KindContact = complaint.StepContact
	KindResolve = complaint.StepResolve
)

// Row statuses.
const (
	StatusPending   = "pending"
	StatusSending   = "sending"
	StatusSent      = "sent"
	StatusSkipped   = "skipped"
	StatusFailed    = "failed"
	StatusAbandoned = "abandoned"
)

// Sender posts one markdown message to the staff group. wechat.Robot implements it.
type Sender interface {
	SendMarkdown(ctx context.Context, content string) error
}

// Alerts scans for work orders needing attention and sends the alerts.
type Alerts struct {
	DB     *sql.DB
	Sender Sender
	Now    models.Clock
	Loc    *time.Location // times in messages (Asia/Shanghai)
	Logger *slog.Logger

	// Leads: how long before each limit passes its alert is sent.
	AcceptLead, ContactLead, ResolveLead time.Duration
	// Stale: a complaint filed, or a limit passed, longer ago than this gets no
	// alert (after an outage, or when alerts are first switched on, the group is
	// not flooded with old news; the console shows those in red).
	Stale time.Duration
	// ConsoleURL, when set, is the console's public origin; messages link to the
	// work order's page there.
	ConsoleURL string

	PollEvery   time.Duration
	Lease       time.Duration // a row 'sending' for longer is abandoned; must exceed one send
	BackoffBase time.Duration
	BackoffMax  time.Duration
	MaxAttempts int
	// PerMinute caps messages sent per rolling minute by all instances (WeCom allows
	// a group robot 20); past it sending waits for the next poll.
	PerMinute int
	// Batch bounds the rows one scan inserts per kind and one poll sends.
	Batch int
}

// Alert kinds other than "new" are the complaint domain's steps; a "new" alert is
// about an order still waiting to be accepted.
func stepOpen(kind string) []string {
	if kind == KindNew {
		return complaint.StepOpenStatuses(complaint.StepAccept)
	}
	return complaint.StepOpenStatuses(kind)
}

// dueColumn is the stored due time each limit alert is about.
var dueColumn = map[string]string{
	KindAccept:  "accept_due_at",
	KindContact: "contact_due_at",
	KindResolve: "resolve_due_at",
}

// Kinds in the order a scan inserts them (a new order's "new" before its limits).
var kinds = []string{KindNew, KindAccept, KindContact, KindResolve}

func (a *Alerts) lead(kind string) time.Duration {
	switch kind {
	case KindAccept:
		return a.AcceptLead
	case KindContact:
		return a.ContactLead
	case KindResolve:
		return a.ResolveLead
	}
	return 0
}

func inList(s string, list []string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

// Scan inserts the alerts now due: for each kind, the complaints whose step is
// still open and that have no row for this cycle yet. It returns how many rows it
// inserted. Safe to run on every instance at once (see the package comment).
func (a *Alerts) Scan(ctx context.Context) (int, error) {
	now := a.Now()
	inserted := 0
	for _, kind := range kinds {
		open := stepOpen(kind)
		args := make([]any, 0, len(open)+4)
		for _, s := range open {
			args = append(args, s)
		}
		var cond, due string
		if kind == KindNew {
			// A new order, or one sent back for rework (its cycle starts again).
			cond, due = `c.cycle_started_at >= ?`, `NULL`
			args = append(args, now.Add(-a.Stale))
		} else {
			col := "c." + dueColumn[kind]
			cond, due = col+` <= ? AND `+col+` >= ?`, col
			args = append(args, now.Add(a.lead(kind)), now.Add(-a.Stale))
		}
		args = append(args, kind, a.Batch)
		q := `SELECT c.id, c.reopen_count, ` + due + ` FROM complaints c
			WHERE c.status IN (` + marks(len(open)) + `) AND ` + cond + `
			AND NOT EXISTS (SELECT 1 FROM staff_alerts s WHERE s.complaint_id = c.id AND s.kind = ? AND s.cycle = c.reopen_count)
			ORDER BY c.id LIMIT ?`
		rows, err := a.DB.QueryContext(ctx, q, args...)
		if err != nil {
			return inserted, fmt.Errorf("scan %s alerts: %w", kind, err)
		}
		type cand struct {
			id    int64
			cycle int
			due   sql.NullTime
		}
		var cands []cand
		for rows.Next() {
			var c cand
			if err := rows.Scan(&c.id, &c.cycle, &c.due); err != nil {
				rows.Close()
				return inserted, fmt.Errorf("scan %s alert candidate: %w", kind, err)
			}
			cands = append(cands, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return inserted, fmt.Errorf("scan %s alerts: %w", kind, err)
		}
		for _, c := range cands {
			// The unique key (complaint_id, kind, cycle) makes this the guard: a
			// concurrent scan's row wins and this one inserts nothing.
			var res sql.Result
			err := models.RetryDeadlock(ctx, func() (err error) {
				res, err = a.DB.ExecContext(ctx, `INSERT IGNORE INTO staff_alerts
					(complaint_id, kind, cycle, due_at, status, next_attempt_at, created_at)
					VALUES (?, ?, ?, ?, 'pending', ?, ?)`, c.id, kind, c.cycle, c.due, now, now)
				return err
			})
			if err != nil {
				return inserted, fmt.Errorf("insert %s alert for complaint %d: %w", kind, c.id, err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				inserted++
			}
		}
	}
	return inserted, nil
}

// claimed is a row this sender moved to 'sending'.
type claimed struct {
	id          int64
	complaintID int64
	kind        string
	cycle       int
	attempts    int
}

// claim takes the oldest due pending row, if any, retrying when InnoDB picks the
// claim as a deadlock victim against a concurrent scan or finish.
func (a *Alerts) claim(ctx context.Context, now time.Time) (c *claimed, err error) {
	err = models.RetryDeadlock(ctx, func() error {
		c, err = a.claimOnce(ctx, now)
		return err
	})
	return c, err
}

func (a *Alerts) claimOnce(ctx context.Context, now time.Time) (*claimed, error) {
	tx, err := a.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin claim: %w", err)
	}
	defer tx.Rollback()
	var c claimed
	err = tx.QueryRowContext(ctx, `SELECT id, complaint_id, kind, cycle, attempts FROM staff_alerts
		WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, now).
		Scan(&c.id, &c.complaintID, &c.kind, &c.cycle, &c.attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim alert: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE staff_alerts SET status = 'sending', attempts = attempts + 1, claimed_at = ? WHERE id = ?`, now, c.id); err != nil {
		return nil, fmt.Errorf("mark alert sending: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit claim: %w", err)
	}
	c.attempts++
	return &c, nil
}

// finish records a claimed row's outcome. sent and abandoned are both accepted as
// the current state, so a slow send that was abandoned meanwhile still ends sent.
func (a *Alerts) finish(ctx context.Context, id int64, status string, now time.Time, next time.Time, errText string) error {
	var sentAt any
	if status == StatusSent {
		sentAt = now
	}
	err := models.RetryDeadlock(ctx, func() error {
		_, err := a.DB.ExecContext(ctx, `UPDATE staff_alerts SET status = ?, sent_at = ?, next_attempt_at = ?, last_error = ?
			WHERE id = ? AND status IN ('sending','abandoned')`, status, sentAt, next, truncate(errText, 300), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish alert %d: %w", id, err)
	}
	return nil
}

// abandon marks rows left 'sending' past the lease (their sender died).
func (a *Alerts) abandon(ctx context.Context, now time.Time) error {
	var res sql.Result
	err := models.RetryDeadlock(ctx, func() (err error) {
		res, err = a.DB.ExecContext(ctx, `UPDATE staff_alerts SET status = 'abandoned', last_error = 'sender stopped while sending'
			WHERE status = 'sending' AND claimed_at < ?`, now.Add(-a.Lease))
		return err
	})
	if err != nil {
		return fmt.Errorf("abandon stuck alerts: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		a.Logger.WarnContext(ctx, "staff alerts: abandoned rows whose sender stopped mid-send (not resent)", "rows", n)
	}
	return nil
}

// sentLastMinute counts messages sent by every instance in the last minute.
func (a *Alerts) sentLastMinute(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := a.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM staff_alerts WHERE status = 'sent' AND sent_at > ?`, now.Add(-time.Minute)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recent alerts: %w", err)
	}
	return n, nil
}

// Send works through up to Batch due rows and returns how many it handled (sent,
// skipped, failed or rescheduled).
func (a *Alerts) Send(ctx context.Context) (int, error) {
	if err := a.abandon(ctx, a.Now()); err != nil {
		return 0, err
	}
	handled := 0
	for handled < a.Batch {
		now := a.Now()
		if a.PerMinute > 0 {
			n, err := a.sentLastMinute(ctx, now)
			if err != nil {
				return handled, err
			}
			if n >= a.PerMinute {
				return handled, nil
			}
		}
		c, err := a.claim(ctx, now)
		if err != nil || c == nil {
			return handled, err
		}
		handled++
		if err := a.deliver(ctx, c, now); err != nil {
			return handled, err
		}
	}
	return handled, nil
}

// deliver builds the message from the complaint as it is now and sends it.
func (a *Alerts) deliver(ctx context.Context, c *claimed, now time.Time) error {
	wo, err := a.loadOrder(ctx, c.complaintID)
	if errors.Is(err, sql.ErrNoRows) {
		return a.finish(ctx, c.id, StatusSkipped, now, now, "complaint gone")
	}
	if err != nil {
		_ = a.finish(ctx, c.id, StatusPending, now, now.Add(a.BackoffBase), err.Error())
		return err
	}
	if why := a.irrelevant(c, wo, now); why != "" {
		return a.finish(ctx, c.id, StatusSkipped, now, now, why)
	}
	msg := a.message(c.kind, wo, now)
	sendErr := a.Sender.SendMarkdown(ctx, msg)
	if sendErr == nil {
		a.Logger.InfoContext(ctx, "staff alert sent", "alert_id", c.id, "complaint_id", c.complaintID, "kind", c.kind)
		return a.finish(ctx, c.id, StatusSent, now, now, "")
	}
	if ctx.Err() != nil {
		// Shutting down: put it back for the next instance without counting it.
		_, err := a.DB.ExecContext(context.WithoutCancel(ctx), `UPDATE staff_alerts SET status = 'pending', attempts = attempts - 1
			WHERE id = ? AND status = 'sending'`, c.id)
		return err
	}
	if c.attempts >= a.MaxAttempts {
		a.Logger.WarnContext(ctx, "staff alert failed, giving up", "alert_id", c.id, "complaint_id", c.complaintID, "kind", c.kind, "attempts", c.attempts, "err", sendErr)
		return a.finish(ctx, c.id, StatusFailed, now, now, sendErr.Error())
	}
	a.Logger.WarnContext(ctx, "staff alert failed, will retry", "alert_id", c.id, "complaint_id", c.complaintID, "kind", c.kind, "attempts", c.attempts, "err", sendErr)
	return a.finish(ctx, c.id, StatusPending, now, now.Add(a.backoff(c.attempts)), sendErr.Error())
}

// backoff doubles from BackoffBase per attempt up to BackoffMax.
func (a *Alerts) backoff(attempts int) time.Duration {
	d := a.BackoffBase
	for i := 1; i < attempts && d < a.BackoffMax; i++ {
		d *= 2
	}
	return min(d, a.BackoffMax)
}

// workOrder is what a message says about a complaint: the complaint's own
// columns (its ReopenCount is the alert's cycle), never its contact phone.
type workOrder struct {
	complaint.Complaint
}

func (a *Alerts) loadOrder(ctx context.Context, id int64) (workOrder, error) {
	var w workOrder
	err := a.DB.QueryRowContext(ctx, `SELECT id, status, category, estate, location, content, needs_review, reopen_count,
		created_at, accept_due_at, contact_due_at, resolve_due_at FROM complaints WHERE id = ?`, id).
		Scan(&w.ID, &w.Status, &w.Category, &w.Estate, &w.Location, &w.Content, &w.NeedsReview, &w.ReopenCount,
			&w.CreatedAt, &w.AcceptDueAt, &w.ContactDueAt, &w.ResolveDueAt)
	if err != nil {
		return w, fmt.Errorf("load complaint %d for alert: %w", id, err)
	}
	return w, nil
}

// due is the due time a kind of alert is about ("new": the accept limit).
func (w workOrder) due(kind string) time.Time {
	if kind == KindNew {
		return w.AcceptDueAt
	}
	return w.DueAt(kind)
}

// irrelevant says why an alert should not go out any more ("" when it should).
func (a *Alerts) irrelevant(c *claimed, w workOrder, now time.Time) string {
	if w.ReopenCount != c.cycle {
		return "reworked since"
	}
	if !inList(w.Status, stepOpen(c.kind)) {
		return "step done: " + w.Status
	}
	if c.kind != KindNew && now.Sub(w.due(c.kind)) > a.Stale {
		return "limit passed too long ago"
	}
	return ""
}

// Labels of the limits in messages.
var limitWord = map[string]string{
	KindAccept:  "受理",
	KindContact: "联系居民",
	KindResolve: "办结",
}

// phoneLike matches digit runs that may be a phone number (7+ digits, spaces or
// dashes between): residents sometimes type theirs into the text.
var phoneLike = regexp.MustCompile(`\+?[0-9０-９](?:[0-9０-９ -]{5,})[0-9０-９]`)

// maskPhones hides phone-like digit runs.
func maskPhones(s string) string {
	return phoneLike.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, r := range m {
			if (r >= '0' && r <= '9') || (r >= '０' && r <= '９') {
				digits++
			}
		}
		if digits < 7 {
			return m
		}
		return "（号码已隐去）"
	})
}

// markdownUnsafe are characters that would change a WeCom markdown message's
// layout if taken from a resident's text.
var markdownUnsafe = strings.NewReplacer("\r", " ", "\n", " ", "<", "＜", ">", "＞", "[", "［", "]", "］", "*", "＊", "`", "'", "#", "＃")

// quote makes resident text safe to show: no phones, no markup, at most n runes.
func quote(s string, n int) string {
	return truncate(markdownUnsafe.Replace(maskPhones(strings.TrimSpace(s))), n)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// message is the markdown sent for an alert of kind about w, at now.
func (a *Alerts) message(kind string, w workOrder, now time.Time) string {
	var b strings.Builder
	switch {
	case kind == KindNew && w.Status == complaint.ComplaintReopened:
		fmt.Fprintf(&b, "**民意速办 · 退回重办** 第 %d 号\n", w.ID)
	case kind == KindNew:
		fmt.Fprintf(&b, "**民意速办 · 新诉求** 第 %d 号\n", w.ID)
	default:
		due := w.due(kind)
		state := "即将超时"
		if !now.Before(due) {
			state = "已超时"
		}
		fmt.Fprintf(&b, "**<font color=\"warning\">民意速办 · %s%s</font>** 第 %d 号\n", limitWord[kind], state, w.ID)
	}
	fmt.Fprintf(&b, "> 类别：%s\n", quote(w.Category, 16))
	place := quote(w.Estate, 32)
	if loc := quote(w.Location, 40); loc != "" {
		place += " · " + loc
	}
	fmt.Fprintf(&b, "> 地点：%s\n", place)
	if w.NeedsReview {
		b.WriteString("> 内容：（待人工审核，请在工作台查看）\n")
	} else {
		fmt.Fprintf(&b, "> 内容：%s\n", quote(w.Content, 60))
	}
	if kind == KindNew {
		fmt.Fprintf(&b, "> 受理时限：%s（%s）\n", a.clock(w.AcceptDueAt, now), remaining(w.AcceptDueAt, now))
	} else {
		due := w.due(kind)
		fmt.Fprintf(&b, "> %s时限：<font color=\"warning\">%s（%s）</font>\n", limitWord[kind], a.clock(due, now), remaining(due, now))
	}
	if a.ConsoleURL != "" {
		fmt.Fprintf(&b, "[在工作台处理](%s/console/complaints/%s)", strings.TrimRight(a.ConsoleURL, "/"), strconv.FormatInt(w.ID, 10))
	}
	return strings.TrimRight(b.String(), "\n")
}

// clock shows t in the business time zone: "15:04" today, "1月2日 15:04" otherwise.
func (a *Alerts) clock(t, now time.Time) string {
	lt, ln := t.In(a.Loc), now.In(a.Loc)
	if lt.Year() == ln.Year() && lt.YearDay() == ln.YearDay() {
		return lt.Format("15:04")
	}
	return fmt.Sprintf("%d月%d日 %s", lt.Month(), lt.Day(), lt.Format("15:04"))
}

// remaining says how long until due ("还剩 3 分钟") or since ("已超时 2 分钟").
func remaining(due, now time.Time) string {
	d := due.Sub(now)
	var word string
	var mins int
	if d > 0 {
		word, mins = "还剩", int((d+time.Minute-1)/time.Minute) // rounded up: "还剩 1 分钟" until it is gone
	} else {
		word, mins = "已超时", max(1, int(-d/time.Minute))
	}
	if mins < 60 {
		return fmt.Sprintf("%s %d 分钟", word, mins)
	}
	h, m := mins/60, mins%60
	if m == 0 {
		return fmt.Sprintf("%s %d 小时", word, h)
	}
	return fmt.Sprintf("%s %d 小时 %d 分钟", word, h, m)
}

// RunOnce scans and then sends.
func (a *Alerts) RunOnce(ctx context.Context) error {
	if _, err := a.Scan(ctx); err != nil {
		return err
	}
	_, err := a.Send(ctx)
	return err
}

// Run scans and sends every PollEvery until ctx ends.
func (a *Alerts) Run(ctx context.Context) {
	t := time.NewTicker(a.PollEvery)
	defer t.Stop()
	for {
		if err := a.RunOnce(ctx); err != nil && ctx.Err() == nil {
			a.Logger.WarnContext(ctx, "staff alerts: poll failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
