package account_test

import (
	"strings"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/account"
)

// FuzzAccessToken checks the token parser refuses everything it did not sign and
// never panics: only the exact token we issued is accepted.
func FuzzAccessToken(f *testing.F) {
	tokens := &account.Tokens{Secret: []byte("fuzz-secret-that-is-at-least-32-bytes"), AccessTTL: time.Hour, Now: models.SystemClock}
	good, err := tokens.SignAccess(7, "resident", "login")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.", good + "x", strings.Replace(good, ".", "..", 1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, uid, err := tokens.ParseAccess(s)
		if err != nil {
			return
		}
		if s != good {
			// A different string that verifies must still carry our exact claims
			// (JWT allows no other encodings of a valid signature in practice).
			if uid != 7 || c.SID != "login" {
				t.Fatalf("accepted forged token %q as user %d", s, uid)
			}
		}
	})
}

// TestParseAccessCachedHonoursExpiry: a memoised token stops working when it expires.
func TestParseAccessCachedHonoursExpiry(t *testing.T) {
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	tokens := &account.Tokens{Secret: []byte("cache-secret-that-is-at-least-32-bytes"), AccessTTL: time.Minute, Now: clock}
	tok, err := tokens.SignAccess(9, "resident", "l")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // second call served from the memo
		if _, uid, err := tokens.ParseAccessCached(tok); err != nil || uid != 9 {
			t.Fatalf("fresh token: %d %v", uid, err)
		}
	}
	now = now.Add(2 * time.Minute)
	if _, _, err := tokens.ParseAccessCached(tok); err == nil {
		t.Fatal("expired token accepted from the memo")
	}
	if _, _, err := tokens.ParseAccessCached(tok + "x"); err == nil {
		t.Fatal("altered token accepted")
	}
}
