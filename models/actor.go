package models

// Roles. Staff run the center; admins also manage roles. RoleSystem is no user's
// role: it marks what the service does by itself (a worker, a startup step).
const (
	RoleResident = "resident"
	RoleStaff    = "staff"
	RoleAdmin    = "admin"
	RoleSystem   = "system"
)

// The doors an action can come through. The domain does the same thing whichever
// door it is; the audit log records the door so a reader knows where to look.
const (
	DoorAPI     = "api"     // the mini-program's JSON API (handlers/)
	DoorConsole = "console" // the staff web console (console/)
	DoorSystem  = "system"  // a background worker of the service itself
	DoorCLI     = "cli"     // a one-shot command (grant-role, seed-demo, ...)
)

// Actor is who performs a domain operation. Every operation that changes state
// takes one, so the rule it checks, the audit entry it writes and the follow-ups
// it runs are the same whichever door the action came through.
type Actor struct {
	// UserID is the acting user's id (users.id); 0 for the system.
	UserID int64
	// Role is the actor's role at the time of the action (RoleResident,
	// RoleStaff, RoleAdmin, or RoleSystem); operations check permissions on it.
	Role string
	// Door is the front door the action came through (DoorAPI, DoorConsole,
	// DoorSystem, DoorCLI); recorded in the audit log.
	Door string
	// RequestID ties the audit entry to the door's access log line (the API's
	// X-Request-Id, the console's request id); "" when there is none.
	RequestID string
	// IP is the client address as the door saw it (behind TRUSTED_PROXIES);
	// "" for the system and the CLI.
	IP string
}

// SystemActor is the service acting on its own (a worker, a startup step).
func SystemActor() Actor { return Actor{Role: RoleSystem, Door: DoorSystem} }

// IsStaff reports whether the actor may do staff operations.
func (a Actor) IsStaff() bool { return IsStaff(a.Role) }

// Principal is the actor as a read sees them: whose data may be shown.
func (a Actor) Principal() Principal { return Principal{UserID: a.UserID, Role: a.Role} }

// ValidRole reports whether r is one of the three roles a user can have.
func ValidRole(r string) bool { return r == RoleResident || r == RoleStaff || r == RoleAdmin }

// IsStaff reports whether a role may use staff routes.
func IsStaff(role string) bool { return role == RoleStaff || role == RoleAdmin }

// Principal is the caller as the API sees them on this request.
type Principal struct {
	UserID  int64
	Role    string
	LoginID string
}
