package points

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// FuzzParseDeviceAuth feeds arbitrary header values to the parser. It must never
// panic, must accept only canonical values (so what the server signs is byte for
// byte what the bin signed), and whatever it accepts must verify exactly when the
// signature is the HMAC of that request and fail for any other body.
func FuzzParseDeviceAuth(f *testing.F) {
	secret := []byte("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0")
	body := []byte(`{"event_id":"e1","resident_token":"t","weight_grams":350,"quality":"ok","occurred_at":"2025-01-01T00:00:00Z"}`)
	good := SignDeposit(secret, 1735689600, "nonce-0001", body)
	f.Add("1", "1735689600", "nonce-0001", good, body)
	f.Add("42", "01735689600", "nonce-0001", good, body)
	f.Add("-1", "1735689600", "short", "zz", []byte{})
	f.Add("9223372036854775808", "99999999999999", "n\nonce-0001", good+"0", body)
	f.Add("", "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, id, ts, nonce, sig string, b []byte) {
		h := http.Header{}
		h.Set(HeaderDeviceID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderNonce, nonce)
		h.Set(HeaderSignature, sig)
		got, _, err := ParseDeviceAuth(h.Get)
		if err != nil {
			if err != ErrDeviceAuth {
				t.Fatalf("error %v is not ErrDeviceAuth", err)
			}
			return
		}
		// Accepted values are canonical.
		if strconv.FormatInt(got.DeviceID, 10) != h.Get(HeaderDeviceID) || strconv.FormatInt(got.Timestamp, 10) != h.Get(HeaderTimestamp) ||
			got.Nonce != h.Get(HeaderNonce) || len(got.Signature) != 32 || got.DeviceID <= 0 || got.Timestamp <= 0 {
			t.Fatalf("accepted non-canonical headers %q %q %q %q -> %+v", id, ts, nonce, sig, got)
		}
		// The signature check agrees with a recomputation.
		want := SignDeposit(secret, got.Timestamp, got.Nonce, b)
		if VerifyDeposit(secret, got, b) != (want == h.Get(HeaderSignature)) {
			t.Fatalf("verify disagrees with recomputation")
		}
		// A correctly signed request verifies; one byte more of body does not.
		got.Signature = mustHex(t, want)
		if !VerifyDeposit(secret, got, b) {
			t.Fatalf("own signature rejected")
		}
		if VerifyDeposit(secret, got, append(bytes.Clone(b), 'x')) {
			t.Fatalf("altered body accepted")
		}
		if VerifyDeposit([]byte("another secret"), got, b) {
			t.Fatalf("wrong secret accepted")
		}
	})
}

// FuzzTimestampFresh: the window is symmetric and exactly ±skew.
func FuzzTimestampFresh(f *testing.F) {
	f.Add(int64(1735689600), int64(0))
	f.Add(int64(1735689600), int64(300))
	f.Add(int64(1735689600), int64(-301))
	f.Add(int64(1), int64(-9223372036854775807))
	f.Fuzz(func(t *testing.T, now, off int64) {
		if now < 0 || now > 1<<40 || off < -1<<40 || off > 1<<40 {
			return
		}
		ok := TimestampFresh(now+off, time.Unix(now, 0), 300*time.Second)
		if ok != (off >= -300 && off <= 300) {
			t.Fatalf("now %d off %d: fresh=%v", now, off, ok)
		}
	})
}

func mustHex(t *testing.T, s string) []byte {
	h := http.Header{}
	h.Set(HeaderDeviceID, "1")
	h.Set(HeaderTimestamp, "1")
	h.Set(HeaderNonce, "nonce-0001")
	h.Set(HeaderSignature, s)
	got, _, err := ParseDeviceAuth(h.Get)
	if err != nil {
		t.Fatalf("own signature does not parse: %v", err)
	}
	return got.Signature
}
