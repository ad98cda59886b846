package main

import (
	"fmt"
	"time"

	"nantian/console"
	"nantian/models"
	"nantian/models/desk"
)

// consoleLoginPage is the mini-program page a console login code opens; it
// reads the scene ("t=CODE") and calls POST /api/v1/staff/console-logins.
const consoleLoginPage = "pages/staff/console-login/index"

// initConsole builds the staff web console (issue 12) over the app's stores.
func (a *app) initConsole() error {
	c, err := console.New(console.Deps{
		Env: a.cfg.AppEnv, Loc: a.cfg.Location, Logger: a.logger,
		Logins: a.consoleLogins, Auth: a.authCache, QR: a.wx, LoginPage: consoleLoginPage,
		Users: a.users, Catalog: a.catalog, Bookings: a.bookings.engine, Audit: a.audit, Ops: a.operations,
		DB: a.db, Complaints: a.complaints, Uploads: a.uploads, Points: a.pts.points, Devices: a.pts.devices,
		Reports: a.reports, Imports: a.imports,
		Desk: &desk.Reader{DB: a.db, Now: models.SystemClock, Loc: a.cfg.Location, ComplaintWarn: 5 * time.Minute,
			Cipher: a.bookings.engine.Cipher, ChildReads: a.bookings.engine.ChildReads},
	})
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	a.console = c
	return nil
}
