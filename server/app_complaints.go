package main

import (
	"context"
	"log/slog"
	"time"

	"nantian/models"
	"nantian/models/complaint"
)

// complaintJobsEvery is how often the complaint housekeeping jobs run. Both are
// guarded per row, so running on every instance at once is safe.
const complaintJobsEvery = time.Minute

// initComplaints builds the 民意速办 stores and registers their housekeeping worker.
func (a *app) initComplaints() {
	r := a.cfg.Complaints
	a.complaints = &complaint.Complaints{DB: a.db, Now: models.SystemClock, Loc: a.cfg.Location,
		AcceptWithin: r.AcceptWithin, ContactWithin: r.ContactWithin, ResolveWithin: r.ResolveWithin,
		AutoCloseAfter: r.AutoCloseAfter, DailyLimit: r.DailyLimit, Audit: a.audit}
	a.uploads = &complaint.Uploads{DB: a.db, Dir: a.cfg.UploadDir, Now: models.SystemClock, OrphanAfter: r.OrphanUploadsAfter,
		MaxPending: r.MaxPendingUploads}
	// The worker gets its own copies of the stores, so tests may swap the request
	// stores' clocks while the worker runs.
	jobs, orphans := *a.complaints, *a.uploads
	a.workers = append(a.workers, func(ctx context.Context) { complaintJobs(ctx, a.logger, &jobs, &orphans) })
}

// complaintJobs closes resolved orders left unrated past the limit and deletes
// uploads nobody attached, once a minute until ctx ends.
func complaintJobs(ctx context.Context, logger *slog.Logger, complaints *complaint.Complaints, uploads *complaint.Uploads) {
	t := time.NewTicker(complaintJobsEvery)
	defer t.Stop()
	for {
		runComplaintJobs(ctx, logger, complaints, uploads)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runComplaintJobs runs each job once, draining in batches.
func runComplaintJobs(ctx context.Context, logger *slog.Logger, complaints *complaint.Complaints, uploads *complaint.Uploads) {
	for {
		n, err := complaints.AutoClose(ctx, 100)
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("complaint auto-close failed", "err", err)
			}
			break
		}
		if n < 100 {
			break
		}
	}
	for {
		n, err := uploads.CleanOrphans(ctx, 100)
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("orphan upload cleanup failed", "err", err)
			}
			break
		}
		if n < 100 {
			break
		}
	}
}
