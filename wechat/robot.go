package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/work/config"
	workctx "github.com/silenceper/wechat/v2/work/context"
	"github.com/silenceper/wechat/v2/work/robot"
)

// DefaultRobotEndpoint is the 企业微信 group-robot send URL silenceper's work/robot
// hard-codes (with "?key=" appended).
const DefaultRobotEndpoint = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"

// maxRobotMarkdownBytes is WeCom's limit for one markdown message.
const maxRobotMarkdownBytes = 4096

// Robot posts messages to one 企业微信 group through its group robot ("群机器人")
// webhook, using silenceper's work/robot. The webhook key is the robot's only
// credential: it never appears in errors or logs.
type Robot struct {
	key    string
	client *robot.Client
}

// NewRobot parses the webhook URL the group shows when the robot is added
// (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...). A URL with another
// origin or path (a local fake) is where every send goes instead: silenceper's
// endpoint is a constant, so it is rewritten by the process-wide URI modifier, like
// WECHAT_API_BASE. timeout bounds each send (zero: DefaultHTTPTimeout) unless a
// Client was built first, whose timeout then applies to both.
func NewRobot(webhook string, timeout time.Duration) (*Robot, error) {
	endpoint, key, err := ParseRobotWebhook(webhook)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	if endpoint == DefaultRobotEndpoint {
		robotBase.Store(nil)
	} else {
		robotBase.Store(&endpoint)
	}
	installHooks(timeout)
	// The robot needs no corp credentials: the key in the URL is the credential.
	return &Robot{key: key, client: robot.NewClient(&workctx.Context{Config: &config.Config{}})}, nil
}

// ParseRobotWebhook splits a webhook URL into its endpoint (scheme, host, path) and
// key, refusing anything that is not http(s) with a key. The error never quotes the
// URL, which holds the key.
func ParseRobotWebhook(webhook string) (endpoint, key string, err error) {
	u, err := url.Parse(strings.TrimSpace(webhook))
	if err != nil {
		return "", "", errors.New("wecom robot: webhook is not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", errors.New("wecom robot: webhook must be an http(s) URL")
	}
	key = u.Query().Get("key")
	if key == "" {
		return "", "", errors.New("wecom robot: webhook has no key= parameter")
	}
	return u.Scheme + "://" + u.Host + u.Path, key, nil
}

// SendMarkdown posts content as a markdown message. Content longer than WeCom
// accepts is cut (on a character boundary) rather than refused. The call is bounded
// by the HTTP client's timeout; silenceper's robot call takes no context, so ctx is
// only checked before sending.
func (r *Robot) SendMarkdown(ctx context.Context, content string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wechat robot send: %w: %w", ErrUnavailable, err)
	}
	if len(content) > maxRobotMarkdownBytes {
		content = strings.ToValidUTF8(content[:maxRobotMarkdownBytes-3], "") + "…"
	}
	opt := robot.WebhookSendMarkdownOption{MsgType: "markdown"}
	opt.Markdown.Content = content
	info, err := r.client.RobotBroadcast(r.key, opt)
	if err != nil {
		return classify("robot send", err, r.key)
	}
	// RobotBroadcast returns a non-zero errcode with a nil error.
	if info.ErrCode != 0 {
		return fmt.Errorf("wechat robot send: %w", &APIError{Code: int(info.ErrCode), Msg: sanitize(info.ErrMsg, r.key)})
	}
	return nil
}
