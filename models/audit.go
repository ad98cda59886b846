package models

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditEntry is one staff or admin action.
type AuditEntry struct {
	ID           int64           `json:"id"`
	ActorID      int64           `json:"actor_id"`
	ActorRole    string          `json:"actor_role"`
	Action       string          `json:"action"` // "POST /api/v1/staff/bookings/:id/confirm"
	Target       string          `json:"target"` // path parameters, e.g. "id=42"
	Status       int             `json:"status"`
	RequestID    string          `json:"request_id"`
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
	args := make([]any, 0, 10*len(entries))
	for _, e := range entries {
		args = append(args, e.ActorID, e.ActorRole, e.Action, e.Target, e.Status, e.RequestID,
			jsonOrNil(e.RequestBody), jsonOrNil(e.BeforeBody), jsonOrNil(e.ResponseBody), now)
	}
	values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", len(entries)), ", ")
	if _, err := a.DB.ExecContext(ctx, `INSERT INTO audit_log (actor_id, actor_role, action, target, status, request_id,
		request_body, before_body, response_body, created_at) VALUES `+values, args...); err != nil {
		return fmt.Errorf("record audit entries: %w", err)
	}
	return nil
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
	rows, err := a.DB.QueryContext(ctx, `SELECT id, actor_id, actor_role, action, target, status, request_id, request_body, before_body, response_body, created_at
		FROM audit_log WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var req, before, res []byte
		if err := rows.Scan(&e.ID, &e.ActorID, &e.ActorRole, &e.Action, &e.Target, &e.Status, &e.RequestID, &req, &before, &res, &e.CreatedAt); err != nil {
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
	RequestID string
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
		rd = Reader{Principal: Principal{Role: "system"}}
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
			ActorID: rd.UserID, ActorRole: rd.Role, Action: ActionReadChild,
			Target: "child_id=" + strconv.FormatInt(id, 10), Status: 200,
			RequestID: rd.RequestID, RequestBody: body,
		})
	}
	if err := r.Audit.Record(ctx, entries...); err != nil {
		return fmt.Errorf("%w: audit child read: %w", ErrUnavailable, err)
	}
	return nil
}
