package main

import (
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"nantian/config"
)

// newRedisClient builds the shared Redis client. With REDIS_SENTINEL_ADDRS and
// REDIS_MASTER_NAME it is go-redis's failover client: it asks the sentinels for
// the master, and when they promote a replica (the master died) it drops its
// connections to the old one and reconnects to the new one; commands in flight
// meanwhile fail, and the code treats that like Redis down (gate skipped, the
// MySQL guard decides). Otherwise REDIS_ADDR is one address (a single Redis) or a
// comma-separated list (Redis Cluster's seed nodes). Every multi-key script keeps
// its keys under one hash tag, so all three work.
func newRedisClient(cfg config.Config) redis.UniversalClient {
	const (
		dialTimeout = time.Second
		ioTimeout   = 500 * time.Millisecond
		poolSize    = 64
		// Fail fast while Redis is down so bookings fall back to MySQL quickly.
		maxRetries = 1
	)
	if len(cfg.RedisSentinelAddrs) > 0 {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       cfg.RedisMasterName,
			SentinelAddrs:    cfg.RedisSentinelAddrs,
			SentinelPassword: cfg.RedisSentinelPassword.Reveal(),
			DB:               cfg.RedisDB,
			Password:         cfg.RedisPassword.Reveal(),
			DialTimeout:      dialTimeout,
			ReadTimeout:      ioTimeout,
			WriteTimeout:     ioTimeout,
			PoolSize:         poolSize,
			MaxRetries:       maxRetries,
		})
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        strings.Split(cfg.RedisAddr, ","),
		DB:           cfg.RedisDB,
		Password:     cfg.RedisPassword.Reveal(),
		DialTimeout:  dialTimeout,
		ReadTimeout:  ioTimeout,
		WriteTimeout: ioTimeout,
		PoolSize:     poolSize,
		MaxRetries:   maxRetries,
	})
}
