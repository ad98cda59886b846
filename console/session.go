package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/consolelogin"
)

// Cookie names. Both are HttpOnly, SameSite=Lax, Path=/console, Secure outside
// dev and test.
const (
	sessionCookie = "nt_console"
	// browserCookie holds the nonce that binds a login ticket to this browser.
	browserCookie = "nt_console_browser"
	// flashCookie carries one message across a POST-redirect-GET.
	flashCookie = "nt_console_flash"
)

// csrfField is the hidden form field (and htmx header X-CSRF-Token) holding the
// session's CSRF token.
const csrfField = "csrf"

type ctxKey int

const callerKey ctxKey = 1

// caller is the signed-in staff member on this request.
type caller struct {
	models.Principal
	Session consolelogin.Session
	Name    string
}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey).(caller)
	return c
}

func (c *Console) devLoginEnabled() bool { return c.d.Env == "dev" || c.d.Env == "test" }

func (c *Console) secureCookies() bool { return !c.devLoginEnabled() }

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/console", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secureCookies(), SameSite: http.SameSiteLaxMode,
	})
}

// roleRank orders roles so "lowered" can be said: admin > staff > resident.
func roleRank(role string) int {
	switch role {
	case models.RoleAdmin:
		return 2
	case models.RoleStaff:
		return 1
	}
	return 0
}

// staff wraps a handler that needs a staff or admin session. Without one the
// browser is sent (303) to the login page; a session whose user's role was
// lowered since it opened is ended there and then. State-changing requests
// must carry the session's CSRF token.
func (c *Console) staff(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, ok := c.authenticate(w, r)
		if !ok {
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !validCSRF(r, who.Session.CSRF) {
			c.fail(w, r, http.StatusForbidden, "表单已过期或来源不明，请刷新页面后重试。")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey, who)))
	})
}

// admin wraps a handler for admins only: staff get 403.
func (c *Console) admin(h http.HandlerFunc) http.Handler {
	return c.staff(func(w http.ResponseWriter, r *http.Request) {
		if callerOf(r).Role != models.RoleAdmin {
			c.fail(w, r, http.StatusForbidden, "此页面仅管理员可用。")
			return
		}
		h(w, r)
	})
}

func (c *Console) authenticate(w http.ResponseWriter, r *http.Request) (caller, bool) {
	ctx := r.Context()
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		c.toLogin(w, r)
		return caller{}, false
	}
	sess, err := c.d.Logins.Lookup(ctx, ck.Value)
	if err == nil {
		var p models.Principal
		p, err = c.d.Auth.Principal(ctx, sess.UserID, sess.LoginID)
		if err == nil && (!models.IsStaff(p.Role) || roleRank(p.Role) < roleRank(sess.Role)) {
			// Role lowered: the session dies now, not merely this request.
			if err := c.endSession(ctx, sess); err != nil {
				c.failErr(w, r, err)
				return caller{}, false
			}
			err = models.ErrUnauthorized
		}
		if err == nil {
			u, uerr := c.d.Users.Get(ctx, p.UserID)
			name := ""
			if uerr == nil {
				name = displayName(u)
			}
			return caller{Principal: p, Session: sess, Name: name}, true
		}
	}
	if errors.Is(err, models.ErrUnauthorized) {
		c.setCookie(w, sessionCookie, "", -1)
		c.toLogin(w, r)
		return caller{}, false
	}
	c.failErr(w, r, err)
	return caller{}, false
}

func (c *Console) endSession(ctx context.Context, sess consolelogin.Session) error {
	if err := c.d.Logins.End(ctx, sess); err != nil {
		return err
	}
	c.d.Auth.InvalidateLogin(ctx, sess.LoginID)
	return nil
}

// toLogin sends the browser to the login page: 303 for a page, HX-Redirect for
// an htmx request (which would otherwise swap the login page into a fragment).
func (c *Console) toLogin(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", "/console/login")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

func validCSRF(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func displayName(u account.User) string {
	switch {
	case u.RealName != "":
		return u.RealName
	case u.Nickname != "":
		return u.Nickname
	}
	return fmt.Sprintf("用户 #%d", u.ID)
}
