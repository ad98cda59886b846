package main

import (
	"fmt"
	"time"

	"nantian/models"
	"nantian/models/staffalert"
	"nantian/wechat"
)

// initStaffAlerts wires the 企业微信 group-robot alerts (models/staffalert) when
// WECOM_ROBOT_WEBHOOK is set. Every instance runs the worker: scans are guarded
// inserts and sends are SKIP LOCKED claims, so running several is safe.
func (a *app) initStaffAlerts() error {
	r := a.cfg.Alerts
	if r.RobotWebhook == "" {
		return nil
	}
	bot, err := wechat.NewRobot(r.RobotWebhook.Reveal(), 0)
	if err != nil {
		return fmt.Errorf("staff alerts: %w", err)
	}
	a.alerts = &staffalert.Alerts{
		DB: a.db, Sender: bot, Now: models.SystemClock, Loc: a.cfg.Location, Logger: a.logger,
		AcceptLead: r.AcceptLead, ContactLead: r.ContactLead, ResolveLead: r.ResolveLead,
		Stale: r.Stale, ConsoleURL: r.ConsoleURL, PollEvery: r.PollEvery,
		// A send is bounded by the HTTP timeout (5 s); a row 'sending' for two
		// minutes belongs to a sender that died.
		Lease:       2 * time.Minute,
		BackoffBase: 30 * time.Second, BackoffMax: 10 * time.Minute, MaxAttempts: 8,
		PerMinute: 20, // WeCom's limit per group robot
		Batch:     50,
	}
	a.workers = append(a.workers, a.alerts.Run)
	return nil
}
