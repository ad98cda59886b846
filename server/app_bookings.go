package main

import (
	"time"

	"nantian/models"
	"nantian/models/booking"
	"nantian/models/catalog"
)

// bookingsArea is the booking engine's part of the app: the gate, the engine, the
// catalogue cache, the Idempotency-Key store and the reconciler.
type bookingsArea struct {
	engine       *booking.Bookings
	gate         *booking.Gate
	catalogCache *catalog.CatalogCache
	idempotency  *models.Idempotency
	reconciler   *booking.Reconciler
}

// initBookings builds the booking engine and starts its reconciler with the app.
func (a *app) initBookings() {
	cfg := a.cfg.Booking
	gate := &booking.Gate{R: a.redis}
	cache := &catalog.CatalogCache{TTL: time.Second}
	eng := &booking.Bookings{
		DB: a.db, Gate: gate, GateEnabled: cfg.GateEnabled, Now: models.SystemClock, Loc: a.cfg.Location,
		Rules: booking.BookingRules{
			FreeCancelBefore: cfg.FreeCancelBefore, NoShowLimit: cfg.NoShowLimit,
			NoShowWindow: cfg.NoShowWindow, SuspendFor: cfg.SuspendFor,
			CheckInOpensBefore: cfg.CheckInOpensBefore,
		},
		Cache: cache,
	}
	gate.Load = eng.GateState
	every := cfg.ReconcileEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	a.bookings = &bookingsArea{
		engine: eng, gate: gate, catalogCache: cache,
		idempotency: &models.Idempotency{R: a.redis, TTL: 25 * time.Hour, RunningTTL: 30 * time.Second},
		reconciler:  &booking.Reconciler{B: eng, Redis: a.redis, Every: every, Log: a.logger, OnRepair: a.reconcilerRepairs().Inc},
	}
	a.workers = append(a.workers, a.bookings.reconciler.Run)
}
