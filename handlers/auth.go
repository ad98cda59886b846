package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"nantian/models"
	"nantian/wechat"
)

// WeChatAuth is the part of the WeChat adapter that login and phone binding use.
type WeChatAuth interface {
	Code2Session(ctx context.Context, code string) (wechat.Session, error)
	PhoneNumber(ctx context.Context, code string) (string, error)
}

// AuthHandler serves login, refresh and logout.
type AuthHandler struct {
	Users  *models.Users
	Tokens *models.Tokens
	Cache  *models.AuthCache
	WeChat WeChatAuth
}

type loginRequest struct {
	Code string `json:"code" binding:"required,max=128"`
}

type loginResponse struct {
	models.TokenPair
	User models.User `json:"user"`
}

// Login exchanges a wx.login code for our tokens. The openid comes only from
// WeChat's answer; the session_key is dropped inside the adapter.
func (h *AuthHandler) Login(c *gin.Context) {
	var req loginRequest
	if !BindJSON(c, &req) {
		return
	}
	ctx := c.Request.Context()
	sess, err := h.WeChat.Code2Session(ctx, req.Code)
	if err != nil {
		failWeChat(c, err)
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

// failWeChat maps adapter errors: a bad or spent code is the client's (401), an
// unreachable or misconfigured WeChat is ours (503).
func failWeChat(c *gin.Context, err error) {
	switch {
	case errors.Is(err, wechat.ErrCodeInvalid):
		Abort(c, http.StatusUnauthorized, "wechat_code_invalid", "微信登录凭证无效，请重新登录")
	case errors.Is(err, wechat.ErrCodeUsed):
		Abort(c, http.StatusUnauthorized, "wechat_code_invalid", "微信登录凭证已被使用，请重新登录")
	default:
		slog.WarnContext(c.Request.Context(), "wechat call failed", "request_id", RequestID(c), "err", err)
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
	if errors.Is(err, models.ErrRefreshReused) {
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
