package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// Notification is a subscribe message to send to a user later. TemplateKey names a
// config.SubscribeTemplates field (booking_result, booking_reminder,
// complaint_update, redemption_ready) so template ids stay configuration.
type Notification struct {
	UserID      int64
	Event       string // e.g. booking_confirmed, complaint_accepted
	TemplateKey string
	Page        string            // mini-program page to open
	Data        map[string]string // template keys (thing1, time2, ...) to values; trimmed when sent
}

// Template keys.
const (
	TemplateBookingResult   = "booking_result"
	TemplateBookingReminder = "booking_reminder"
	TemplateComplaintUpdate = "complaint_update"
	TemplateRedemptionReady = "redemption_ready"
)

// EnqueueNotification writes an outbox row inside the caller's transaction, so the
// notification exists if and only if the change it announces committed.
func EnqueueNotification(ctx context.Context, tx *sql.Tx, now Clock, n Notification) error {
	payload, err := json.Marshal(n.Data)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	t := now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (user_id, event, template_key, page, payload, status, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`, n.UserID, n.Event, n.TemplateKey, n.Page, payload, t, t); err != nil {
		return fmt.Errorf("enqueue notification: %w", err)
	}
	return nil
}
