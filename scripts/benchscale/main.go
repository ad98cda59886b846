// Command benchscale mints the access tokens scripts/bench-scale.sh measures
// with, for users scripts/scale-seed created: the first staff member and a
// resident who has bookings. It writes staff.token and resident.token into -dir.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"nantian/models"
	"nantian/models/account"
)

func main() {
	dsn := flag.String("dsn", "", "MySQL DSN of a scale database")
	secret := flag.String("secret", "", "JWT secret the server uses")
	dir := flag.String("dir", ".", "output directory")
	flag.Parse()
	if err := run(*dsn, *secret, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

func run(dsn, secret, dir string) error {
	ctx := context.Background()
	db, err := models.OpenDB(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	tokens := &account.Tokens{DB: db, Secret: []byte(secret), AccessTTL: 6 * time.Hour, RefreshTTL: 24 * time.Hour, Now: models.SystemClock}
	var staff, resident int64
	if err := db.QueryRowContext(ctx, `SELECT id FROM users WHERE openid = 'scale-staff-1'`).Scan(&staff); err != nil {
		return fmt.Errorf("staff user (run scripts/scale-seed first): %w", err)
	}
	// A resident with a typical number of bookings (the seed spreads them evenly).
	if err := db.QueryRowContext(ctx, `SELECT user_id FROM bookings WHERE id = (SELECT MAX(id) DIV 2 FROM bookings)`).Scan(&resident); err != nil {
		return fmt.Errorf("resident with bookings: %w", err)
	}
	for _, u := range []struct {
		id         int64
		role, file string
	}{{staff, models.RoleStaff, "staff.token"}, {resident, models.RoleResident, "resident.token"}} {
		p, err := tokens.NewLogin(ctx, u.id, u.role)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, u.file), []byte(p.AccessToken), 0o600); err != nil {
			return err
		}
	}
	return nil
}
