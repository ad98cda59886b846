package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"nantian/models/testdb"
)

func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr testdb.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-appid", "wxdev", "-secret", "topsecret"}, &stdout, &stderr)
	}()

	addrRe := regexp.MustCompile(`listening on (http://\S+)`)
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == "" && time.Now().Before(deadline); {
		if m := addrRe.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if base == "" {
		t.Fatalf("no address printed; stdout %q stderr %q", stdout.String(), stderr.String())
	}

	resp, err := http.Get(base + "/sns/jscode2session?appid=wxdev&secret=topsecret&js_code=alice&grant_type=authorization_code")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil || m["openid"] != "openid-alice" {
		t.Fatalf("login through cmd: %v %v", m, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if out := stdout.String() + stderr.String(); strings.Contains(out, "topsecret") {
		t.Errorf("output leaks the secret: %q", out)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	var out testdb.SyncBuffer
	if err := run(t.Context(), []string{"-nope"}, &out, &out); err == nil {
		t.Error("unknown flag accepted")
	}
	if err := run(t.Context(), []string{"extra"}, &out, &out); err == nil {
		t.Error("positional argument accepted")
	}
}
