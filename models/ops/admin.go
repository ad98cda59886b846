package ops

import (
	"context"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/consolelogin"
	"nantian/models/report"
)

// Audit action names of the admin, console-login and import operations (see
// ActionProgramCreate).
const (
	ActionSetRole       = "PUT /api/v1/admin/users/:id/role"
	ActionConsoleLogin  = "POST /api/v1/staff/console-logins"
	ActionImportHistory = "POST /api/v1/staff/imports/sessions"
)

// Admin are the operations on who may do what: roles, console sign-ins.
type Admin struct {
	rec    recorder
	users  *account.Users
	auth   *account.AuthCache
	logins *consolelogin.Store
}

// SetRole changes a user's role (never the last admin's away). The cached
// principal is dropped, so the change applies from the user's next request on
// every door, and a console session of a lowered user ends there.
func (o *Admin) SetRole(ctx context.Context, actor models.Actor, id int64, role string) (account.User, error) {
	return run(ctx, o.rec, actor, adminOnly,
		func() attempt {
			return attempt{action: ActionSetRole, target: idTarget(id), input: map[string]string{"role": role}, before: orNil(o.users.Get(ctx, id))}
		},
		func() (account.User, error) {
			u, err := o.users.SetRole(ctx, id, role)
			if err == nil && o.auth != nil {
				// Before the entry and the answer: the next request on any door sees the new role.
				o.auth.InvalidateUser(context.WithoutCancel(ctx), id)
			}
			return u, err
		})
}

// ApproveConsoleLogin signs the browser showing the ticket in as the actor.
// The ticket is not recorded: until it is used it is a credential.
func (o *Admin) ApproveConsoleLogin(ctx context.Context, actor models.Actor, loginID, ticket string) error {
	if err := staffOnly(actor); err != nil {
		return err
	}
	a := attempt{action: ActionConsoleLogin, ok: 204}
	p := actor.Principal()
	p.LoginID = loginID
	err := o.logins.Approve(ctx, p, ticket)
	o.rec.done(ctx, actor, a, map[string]bool{"approved": true}, err)
	return err
}

// Imports bring past sessions' records in (all or nothing; rows imported
// before are skipped).
type Imports struct {
	rec     recorder
	imports *report.Imports
}

// Sessions imports the checked rows of a history file.
func (o *Imports) Sessions(ctx context.Context, actor models.Actor, fileName string, rows []report.ImportRow) (report.ImportResult, error) {
	if err := staffOnly(actor); err != nil {
		return report.ImportResult{}, err
	}
	a := attempt{action: ActionImportHistory, input: map[string]any{"file_name": fileName, "rows": len(rows)}}
	res, err := o.imports.ImportSessions(ctx, actor.UserID, rows)
	if err == nil && res.Imported > 0 {
		a.ok = 201
	}
	o.rec.done(ctx, actor, a, res, err)
	return res, err
}
