package account

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"nantian/models"

	"github.com/golang-jwt/jwt/v5"
)

// Auth errors.
var (
	ErrRefreshReused  = &models.Error{Kind: models.KindUnauthorized, Code: "refresh_token_reused", Message: "刷新令牌已被使用，请重新登录"}
	ErrRefreshInvalid = &models.Error{Kind: models.KindUnauthorized, Code: "unauthorized", Message: "刷新令牌无效或已过期"}
)

const jwtIssuer = "nantian"

// TokenPair is what a login or a refresh hands the mini-program.
type TokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// Claims are the access token's claims: sub is the user id, sid the login.
type Claims struct {
	Role string `json:"role"`
	SID  string `json:"sid"`
	jwt.RegisteredClaims
}

// Tokens issues and checks tokens. Access tokens are HS256 JWTs living AccessTTL;
// refresh tokens are random, stored only as SHA-256, and rotate on every use.
type Tokens struct {
	DB         *sql.DB
	Secret     []byte
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	Now        models.Clock

	// verified remembers tokens this process already checked, so a busy client
	// does not pay for HMAC and JSON decoding on every request (it was half the
	// cost of a sold-out booking). Entries keep the token's own expiry; revocation
	// is not decided here but by AuthCache on every request.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	claims Claims
	uid    int64
	exp    time.Time
}

// maxVerified bounds the verified-token memo; past it the memo starts over.
const maxVerified = 50_000

// ParseAccessCached is ParseAccess with a per-process memo of tokens already
// verified. The memo is keyed by the whole token string, so a token that differs
// in any byte is verified from scratch.
func (t *Tokens) ParseAccessCached(token string) (Claims, int64, error) {
	t.mu.Lock()
	v, ok := t.verified[token]
	t.mu.Unlock()
	if ok && t.Now().Before(v.exp) {
		return v.claims, v.uid, nil
	}
	c, uid, err := t.ParseAccess(token)
	if err != nil {
		return c, uid, err
	}
	t.mu.Lock()
	if t.verified == nil || len(t.verified) >= maxVerified {
		t.verified = make(map[string]verifiedToken)
	}
	t.verified[token] = verifiedToken{claims: c, uid: uid, exp: c.ExpiresAt.Time}
	t.mu.Unlock()
	return c, uid, nil
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// NewLogin starts a login for the user and returns its first token pair.
func (t *Tokens) NewLogin(ctx context.Context, userID int64, role string) (TokenPair, error) {
	loginID := models.RandomHex(16)
	refresh := models.RandomHex(32)
	now := t.Now()
	err := models.InTx(ctx, t.DB, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO logins (id, user_id, created_at) VALUES (?, ?, ?)`, loginID, userID, now); err != nil {
			return fmt.Errorf("insert login: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, login_id, expires_at, created_at) VALUES (?, ?, ?, ?)`,
			hashToken(refresh), loginID, now.Add(t.RefreshTTL), now); err != nil {
			return fmt.Errorf("insert refresh token: %w", err)
		}
		return nil
	})
	if err != nil {
		return TokenPair{}, err
	}
	return t.pair(userID, role, loginID, refresh)
}

func (t *Tokens) pair(userID int64, role, loginID, refresh string) (TokenPair, error) {
	access, err := t.SignAccess(userID, role, loginID)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(t.AccessTTL.Seconds())}, nil
}

// SignAccess signs an access token.
func (t *Tokens) SignAccess(userID int64, role, loginID string) (string, error) {
	now := t.Now()
	claims := Claims{
		Role: role,
		SID:  loginID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    jwtIssuer,
			Subject:   strconv.FormatInt(userID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.AccessTTL)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.Secret)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return s, nil
}

// ParseAccess verifies an access token: HS256 only (no "none", no RS/HS confusion),
// exp required, our issuer. Any failure is ErrUnauthorized.
func (t *Tokens) ParseAccess(token string) (Claims, int64, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(jwtIssuer),
		jwt.WithTimeFunc(t.Now),
	)
	if err != nil {
		return Claims{}, 0, models.ErrUnauthorized
	}
	uid, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || uid <= 0 || c.SID == "" {
		return Claims{}, 0, models.ErrUnauthorized
	}
	return c, uid, nil
}

// Refresh spends a refresh token and returns a new pair. Presenting a token that
// was already spent means it leaked (or a client bug): the whole login is revoked
// and ErrRefreshReused returned, so the thief's copy dies with the owner's.
func (t *Tokens) Refresh(ctx context.Context, refresh string) (TokenPair, models.Principal, error) {
	if refresh == "" || len(refresh) > 128 {
		return TokenPair{}, models.Principal{}, ErrRefreshInvalid
	}
	now := t.Now()
	next := models.RandomHex(32)
	var p models.Principal
	var reused bool
	err := models.InTx(ctx, t.DB, func(tx *sql.Tx) error {
		var expires time.Time
		var used, revoked sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT r.login_id, r.expires_at, r.used_at, l.revoked_at, l.user_id, u.role
			FROM refresh_tokens r JOIN logins l ON l.id = r.login_id JOIN users u ON u.id = l.user_id
			WHERE r.token_hash = ? FOR UPDATE`, hashToken(refresh)).Scan(&p.LoginID, &expires, &used, &revoked, &p.UserID, &p.Role)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrRefreshInvalid
		}
		if err != nil {
			return fmt.Errorf("load refresh token: %w", err)
		}
		// A spent token is reuse whatever became of its login since (api.md: an
		// already-used refresh token → refresh_token_reused): the replay that
		// follows a detected theft, or one after logout, is still a replay. So this
		// check comes before the revocation check; revoking again is a no-op.
		if used.Valid {
			if _, err := tx.ExecContext(ctx, `UPDATE logins SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, now, p.LoginID); err != nil {
				return fmt.Errorf("revoke login: %w", err)
			}
			reused = true
			return nil // commit the revocation
		}
		if revoked.Valid {
			return ErrRefreshInvalid
		}
		if !expires.After(now) {
			return ErrRefreshInvalid
		}
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL`, now, hashToken(refresh))
		if err != nil {
			return fmt.Errorf("spend refresh token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrRefreshInvalid
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, login_id, expires_at, created_at) VALUES (?, ?, ?, ?)`,
			hashToken(next), p.LoginID, now.Add(t.RefreshTTL), now); err != nil {
			return fmt.Errorf("insert refresh token: %w", err)
		}
		return nil
	})
	if err != nil {
		return TokenPair{}, models.Principal{}, err
	}
	if reused {
		return TokenPair{}, p, ErrRefreshReused
	}
	pair, err := t.pair(p.UserID, p.Role, p.LoginID, next)
	return pair, p, err
}

// Revoke ends a login: its refresh tokens stop working, and so do its access tokens
// once the AuthCache entry is invalidated.
func (t *Tokens) Revoke(ctx context.Context, loginID string) error {
	if _, err := t.DB.ExecContext(ctx, `UPDATE logins SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, t.Now(), loginID); err != nil {
		return fmt.Errorf("revoke login: %w", err)
	}
	return nil
}

// AuthCache resolves a verified access token to the caller's current role and
// login state. It reads MySQL at most once per login per TTL and keeps the answer
// in process memory, so an authenticated request costs no database or Redis round
// trip; role changes and revocations evict entries at once on this instance and,
// through Redis pub/sub (see Listen), on every other instance. If pub/sub is
// down the TTL bounds how stale another instance can be.
type AuthCache struct {
	DB    *sql.DB
	Redis *models.Redis
	TTL   time.Duration // measured on the process clock: it bounds staleness, not a business rule

	mu      sync.Mutex
	entries map[string]authEntry
	// evictions counts evictions; a load that saw an eviction happen while it was
	// reading MySQL does not store its answer, which may predate the change the
	// eviction announced (a revocation or a role change).
	evictions uint64
}

type authEntry struct {
	userID  int64
	role    string
	revoked bool
	loaded  time.Time
}

// Principal returns the caller for a login, or ErrUnauthorized when the login was
// revoked or the user is gone; ErrUnavailable when MySQL cannot be asked.
func (a *AuthCache) Principal(ctx context.Context, userID int64, loginID string) (models.Principal, error) {
	now := time.Now()
	a.mu.Lock()
	e, ok := a.entries[loginID]
	a.mu.Unlock()
	if !ok || now.Sub(e.loaded) > a.TTL {
		a.mu.Lock()
		gen := a.evictions
		a.mu.Unlock()
		var role string
		var revoked sql.NullTime
		// A deleted account is gone even for a login that raced its deletion.
		err := a.DB.QueryRowContext(ctx, `SELECT u.role, l.revoked_at FROM logins l JOIN users u ON u.id = l.user_id
			WHERE l.id = ? AND l.user_id = ? AND u.status = 'active'`, loginID, userID).Scan(&role, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return models.Principal{}, models.ErrUnauthorized
		}
		if err != nil {
			return models.Principal{}, fmt.Errorf("%w: load principal: %w", models.ErrUnavailable, err)
		}
		e = authEntry{userID: userID, role: role, revoked: revoked.Valid, loaded: now}
		a.mu.Lock()
		if a.entries == nil {
			a.entries = map[string]authEntry{}
		}
		if len(a.entries) > 100_000 { // bound memory; entries reload cheaply
			clear(a.entries)
		}
		if a.evictions == gen {
			a.entries[loginID] = e
		}
		a.mu.Unlock()
	}
	if e.revoked || e.userID != userID {
		return models.Principal{}, models.ErrUnauthorized
	}
	return models.Principal{UserID: userID, Role: e.role, LoginID: loginID}, nil
}

func (a *AuthCache) channel() string { return a.Redis.Key("auth", "invalidate") }

// InvalidateUser drops every cached login of the user here and announces it.
func (a *AuthCache) InvalidateUser(ctx context.Context, userID int64) {
	a.evict("user:" + strconv.FormatInt(userID, 10))
	a.publish(ctx, "user:"+strconv.FormatInt(userID, 10))
}

// InvalidateLogin drops one cached login here and announces it.
func (a *AuthCache) InvalidateLogin(ctx context.Context, loginID string) {
	a.evict("login:" + loginID)
	a.publish(ctx, "login:"+loginID)
}

func (a *AuthCache) publish(ctx context.Context, msg string) {
	if err := a.Redis.Client.Publish(ctx, a.channel(), msg).Err(); err != nil {
		slog.WarnContext(ctx, "auth cache invalidation not broadcast; other instances catch up within the TTL", "err", err)
	}
}

func (a *AuthCache) evict(msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.evictions++
	switch {
	case strings.HasPrefix(msg, "login:"):
		delete(a.entries, strings.TrimPrefix(msg, "login:"))
	case strings.HasPrefix(msg, "user:"):
		id, err := strconv.ParseInt(strings.TrimPrefix(msg, "user:"), 10, 64)
		if err != nil {
			return
		}
		for k, e := range a.entries {
			if e.userID == id {
				delete(a.entries, k)
			}
		}
	}
}

// Listen applies other instances' invalidations until ctx ends. go-redis
// resubscribes by itself after a Redis outage; messages missed meanwhile are covered
// by the TTL.
func (a *AuthCache) Listen(ctx context.Context) {
	sub := a.Redis.Client.Subscribe(ctx, a.channel())
	go func() {
		<-ctx.Done()
		sub.Close()
	}()
	for msg := range sub.Channel() {
		a.evict(msg.Payload)
	}
}
