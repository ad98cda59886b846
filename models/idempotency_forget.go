package models

import (
	"context"
	"fmt"
	"strconv"
)

// ForgetUser deletes every idempotent reply kept for the user's requests (their
// scope is "u<id>:<route>"), on account deletion: each holds a response body
// with the resident's data for up to TTL.
func (s *Idempotency) ForgetUser(ctx context.Context, userID int64) error {
	if s == nil {
		return nil
	}
	// The scope has its own ':' after the id, so u12 never matches u123's keys.
	// SCAN walks one node: the service runs on a single Redis or Sentinel.
	pattern := s.key("u"+strconv.FormatInt(userID, 10), "*")
	iter := s.R.Client.Scan(ctx, 0, pattern, 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			if err := s.R.Client.Unlink(ctx, keys...).Err(); err != nil {
				return fmt.Errorf("forget idempotent replies: %w", err)
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan idempotent replies: %w", err)
	}
	if len(keys) > 0 {
		if err := s.R.Client.Unlink(ctx, keys...).Err(); err != nil {
			return fmt.Errorf("forget idempotent replies: %w", err)
		}
	}
	return nil
}
