package models

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditEntry is one staff or admin action, or a staff read of a child's data.
type AuditEntry struct {
	ID        int64  `json:"id"`
	ActorID   int64  `json:"actor_id"`
	ActorRole string `json:"actor_role"`
	Door      string `json:"door"`   // Actor.Door: api, console, system, cli
	Action    string `json:"action"` // the operation, e.g. "booking.confirm"
	Target    string `json:"target"` // what it acted on, e.g. "booking_id=42"
	Status    int    `json:"status"`
	RequestID string `json:"request_id"`
	IP        string `json:"ip"`
	// RequestBody is what the actor asked for, BeforeBody the target's state
	// before the change and ResponseBody its state after, each redacted
	// (RedactJSON); nil where there is none (a creation has no before).
	RequestBody  json.RawMessage `json:"request_body"`
	BeforeBody   json.RawMessage `json:"before_body"`
	ResponseBody json.RawMessage `json:"response_body"`
	CreatedAt    time.Time       `json:"created_at"`
}

// AuditFilter narrows the audit list.
type AuditFilter struct {
	ActorID int64
	Action  string // substring of the action
	From    *time.Time
	To      *time.Time
	Page    Page
}

// Audit stores the audit log.
type Audit struct {
	DB  *sql.DB
	Now Clock
}

// Record appends entries in one INSERT (a roster read audits every child on it
// at once). Bodies that are not valid JSON are dropped.
func (a *Audit) Record(ctx context.Context, entries ...AuditEntry) error {
	return a.record(ctx, a.DB, entries...)
}

func (a *Audit) record(ctx context.Context, q Execer, entries ...AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	jsonOrNil := func(b json.RawMessage) any {
		if len(b) == 0 || !json.Valid(b) {
			return nil
		}
		return []byte(b)
	}
	now := a.Now()
	args := make([]any, 0, 12*len(entries))
	for _, e := range entries {
		args = append(args, e.ActorID, e.ActorRole, e.Door, e.Action, e.Target, e.Status, e.RequestID, e.IP,
			jsonOrNil(e.RequestBody), jsonOrNil(e.BeforeBody), jsonOrNil(e.ResponseBody), now)
	}
	values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", len(entries)), ", ")
	if _, err := q.ExecContext(ctx, `INSERT INTO audit_log (actor_id, actor_role, door, action, target, status, request_id, ip,
		request_body, before_body, response_body, created_at) VALUES `+values, args...); err != nil {
		return fmt.Errorf("record audit entries: %w", err)
	}
	return nil
}

// Change is what a domain operation tells the audit log about the state change
// it made. Operations build one from their own values; Write encodes and redacts.
type Change struct {
	Action string // the operation's stable name, e.g. "POST /api/v1/staff/bookings/:id/confirm" (see models/ops)
	Target string // what it acted on, "<param>=<value>&...": "id=42", "id=7&booking_id=42"
	Input  any    // what the actor asked for (the decoded request); nil for none
	Before any    // the target's state before the change; nil when it was created
	After  any    // its state after the change; nil when it was deleted
	// ChildData says the states hold a child's data (PIPL): names and allergies
	// are masked as well as phones and secrets.
	ChildData bool
	// Status is the outcome in the audit log's terms, the HTTP status the
	// contract gives it whichever door asked: 200 done (the default), 201
	// created, or a refusal's status (StatusOf) for an attempt the operation
	// refused, so the log shows refused attempts as it always has.
	Status int
}

// Execer is what *sql.DB and *sql.Tx have in common for writing.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Write records c as done by actor. Operations call it with their transaction,
// so the entry commits and rolls back with the change itself: the log never
// shows a change that did not happen, nor misses one that did, whichever door
// (API, console, worker, CLI) the actor came through.
func (a *Audit) Write(ctx context.Context, tx Execer, actor Actor, c Change) error {
	enc := func(v any) json.RawMessage {
		if v == nil {
			return nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil
		}
		return RedactJSON(b, c.ChildData)
	}
	status := c.Status
	if status == 0 {
		status = 200
	}
	return a.record(ctx, tx, AuditEntry{
		ActorID: actor.UserID, ActorRole: actor.Role, Door: actor.Door, Action: c.Action, Target: c.Target,
		Status: status, RequestID: actor.RequestID, IP: actor.IP,
		RequestBody: enc(c.Input), BeforeBody: enc(c.Before), ResponseBody: enc(c.After),
	})
}

// List returns entries newest first.
func (a *Audit) List(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	where := []string{"1 = 1"}
	var args []any
	if f.Page.AfterID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.Page.AfterID)
	}
	if f.ActorID > 0 {
		where = append(where, "actor_id = ?")
		args = append(args, f.ActorID)
	}
	if f.Action != "" {
		where = append(where, "action LIKE ?")
		args = append(args, "%"+EscapeLike(f.Action)+"%")
	}
	if f.From != nil {
		where = append(where, "created_at >= ?")
		args = append(args, f.From.UTC())
	}
	if f.To != nil {
		where = append(where, "created_at < ?")
		args = append(args, f.To.UTC())
	}
	args = append(args, f.Page.Limit)
	rows, err := a.DB.QueryContext(ctx, `SELECT id, actor_id, actor_role, door, action, target, status, request_id, ip, request_body, before_body, response_body, created_at
		FROM audit_log WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var req, before, res []byte
		if err := rows.Scan(&e.ID, &e.ActorID, &e.ActorRole, &e.Door, &e.Action, &e.Target, &e.Status, &e.RequestID, &e.IP, &req, &before, &res, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan audit: %w", err)
		}
		if req != nil {
			e.RequestBody = req
		}
		if before != nil {
			e.BeforeBody = before
		}
		if res != nil {
			e.ResponseBody = res
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ActionReadChild is the audit action of a staff read of a child's data.
const ActionReadChild = "READ child"

// Reader is who is reading, carried in the request context so stores that hand out
// children's data can audit the read where it happens.
type Reader struct {
	Principal
	Door      string // Actor.Door: which door the read came through
	RequestID string
	IP        string
	Route     string // e.g. "GET /api/v1/staff/sessions/:id/roster.csv"
}

type readerKey struct{}

// WithReader returns ctx carrying the reader.
func WithReader(ctx context.Context, r Reader) context.Context {
	return context.WithValue(ctx, readerKey{}, r)
}

// ReaderFrom returns the reader in ctx, if any.
func ReaderFrom(ctx context.Context) (Reader, bool) {
	r, ok := ctx.Value(readerKey{}).(Reader)
	return r, ok
}

// ChildReads writes one audit entry per child whose data a staff member read
// (action "READ child", target "child_id=N", the route in the request body field).
// Stores call Record before returning children's data; an error means the data
// must not be returned (a read that cannot be audited does not happen).
type ChildReads struct {
	Audit *Audit
}

// Record audits reads of the children for the reader in ctx. A read with no
// reader in ctx (a background job, a CLI) is recorded with actor 0, role "system".
// A nil ChildReads records nothing (stores built without auditing, e.g. tools).
func (r *ChildReads) Record(ctx context.Context, childIDs []int64) error {
	if r == nil || len(childIDs) == 0 {
		return nil
	}
	rd, ok := ReaderFrom(ctx)
	if !ok {
		rd = Reader{Principal: Principal{Role: RoleSystem}, Door: DoorSystem}
	}
	seen := make(map[int64]bool, len(childIDs))
	body := []byte(`{"route":` + strconv.Quote(rd.Route) + `}`)
	var entries []AuditEntry
	for _, id := range childIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		entries = append(entries, AuditEntry{
			ActorID: rd.UserID, ActorRole: rd.Role, Door: rd.Door, Action: ActionReadChild,
			Target: "child_id=" + strconv.FormatInt(id, 10), Status: 200,
			RequestID: rd.RequestID, IP: rd.IP, RequestBody: body,
		})
	}
	if err := r.Audit.Record(ctx, entries...); err != nil {
		return fmt.Errorf("%w: audit child read: %w", ErrUnavailable, err)
	}
	return nil
}

// RedactJSON masks phone numbers to their last four digits and removes secrets and
// tokens from a JSON document, so audit entries never hold them. Non-JSON input
// returns nil.
// childData also masks names and allergies, for routes about children (PIPL: a
// child's name and health data are sensitive and encrypted everywhere else).
func RedactJSON(b []byte, childData bool) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers stay as sent, and a phone sent as a number is still a phone
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil
	}
	out, err := json.Marshal(redact("", v, childData))
	if err != nil {
		return nil
	}
	return out
}

func redact(key string, v any, childData bool) any {
	k := strings.ToLower(key)
	switch x := v.(type) {
	case map[string]any:
		for kk, vv := range x {
			x[kk] = redact(kk, vv, childData)
		}
		return x
	case []any:
		for i := range x {
			x[i] = redact(key, x[i], childData)
		}
		return x
	case string:
		if childData && k == "name" {
			return maskName(x)
		}
		if childData && k == "allergies" && x != "" {
			return "***" // a minor's health data: the audit log needs that it changed, not what it says
		}
		return redactScalar(k, x, v)
	case json.Number:
		return redactScalar(k, string(x), v)
	}
	return v
}

// maskName keeps the first character: 小明 → 小*.
func maskName(s string) string {
	r := []rune(s)
	if len(r) == 0 {
		return s
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}

// redactScalar masks a phone or hides a secret held under key k, whether the
// client sent it as a string or a number; anything else is kept as v.
func redactScalar(k, s string, v any) any {
	switch {
	case strings.Contains(k, "phone"), strings.Contains(k, "emergency"):
		return MaskPhone(s)
	case strings.Contains(k, "secret"), strings.Contains(k, "token"), strings.Contains(k, "password"):
		return "***"
	}
	return v
}
