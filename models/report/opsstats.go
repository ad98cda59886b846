package report

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"nantian/models/complaint"
)

// OpsStats are the backlog figures an operator alerts on: they grow when a
// background job has stopped or a dependency is failing, which request metrics
// alone do not show.
type OpsStats struct {
	OutboxDue          int     // notifications due and not yet sent
	OutboxOldestDueSec float64 // age of the oldest of them
	OutboxFailed       int     // notifications given up on
	ComplaintsOverdue  int     // work orders past one of their 10-30-24 limits
	PendingStarted     int     // pending bookings whose session already started (the reconciler expires them)
}

// CollectOpsStats reads the backlog figures. Each is one indexed query.
func CollectOpsStats(ctx context.Context, db *sql.DB, now time.Time) (OpsStats, error) {
	var s OpsStats
	var oldest sql.NullTime
	err := db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(next_attempt_at) FROM outbox
		WHERE (status = 'pending' AND next_attempt_at <= ?) OR (status = 'sending' AND claimed_until <= ?)`, now, now).Scan(&s.OutboxDue, &oldest)
	if err != nil {
		return s, fmt.Errorf("outbox backlog: %w", err)
	}
	if oldest.Valid {
		s.OutboxOldestDueSec = now.Sub(oldest.Time).Seconds()
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE status = 'failed'`).Scan(&s.OutboxFailed); err != nil {
		return s, fmt.Errorf("outbox failed: %w", err)
	}
	if s.ComplaintsOverdue, err = complaint.CountOverdue(ctx, db, now); err != nil {
		return s, err
	}
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM bookings b JOIN sessions s ON s.id = b.session_id
		WHERE b.status = 'pending' AND s.starts_at <= ?`, now.Add(-time.Minute)).Scan(&s.PendingStarted); err != nil {
		return s, fmt.Errorf("stale pending bookings: %w", err)
	}
	return s, nil
}
