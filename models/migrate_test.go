package models_test

import (
	"context"
	"sync"
	"testing"

	"nantian/models"
	"nantian/models/testdb"
)

// TestMigrateConcurrently starts four "instances" migrating one empty database at
// once: all succeed, every migration is applied once, and the result is clean.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	dsn, drop, err := testdb.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = models.Migrate(ctx, dsn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	db, err := models.OpenDB(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	var dirty bool
	if err := db.QueryRow(`SELECT version, dirty FROM schema_migrations`).Scan(&version, &dirty); err != nil {
		t.Fatal(err)
	}
	if dirty || version < 1 {
		t.Fatalf("version %d dirty %v", version, dirty)
	}
	var estates int
	if err := db.QueryRow(`SELECT COUNT(*) FROM estates`).Scan(&estates); err != nil || estates != 5 {
		t.Fatalf("reference data applied %d times (want the 5 estates once): %v", estates, err)
	}
	// And again: nothing to do, no error.
	if err := models.Migrate(ctx, dsn); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	// utf8mb4 round trip of Chinese and emoji.
	if _, err := db.Exec(`INSERT INTO users (openid, nickname, role, created_at, updated_at) VALUES ('o-emoji', '南天😀', 'resident', NOW(), NOW())`); err != nil {
		t.Fatal(err)
	}
	var nick string
	if err := db.QueryRow(`SELECT nickname FROM users WHERE openid = 'o-emoji'`).Scan(&nick); err != nil || nick != "南天😀" {
		t.Fatalf("utf8mb4 round trip: %q %v", nick, err)
	}
}

func TestAgeInMonths(t *testing.T) {
	d := func(s string) models.Date {
		x, err := models.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cases := []struct {
		birth, on string
		want      int
	}{
		{"2024-03-15", "2025-09-14", 17},
		{"2024-03-15", "2025-09-15", 18},
		{"2024-01-31", "2024-02-29", 1}, // birthday on the last day of a short month
		{"2024-01-31", "2024-02-28", 0},
		{"2023-02-28", "2026-02-28", 36},
		{"2023-02-28", "2026-02-27", 35},
	}
	for _, c := range cases {
		if got := models.AgeInMonths(d(c.birth), d(c.on)); got != c.want {
			t.Errorf("AgeInMonths(%s, %s) = %d, want %d", c.birth, c.on, got, c.want)
		}
	}
}
