package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func newEngine() *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(RequestIDMiddleware(nil), Recover())
	return r
}

func envelope(t *testing.T, body string) ErrorDetail {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not an error envelope: %s", body)
	}
	return e.Error
}

func TestPanicBecomesEnvelope(t *testing.T) {
	r := newEngine()
	r.GET("/boom", func(c *gin.Context) { panic("secret detail 42") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", w.Code)
	}
	if e := envelope(t, w.Body.String()); e.Code != "internal" || strings.Contains(w.Body.String(), "secret detail") {
		t.Fatalf("panic leaked or wrong code: %s", w.Body.String())
	}
	if w.Header().Get("X-Request-Id") == "" {
		t.Fatal("no request id on a panic")
	}
}

func TestBindJSONNamesTheField(t *testing.T) {
	type req struct {
		SessionID int64  `json:"session_id" binding:"required,min=1"`
		Kind      string `json:"kind" binding:"omitempty,oneof=a b"`
	}
	r := newEngine()
	r.POST("/x", func(c *gin.Context) {
		var in req
		if BindJSON(c, &in) {
			c.Status(http.StatusNoContent)
		}
	})
	cases := map[string]string{
		`{}`:                             "session_id",
		`{"session_id": 0}`:              "session_id",
		`{"session_id": "1"}`:            "session_id",
		`{"session_id": 1, "kind": "z"}`: "kind",
		`{"session_id": 1,`:              "JSON",
		``:                               "JSON",
	}
	for body, field := range cases {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("POST", "/x", strings.NewReader(body)))
		e := envelope(t, w.Body.String())
		if w.Code != http.StatusBadRequest || e.Code != "invalid_request" || !strings.Contains(e.Message, field) {
			t.Errorf("%q: %d %+v, want 400 naming %s", body, w.Code, e, field)
		}
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("POST", "/x", strings.NewReader(`{"session_id": 3, "status": "confirmed"}`)))
	if w.Code != http.StatusNoContent {
		t.Fatalf("unknown fields must be ignored: %d %s", w.Code, w.Body.String())
	}
}

// From a trusted proxy (httptest's peer 192.0.2.1) a sane id is kept, others not.
func TestRequestIDSanitised(t *testing.T) {
	gin.SetMode(gin.TestMode)
	proxy, _ := ParseProxies([]string{"192.0.2.1"})
	r := gin.New()
	r.Use(RequestIDMiddleware(proxy))
	r.GET("/", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	for in, keep := range map[string]bool{"abc-123_x.y": true, "bad id\n": false, strings.Repeat("a", 65): false} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Request-Id", in)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		got := w.Header().Get("X-Request-Id")
		if (got == in) != keep || got == "" {
			t.Errorf("request id %q → %q", in, got)
		}
	}
}
