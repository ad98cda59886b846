package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"nantian/models/points"
)

// The simulator's requests verify with the server's own parser and verifier, and
// its summary counts what the server answered (points credited once per event).
func TestSimulatorSignsLikeABin(t *testing.T) {
	const secret = "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899"
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h, _, err := points.ParseDeviceAuth(r.Header.Get)
		if err != nil || h.DeviceID != 7 || !points.VerifyDeposit([]byte(secret), h, body) {
			http.Error(w, `{"error":{"code":"unauthorized","message":"x"}}`, http.StatusUnauthorized)
			return
		}
		mu.Lock()
		seen[string(body)]++
		dup := seen[string(body)] > 1
		mu.Unlock()
		if dup {
			io.WriteString(w, `{"points_awarded":3,"duplicate":true}`)
			return
		}
		io.WriteString(w, `{"points_awarded":3,"duplicate":false}`)
	}))
	defer srv.Close()
	var out bytes.Buffer
	env := map[string]string{"BINSIM_SECRET": secret}
	err := run(t.Context(), []string{"-url", srv.URL, "-device", "7", "-token", "tok", "-n", "10", "-c", "4", "-repeat", "2"}, func(k string) string { return env[k] }, &out)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	// Ten events of 3 points, each sent twice: 30 points credited, not 60.
	if !strings.Contains(s, "by status: map[200:20]") || !strings.Contains(s, "points awarded: 30, duplicates: 10") {
		t.Fatalf("summary:\n%s", s)
	}
	// A wrong secret is refused by the same verifier.
	out.Reset()
	env["BINSIM_SECRET"] = "wrong"
	if err := run(t.Context(), []string{"-url", srv.URL, "-device", "7", "-token", "tok"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "map[401:1]") {
		t.Fatalf("summary:\n%s", out.String())
	}
	if _, err := parse([]string{"-device", "7"}, func(string) string { return "" }); err == nil {
		t.Fatal("missing secret accepted")
	}
}
