package models

import (
	"context"
	"log/slog"
	"time"
)

// EveryTick runs pass once a period until ctx ends, the first time one period
// after the start (a worker started with the server leaves its first moments
// to the requests). A pass that fails is logged with msg and the pass is simply
// tried again next time: each is a set of guarded transitions, so a half-done
// pass leaves nothing to repair. A failure because ctx ended is how the loop
// stops, not an error, and is not logged.
func EveryTick(ctx context.Context, every time.Duration, log *slog.Logger, msg string, pass func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := pass(ctx); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, msg, "err", err)
			}
		}
	}
}
