package account

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"nantian/models"
)

// UserFilter narrows the admin's user list.
type UserFilter struct {
	Role string // "" for every role
	// Query finds users by name (real name or nickname, a substring), by account
	// number ("#12" or "12"), or by phone (7 digits or more, through the blind
	// index: never compared in clear).
	Query string
	Limit int // at most 200; 0 means 50
}

// List returns active users matching f, admins and staff first, then newest
// first. It is the admin console's read; the API has no such list.
func (s *Users) List(ctx context.Context, f UserFilter) ([]User, error) {
	if f.Role != "" && !models.ValidRole(f.Role) {
		return nil, models.Invalid("role", "必须是 resident、staff 或 admin")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 200)
	q := strings.TrimSpace(f.Query)
	digits := strings.TrimPrefix(q, "#")
	if n, err := strconv.ParseInt(digits, 10, 64); err == nil && n > 0 {
		if len(digits) >= 7 {
			u, err := s.FindByPhone(ctx, digits)
			if errors.Is(err, models.ErrNotFound) {
				return []User{}, nil
			}
			if err != nil || (f.Role != "" && u.Role != f.Role) {
				return []User{}, err
			}
			return []User{u}, nil
		}
		u, err := s.Get(ctx, n)
		if errors.Is(err, models.ErrNotFound) || (err == nil && f.Role != "" && u.Role != f.Role) {
			return []User{}, nil
		}
		if err != nil {
			return nil, err
		}
		return []User{u}, nil
	}
	where := []string{"status = 'active'"}
	var args []any
	if f.Role != "" {
		where = append(where, "role = ?")
		args = append(args, f.Role)
	}
	if q != "" {
		like := "%" + models.EscapeLike(q) + "%"
		where = append(where, "(real_name LIKE ? OR nickname LIKE ?)")
		args = append(args, like, like)
	}
	args = append(args, limit)
	rows, err := s.DB.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+strings.Join(where, " AND ")+`
		ORDER BY FIELD(role, 'admin', 'staff', 'resident'), id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return models.ScanAll(rows, "scan user", s.scanUser)
}
