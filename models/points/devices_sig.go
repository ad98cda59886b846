package points

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"nantian/models"
)

// The bin webhook's authentication (api.md): headers X-Device-Id, X-Timestamp
// (unix seconds), X-Nonce and X-Signature = lowercase hex of
// HMAC-SHA256(secret, timestamp + "\n" + nonce + "\n" + hex(SHA-256(body))).
// Parsing is strict and canonical (no signs, no leading zeros, bounded lengths) so
// the string the server signs is exactly the one the bin signed; anything else is
// refused before a database or Redis call is made.

// ErrDeviceAuth is every webhook authentication failure: missing or malformed
// headers, an unknown or disabled device, a stale timestamp, a bad signature or a
// replayed nonce. One code and message for all, so a caller learns nothing about
// which part failed; the reason is logged server-side.
var ErrDeviceAuth = &models.Error{Kind: models.KindUnauthorized, Code: "unauthorized", Message: "设备认证失败"}

// DeviceAuthHeaders are the parsed webhook headers.
type DeviceAuthHeaders struct {
	DeviceID  int64
	Timestamp int64 // unix seconds
	Nonce     string
	Signature []byte // 32 bytes
}

// Header names of the webhook.
const (
	HeaderDeviceID  = "X-Device-Id"
	HeaderTimestamp = "X-Timestamp"
	HeaderNonce     = "X-Nonce"
	HeaderSignature = "X-Signature"
)

// ParseDeviceAuth reads the four headers through get (http.Header.Get). Any
// missing, malformed or non-canonical value is ErrDeviceAuth with a reason for the log.
func ParseDeviceAuth(get func(string) string) (DeviceAuthHeaders, string, error) {
	var h DeviceAuthHeaders
	id, ok := parseCanonicalInt(get(HeaderDeviceID), 19)
	if !ok || id <= 0 {
		return h, "bad X-Device-Id", ErrDeviceAuth
	}
	ts, ok := parseCanonicalInt(get(HeaderTimestamp), 12)
	if !ok || ts <= 0 {
		return h, "bad X-Timestamp", ErrDeviceAuth
	}
	nonce := get(HeaderNonce)
	if !validNonce(nonce) {
		return h, "bad X-Nonce", ErrDeviceAuth
	}
	sig := get(HeaderSignature)
	if len(sig) != 2*sha256.Size || !isLowerHex(sig) {
		return h, "bad X-Signature", ErrDeviceAuth
	}
	raw, err := hex.DecodeString(sig)
	if err != nil {
		return h, "bad X-Signature", ErrDeviceAuth
	}
	return DeviceAuthHeaders{DeviceID: id, Timestamp: ts, Nonce: nonce, Signature: raw}, "", nil
}

// parseCanonicalInt accepts only plain decimal digits without a leading zero
// (except "0" itself), at most maxDigits long.
func parseCanonicalInt(s string, maxDigits int) (int64, bool) {
	if s == "" || len(s) > maxDigits || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// validNonce: 8 to 64 characters of [A-Za-z0-9_-] (a UUID or random hex fits).
func validNonce(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
			return false
		}
	}
	return true
}

// depositMAC computes the raw HMAC of the canonical string.
func depositMAC(secret []byte, ts int64, nonce string, body []byte) []byte {
	bodyHash := sha256.Sum256(body)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte("\n"))
	m.Write([]byte(nonce))
	m.Write([]byte("\n"))
	m.Write([]byte(hex.EncodeToString(bodyHash[:])))
	return m.Sum(nil)
}

// SignDeposit returns the X-Signature a bin sends (used by the bin simulator and
// tests). The secret is the string shown once at registration, used as bytes.
func SignDeposit(secret []byte, ts int64, nonce string, body []byte) string {
	return hex.EncodeToString(depositMAC(secret, ts, nonce, body))
}

// VerifyDeposit checks the signature in constant time.
func VerifyDeposit(secret []byte, h DeviceAuthHeaders, body []byte) bool {
	return hmac.Equal(depositMAC(secret, h.Timestamp, h.Nonce, body), h.Signature)
}

// TimestampFresh reports whether ts is within skew of now (either side).
func TimestampFresh(ts int64, now time.Time, skew time.Duration) bool {
	d := now.Unix() - ts
	lim := int64(skew / time.Second)
	return d <= lim && d >= -lim
}
