package main

import (
	"context"
	"strings"
	"testing"

	"nantian/models"
	"nantian/models/testdb"
)

// The one-shot commands migrate a fresh database themselves and do their job:
// seed-demo loads the catalogue once, grant-role creates the user and sets the
// role, and rotate-data-key refuses without DATA_KEY_PREVIOUS.
func TestOneShotCommands(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := testdb.CreateDatabase(ctx) // empty: the commands migrate it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	env := testEnv(testdb.RedisPrefix(), map[string]string{"MYSQL_DSN": dsn})
	var out strings.Builder
	for range 2 {
		if err := run(ctx, []string{"seed-demo"}, env, &out, &out); err != nil {
			t.Fatalf("seed-demo: %v", err)
		}
	}
	if !strings.Contains(out.String(), "19 programs created") || !strings.Contains(out.String(), "0 programs created") {
		t.Errorf("seed-demo output %q, want 19 then 0 programs", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"grant-role", "--openid", "openid-cmd-admin", "--role", "admin"}, env, &out, &out); err != nil {
		t.Fatalf("grant-role: %v %s", err, out.String())
	}
	a := newTestApp(t, map[string]string{"MYSQL_DSN": dsn})
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE openid = 'openid-cmd-admin' AND role = ?`, models.RoleAdmin); n != 1 {
		t.Fatalf("grant-role left %d admins with that openid", n)
	}
	if err := run(ctx, []string{"rotate-data-key"}, env, &out, &out); err == nil || !strings.Contains(err.Error(), "DATA_KEY_PREVIOUS") {
		t.Fatalf("rotate-data-key without a previous key: %v", err)
	}
}
