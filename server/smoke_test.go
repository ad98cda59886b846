package main

import (
	"net/http"
	"testing"
)

func TestHealthAndLogin(t *testing.T) {
	a := newTestApp(t)
	if r := a.do("GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz %d", r.Status)
	}
	if r := a.do("GET", "/readyz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("readyz %d %s", r.Status, r.Body)
	}
	tok, _ := a.resident("alice")
	r := a.do("GET", "/api/v1/me", tok, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("me %d %s", r.Status, r.Body)
	}
}
