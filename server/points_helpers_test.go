package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/points"
)

// Helpers for the points tests.

func randomID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newDevice registers a bin through the staff API and returns its id and secret.
func (a *testApp) newDevice(staffToken, estate string) (int64, string) {
	a.t.Helper()
	r := a.do("POST", "/api/v1/staff/devices", staffToken, map[string]any{"estate": estate, "name": randomID("bin-")})
	if r.Status != http.StatusCreated {
		a.t.Fatalf("create device: %d %s", r.Status, r.Body)
	}
	var out struct {
		DeviceID int64  `json:"device_id"`
		Secret   string `json:"secret"`
	}
	r.Decode(a.t, &out)
	return out.DeviceID, out.Secret
}

// residentCode asks the API for the caller's bin code.
func (a *testApp) residentCode(token string) string {
	a.t.Helper()
	r := a.do("POST", "/api/v1/points/code", token, nil)
	if r.Status != http.StatusOK {
		a.t.Fatalf("points code: %d %s", r.Status, r.Body)
	}
	return r.JSON(a.t)["token"].(string)
}

// deposit is one bin request, built valid and then spoiled by the test as needed.
type deposit struct {
	deviceID  string
	timestamp string
	nonce     string
	secret    string
	signBody  []byte // what is signed (defaults to body)
	body      []byte
	sig       string // overrides the computed signature
}

func depositBody(eventID, residentToken string, grams int, quality string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"event_id": eventID, "resident_token": residentToken,
		"weight_grams": grams, "quality": quality, "occurred_at": at.Format(time.RFC3339)})
	return b
}

func newDeposit(deviceID int64, secret string, body []byte) *deposit {
	return &deposit{deviceID: strconv.FormatInt(deviceID, 10), timestamp: strconv.FormatInt(time.Now().Unix(), 10),
		nonce: randomID("n"), secret: secret, body: body}
}

func (d *deposit) headers() []string {
	sig := d.sig
	if sig == "" {
		signed := d.signBody
		if signed == nil {
			signed = d.body
		}
		ts, _ := strconv.ParseInt(d.timestamp, 10, 64)
		sig = points.SignDeposit([]byte(d.secret), ts, d.nonce, signed)
	}
	return []string{"X-Device-Id", d.deviceID, "X-Timestamp", d.timestamp, "X-Nonce", d.nonce, "X-Signature", sig}
}

func (a *testApp) postDeposit(d *deposit) response {
	a.t.Helper()
	return a.do("POST", "/api/v1/devices/deposits", "", d.body, d.headers()...)
}

// sendDeposit signs and posts a valid deposit and returns the response.
func (a *testApp) sendDeposit(deviceID int64, secret, eventID, residentToken string, grams int, quality string) response {
	a.t.Helper()
	return a.postDeposit(newDeposit(deviceID, secret, depositBody(eventID, residentToken, grams, quality, time.Now())))
}

// balance reads a resident's balance straight from MySQL, and checks it equals
// the sum of the ledger (the invariant every test relies on).
func (a *testApp) balance(userID int64) int {
	a.t.Helper()
	var bal, sum int
	err := a.app.db.QueryRowContext(context.Background(), `SELECT
		COALESCE((SELECT balance FROM points_accounts WHERE user_id = ?), 0),
		COALESCE((SELECT SUM(amount) FROM points_ledger WHERE user_id = ?), 0)`, userID, userID).Scan(&bal, &sum)
	if err != nil {
		a.t.Fatalf("balance: %v", err)
	}
	if bal != sum {
		a.t.Fatalf("user %d: balance %d but ledger sums to %d", userID, bal, sum)
	}
	var neg int
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM points_ledger WHERE user_id = ? AND CAST(balance_after AS SIGNED) < 0`, userID).Scan(&neg); err != nil || neg > 0 {
		a.t.Fatalf("negative balance_after rows: %d %v", neg, err)
	}
	return bal
}

// count runs a COUNT(*) style query.
func (a *testApp) count(q string, args ...any) int {
	a.t.Helper()
	var n int
	if err := a.app.db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		a.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// grant gives a resident points through the staff adjustment API.
func (a *testApp) grant(staffToken string, userID int64, amount int) {
	a.t.Helper()
	r := a.do("POST", "/api/v1/staff/points/adjustments", staffToken, map[string]any{"user_id": userID, "amount": amount, "reason": "测试发放"})
	if r.Status != http.StatusCreated {
		a.t.Fatalf("grant: %d %s", r.Status, r.Body)
	}
}

// newReward creates a reward and returns its id.
func (a *testApp) newReward(staffToken string, cost, stock int) int64 {
	a.t.Helper()
	r := a.do("POST", "/api/v1/staff/rewards", staffToken, map[string]any{"name": randomID("奖品-"), "cost_points": cost, "stock": stock})
	if r.Status != http.StatusCreated {
		a.t.Fatalf("create reward: %d %s", r.Status, r.Body)
	}
	return int64(r.JSON(a.t)["id"].(float64))
}

// fixedClock is a settable clock for the jobs.
func fixedClock(t time.Time) models.Clock { return func() time.Time { return t.UTC() } }

func mustLoc(t *testing.T, name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

var _ = fmt.Sprintf
