package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// Proxies is the set of reverse proxies (TRUSTED_PROXIES) whose headers are
// believed: the client IP header and a client-chosen X-Request-Id. A request from
// anywhere else is the client itself, and what it says about itself is not taken.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies reads IPs and CIDRs ("10.0.0.5", "10.0.0.0/8", "fd00::/8"), as
// TRUSTED_PROXIES lists them. An empty list trusts nobody.
func ParseProxies(list []string) (*Proxies, error) {
	p := &Proxies{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
			}
			p.prefixes = append(p.prefixes, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		a = a.Unmap()
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// Trusts reports whether the request came straight from a trusted proxy (by
// the TCP peer's address, never by a header).
func (p *Proxies) Trusts(r *http.Request) bool {
	if p == nil || len(p.prefixes) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, pfx := range p.prefixes {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// RequestIDMiddleware gives every request an id and echoes it in X-Request-Id.
// The caller's X-Request-Id is kept only when a trusted proxy sent it (it is the
// proxy's own trace id, so logs on both sides line up) and it is sane; from
// anyone else a fresh one is made, so a client cannot choose the id its actions
// are logged and audited under (or reuse another request's).
func RequestIDMiddleware(trusted *Proxies) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !trusted.Trusts(c.Request) || !saneRequestID(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(ctxRequestID, id)
		c.Header("X-Request-Id", id)
		c.Next()
	}
}

// RequireJSON refuses a request body that is not declared as JSON with 415
// unsupported_media_type, before any handler or audit runs, so nothing changes.
// It goes on the JSON route groups only: uploads (multipart), the CSV import and
// XML payment callbacks have their own groups. Requests without a body (GET,
// and POSTs whose body is optional) pass whatever their Content-Type.
//
// Why: a staff action sent as text/plain used to be decoded and applied while the
// audit, which records JSON bodies only, showed no body; and a browser form can
// send text/plain across origins without a preflight.
func RequireJSON() gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default: // GET, HEAD, OPTIONS carry no body the API reads
			c.Next()
			return
		}
		if c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
			c.Next()
			return
		}
		if !isJSONMediaType(c.GetHeader("Content-Type")) {
			Abort(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "请求体必须是 JSON（Content-Type: application/json）")
			return
		}
		c.Next()
	}
}

// isJSONMediaType accepts application/json and application/*+json, with any
// parameters (charset); the charset is not checked, bodies are read as UTF-8.
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}
