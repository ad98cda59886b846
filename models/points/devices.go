package points

// Smart bins and their secrets.
//
// Secret storage (the design asks that a database dump alone cannot forge events):
// each bin gets a random 256-bit secret, shown once as 64 hex characters; the bin
// uses that string's bytes as its HMAC key. The server must recompute the HMAC, so a
// one-way hash cannot work; instead the secret is stored encrypted with
// AES-256-GCM under a key derived from POINTS_DEVICE_KEY (config, never in the
// database), with the device id as additional data so a ciphertext copied onto
// another device's row does not decrypt. Someone with only a dump sees ciphertext;
// forging needs the dump and the server's configuration. Changing
// POINTS_DEVICE_KEY makes every stored secret undecryptable (those bins answer 401
// until staff rotate their secrets); production refuses the public dev key.
//
// Replay: the nonce of every accepted request is remembered in Redis (SET NX with
// a TTL covering the whole ±skew window of its timestamp). If Redis cannot be
// reached the webhook fails closed with 503: without the nonce cache a replay
// cannot be told apart, and the bin simply retries later (event_id keeps the retry
// from crediting twice).

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"nantian/models"
)

// Device statuses.
const (
	DeviceActive   = "active"
	DeviceDisabled = "disabled"
)

// Device is a registered bin as staff see it (never with its secret).
type Device struct {
	ID         int64      `json:"id"`
	Estate     string     `json:"estate"`
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	RotatedAt  *time.Time `json:"rotated_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
}

// DeviceInput registers a bin.
type DeviceInput struct {
	Estate string `json:"estate" binding:"required,max=32"`
	Name   string `json:"name" binding:"required,max=64"`
}

// Devices stores bins and checks their requests.
type Devices struct {
	DB    *sql.DB
	Redis *models.Redis
	Now   models.Clock
	Loc   *time.Location
	aead  cipher.AEAD
}

// deriveKey makes a purpose-specific 256-bit key from the configured secret, so
// the same POINTS_DEVICE_KEY never keys two different uses.
func deriveKey(secret, purpose string) []byte {
	k := sha256.Sum256([]byte("nantian/" + purpose + "\x00" + secret))
	return k[:]
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// NewDevices builds the store; key is POINTS_DEVICE_KEY.
func NewDevices(db *sql.DB, rdb *models.Redis, now models.Clock, loc *time.Location, key string) (*Devices, error) {
	aead, err := newGCM(deriveKey(key, "device-secret"))
	if err != nil {
		return nil, err
	}
	return &Devices{DB: db, Redis: rdb, Now: now, Loc: loc, aead: aead}, nil
}

func deviceAAD(id int64) []byte { return []byte("device:" + strconv.FormatInt(id, 10)) }

func (d *Devices) seal(id int64, secret []byte) []byte {
	nonce := make([]byte, d.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return d.aead.Seal(nonce, nonce, secret, deviceAAD(id))
}

func (d *Devices) open(id int64, enc []byte) ([]byte, error) {
	n := d.aead.NonceSize()
	if len(enc) < n {
		return nil, errors.New("device secret: ciphertext too short")
	}
	return d.aead.Open(nil, enc[:n], enc[n:], deviceAAD(id))
}

func newDeviceSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const deviceColumns = `id, estate, name, status, created_at, rotated_at, last_seen_at`

func (d *Devices) scan(row interface{ Scan(...any) error }) (Device, error) {
	var x Device
	err := row.Scan(&x.ID, &x.Estate, &x.Name, &x.Status, &x.CreatedAt, &x.RotatedAt, &x.LastSeenAt)
	x.CreatedAt = x.CreatedAt.In(d.Loc)
	for _, p := range []*time.Time{x.RotatedAt, x.LastSeenAt} {
		if p != nil {
			*p = p.In(d.Loc)
		}
	}
	return x, err
}

// Create registers a bin and returns it with its secret; the secret is not
// retrievable afterwards (rotate to get a new one).
func (d *Devices) Create(ctx context.Context, staffID int64, in DeviceInput) (Device, string, error) {
	in.Estate, in.Name = strings.TrimSpace(in.Estate), strings.TrimSpace(in.Name)
	if in.Name == "" {
		return Device{}, "", models.Invalid("name", "必填")
	}
	if err := models.RequireEstate(ctx, d.DB, "estate", in.Estate); err != nil {
		return Device{}, "", err
	}
	secret := newDeviceSecret()
	now := d.Now()
	var id int64
	err := models.InTx(ctx, d.DB, func(tx *sql.Tx) error {
		// The ciphertext binds the id, which exists only after the insert.
		res, err := tx.ExecContext(ctx, `INSERT INTO devices (estate, name, secret_enc, status, created_by, created_at, updated_at)
			VALUES (?, ?, '', 'active', ?, ?, ?)`, in.Estate, in.Name, staffID, now, now)
		if err != nil {
			return fmt.Errorf("insert device: %w", err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("device id: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET secret_enc = ? WHERE id = ?`, d.seal(id, []byte(secret)), id); err != nil {
			return fmt.Errorf("store device secret: %w", err)
		}
		return nil
	})
	if err != nil {
		return Device{}, "", err
	}
	dev, err := d.Get(ctx, id)
	return dev, secret, err
}

// Get returns one device.
func (d *Devices) Get(ctx context.Context, id int64) (Device, error) {
	return models.ScanOne(d.DB.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = ?`, id), "get device", d.scan)
}

// List lists devices by id.
func (d *Devices) List(ctx context.Context, estate string, page models.Page) ([]Device, error) {
	q := `SELECT ` + deviceColumns + ` FROM devices WHERE id > ?`
	args := []any{page.AfterID}
	if estate != "" {
		q += ` AND estate = ?`
		args = append(args, estate)
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, page.Limit)
	rows, err := d.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return models.ScanAll(rows, "scan device", d.scan)
}

// SetStatus disables or re-enables a bin: a guarded transition, so disabling a
// disabled bin answers 409.
func (d *Devices) SetStatus(ctx context.Context, id int64, to string) (Device, error) {
	from := DeviceActive
	if to == DeviceActive {
		from = DeviceDisabled
	}
	res, err := d.DB.ExecContext(ctx, `UPDATE devices SET status = ?, updated_at = ? WHERE id = ? AND status = ?`, to, d.Now(), id, from)
	if err != nil {
		return Device{}, fmt.Errorf("set device status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := d.Get(ctx, id); err != nil {
			return Device{}, err
		}
		return Device{}, models.ErrInvalidTransition
	}
	return d.Get(ctx, id)
}

// Rotate replaces a bin's secret and returns the new one; the old one stops
// working at once.
func (d *Devices) Rotate(ctx context.Context, id int64) (Device, string, error) {
	secret := newDeviceSecret()
	now := d.Now()
	res, err := d.DB.ExecContext(ctx, `UPDATE devices SET secret_enc = ?, rotated_at = ?, updated_at = ? WHERE id = ?`,
		d.seal(id, []byte(secret)), now, now, id)
	if err != nil {
		return Device{}, "", fmt.Errorf("rotate device secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Device{}, "", models.ErrNotFound
	}
	dev, err := d.Get(ctx, id)
	return dev, secret, err
}

// Authenticated is a bin that passed authentication.
type Authenticated struct {
	ID     int64
	Estate string
}

// Authenticate checks a webhook request: the timestamp window, an active device,
// the HMAC over body, then the nonce (remembered only after the signature checked
// out, so nobody can burn nonces for a bin). The returned reason is for the log.
// Redis down → ErrNonceUnavailable (503): fail closed.
func (d *Devices) Authenticate(ctx context.Context, h DeviceAuthHeaders, body []byte, skew time.Duration) (Authenticated, string, error) {
	now := d.Now()
	if !TimestampFresh(h.Timestamp, now, skew) {
		return Authenticated{}, "timestamp outside window", ErrDeviceAuth
	}
	var a Authenticated
	var status string
	var enc []byte
	err := d.DB.QueryRowContext(ctx, `SELECT id, estate, status, secret_enc FROM devices WHERE id = ?`, h.DeviceID).
		Scan(&a.ID, &a.Estate, &status, &enc)
	if errors.Is(err, sql.ErrNoRows) {
		return Authenticated{}, "unknown device", ErrDeviceAuth
	}
	if err != nil {
		return Authenticated{}, "", fmt.Errorf("load device: %w", err)
	}
	if status != DeviceActive {
		return Authenticated{}, "device disabled", ErrDeviceAuth
	}
	secret, err := d.open(a.ID, enc)
	if err != nil {
		return Authenticated{}, "device secret undecryptable (POINTS_DEVICE_KEY changed?)", ErrDeviceAuth
	}
	if !VerifyDeposit(secret, h, body) {
		return Authenticated{}, "bad signature", ErrDeviceAuth
	}
	// A timestamp is accepted until now passes ts+skew, so remember the nonce that long.
	ttl := time.Unix(h.Timestamp, 0).Add(skew).Sub(now) + time.Second
	fresh, err := d.Redis.Client.SetNX(ctx, d.Redis.Key("points", "nonce", strconv.FormatInt(a.ID, 10), h.Nonce), 1, ttl).Result()
	if err != nil {
		return Authenticated{}, "", fmt.Errorf("nonce cache: %v: %w", err, ErrNonceUnavailable)
	}
	if !fresh {
		return Authenticated{}, "nonce replayed", ErrDeviceAuth
	}
	// Best effort: last_seen_at is for staff dashboards only.
	_, _ = d.DB.ExecContext(ctx, `UPDATE devices SET last_seen_at = ? WHERE id = ?`, now, a.ID)
	return a, "", nil
}

// ErrNonceUnavailable: the replay cache (Redis) cannot be reached, so the webhook
// refuses rather than risk accepting a replay.
var ErrNonceUnavailable = &models.Error{Kind: models.KindUnavailable, Code: "unavailable", Message: "防重放缓存不可用，请稍后重试"}
