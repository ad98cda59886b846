package wechat

import (
	"errors"
	"net/http"
	"testing"

	"nantian/scripts/fakewechat"
)

func TestWXACodeUnlimited(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	ctx := t.Context()

	img, err := c.WXACodeUnlimited(ctx, "t=ABCD2345", "pages/staff/console-login/index", 280)
	if err != nil {
		t.Fatal(err)
	}
	if ct := http.DetectContentType(img); ct != "image/jpeg" {
		t.Fatalf("picture is %s, want image/jpeg", ct)
	}
	// WeChat's JSON error (an invalid scene) is an APIError, not a picture.
	_, err = c.WXACodeUnlimited(ctx, "t=ABCD 2345%", "p", 280)
	wantAPIError(t, err, fakewechat.ErrCodeInvalidScene)
	// Too long for WeChat: refused before any call.
	if _, err := c.WXACodeUnlimited(ctx, "t=0123456789012345678901234567890123", "p", 280); err == nil {
		t.Fatal("a 35-character scene was sent")
	}
	e.fake.SetDown(true)
	if _, err := c.WXACodeUnlimited(ctx, "t=ABCD2345", "p", 280); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down: %v, want ErrUnavailable", err)
	}
}
