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
