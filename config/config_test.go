package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsLoadInDev(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.AppEnv != "dev" || c.HTTPAddr != ":8080" || c.RedisKeyPrefix != "nantian:" || c.Location.String() != "Asia/Shanghai" {
		t.Fatalf("defaults: %+v", c)
	}
	if c.Booking.NoShowLimit != 3 || c.Complaints.AcceptWithin.Minutes() != 10 || c.Booking.ChildMinAgeMonths != 18 {
		t.Fatalf("rule defaults: %+v", c.Booking)
	}
}

func TestProductionRefusesDevDefaults(t *testing.T) {
	good := map[string]string{
		"APP_ENV": "production", "JWT_SECRET": strings.Repeat("k", 40),
		"WECHAT_APPID": "wx123", "WECHAT_SECRET": "s", "WECHAT_API_BASE": "https://api.weixin.qq.com",
		"POINTS_DEVICE_KEY": strings.Repeat("d", 40), "DATA_KEY": strings.Repeat("p", 40),
	}
	if _, err := Load(env(good)); err != nil {
		t.Fatalf("good production config refused: %v", err)
	}
	cases := map[string]map[string]string{
		"dev jwt secret":    {"JWT_SECRET": ""},
		"short jwt secret":  {"JWT_SECRET": "short"},
		"no appid":          {"WECHAT_APPID": ""},
		"no wechat secret":  {"WECHAT_SECRET": ""},
		"mock wechat":       {"WECHAT_API_BASE": "http://127.0.0.1:9100"},
		"bad env":           {"APP_ENV": "prod"},
		"bad duration":      {"BOOKING_FREE_CANCEL_BEFORE": "two hours"},
		"bad integer":       {"BOOKING_NO_SHOW_LIMIT": "three"},
		"bad timezone":      {"APP_TIMEZONE": "Mars/Olympus"},
		"inverted age band": {"CHILDCARE_MIN_AGE_MONTHS": "40"},
		"dev device key":    {"POINTS_DEVICE_KEY": ""},
		"dev data key":      {"DATA_KEY": ""},
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range good {
				m[k] = v
			}
			for k, v := range change {
				m[k] = v
			}
			if _, err := Load(env(m)); err == nil {
				t.Fatalf("accepted %v", change)
			}
		})
	}
}

func TestSecretsMaskedWhenLogged(t *testing.T) {
	c, err := Load(env(map[string]string{
		"JWT_SECRET": "super-secret-jwt-key-that-is-long-enough", "WECHAT_SECRET": "wechat-secret-value",
		"REDIS_PASSWORD": "redis-pass", "MYSQL_DSN": "app:db-password@tcp(db:3306)/nantian",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	out := buf.String() + fmt.Sprintf("%v %+v", c, c)
	for _, s := range []string{"super-secret-jwt-key", "wechat-secret-value", "redis-pass", "db-password"} {
		if strings.Contains(out, s) {
			t.Errorf("secret %q printed: %s", s, out)
		}
	}
	if !strings.Contains(buf.String(), "app:***@tcp(db:3306)/nantian") {
		t.Errorf("dsn not shown masked: %s", buf.String())
	}
}

func TestLoadDotEnvNeverOverrides(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/.env"
	content := "# comment\nNANTIAN_TEST_A=from-file\nexport NANTIAN_TEST_B=\"quoted value\"\nNANTIAN_TEST_C=file\nnot a line\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NANTIAN_TEST_C", "from-env")
	os.Unsetenv("NANTIAN_TEST_A")
	os.Unsetenv("NANTIAN_TEST_B")
	t.Cleanup(func() { os.Unsetenv("NANTIAN_TEST_A"); os.Unsetenv("NANTIAN_TEST_B") })
	if err := LoadDotEnv(path); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("NANTIAN_TEST_A") != "from-file" || os.Getenv("NANTIAN_TEST_B") != "quoted value" || os.Getenv("NANTIAN_TEST_C") != "from-env" {
		t.Fatalf("got A=%q B=%q C=%q", os.Getenv("NANTIAN_TEST_A"), os.Getenv("NANTIAN_TEST_B"), os.Getenv("NANTIAN_TEST_C"))
	}
	if err := LoadDotEnv(dir + "/missing"); err != nil {
		t.Fatalf("a missing .env is not an error: %v", err)
	}
}
