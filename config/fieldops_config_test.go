package config

import (
	"strings"
	"testing"
)

// The old per-IP login limit counted every successful login, which locks out an
// estate behind one carrier IP; setting it now fails the start with a message
// naming its replacements instead of being silently reinterpreted.
func TestOldLoginLimitRefused(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.RateLimits.LoginRefusedPerIP != 10 || c.RateLimits.LoginPerOpenID != 10 {
		t.Fatalf("defaults: %+v %v", c.RateLimits, err)
	}
	_, err = Load(env(map[string]string{"RATE_LOGIN_PER_MIN": "30"}))
	if err == nil || !strings.Contains(err.Error(), "RATE_LOGIN_REFUSED_PER_MIN") || !strings.Contains(err.Error(), "RATE_LOGIN_PER_OPENID_PER_MIN") {
		t.Fatalf("RATE_LOGIN_PER_MIN: %v", err)
	}
	if _, err := Load(env(map[string]string{"RATE_LOGIN_REFUSED_PER_MIN": "0"})); err == nil {
		t.Fatal("a zero refused-code limit accepted")
	}
}

// Sentinel: REDIS_SENTINEL_ADDRS with REDIS_MASTER_NAME (both or neither); the old
// REDIS_SENTINEL_MASTER (sentinels in REDIS_ADDR) is refused with a message
// saying what to set instead, and REDIS_ADDR cannot be set beside the sentinels.
func TestSentinelConfig(t *testing.T) {
	c, err := Load(env(map[string]string{"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379, 10.0.0.2:26379,10.0.0.3:26379", "REDIS_MASTER_NAME": "nantian"}))
	if err != nil || len(c.RedisSentinelAddrs) != 3 || c.RedisSentinelAddrs[1] != "10.0.0.2:26379" || c.RedisMasterName != "nantian" {
		t.Fatalf("sentinel config: %+v %v", c.RedisSentinelAddrs, err)
	}
	for name, m := range map[string]map[string]string{
		"old spelling":      {"REDIS_SENTINEL_MASTER": "nantian", "REDIS_ADDR": "10.0.0.1:26379,10.0.0.2:26379"},
		"addrs, no name":    {"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379"},
		"name, no addrs":    {"REDIS_MASTER_NAME": "nantian"},
		"not host:port":     {"REDIS_SENTINEL_ADDRS": "10.0.0.1", "REDIS_MASTER_NAME": "nantian"},
		"redis addr beside": {"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379", "REDIS_MASTER_NAME": "nantian", "REDIS_ADDR": "10.0.0.9:6379"},
	} {
		if _, err := Load(env(m)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "old spelling" && (!strings.Contains(err.Error(), "REDIS_MASTER_NAME") || !strings.Contains(err.Error(), "REDIS_SENTINEL_ADDRS")) {
			t.Errorf("old spelling: the error does not say what to set: %v", err)
		}
	}
}
