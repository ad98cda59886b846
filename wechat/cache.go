package wechat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/cache"
)

// Cache is silenceper's cache interface, re-exported so callers can supply their own
// (Config.Cache) without importing silenceper themselves.
type Cache = cache.Cache

// cacheOpTimeout bounds a Redis call made through silenceper's context-free cache
// methods (its StableAccessToken uses Get/Set without a context), so a hung Redis
// cannot stall a login for longer than this.
const cacheOpTimeout = time.Second

// errCacheStore marks a failure to store in the cache. The token handle recognises
// it and keeps the freshly fetched token: a Redis outage must degrade to "one token
// request per call", never to "WeChat is down".
var errCacheStore = errors.New("wechat: token cache store failed")

// RedisCache implements silenceper's cache.ContextCache over go-redis v9 so every API
// instance shares one access token instead of each fetching its own: WeChat limits
// token requests per day, and the stable token is the same for all of them anyway.
// Every key is prefixed with the configured prefix (for example "nantian:wechat:"),
// so deployments and test runs can share one Redis. Only string values are stored,
// which is all silenceper caches.
type RedisCache struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ cache.ContextCache = (*RedisCache)(nil)

// NewRedisCache returns a cache storing keys as keyPrefix+key in rdb.
func NewRedisCache(rdb redis.UniversalClient, keyPrefix string) *RedisCache {
	return &RedisCache{rdb: rdb, prefix: keyPrefix}
}

// Get implements cache.Cache with a bounded background context.
func (c *RedisCache) Get(key string) any {
	ctx, cancel := context.WithTimeout(context.Background(), cacheOpTimeout)
	defer cancel()
	return c.GetContext(ctx, key)
}

// GetContext returns the stored string, or nil when the key is missing or Redis
// fails: for a token cache both mean "fetch a fresh one", and silenceper's interface
// has no way to report the difference. A nil interface (not a typed nil) is returned
// because silenceper type-asserts non-nil values to string.
func (c *RedisCache) GetContext(ctx context.Context, key string) any {
	v, err := c.rdb.Get(ctx, c.prefix+key).Result()
	if err != nil {
		return nil
	}
	return v
}

// Set implements cache.Cache with a bounded background context.
func (c *RedisCache) Set(key string, val any, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), cacheOpTimeout)
	defer cancel()
	return c.SetContext(ctx, key, val, timeout)
}

// SetContext stores val, which must be a string, for timeout. A timeout of zero
// stores without expiry; a negative one (a token that is already as good as
// expired) stores nothing.
func (c *RedisCache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	s, ok := val.(string)
	if !ok {
		return fmt.Errorf("%w: unsupported value type %T", errCacheStore, val)
	}
	if timeout < 0 {
		return nil
	}
	if err := c.rdb.Set(ctx, c.prefix+key, s, timeout).Err(); err != nil {
		return fmt.Errorf("%w: %w", errCacheStore, err)
	}
	return nil
}

// IsExist implements cache.Cache with a bounded background context.
func (c *RedisCache) IsExist(key string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), cacheOpTimeout)
	defer cancel()
	return c.IsExistContext(ctx, key)
}

// IsExistContext reports whether the key exists; a Redis failure counts as absent.
func (c *RedisCache) IsExistContext(ctx context.Context, key string) bool {
	n, err := c.rdb.Exists(ctx, c.prefix+key).Result()
	return err == nil && n > 0
}

// Delete implements cache.Cache with a bounded background context.
func (c *RedisCache) Delete(key string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cacheOpTimeout)
	defer cancel()
	return c.DeleteContext(ctx, key)
}

// DeleteContext removes the key; deleting a missing key is not an error.
func (c *RedisCache) DeleteContext(ctx context.Context, key string) error {
	if err := c.rdb.Del(ctx, c.prefix+key).Err(); err != nil {
		return fmt.Errorf("wechat: token cache delete: %w", err)
	}
	return nil
}
