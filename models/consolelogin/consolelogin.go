// Package consolelogin is how staff get into the web console: scan-to-login
// tickets approved from the mini-program, and the browser sessions they open.
//
// It is its own small package because both doors use it — the API approves a
// ticket (POST /api/v1/staff/console-logins), the console shows and redeems it —
// and neither door may hold the rule. A console session is a row of the shared
// logins table seen through a cookie, so everything that revokes logins (logout,
// account deletion) ends it too, and the caller's current role comes from the one
// lookup both doors use (account.AuthCache.Principal).
//
// MySQL, not Redis, holds tickets and sessions: they are few (a desk has a
// handful of staff), a session must survive a Redis restart or eviction, and a
// ticket's approval and its redemption are guarded transitions in one
// transaction with the login they create.
package consolelogin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"nantian/models"
)

// Defaults from the contract (api.md, "Staff console") and the issue.
const (
	// TicketTTL is how long a login ticket can be approved.
	TicketTTL = 120 * time.Second
	// IdleTimeout ends a session nobody used for this long.
	IdleTimeout = 12 * time.Hour
	// touchEvery bounds the writes an active session costs: last_seen_at moves at
	// most once a minute, so the idle timeout is exact to a minute.
	touchEvery = time.Minute
	// CodeLength is the length of a ticket's code.
	CodeLength = 8
)

// codeAlphabet leaves out characters a person confuses when typing a code read
// off a screen (0/O, 1/I/L).
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// Errors of the approval (api.md: unknown or expired → 404, used → 409).
var (
	ErrTicketUnknown = &models.Error{Kind: models.KindNotFound, Code: "not_found", Message: "登录码不存在或已过期"}
	ErrTicketUsed    = &models.Error{Kind: models.KindConflict, Code: "ticket_used", Message: "该登录码已被使用"}
)

// Store keeps tickets and sessions in MySQL.
type Store struct {
	DB  *sql.DB
	Now models.Clock
}

// Ticket is what the login page shows: the code (also in the QR) and its end.
type Ticket struct {
	Code      string
	ExpiresAt time.Time
}

// Session is an open console session.
type Session struct {
	LoginID string
	UserID  int64
	// Role is the role the session was opened with; a lower current role ends it.
	Role string
	// CSRF is the per-session token every state-changing form carries.
	CSRF string
}

// NewBrowserNonce returns the random value a browser keeps in a cookie to prove
// a ticket is its own.
func NewBrowserNonce() string { return randomHex(32) }

// NewSessionID returns a fresh opaque session id for a cookie.
func newSessionID() string { return randomHex(32) }

// Ticket returns the browser's live, unspent ticket, or a new one. browser is
// the nonce from the browser's cookie; only its hash is stored.
func (s *Store) Ticket(ctx context.Context, browser string) (Ticket, error) {
	if browser == "" {
		return Ticket{}, errors.New("consolelogin: empty browser nonce")
	}
	now := s.Now()
	bh := hash(browser)
	var t Ticket
	err := s.DB.QueryRowContext(ctx, `SELECT code, expires_at FROM console_tickets
		WHERE browser_hash = ? AND consumed_at IS NULL AND approved_at IS NULL AND expires_at > ?
		ORDER BY created_at DESC LIMIT 1`, bh, now.Add(5*time.Second)).Scan(&t.Code, &t.ExpiresAt)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, fmt.Errorf("load ticket: %w", err)
	}
	// Old tickets are only clutter: drop a few each time one is made.
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM console_tickets WHERE expires_at < ? LIMIT 100`, now.Add(-time.Hour)); err != nil {
		return Ticket{}, fmt.Errorf("prune tickets: %w", err)
	}
	for range 5 { // 31^8 codes: a collision with a live one is rare, retry it
		t = Ticket{Code: newCode(), ExpiresAt: now.Add(TicketTTL)}
		_, err = s.DB.ExecContext(ctx, `INSERT INTO console_tickets (code, browser_hash, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			t.Code, bh, now, t.ExpiresAt)
		if err == nil {
			return t, nil
		}
		if !isDuplicate(err) {
			return Ticket{}, fmt.Errorf("insert ticket: %w", err)
		}
	}
	return Ticket{}, fmt.Errorf("insert ticket: %w", err)
}

// NormalizeCode upper-cases a typed code and drops spaces and dashes.
func NormalizeCode(code string) string {
	code = strings.ToUpper(strings.TrimSpace(code))
	return strings.NewReplacer(" ", "", "-", "").Replace(code)
}

// Approve lets the ticket's browser in as the actor. Only staff and admins may;
// an unknown or expired code is ErrTicketUnknown, one already approved
// ErrTicketUsed. The guarded UPDATE makes two approvals race to one winner.
func (s *Store) Approve(ctx context.Context, actor models.Principal, code string) error {
	if !models.IsStaff(actor.Role) {
		return models.ErrForbidden
	}
	code = NormalizeCode(code)
	if len(code) != CodeLength {
		return ErrTicketUnknown
	}
	now := s.Now()
	res, err := s.DB.ExecContext(ctx, `UPDATE console_tickets SET approved_by = ?, approved_at = ?
		WHERE code = ? AND approved_at IS NULL AND consumed_at IS NULL AND expires_at > ?`, actor.UserID, now, code, now)
	if err != nil {
		return fmt.Errorf("approve ticket: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var approved, consumed sql.NullTime
	err = s.DB.QueryRowContext(ctx, `SELECT approved_at, consumed_at FROM console_tickets WHERE code = ?`, code).Scan(&approved, &consumed)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrTicketUnknown
	}
	if err != nil {
		return fmt.Errorf("load ticket: %w", err)
	}
	if approved.Valid || consumed.Valid {
		return ErrTicketUsed
	}
	return ErrTicketUnknown // expired
}

// TicketState says where the browser's latest ticket stands.
type TicketState int

// Ticket states as the waiting login page sees them.
const (
	TicketWaiting  TicketState = iota // live, not approved yet
	TicketNone                        // no live ticket: expired or never made; show a new one
	TicketRedeemed                    // approved and now spent: the session is open
)

// Redeem spends the browser's approved ticket and opens a session for the
// approver, in one transaction: the ticket cannot be spent twice, and the
// approver must still be staff or admin. It returns the cookie's session id.
func (s *Store) Redeem(ctx context.Context, browser string) (TicketState, string, Session, error) {
	if browser == "" {
		return TicketNone, "", Session{}, nil
	}
	now := s.Now()
	var state TicketState
	var token string
	var sess Session
	err := inTx(ctx, s.DB, func(tx *sql.Tx) error {
		var code string
		var expires time.Time
		var approver sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT code, expires_at, approved_by FROM console_tickets
			WHERE browser_hash = ? AND consumed_at IS NULL ORDER BY created_at DESC LIMIT 1 FOR UPDATE`,
			hash(browser)).Scan(&code, &expires, &approver)
		if errors.Is(err, sql.ErrNoRows) {
			state = TicketNone
			return nil
		}
		if err != nil {
			return fmt.Errorf("load ticket: %w", err)
		}
		if !approver.Valid {
			state = TicketWaiting
			if !expires.After(now) {
				state = TicketNone
			}
			return nil
		}
		// Approved within its life (Approve checked); the browser has TicketTTL
		// more to notice, far more than its 1 s poll needs.
		if !expires.Add(TicketTTL).After(now) {
			state = TicketNone
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE console_tickets SET consumed_at = ? WHERE code = ? AND consumed_at IS NULL`, now, code); err != nil {
			return fmt.Errorf("spend ticket: %w", err)
		}
		var role string
		err = tx.QueryRowContext(ctx, `SELECT role FROM users WHERE id = ? AND status = 'active'`, approver.Int64).Scan(&role)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("load approver: %w", err)
		}
		if !models.IsStaff(role) {
			state = TicketNone // demoted or gone between approving and redeeming: spent, no session
			return nil
		}
		token, sess, err = openSession(ctx, tx, approver.Int64, role, now)
		if err != nil {
			return err
		}
		state = TicketRedeemed
		return nil
	})
	if err != nil {
		return TicketNone, "", Session{}, err
	}
	return state, token, sess, nil
}

// OpenByOpenID opens a session for a staff or admin user directly, by WeChat
// openid: the dev login (APP_ENV dev and test only; the console does not route
// it elsewhere). An unknown user is models.ErrNotFound, a resident
// models.ErrForbidden.
func (s *Store) OpenByOpenID(ctx context.Context, openid string) (string, Session, error) {
	var token string
	var sess Session
	err := inTx(ctx, s.DB, func(tx *sql.Tx) error {
		var role string
		var userID int64
		err := tx.QueryRowContext(ctx, `SELECT id, role FROM users WHERE openid = ? AND status = 'active'`, openid).Scan(&userID, &role)
		if errors.Is(err, sql.ErrNoRows) {
			return models.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if !models.IsStaff(role) {
			return models.ErrForbidden
		}
		token, sess, err = openSession(ctx, tx, userID, role, s.Now())
		return err
	})
	return token, sess, err
}

func openSession(ctx context.Context, tx *sql.Tx, userID int64, role string, now time.Time) (string, Session, error) {
	token := newSessionID()
	sess := Session{LoginID: randomHex(16), UserID: userID, Role: role, CSRF: randomHex(32)}
	if _, err := tx.ExecContext(ctx, `INSERT INTO logins (id, user_id, created_at) VALUES (?, ?, ?)`, sess.LoginID, userID, now); err != nil {
		return "", Session{}, fmt.Errorf("insert login: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO console_sessions (id_hash, login_id, user_id, role, csrf, created_at, last_seen_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, hash(token), sess.LoginID, userID, role, sess.CSRF, now, now); err != nil {
		return "", Session{}, fmt.Errorf("insert console session: %w", err)
	}
	// Sessions left idle are dead: a few are dropped whenever one opens.
	if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE last_seen_at < ? LIMIT 100`, now.Add(-IdleTimeout)); err != nil {
		return "", Session{}, fmt.Errorf("prune console sessions: %w", err)
	}
	return token, sess, nil
}

// Lookup returns the session behind a cookie's id, or models.ErrUnauthorized
// when there is none or it sat idle past IdleTimeout (then it is ended). It
// does not check the login or the role: the caller asks AuthCache.Principal.
func (s *Store) Lookup(ctx context.Context, token string) (Session, error) {
	if len(token) != 64 {
		return Session{}, models.ErrUnauthorized
	}
	now := s.Now()
	var sess Session
	var seen time.Time
	err := s.DB.QueryRowContext(ctx, `SELECT login_id, user_id, role, csrf, last_seen_at FROM console_sessions WHERE id_hash = ?`,
		hash(token)).Scan(&sess.LoginID, &sess.UserID, &sess.Role, &sess.CSRF, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, models.ErrUnauthorized
	}
	if err != nil {
		return Session{}, fmt.Errorf("%w: load console session: %w", models.ErrUnavailable, err)
	}
	if now.Sub(seen) > IdleTimeout {
		if err := s.End(ctx, sess); err != nil {
			return Session{}, err
		}
		return Session{}, models.ErrUnauthorized
	}
	if now.Sub(seen) > touchEvery {
		if _, err := s.DB.ExecContext(ctx, `UPDATE console_sessions SET last_seen_at = ? WHERE id_hash = ?`, now, hash(token)); err != nil {
			return Session{}, fmt.Errorf("%w: touch console session: %w", models.ErrUnavailable, err)
		}
	}
	return sess, nil
}

// End ends a session: its login is revoked and its row deleted. The caller
// also invalidates the login in the AuthCache.
func (s *Store) End(ctx context.Context, sess Session) error {
	return inTx(ctx, s.DB, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE logins SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, s.Now(), sess.LoginID); err != nil {
			return fmt.Errorf("revoke login: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE login_id = ?`, sess.LoginID); err != nil {
			return fmt.Errorf("delete console session: %w", err)
		}
		return nil
	})
}

func inTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: begin: %w", models.ErrUnavailable, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func newCode() string {
	b := make([]byte, CodeLength)
	out := make([]byte, 0, CodeLength)
	for len(out) < CodeLength {
		if _, err := rand.Read(b); err != nil {
			panic(fmt.Errorf("crypto/rand: %w", err))
		}
		for _, c := range b {
			// Rejection sampling: 248 = 8*31, so every letter is equally likely.
			if c < 248 && len(out) < CodeLength {
				out = append(out, codeAlphabet[int(c)%len(codeAlphabet)])
			}
		}
	}
	return string(out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand: %w", err))
	}
	return hex.EncodeToString(b)
}

func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
