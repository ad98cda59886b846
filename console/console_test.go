package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newTestConsole(t *testing.T, env string) *Console {
	t.Helper()
	c, err := New(Deps{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDevLoginOnlyInDevAndTest(t *testing.T) {
	c := newTestConsole(t, "production")
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/console/dev-login", strings.NewReader("openid=x"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	c.ServeHTTP(w, r)
	if w.Code != http.StatusNotFound {
		t.Fatalf("production dev-login: %d, want 404", w.Code)
	}
	if !c.secureCookies() {
		t.Fatal("production cookies must be Secure")
	}
	if newTestConsole(t, "dev").secureCookies() {
		t.Fatal("dev cookies over plain http must not be Secure")
	}
}

func TestAssetsHashedAndCached(t *testing.T) {
	c := newTestConsole(t, "test")
	for _, name := range []string{"app.css", "app.js", "vendor/htmx.min.js", "vendor/echarts.min.js"} {
		u, err := c.assets.url(name)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(name, name[strings.LastIndex(name, "."):])
		if !strings.HasPrefix(u, "/console/assets/"+base+".") || u == "/console/assets/"+name {
			t.Fatalf("%s → %s: want a content-hashed name", name, u)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, httptest.NewRequest("GET", u, nil))
		if w.Code != 200 || !strings.Contains(w.Header().Get("Cache-Control"), "immutable") || w.Body.Len() == 0 {
			t.Fatalf("GET %s: %d %q", u, w.Code, w.Header().Get("Cache-Control"))
		}
	}
	for _, stale := range []string{"/console/assets/app.0000000000.css", "/console/assets/app.css", "/console/assets/vendor/VERSIONS"} {
		w := httptest.NewRecorder()
		c.ServeHTTP(w, httptest.NewRequest("GET", stale, nil))
		if w.Code != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", stale, w.Code)
		}
	}
}

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0", 3000: "30", 1250: "12.50", 5: "0.05"} {
		if got := yuan(fen); got != want {
			t.Errorf("yuan(%d) = %q, want %q", fen, got, want)
		}
	}
}
