package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"nantian/config"
	"nantian/models/testdb"
)

// TestGracefulShutdownFinishesInFlight cancels the serve context (as SIGTERM does)
// while a request is running: the request completes with 200, new connections are
// refused, and Serve returns cleanly after the workers stopped.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	a := newServableApp(t)
	started := make(chan struct{})
	a.handler.(*gin.Engine).GET("/test-slow", func(c *gin.Context) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		c.String(http.StatusOK, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln, nil) }()

	url := "http://" + ln.Addr().String()
	got := make(chan string, 1)
	go func() {
		res, err := http.Get(url + "/test-slow")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		got <- res.Status + " " + string(b)
	}()
	<-started
	cancel() // SIGTERM
	if s := <-got; s != "200 OK done" {
		t.Fatalf("in-flight request: %s", s)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("new connections still accepted after shutdown")
	}
}

// newServableApp builds an app that a test runs with Serve itself (the harness's
// apps sit behind httptest servers instead); it is closed when the test ends.
func newServableApp(t *testing.T) *app {
	t.Helper()
	prefix := testdb.RedisPrefix()
	cfg, err := config.Load(testEnv(prefix, nil))
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = testdb.DeletePrefix(context.Background(), a.rdb, prefix)
		a.Close()
	})
	return a
}
