package account

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"nantian/models"
)

// User is a resident or staff member. OpenID is nil for walk-in residents staff
// registered at the desk.
type User struct {
	ID              int64        `json:"id"`
	OpenID          *string      `json:"-"`
	UnionID         *string      `json:"-"`
	Role            string       `json:"role"`
	Nickname        string       `json:"nickname"`
	RealName        string       `json:"real_name"`
	BirthDate       *models.Date `json:"birth_date"`
	Estate          string       `json:"estate"`
	Building        string       `json:"building"`
	Room            string       `json:"room"`
	Phone           *string      `json:"phone"`
	PhoneVerifiedAt *time.Time   `json:"phone_verified_at"`
	// BookingSuspendedUntil is set while a no-show ban runs, so the mini-program
	// can say so before the resident picks a session, not after.
	BookingSuspendedUntil *time.Time `json:"booking_suspended_until"`
	CreatedAt             time.Time  `json:"created_at"`
}

// Users stores users. Phone numbers are stored encrypted (Cipher, see crypto.go)
// with a blind index for FindByPhone.
type Users struct {
	DB     *sql.DB
	Now    models.Clock
	Cipher *models.DataCipher
	// Templates are the subscribe-message template ids this service sends (the
	// WECHAT_TPL_* configuration): the only grants AddSubscriptionGrants records.
	Templates map[string]bool
}

// User statuses: a deleted account keeps its row (anonymised) so the records that
// reference it keep counting; the rest of the service treats it as gone.
const (
	UserActive  = "active"
	UserDeleted = "deleted"
)

const userColumns = `id, openid, unionid, role, nickname, real_name, birth_date, estate, building, room, phone_enc, phone_verified_at, suspended_until, created_at`

// scanUser reads userColumns and decrypts the phone.
func (s *Users) scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var birth, suspended sql.NullTime
	var phone []byte
	err := row.Scan(&u.ID, &u.OpenID, &u.UnionID, &u.Role, &u.Nickname, &u.RealName, &birth,
		&u.Estate, &u.Building, &u.Room, &phone, &u.PhoneVerifiedAt, &suspended, &u.CreatedAt)
	if err != nil {
		return u, err
	}
	if suspended.Valid && suspended.Time.After(s.Now()) {
		u.BookingSuspendedUntil = &suspended.Time
	}
	if birth.Valid {
		d := models.DateOf(birth.Time)
		u.BirthDate = &d
	}
	if phone != nil {
		p, err := s.Cipher.Open("users", "phone", u.ID, phone)
		if err != nil {
			return u, err
		}
		u.Phone = &p
	}
	return u, nil
}

// SealPhone returns the encrypted phone and its blind index for user id, the
// values of users.phone_enc and users.phone_bidx. For code that writes a user's
// phone itself (inside its own transaction, after the row has its id).
func (s *Users) SealPhone(id int64, phone string) (enc, bidx []byte, err error) {
	if enc, err = s.Cipher.Seal("users", "phone", id, phone); err != nil {
		return nil, nil, err
	}
	if bidx, err = s.Cipher.PhoneIndex(phone); err != nil {
		return nil, nil, err
	}
	return enc, bidx, nil
}

// FindByPhone returns the active user whose phone is phone (compared in the
// NormalizePhone form, so "+86 138 1234 5678" finds "13812345678"), through the
// blind index: the number is never compared in clear in SQL. Deleted users are
// never found. If several accounts share a number the oldest is returned.
// ErrNotFound when none; a 400 when phone has no digits.
func (s *Users) FindByPhone(ctx context.Context, phone string) (User, error) {
	want := models.NormalizePhone(phone)
	if want == "" {
		return User{}, models.Invalid("phone", "电话号码格式不正确")
	}
	idx, prev, err := s.Cipher.LookupPair(phone)
	if err != nil {
		return User{}, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE phone_bidx IN (?, ?) AND status = 'active' ORDER BY id LIMIT 10`, idx, prev)
	if err != nil {
		return User{}, fmt.Errorf("find user by phone: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := s.scanUser(rows)
		if err != nil {
			return User{}, fmt.Errorf("scan user by phone: %w", err)
		}
		// The index is a MAC, so a false match is practically impossible; the check
		// costs nothing and keeps this honest if the normalisation ever changes.
		if u.Phone != nil && models.NormalizePhone(*u.Phone) == want {
			return u, nil
		}
	}
	if err := rows.Err(); err != nil {
		return User{}, fmt.Errorf("find user by phone: %w", err)
	}
	return User{}, models.ErrNotFound
}

// Get returns the user with id, or ErrNotFound (also for a deleted account).
func (s *Users) Get(ctx context.Context, id int64) (User, error) {
	return models.ScanOne(s.DB.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ? AND status = 'active'`, id), "get user", s.scanUser)
}

// UpsertWeChat finds or creates the user for a WeChat openid. It is one INSERT ...
// ON DUPLICATE KEY UPDATE on the openid unique key, so two concurrent first logins
// of the same person create one user. A unionid, once known, is kept.
func (s *Users) UpsertWeChat(ctx context.Context, openid, unionid string) (User, error) {
	now := s.Now()
	var union any
	if unionid != "" {
		union = unionid
	}
	const q = `INSERT INTO users (openid, unionid, role, created_at, updated_at) VALUES (?, ?, 'resident', ?, ?)
		ON DUPLICATE KEY UPDATE unionid = COALESCE(VALUES(unionid), unionid)`
	err := models.RetryDeadlock(ctx, func() error {
		_, err := s.DB.ExecContext(ctx, q, openid, union, now, now)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("upsert user: %w", err)
	}
	u, err := s.scanUser(s.DB.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE openid = ?`, openid))
	if err != nil {
		return User{}, fmt.Errorf("load user by openid: %w", err)
	}
	return u, nil
}

// SetRole changes a user's role. The caller must also invalidate cached principals
// (AuthCache.InvalidateUser) so the change applies on the next request.
func (s *Users) SetRole(ctx context.Context, id int64, role string) (User, error) {
	if !models.ValidRole(role) {
		return User{}, models.Invalid("role", "must be resident, staff or admin")
	}
	err := models.InTxRetry(ctx, s.DB, func(tx *sql.Tx) error {
		if role != models.RoleAdmin {
			if err := GuardLastAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, updated_at = ? WHERE id = ? AND status = 'active'`, role, s.Now(), id); err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return s.Get(ctx, id)
}

// ErrLastAdmin refuses to demote (or delete) the only admin: nobody could change
// roles any more, and the way back (the grant-role command) needs shell access
// to a server.
var ErrLastAdmin = &models.Error{Kind: models.KindConflict, Code: "last_admin", Message: "这是唯一的管理员，请先指定另一名管理员"}

// GuardLastAdmin locks the active admins' rows and refuses with ErrLastAdmin if
// id is the only one. Taking the locks first serialises two admins stepping
// down at once: the second sees it would leave none. Callers lock the admins
// before any other users row, so role changes and deletions cannot deadlock.
func GuardLastAdmin(ctx context.Context, tx *sql.Tx, id int64) error {
	// FORCE INDEX: on a small table the optimiser would rather scan, and a
	// locking scan locks every user (migration 0013).
	admins, err := models.QueryColumn[int64](ctx, tx, `SELECT id FROM users FORCE INDEX (idx_users_role_status)
		WHERE role = 'admin' AND status = 'active' ORDER BY id FOR UPDATE`)
	if err != nil {
		return fmt.Errorf("lock admins: %w", err)
	}
	if len(admins) == 1 && admins[0] == id {
		return ErrLastAdmin
	}
	return nil
}

// ProfilePatch holds the fields a user may change about themselves; nil means
// unchanged. Role, openid and phone are deliberately absent.
type ProfilePatch struct {
	Nickname  *string      `json:"nickname" binding:"omitempty,max=64"`
	RealName  *string      `json:"real_name" binding:"omitempty,max=64"`
	BirthDate *models.Date `json:"birth_date"`
	Estate    *string      `json:"estate" binding:"omitempty,max=32"`
	Building  *string      `json:"building" binding:"omitempty,max=32"`
	Room      *string      `json:"room" binding:"omitempty,max=32"`
}

// UpdateProfile applies a patch and returns the updated user.
func (s *Users) UpdateProfile(ctx context.Context, id int64, p ProfilePatch) (User, error) {
	sets := []string{"updated_at = ?"}
	args := []any{s.Now()}
	add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
	if p.Nickname != nil {
		add("nickname", strings.TrimSpace(*p.Nickname))
	}
	if p.RealName != nil {
		add("real_name", strings.TrimSpace(*p.RealName))
	}
	if p.BirthDate != nil {
		if err := models.CheckBirthDate("birth_date", p.BirthDate, s.Now()); err != nil {
			return User{}, err
		}
		add("birth_date", p.BirthDate.Time())
	}
	if p.Estate != nil {
		estate := strings.TrimSpace(*p.Estate)
		if estate != "" { // "" clears it
			if err := models.RequireEstate(ctx, s.DB, "estate", estate); err != nil {
				return User{}, err
			}
		}
		add("estate", estate)
	}
	if p.Building != nil {
		add("building", strings.TrimSpace(*p.Building))
	}
	if p.Room != nil {
		add("room", strings.TrimSpace(*p.Room))
	}
	args = append(args, id)
	if _, err := s.DB.ExecContext(ctx, `UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ?`, args...); err != nil {
		return User{}, fmt.Errorf("update profile: %w", err)
	}
	return s.Get(ctx, id)
}

// SetVerifiedPhone stores a phone number WeChat vouched for, encrypted, with its
// blind index.
func (s *Users) SetVerifiedPhone(ctx context.Context, id int64, phone string) (User, error) {
	now := s.Now()
	enc, bidx, err := s.SealPhone(id, phone)
	if err != nil {
		return User{}, fmt.Errorf("seal phone: %w", err)
	}
	if _, err := s.DB.ExecContext(ctx, `UPDATE users SET phone_enc = ?, phone_bidx = ?, phone_verified_at = ?, updated_at = ? WHERE id = ? AND status = 'active'`,
		enc, bidx, now, now, id); err != nil {
		return User{}, fmt.Errorf("set phone: %w", err)
	}
	return s.Get(ctx, id)
}

// EnsureOpenID returns the user for openid, creating a resident if needed; used by
// the grant-role command to set up staff before their first login.
func (s *Users) EnsureOpenID(ctx context.Context, openid string) (User, error) {
	return s.UpsertWeChat(ctx, openid, "")
}

// AddSubscriptionGrants records one-time subscribe-message grants: each accepted
// template allows exactly one message, so the count goes up by one per acceptance.
// One wx.requestSubscribeMessage prompt accepts a template at most once, so an id
// repeated in one call counts once; an id this service never sends is refused
// (400 naming it) and nothing is recorded: grants for it would pile up unused.
func (s *Users) AddSubscriptionGrants(ctx context.Context, userID int64, templateIDs []string) (map[string]int, error) {
	var ids []string
	seen := map[string]bool{}
	for _, t := range templateIDs {
		if !s.Templates[t] {
			return nil, models.Invalid("template_ids", "模板 %q 不是本服务的订阅消息模板", t)
		}
		if !seen[t] {
			seen[t] = true
			ids = append(ids, t)
		}
	}
	now := s.Now()
	out := map[string]int{}
	err := models.InTx(ctx, s.DB, func(tx *sql.Tx) error {
		for _, t := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subscription_grants (user_id, template_id, remaining, updated_at) VALUES (?, ?, 1, ?)
				ON DUPLICATE KEY UPDATE remaining = remaining + 1, updated_at = VALUES(updated_at)`, userID, t, now); err != nil {
				return fmt.Errorf("add grant: %w", err)
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT template_id, remaining FROM subscription_grants WHERE user_id = ?`, userID)
		if err != nil {
			return fmt.Errorf("list grants: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var t string
			var n int
			if err := rows.Scan(&t, &n); err != nil {
				return fmt.Errorf("scan grant: %w", err)
			}
			out[t] = n
		}
		return rows.Err()
	})
	return out, err
}
