package notify

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"nantian/models"
)

// Reminders queues the "your activity is tomorrow" subscribe message for each
// confirmed booking once its session is less than Before away. Exactly once,
// with any number of instances and restarts: the guarded UPDATE that sets
// bookings.reminder_queued_at (only while it is NULL and the booking still
// confirmed) and the outbox row are one transaction, so a booking gets its row
// if and only if its flag was set, and only one transaction can set it.
//
// A booking made when its session is already less than Before away is reminded
// on the next pass; one cancelled or no longer confirmed by then gets nothing.
// Walk-in residents (no openid) are passed over, not flagged: WeChat could not
// deliver to them, and if they merge into a WeChat account before the session
// the moved booking is still due.
type Reminders struct {
	DB     *sql.DB
	Now    models.Clock
	Loc    *time.Location
	Before time.Duration // BOOKING_REMINDER_BEFORE; 0 turns reminders off
	Every  time.Duration // how often due bookings are looked for
	Batch  int
	Log    *slog.Logger
}

type dueReminder struct {
	bookingID, userID int64
	title, venue      string
	startsAt          time.Time
}

// QueueDue queues every reminder due now and returns how many this call queued.
func (r *Reminders) QueueDue(ctx context.Context) (int, error) {
	if r.Before <= 0 {
		return 0, nil
	}
	batch := r.Batch
	if batch <= 0 {
		batch = 200
	}
	queued := 0
	for {
		now := r.Now()
		due, err := r.due(ctx, now, batch)
		if err != nil {
			return queued, err
		}
		for _, d := range due {
			ok, err := r.queue(ctx, d)
			if err != nil {
				return queued, err
			}
			if ok {
				queued++
			}
		}
		if len(due) < batch || ctx.Err() != nil {
			return queued, ctx.Err()
		}
	}
}

// due finds confirmed, not yet reminded bookings of open sessions starting in
// (now, now+Before], walking sessions by start time (idx_sessions_starts) and
// their bookings by status (idx_bookings_session_status).
func (r *Reminders) due(ctx context.Context, now time.Time, limit int) ([]dueReminder, error) {
	rows, err := r.DB.QueryContext(ctx, `SELECT b.id, b.user_id, p.title, COALESCE(NULLIF(s.venue, ''), p.venue), s.starts_at
		FROM sessions s
		JOIN bookings b ON b.session_id = s.id AND b.status = 'confirmed' AND b.reminder_queued_at IS NULL
		JOIN programs p ON p.id = s.program_id
		JOIN users u ON u.id = b.user_id AND u.openid IS NOT NULL
		WHERE s.starts_at > ? AND s.starts_at <= ? AND s.status = 'open'
		ORDER BY b.id LIMIT ?`, now, now.Add(r.Before), limit)
	if err != nil {
		return nil, fmt.Errorf("due reminders: %w", err)
	}
	defer rows.Close()
	var out []dueReminder
	for rows.Next() {
		var d dueReminder
		if err := rows.Scan(&d.bookingID, &d.userID, &d.title, &d.venue, &d.startsAt); err != nil {
			return nil, fmt.Errorf("scan reminder: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// queue claims one booking's reminder and writes its outbox row in the same
// transaction; false means another instance (or a status change) got there first.
func (r *Reminders) queue(ctx context.Context, d dueReminder) (bool, error) {
	var claimed bool
	err := models.InTxRetry(ctx, r.DB, func(tx *sql.Tx) error {
		claimed = false
		now := r.Now()
		res, err := tx.ExecContext(ctx, `UPDATE bookings SET reminder_queued_at = ?
				WHERE id = ? AND status = 'confirmed' AND reminder_queued_at IS NULL`, now, d.bookingID)
		if err != nil {
			return fmt.Errorf("claim reminder %d: %w", d.bookingID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		claimed = true
		return models.EnqueueNotification(ctx, tx, r.Now, models.Notification{
			UserID:      d.userID,
			Event:       "booking_reminder",
			TemplateKey: models.TemplateBookingReminder,
			Page:        "pages/bookings/detail?id=" + strconv.FormatInt(d.bookingID, 10),
			Data: map[string]string{
				"thing1": d.title,
				"time2":  d.startsAt.In(r.Loc).Format("2006-01-02 15:04"),
				"thing3": d.venue,
			},
		})
	})
	return claimed, err
}

// Run queues due reminders every Every until ctx ends.
func (r *Reminders) Run(ctx context.Context) {
	if r.Before <= 0 {
		return
	}
	every := r.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.QueueDue(ctx); err != nil && ctx.Err() == nil && r.Log != nil {
			r.Log.Warn("booking reminders", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
