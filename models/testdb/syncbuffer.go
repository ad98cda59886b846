package testdb

import (
	"bytes"
	"os"
	"sync"
)

// SyncBuffer is a goroutine-safe log sink for tests: what a server's
// goroutines are still writing, read while they write (the app's log lines,
// a fake's output). With TEST_LOG set the lines also go to stderr, to watch
// a failing test's server.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if os.Getenv("TEST_LOG") != "" {
		os.Stderr.Write(p)
	}
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
