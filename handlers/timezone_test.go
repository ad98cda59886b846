package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func shanghai(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestLocalizeJSONTimes(t *testing.T) {
	loc := shanghai(t)
	for _, c := range []struct{ in, want string }{
		{`{"at":"2026-01-02T03:04:05Z"}`, `{"at":"2026-01-02T11:04:05+08:00"}`},
		{`{"at":"2026-01-02T03:04:05.123Z"}`, `{"at":"2026-01-02T11:04:05.123+08:00"}`},
		{`["2026-01-02T03:04:05-05:00","2026-01-02T03:04:05+08:00"]`, `["2026-01-02T16:04:05+08:00","2026-01-02T03:04:05+08:00"]`},
		// A key, nested raw JSON and a map of times.
		{`{"2026-01-02T00:00:00Z":{"before":{"ends_at":"2026-01-02T00:00:00Z"}}}`, `{"2026-01-02T08:00:00+08:00":{"before":{"ends_at":"2026-01-02T08:00:00+08:00"}}}`},
		// Text that contains a time, or a time inside an escaped quote, is text.
		{`{"note":"约 2026-01-02T03:04:05Z 上门"}`, `{"note":"约 2026-01-02T03:04:05Z 上门"}`},
		{`{"note":"\"2026-01-02T03:04:05Z\""}`, `{"note":"\"2026-01-02T03:04:05Z\""}`},
		{`{"note":"a\\","b":"2026-01-02T03:04:05Z"}`, `{"note":"a\\","b":"2026-01-02T11:04:05+08:00"}`},
		// Dates, invalid times and numbers are left alone.
		{`{"d":"2026-01-02","x":"2026-13-02T03:04:05Z","n":20260102}`, `{"d":"2026-01-02","x":"2026-13-02T03:04:05Z","n":20260102}`},
		// Before 1901 Shanghai ran on local mean time (+08:05:43), which RFC 3339
		// cannot write: the instant keeps the standard +08:00.
		{`{"at":"0000-01-01T00:00:00Z"}`, `{"at":"0000-01-01T08:00:00+08:00"}`},
		{`{"at":"9999-12-31T23:59:59Z"}`, `{"at":"9999-12-31T23:59:59Z"}`},
		{`{"at":"9999-12-31T15:59:59Z"}`, `{"at":"9999-12-31T23:59:59+08:00"}`},
	} {
		got := string(LocalizeJSONTimes([]byte(c.in), loc))
		if got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

// TestLocalTimesMiddleware: JSON bodies are rewritten even when written in pieces;
// other bodies pass byte for byte.
func TestLocalTimesMiddleware(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(LocalTimes(shanghai(t)))
	r.GET("/json", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"at": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}) })
	r.GET("/pieces", func(c *gin.Context) {
		c.Header("Content-Type", "application/json; charset=utf-8")
		c.Status(http.StatusCreated)
		_, _ = c.Writer.WriteString(`{"at":"2026-01-02T0`)
		_, _ = c.Writer.Write([]byte(`3:04:05Z"}`))
	})
	r.GET("/ics", func(c *gin.Context) { c.Data(http.StatusOK, "text/calendar", []byte(`"2026-01-02T03:04:05Z"`)) })
	for path, want := range map[string]string{
		"/json":   `{"at":"2026-01-02T11:04:05+08:00"}`,
		"/pieces": `{"at":"2026-01-02T11:04:05+08:00"}`,
		"/ics":    `"2026-01-02T03:04:05Z"`,
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if got := w.Body.String(); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
}

// TestWriteLocalJSON: a body localized once with LocalJSON (as the catalogue cache
// stores it) goes out as is, and the door does not scan it again; without the
// middleware LocalJSON changes nothing.
func TestWriteLocalJSON(t *testing.T) {
	gin.SetMode(gin.TestMode)
	const utc = `{"at":"2026-01-02T03:04:05Z"}`
	r := gin.New()
	r.Use(LocalTimes(shanghai(t)))
	r.GET("/cached", func(c *gin.Context) { WriteLocalJSON(c, http.StatusOK, LocalJSON(c, []byte(utc))) })
	// Proves the pass-through: a UTC body handed to WriteLocalJSON is not rewritten
	// (which is why only LocalJSON's output may be).
	r.GET("/unscanned", func(c *gin.Context) { WriteLocalJSON(c, http.StatusOK, []byte(utc)) })
	for path, want := range map[string]string{
		"/cached":    `{"at":"2026-01-02T11:04:05+08:00"}`,
		"/unscanned": utc,
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if got := w.Body.String(); got != want || w.Code != http.StatusOK {
			t.Errorf("%s: %d %s, want 200 %s", path, w.Code, got, want)
		}
	}
	bare := gin.New()
	bare.GET("/", func(c *gin.Context) {
		if got := string(LocalJSON(c, []byte(utc))); got != utc {
			t.Errorf("LocalJSON without LocalTimes: %s", got)
		}
	})
	bare.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

// FuzzLocalizeJSONTimes: the rewrite never breaks JSON, and changes nothing but
// RFC 3339 strings, each into the same instant.
func FuzzLocalizeJSONTimes(f *testing.F) {
	loc := shanghai(f)
	for _, s := range []string{`{"at":"2026-01-02T03:04:05Z"}`, `["\\"2026-01-02T03:04:05Z"]`, `"2026-01-02T03:04:05.999999999-12:00"`, `{"a":"x\"y"}`, `"0001-01-01T00:00:00Z"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := LocalizeJSONTimes(b, loc)
		if !json.Valid(b) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("valid %q became invalid %q", b, out)
		}
		var in, got any
		_ = json.Unmarshal(b, &in)
		_ = json.Unmarshal(out, &got)
		if !sameModuloTimes(in, got) {
			t.Fatalf("%q -> %q changed more than times", b, out)
		}
		if again := LocalizeJSONTimes(out, loc); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q", out, again)
		}
	})
}

func sameModuloTimes(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		tx, err1 := time.Parse(time.RFC3339Nano, x)
		ty, err2 := time.Parse(time.RFC3339Nano, y)
		return err1 == nil && err2 == nil && tx.Equal(ty)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameModuloTimes(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			// Keys may have been rewritten too; compare as key/value pairs.
			return ok && len(x) == len(y)
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok {
				// a rewritten time key: find its twin
				found := false
				for k2, w2 := range y {
					if sameModuloTimes(k, k2) && sameModuloTimes(v, w2) {
						found = true
						break
					}
				}
				if !found {
					return false
				}
				continue
			}
			if !sameModuloTimes(v, w) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a, b)
	}
}
