package console

import (
	"context"
	"encoding/json"
	"net/http"

	"nantian/models"
)

// record writes the audit entry of a console action, in the shape the API's
// audit middleware writes for the same action through the API (actor, action,
// target, status, before and after), so the audit log reads the same whichever
// door a clerk used. The action names the console route.
//
// It stays here only until the domain operations record their own audit
// entries (issue 11's "operations that take the actor"); then the console
// stops recording and calls those.
func (c *Console) record(w http.ResponseWriter, r *http.Request, action, target string, status int, request, before, after any) {
	me := callerOf(r)
	e := models.AuditEntry{ActorID: me.UserID, ActorRole: me.Role, Action: action, Target: target, Status: status,
		RequestID:   w.Header().Get("X-Request-Id"), // set by the router's request-id middleware
		RequestBody: rawJSON(request), BeforeBody: rawJSON(before), ResponseBody: rawJSON(after)}
	if err := c.d.Audit.Record(context.WithoutCancel(r.Context()), e); err != nil {
		c.d.Logger.WarnContext(r.Context(), "console: audit entry not recorded", "action", action, "err", err)
	}
}

func rawJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}
