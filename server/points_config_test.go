package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"nantian/config"
	"nantian/models"
	"nantian/models/points"
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
		if err := points.SeedDemoRewards(ctx, a.app.db, models.SystemClock); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.count(`SELECT COUNT(*) FROM rewards WHERE name IN ('环保购物袋', '绿植盆栽')`); n != 2 {
		t.Fatalf("%d seeded rows, want 2", n)
	}
}

// The demo catalogue: seeding twice creates nothing the second time, every
// session is in the future, and children's activities are for children: an
// adult booking as themselves is not eligible, a six-year-old is.
func TestSeedDemoCatalogue(t *testing.T) {
	a := newIsolatedTestApp(t)
	ctx := context.Background()
	n, err := seedDemo(ctx, a.app)
	if err != nil || n < 19 {
		t.Fatalf("seed: %d programs, %v", n, err)
	}
	if again, err := seedDemo(ctx, a.app); err != nil || again != 0 {
		t.Fatalf("second seed: %d programs, %v", again, err)
	}
	if dup := a.count(`SELECT COUNT(*) FROM (SELECT title FROM programs GROUP BY title HAVING COUNT(*) > 1) d`); dup != 0 {
		t.Fatalf("%d duplicated titles", dup)
	}
	if past := a.count(`SELECT COUNT(*) FROM sessions WHERE starts_at <= UTC_TIMESTAMP()`); past != 0 {
		t.Fatalf("%d seeded sessions in the past", past)
	}
	var pid, sid int64
	if err := a.app.db.QueryRow(`SELECT p.id, MIN(s.id) FROM programs p JOIN sessions s ON s.program_id = p.id
		WHERE p.title = '少儿阅读会' GROUP BY p.id`).Scan(&pid, &sid); err != nil {
		t.Fatal(err)
	}
	tok, _ := a.resident("seed-parent")
	wantStatus(t, a.do("PATCH", "/api/v1/me", tok, map[string]any{"birth_date": "1990-03-01"}), 200, "")
	r := book(a, tok, map[string]any{"session_id": sid})
	wantStatus(t, r, 422, "not_eligible")
	if msg := errorMessage(t, r); !strings.Contains(msg, "5–12 岁") || !strings.Contains(msg, "岁") {
		t.Errorf("not_eligible message %q", msg)
	}
	kid := idOf(t, a.do("POST", "/api/v1/me/children", tok, map[string]any{
		"name": "小读者", "birth_date": time.Now().AddDate(-6, 0, 0).Format(time.DateOnly), "guardian_consent": true}))
	wantStatus(t, book(a, tok, map[string]any{"session_id": sid, "child_id": kid}), 201, "")
}
