package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"nantian/models"
	"nantian/models/consolelogin"
)

// loginView is the login page's data.
type loginView struct {
	Ticket  consolelogin.Ticket
	Seconds int // left before the ticket expires
}

// browserNonce returns this browser's binding nonce, setting a new one if it
// has none. A ticket is only ever redeemed by the browser holding its nonce.
func (c *Console) browserNonce(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(browserCookie); err == nil && len(ck.Value) == 64 {
		return ck.Value
	}
	n := consolelogin.NewBrowserNonce()
	c.setCookie(w, browserCookie, n, int((24 * time.Hour).Seconds()))
	return n
}

// signedIn opens the browser's session cookie and goes to the console.
func (c *Console) signIn(w http.ResponseWriter, token string) {
	c.setCookie(w, sessionCookie, token, 0)
}

// loginPage shows the browser's ticket as a QR and a code, and signs the
// browser in once the ticket was approved (the no-JavaScript path: the page
// reloads itself every 2 s).
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if s, err := c.d.Logins.Lookup(ctx, ck.Value); err == nil {
			if p, err := c.d.Auth.Principal(ctx, s.UserID, s.LoginID); err == nil && models.IsStaff(p.Role) {
				http.Redirect(w, r, "/console/", http.StatusSeeOther)
				return
			}
		}
	}
	browser := c.browserNonce(w, r)
	state, token, _, err := c.d.Logins.Redeem(ctx, browser)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	if state == consolelogin.TicketRedeemed {
		c.signIn(w, token)
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	t, err := c.d.Logins.Ticket(ctx, browser)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	v := c.newView(r, "登录", "login", loginView{Ticket: t, Seconds: int(time.Until(t.ExpiresAt).Seconds())})
	c.page(w, r, http.StatusOK, "login", v)
}

// loginPoll is what the login page asks every second (htmx): 204 while the
// ticket waits, HX-Redirect into the console once it was approved, HX-Refresh
// for a new ticket when it expired.
func (c *Console) loginPoll(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(browserCookie)
	if err != nil {
		w.Header().Set("HX-Refresh", "true")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	state, token, _, err := c.d.Logins.Redeem(r.Context(), ck.Value)
	if err != nil {
		status, _ := errorText(err)
		w.WriteHeader(status) // the page polls again
		return
	}
	switch state {
	case consolelogin.TicketRedeemed:
		c.signIn(w, token)
		w.Header().Set("HX-Redirect", "/console/")
	case consolelogin.TicketNone:
		w.Header().Set("HX-Refresh", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

// loginQR draws the browser's own live ticket: WeChat's mini-program code when
// WeChat answers (scanning it opens the approval page in the mini-program),
// else a plain QR of the code that the mini-program's scanner reads.
func (c *Console) loginQR(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(browserCookie)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	t, err := c.d.Logins.Ticket(r.Context(), ck.Value)
	if err != nil || t.Code != consolelogin.NormalizeCode(r.URL.Query().Get("t")) {
		http.NotFound(w, r) // only this browser's live ticket; never a picture on demand
		return
	}
	img, ct := c.ticketPicture(r.Context(), t.Code)
	if img == nil {
		http.Error(w, "二维码生成失败", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "private, max-age=120")
	_, _ = w.Write(img)
}

func (c *Console) ticketPicture(ctx context.Context, code string) ([]byte, string) {
	if c.d.QR != nil {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		img, err := c.d.QR.WXACodeUnlimited(ctx, "t="+code, c.d.LoginPage, 280)
		if err == nil {
			return img, http.DetectContentType(img)
		}
		c.d.Logger.WarnContext(ctx, "console: mini-program code unavailable, showing a plain QR", "err", err)
	}
	png, err := qrcode.Encode("nantian-console:"+code, qrcode.Medium, 280)
	if err != nil {
		return nil, ""
	}
	return png, "image/png"
}

// devLogin signs a staff or admin user in by openid. It is routed only in
// APP_ENV dev and test; elsewhere /console/dev-login is 404.
func (c *Console) devLogin(w http.ResponseWriter, r *http.Request) {
	openid := strings.TrimSpace(r.PostFormValue("openid"))
	if openid == "" {
		c.fail(w, r, http.StatusBadRequest, "请填写 openid")
		return
	}
	token, _, err := c.d.Logins.OpenByOpenID(r.Context(), openid)
	if err != nil {
		if errors.Is(err, models.ErrForbidden) {
			c.fail(w, r, http.StatusForbidden, "只有工作人员和管理员可以登录控制台。")
			return
		}
		c.failErr(w, r, err)
		return
	}
	c.signIn(w, token)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// logout ends the session (its login is revoked) and clears the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if err := c.endSession(r.Context(), callerOf(r).Session); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}
