package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Idempotency stores Idempotency-Key outcomes in Redis (api.md, Conventions). A key
// is scoped by the caller (who may only replay their own requests) and remembers
// the hash of the first request's body and, once it finished, its status and body.
//
// Use it through handlers.Idempotent (middleware); the store API is:
//
//	rec, started, err := s.Begin(ctx, scope, key, hash)
//	  started: this request owns the key (SET NX, held RunningTTL while it runs);
//	  otherwise rec is what is stored: Running (→ 409 idempotency_in_progress),
//	  a different Hash (→ 422 idempotency_key_reused), or the finished response.
//	s.Finish(ctx, scope, key, rec)  // keep the outcome for TTL (≥ 24 h)
//	s.Abandon(ctx, scope, key)      // forget it (5xx: let the retry run again)
type Idempotency struct {
	R          *Redis
	TTL        time.Duration // how long outcomes are kept; at least 24 h
	RunningTTL time.Duration // how long a started request holds the key if it never finishes
}

// IdempotencyRecord is what is stored under a key.
type IdempotencyRecord struct {
	Running     bool   `json:"running,omitempty"`
	Hash        string `json:"hash"`
	Status      int    `json:"status,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

func (s *Idempotency) key(scope, key string) string { return s.R.Key("idem", scope, key) }

// Begin claims the key for this request or returns what is stored under it.
func (s *Idempotency) Begin(ctx context.Context, scope, key, hash string) (IdempotencyRecord, bool, error) {
	running, _ := json.Marshal(IdempotencyRecord{Running: true, Hash: hash})
	k := s.key(scope, key)
	for range 3 {
		ok, err := s.R.Client.SetNX(ctx, k, running, s.RunningTTL).Result()
		if err != nil {
			return IdempotencyRecord{}, false, fmt.Errorf("idempotency begin: %w", err)
		}
		if ok {
			return IdempotencyRecord{}, true, nil
		}
		raw, err := s.R.Client.Get(ctx, k).Bytes()
		if errors.Is(err, redis.Nil) {
			continue // expired between the two calls
		}
		if err != nil {
			return IdempotencyRecord{}, false, fmt.Errorf("idempotency get: %w", err)
		}
		var rec IdempotencyRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return IdempotencyRecord{}, false, fmt.Errorf("idempotency decode: %w", err)
		}
		return rec, false, nil
	}
	return IdempotencyRecord{}, false, errors.New("idempotency: key flapping")
}

// Finish stores the outcome for TTL.
func (s *Idempotency) Finish(ctx context.Context, scope, key string, rec IdempotencyRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("idempotency encode: %w", err)
	}
	if err := s.R.Client.Set(ctx, s.key(scope, key), raw, s.TTL).Err(); err != nil {
		return fmt.Errorf("idempotency finish: %w", err)
	}
	return nil
}

// Abandon forgets the key so a retry runs again.
func (s *Idempotency) Abandon(ctx context.Context, scope, key string) {
	_ = s.R.Client.Del(ctx, s.key(scope, key)).Err()
}
