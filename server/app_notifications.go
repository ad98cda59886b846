package main

import (
	"nantian/models"
	"nantian/models/notify"
	"nantian/wechat"
)

// initNotifications builds the outbox worker that sends subscribe messages and
// registers it as a background worker (every instance runs one; claims are
// SKIP LOCKED with a lease, so rows are shared out, never sent by two at once).
func (a *app) initNotifications() {
	n := a.cfg.Notify
	t := a.cfg.Templates
	a.outbox = &notify.OutboxWorker{
		DB:     a.db,
		Sender: wechat.Notifier{Client: a.wx},
		Templates: map[string]string{
			models.TemplateBookingResult:   t.BookingResult,
			models.TemplateBookingReminder: t.BookingReminder,
			models.TemplateComplaintUpdate: t.ComplaintUpdate,
			models.TemplateRedemptionReady: t.RedemptionReady,
		},
		Now:         models.SystemClock,
		Logger:      a.logger,
		Batch:       n.Batch,
		Lease:       n.Lease,
		BackoffBase: n.BackoffBase,
		BackoffMax:  n.BackoffMax,
		MaxAttempts: n.MaxAttempts,
		PollEvery:   n.PollEvery,
	}
	if n.WorkerEnabled {
		a.workers = append(a.workers, a.outbox.Run)
	}
}
