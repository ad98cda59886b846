package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNoDataKey is returned when a store must encrypt or decrypt personal data but
// was built without a DataCipher (a wiring bug, never a client's fault).
var ErrNoDataKey = errors.New("no data cipher configured (DATA_KEY)")

// sealVersion is the first byte of every sealed value. It names the key and the
// format, so a later key rotation can tell old ciphertexts from new ones.
const sealVersion = 0x01

// DataCipher encrypts personal fields at rest (phone numbers, children's names)
// with AES-256-GCM under a key derived from DATA_KEY, and computes the keyed blind
// index used to find a user by phone without storing the number in clear.
//
// Every sealed value is bound to its place: the additional data is
// "table.column:row id", so a ciphertext copied into another row or column fails
// to open rather than showing one resident's number on another's profile.
type DataCipher struct {
	aead  cipher.AEAD
	index []byte
	// previous is the key being rotated away from (DATA_KEY_PREVIOUS): values and
	// indexes made under it are still read and found until RotateDataKey has
	// re-sealed them under this one.
	previous *DataCipher
}

// WithPrevious returns the cipher that seals under c and also opens and finds
// what was sealed under prevSecret, for the time of a key rotation.
func (c *DataCipher) WithPrevious(prevSecret string) (*DataCipher, error) {
	prev, err := NewDataCipher(prevSecret)
	if err != nil {
		return nil, fmt.Errorf("DATA_KEY_PREVIOUS: %w", err)
	}
	cp := *c
	cp.previous = prev
	return &cp, nil
}

// NewDataCipher derives the encryption key and the blind-index key from secret
// with HKDF-SHA256 (distinct info strings, so one never serves as the other).
func NewDataCipher(secret string) (*DataCipher, error) {
	if len(secret) < 16 {
		return nil, errors.New("DATA_KEY must be at least 16 bytes")
	}
	encKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "nantian/data-encryption/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive data key: %w", err)
	}
	idxKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "nantian/phone-blind-index/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive index key: %w", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return &DataCipher{aead: aead, index: idxKey}, nil
}

func fieldAD(table, column string, rowID int64) []byte {
	return []byte(table + "." + column + ":" + strconv.FormatInt(rowID, 10))
}

// Seal encrypts plain for table.column of row rowID. The empty string seals to nil
// (stored as NULL): there is nothing to hide and nothing to show.
func (c *DataCipher) Seal(table, column string, rowID int64, plain string) ([]byte, error) {
	if plain == "" {
		return nil, nil
	}
	if c == nil {
		return nil, ErrNoDataKey
	}
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	out := make([]byte, 0, 1+len(nonce)+len(plain)+c.aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, nonce...)
	return c.aead.Seal(out, nonce, []byte(plain), fieldAD(table, column, rowID)), nil
}

// Open decrypts what Seal stored for table.column of row rowID; NULL (nil) opens to
// "". A value that does not open (wrong key, wrong row, tampered) is an error,
// never shown.
func (c *DataCipher) Open(table, column string, rowID int64, sealed []byte) (string, error) {
	plain, _, err := c.open(table, column, rowID, sealed)
	return plain, err
}

// open is Open that also says whether the previous key was needed.
func (c *DataCipher) open(table, column string, rowID int64, sealed []byte) (string, bool, error) {
	plain, err := c.openOne(table, column, rowID, sealed)
	if err != nil && c != nil && c.previous != nil {
		if p, perr := c.previous.openOne(table, column, rowID, sealed); perr == nil {
			return p, true, nil
		}
	}
	return plain, false, err
}

func (c *DataCipher) openOne(table, column string, rowID int64, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	if c == nil {
		return "", ErrNoDataKey
	}
	ns := c.aead.NonceSize()
	if sealed[0] != sealVersion || len(sealed) < 1+ns+c.aead.Overhead() {
		return "", fmt.Errorf("open %s.%s of row %d: unknown format", table, column, rowID)
	}
	plain, err := c.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], fieldAD(table, column, rowID))
	if err != nil {
		return "", fmt.Errorf("open %s.%s of row %d: %w", table, column, rowID, err)
	}
	return string(plain), nil
}

// NormalizePhone reduces a phone number to the form the blind index is computed
// over: digits only, and a mainland mobile's +86 / 0086 / 86 country code dropped,
// so "+86 138-1234-5678", "8613812345678" and "13812345678" are one number.
func NormalizePhone(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	switch {
	case len(d) == 15 && strings.HasPrefix(d, "0086"):
		d = d[4:]
	case len(d) == 13 && strings.HasPrefix(d, "86"):
		d = d[2:]
	}
	return d
}

// PhoneIndex is the blind index of a phone number: HMAC-SHA256 of its normalised
// form under the index key. nil for a number with no digits.
func (c *DataCipher) PhoneIndex(phone string) ([]byte, error) {
	n := NormalizePhone(phone)
	if n == "" {
		return nil, nil
	}
	if c == nil {
		return nil, ErrNoDataKey
	}
	m := hmac.New(sha256.New, c.index)
	m.Write([]byte(n))
	return m.Sum(nil), nil
}

// PhoneIndexes are the blind indexes to look a phone up by: the current key's,
// and during a rotation also the previous key's (rows not yet re-sealed carry it).
// The first is the current one, the one to store.
func (c *DataCipher) PhoneIndexes(phone string) ([][]byte, error) {
	cur, err := c.PhoneIndex(phone)
	if err != nil || cur == nil {
		return nil, err
	}
	out := [][]byte{cur}
	if c.previous != nil {
		prev, err := c.previous.PhoneIndex(phone)
		if err != nil {
			return nil, err
		}
		out = append(out, prev)
	}
	return out, nil
}

// LookupPair is PhoneIndexes as exactly two values for `IN (?, ?)`: the current
// index and the previous key's, or the current one twice outside a rotation.
func (c *DataCipher) LookupPair(phone string) (cur, other []byte, err error) {
	idx, err := c.PhoneIndexes(phone)
	if err != nil || len(idx) == 0 {
		return nil, nil, err
	}
	if len(idx) == 1 {
		return idx[0], idx[0], nil
	}
	return idx[0], idx[1], nil
}

func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Errorf("crypto/rand: %w", err)) // the OS RNG failing is not recoverable
	}
	return hex.EncodeToString(b)
}

// MaskPhone keeps only the last four characters: "13812345678" → "*******5678".
// It counts characters, not bytes, so a contact like "妈妈 13812345678" masks
// cleanly too. The roster and the audit log both use it.
func MaskPhone(p string) string {
	r := []rune(p)
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	return strings.Repeat("*", len(r)-4) + string(r[len(r)-4:])
}
