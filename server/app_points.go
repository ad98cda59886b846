package main

import (
	"context"
	"time"

	"nantian/models"
	"nantian/models/points"
)

// pointsArea is the food-waste points area's stores.
type pointsArea struct {
	devices *points.Devices
	points  *points.Points
}

// initPoints builds the points stores and registers the two periodic jobs:
// expiring points at each year end and cancelling unclaimed redemptions. Both are
// safe with several instances running (SKIP LOCKED + guarded updates), so every
// instance runs them.
func (a *app) initPoints() error {
	r := a.cfg.Points
	devices, err := points.NewDevices(a.db, a.redis, models.SystemClock, a.cfg.Location, r.DeviceSecretKey.Reveal())
	if err != nil {
		return err
	}
	points, err := points.NewPoints(a.db, models.SystemClock, a.cfg.Location, points.PointsConfig{
		GramsPerPoint: r.GramsPerPoint, DailyCap: r.DailyCap, MinWeight: r.MinWeightGrams, MaxWeight: r.MaxWeightGrams,
		CodeTTL: r.CodeTTL, ClockSkew: r.ClockSkew, PickupWithin: r.PickupWithin, BacklogMax: r.BacklogMax, Key: r.DeviceSecretKey.Reveal(),
	})
	if err != nil {
		return err
	}
	a.pts = pointsArea{devices: devices, points: points}
	a.workers = append(a.workers, func(ctx context.Context) { a.runPointsJobs(ctx, r.JobEvery) })
	return nil
}

// runPointsJobs runs the jobs every `every` until ctx ends; failures are logged
// and retried next time.
func (a *app) runPointsJobs(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := a.pts.points.ExpirePoints(ctx); err != nil && ctx.Err() == nil {
			a.logger.Warn("points expiry job failed", "err", err)
		} else if n > 0 {
			a.logger.Info("points expired", "residents", n)
		}
		if n, err := a.pts.points.CancelUnclaimed(ctx); err != nil && ctx.Err() == nil {
			a.logger.Warn("unclaimed redemption job failed", "err", err)
		} else if n > 0 {
			a.logger.Info("unclaimed redemptions cancelled and refunded", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
