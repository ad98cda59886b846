package wechat

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"nantian/scripts/fakewecom"
)

const robotKey = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"

// newFakeRobot starts a fake webhook and a Robot pointed at it; url is the
// webhook URL without its key.
func newFakeRobot(t *testing.T) (fake *fakewecom.Server, bot *Robot, url string) {
	t.Helper()
	fake = fakewecom.New(robotKey)
	ts := httptest.NewServer(fake)
	t.Cleanup(ts.Close)
	url = ts.URL + "/cgi-bin/webhook/send"
	bot, err := NewRobot(url+"?key="+robotKey, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fake, bot, url
}

// The real silenceper work/robot call, redirected to the fake webhook.
func TestRobotSendsMarkdown(t *testing.T) {
	fake, bot, _ := newFakeRobot(t)
	if err := bot.SendMarkdown(context.Background(), "**民意速办 · 新诉求** 第 1 号"); err != nil {
		t.Fatal(err)
	}
	sent := fake.Sent()
	if len(sent) != 1 || sent[0].Type != "markdown" || sent[0].Content != "**民意速办 · 新诉求** 第 1 号" {
		t.Fatalf("fake got %+v", sent)
	}
	// Over WeCom's 4096 bytes: cut on a character boundary, not refused.
	if err := bot.SendMarkdown(context.Background(), strings.Repeat("超", 2000)); err != nil {
		t.Fatal(err)
	}
	if got := fake.Sent()[1].Content; len(got) > maxRobotMarkdownBytes || !strings.HasSuffix(got, "…") {
		t.Fatalf("long message: %d bytes", len(got))
	}
}

// Failures come back as this package's errors with the webhook key nowhere in them.
func TestRobotErrorsHideTheKey(t *testing.T) {
	fake, bot, url := newFakeRobot(t)
	fake.Fail(1, 0) // HTTP 503
	err := bot.SendMarkdown(context.Background(), "x")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("503: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), robotKey) {
		t.Fatalf("error leaks the key: %v", err)
	}
	fake.Fail(1, 45009)
	err = bot.SendMarkdown(context.Background(), "x")
	var api *APIError
	if !errors.As(err, &api) || api.Code != 45009 {
		t.Fatalf("rate limited: %v, want APIError 45009", err)
	}
	wrong, err := NewRobot(url+"?key=wrong-key-123456", 0)
	if err != nil {
		t.Fatal(err)
	}
	err = wrong.SendMarkdown(context.Background(), "x")
	if !errors.As(err, &api) || api.Code != 93000 || strings.Contains(err.Error(), "wrong-key-123456") {
		t.Fatalf("wrong key: %v", err)
	}
	if len(fake.Sent()) != 0 {
		t.Fatalf("failed sends recorded: %+v", fake.Sent())
	}
}

func TestParseRobotWebhook(t *testing.T) {
	ep, key, err := ParseRobotWebhook("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc")
	if err != nil || ep != DefaultRobotEndpoint || key != "abc" {
		t.Fatalf("real webhook: %q %q %v", ep, key, err)
	}
	for _, bad := range []string{"", "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "ftp://h/x?key=a", "https://h/x", "https://h/x?key="} {
		if _, _, err := ParseRobotWebhook(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "key=a") {
			t.Errorf("%q: error quotes the URL: %v", bad, err)
		}
	}
	// The real endpoint is left alone by the URI modifier; only a configured
	// replacement is used, and api.weixin.qq.com rewriting is unaffected.
	robotBase.Store(nil)
	if got := rewriteURI(DefaultRobotEndpoint + "?key=abc"); got != DefaultRobotEndpoint+"?key=abc" {
		t.Fatalf("real endpoint rewritten to %q", got)
	}
}
