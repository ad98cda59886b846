package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"nantian/models/account"
	"nantian/wechat"
)

// WeChatAuth is the part of the WeChat adapter that login and phone binding use.
type WeChatAuth interface {
	Code2Session(ctx context.Context, code string) (wechat.Session, error)
	PhoneNumber(ctx context.Context, code string) (string, error)
}

// AuthHandler serves login, refresh and logout.
type AuthHandler struct {
	Users  *account.Users
	Tokens *account.Tokens
	Cache  *account.AuthCache
	WeChat WeChatAuth
	// Refused and PerOpenID limit logins (nil: unlimited). A mobile carrier puts
	// a whole estate behind one IP, so successful logins per IP are not counted:
	// Refused counts codes WeChat refused per client IP (once an IP has used up
	// that allowance its logins are answered 429 without asking WeChat, which cuts
	// a guessing loop off), PerOpenID counts successful logins per WeChat account.
	Refused   *Rule
	PerOpenID *Rule
}

type loginRequest struct {
	Code string `json:"code" binding:"required,max=128"`
}

type loginResponse struct {
	account.TokenPair
	User account.User `json:"user"`
}

// Login exchanges a wx.login code for our tokens. The openid comes only from
// WeChat's answer; the session_key is dropped inside the adapter.
func (h *AuthHandler) Login(c *gin.Context) {
	var req loginRequest
	if !BindJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	if h.Refused != nil && h.Refused.Exhausted(c) {
		return
	}
	sess, err := h.WeChat.Code2Session(ctx, req.Code)
	if err != nil {
		if h.Refused != nil && (errors.Is(err, wechat.ErrCodeInvalid) || errors.Is(err, wechat.ErrCodeUsed)) {
			h.Refused.Spend(c)
		}
		failWeChat(c, err, loginCodeRefused)
		return
	}
	// Keyed by a hash: the openid itself stays out of Redis key names (and so
	// out of SCAN output and slow logs).
	if h.PerOpenID != nil && !h.PerOpenID.AllowKey(c, openIDKey(sess.OpenID)) {
		return
	}
	user, err := h.Users.UpsertWeChat(ctx, sess.OpenID, sess.UnionID)
	if err != nil {
		Fail(c, err)
		return
	}
	pair, err := h.Tokens.NewLogin(ctx, user.ID, user.Role)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, loginResponse{TokenPair: pair, User: user})
}

func openIDKey(openid string) string {
	sum := sha256.Sum256([]byte("login-openid\x00" + openid))
	return hex.EncodeToString(sum[:16])
}

// codeRefusal is how a route answers a WeChat code that WeChat refused (invalid
// or already used): always wechat_code_invalid, with the route's status.
type codeRefusal struct {
	status        int
	invalid, used string // messages
}

var (
	// loginCodeRefused: api.md's 401 for wx.login codes.
	loginCodeRefused = codeRefusal{http.StatusUnauthorized, "微信登录凭证无效，请重新登录", "微信登录凭证已被使用，请重新登录"}
	// phoneCodeRefused: 422, not 401, because the caller is signed in and only
	// the phone grant failed; a 401 would send the mini-program's request
	// wrapper to refresh and log in again, for what needs a new tap on the
	// getPhoneNumber button.
	phoneCodeRefused = codeRefusal{http.StatusUnprocessableEntity, "手机号授权凭证无效或已使用，请重新授权", "手机号授权凭证无效或已使用，请重新授权"}
)

// failWeChat maps adapter errors: a bad or spent code is the client's (as
// refused says), an unreachable or misconfigured WeChat is ours (503).
func failWeChat(c *gin.Context, err error, refused codeRefusal) {
	switch {
	case errors.Is(err, wechat.ErrCodeInvalid):
		Abort(c, refused.status, "wechat_code_invalid", refused.invalid)
	case errors.Is(err, wechat.ErrCodeUsed):
		Abort(c, refused.status, "wechat_code_invalid", refused.used)
	default:
		Logger(c).WarnContext(c.Request.Context(), "wechat call failed", "request_id", RequestID(c), "err", err)
		Abort(c, http.StatusServiceUnavailable, "unavailable", "微信服务暂时不可用，请稍后再试")
	}
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token" binding:"required,max=128"`
}

// Refresh rotates a refresh token. A reused one revokes the login everywhere.
func (h *AuthHandler) Refresh(c *gin.Context) {
	var req refreshRequest
	if !BindJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	pair, p, err := h.Tokens.Refresh(ctx, req.RefreshToken)
	if errors.Is(err, account.ErrRefreshReused) {
		h.Cache.InvalidateLogin(ctx, p.LoginID)
	}
	if err != nil {
		Fail(c, err)
		return
	}
	user, err := h.Users.Get(ctx, p.UserID)
	if err != nil {
		Fail(c, err)
		return
	}
	c.JSON(http.StatusOK, loginResponse{TokenPair: pair, User: user})
}

// Logout revokes the caller's login: its refresh tokens and access tokens.
func (h *AuthHandler) Logout(c *gin.Context) {
	p := Caller(c)
	ctx := c.Request.Context()
	if err := h.Tokens.Revoke(ctx, p.LoginID); err != nil {
		Fail(c, err)
		return
	}
	h.Cache.InvalidateLogin(ctx, p.LoginID)
	c.Status(http.StatusNoContent)
}
