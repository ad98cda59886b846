package models

import "time"

// SetWatchStartDelay makes every kill watcher goroutine start late, as on a
// loaded machine, for TestKillNeverHitsTheNextStatement; it returns the undo.
func SetWatchStartDelay(d time.Duration) (undo func()) {
	watchStartDelay = d
	return func() { watchStartDelay = 0 }
}
