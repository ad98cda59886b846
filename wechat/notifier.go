package wechat

import (
	"context"
	"errors"
	"fmt"

	"nantian/models/notify"
)

// Notifier is the outbox worker's sender: it translates the domain's
// notify.Message into a subscribe message, fitting each field to WeChat's limits
// for its key (TrimField), and a refusal (43101) into notify.ErrRecipientRefused,
// so models/notify needs none of this package's types.
type Notifier struct {
	Client *Client
}

// SendSubscribe sends m through the client.
func (n Notifier) SendSubscribe(ctx context.Context, m notify.Message) error {
	data := make(map[string]string, len(m.Data))
	for k, v := range m.Data {
		data[k] = TrimField(k, v)
	}
	err := n.Client.SendSubscribe(ctx, Message{ToUser: m.ToUser, TemplateID: m.TemplateID, Page: m.Page, Data: data})
	if errors.Is(err, ErrUserRefused) {
		return fmt.Errorf("%w: %w", notify.ErrRecipientRefused, err)
	}
	return err
}
