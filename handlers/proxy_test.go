package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestProxiesTrustByPeerAddressOnly(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.5", "192.168.0.0/16", "fd00::/8", " "})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.0.0.5:5555":          true,
		"10.0.0.6:5555":          false,
		"192.168.44.1:80":        true,
		"[fd00::1]:443":          true,
		"[::ffff:10.0.0.5]:1234": true, // IPv4-mapped peer
		"127.0.0.1:1":            false,
		"not an address":         false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = addr
		r.Header.Set("X-Forwarded-For", "10.0.0.5") // headers never make a peer trusted
		if got := p.Trusts(r); got != want {
			t.Errorf("Trusts(%s) = %v, want %v", addr, got, want)
		}
	}
	var none *Proxies
	if none.Trusts(httptest.NewRequest("GET", "/", nil)) {
		t.Error("a nil set trusts someone")
	}
	for _, bad := range []string{"10.0.0.300", "10.0.0.0/33", "proxy.local"} {
		if _, err := ParseProxies([]string{bad}); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
}

func TestRequestIDOnlyFromTrustedProxies(t *testing.T) {
	p, _ := ParseProxies([]string{"10.0.0.0/8"})
	r := newEngine()
	r.Use(RequestIDMiddleware(p))
	r.GET("/x", func(c *gin.Context) { c.String(http.StatusOK, RequestID(c)) })
	call := func(peer, id string) (header, seen string) {
		req := httptest.NewRequest("GET", "/x", nil)
		req.RemoteAddr = peer
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Header().Get("X-Request-Id"), w.Body.String()
	}
	if h, seen := call("10.1.2.3:4000", "lb-trace-42"); h != "lb-trace-42" || seen != "lb-trace-42" {
		t.Errorf("trusted proxy's id: header %q, handler saw %q", h, seen)
	}
	for _, tc := range []struct{ peer, id string }{
		{"203.0.113.9:4000", "attacker-picked"}, // a client: never its own id
		{"10.1.2.3:4000", "bad id with spaces"}, // a proxy, but not a sane id
		{"10.1.2.3:4000", strings.Repeat("a", 65)},
		{"203.0.113.9:4000", ""},
	} {
		h, seen := call(tc.peer, tc.id)
		if h == tc.id || h != seen || len(h) != 24 {
			t.Errorf("peer %s id %q: got %q (handler %q), want a fresh 24-hex id", tc.peer, tc.id, h, seen)
		}
	}
}

func TestRequireJSON(t *testing.T) {
	r := newEngine()
	ran := 0
	r.Any("/x", RequireJSON(), func(c *gin.Context) { ran++; c.Status(http.StatusNoContent) })
	for _, tc := range []struct {
		method, ctype, body string
		want                int
	}{
		{"POST", "application/json", `{}`, 204},
		{"POST", "application/json; charset=utf-8", `{}`, 204},
		{"PATCH", "Application/JSON", `{}`, 204},
		{"POST", "application/merge-patch+json", `{}`, 204},
		{"POST", "", "", 204},                        // no body: optional-body routes
		{"DELETE", "text/plain", "", 204},            // no body, whatever the header
		{"GET", "text/plain", "ignored", 204},        // GET bodies are never read
		{"POST", "text/plain", `{"title":"x"}`, 415}, // JSON text, wrong type: refused
		{"PUT", "application/x-www-form-urlencoded", "role=admin", 415},
		{"POST", "", `{}`, 415}, // a body must say what it is
		{"POST", "multipart/form-data; boundary=x", "--x--", 415},
		{"POST", "application/jsonx", `{}`, 415},
		{"DELETE", "text/plain", "x", 415},
		{"POST", "application/json; charset", `{}`, 415}, // malformed media type
	} {
		ran = 0
		req := httptest.NewRequest(tc.method, "/x", strings.NewReader(tc.body))
		if tc.body == "" {
			req = httptest.NewRequest(tc.method, "/x", nil)
		}
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("%s %q %q: %d, want %d", tc.method, tc.ctype, tc.body, w.Code, tc.want)
			continue
		}
		if tc.want == 415 {
			if e := envelope(t, w.Body.String()); e.Code != "unsupported_media_type" {
				t.Errorf("%s %q: code %q", tc.method, tc.ctype, e.Code)
			}
			if ran != 0 {
				t.Errorf("%s %q: the handler ran", tc.method, tc.ctype)
			}
		}
	}
}
