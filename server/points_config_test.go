package main

import (
	"context"
	"strings"
	"testing"

	"nantian/config"
	"nantian/models"
)

// Production refuses the public dev key for device secrets and resident codes.
func TestPointsDeviceKeyRequiredInProduction(t *testing.T) {
	base := map[string]string{
		"APP_ENV": "production", "JWT_SECRET": "a-production-jwt-secret-of-enough-length-123",
		"WECHAT_APPID": "wxprod", "WECHAT_SECRET": "s", "WECHAT_API_BASE": "https://api.weixin.qq.com",
		"DATA_KEY": "a-production-data-key-of-enough-length-0123456",
	}
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	_, err := config.Load(get(base))
	if err == nil || !strings.Contains(err.Error(), "POINTS_DEVICE_KEY") {
		t.Fatalf("dev device key accepted in production: %v", err)
	}
	base["POINTS_DEVICE_KEY"] = "too-short"
	if _, err := config.Load(get(base)); err == nil || !strings.Contains(err.Error(), "POINTS_DEVICE_KEY") {
		t.Fatalf("short device key accepted: %v", err)
	}
	base["POINTS_DEVICE_KEY"] = "9d1f0c1e7a5b4b2a8f6e3d2c1b0a99887766554433221100"
	if _, err := config.Load(get(base)); err != nil {
		t.Fatalf("good production config refused: %v", err)
	}
	c, err := config.Load(get(map[string]string{"APP_ENV": "dev"}))
	if err != nil || c.Points.DeviceSecretKey.Reveal() != config.DevPointsDeviceKey || c.Points.DeviceSecretKey.String() != "***" {
		t.Fatalf("dev default: %v", err)
	}
}

// The demo rewards seed is idempotent.
func TestSeedDemoRewardsIdempotent(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	for range 2 {
		if err := models.SeedDemoRewards(ctx, a.app.db, models.SystemClock); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.count(`SELECT COUNT(*) FROM rewards WHERE name IN ('环保购物袋', '绿植盆栽')`); n != 2 {
		t.Fatalf("%d seeded rows, want 2", n)
	}
}
