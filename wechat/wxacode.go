package wechat

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/silenceper/wechat/v2/miniprogram/qrcode"
	"github.com/silenceper/wechat/v2/util"
)

// wxaCodeUnlimitURL is silenceper's getUnlimited endpoint (qrcode.getWXACodeUnlimitURL,
// unexported there); like every call it goes through the URI modifier.
const wxaCodeUnlimitURL = "https://api.weixin.qq.com/wxa/getwxacodeunlimit"

// maxSceneLength is WeChat's limit for a mini-program code's scene.
const maxSceneLength = 32

// WXACodeUnlimited fetches a mini-program code (小程序码) that opens page with
// scene, from WeChat's getUnlimited. It returns the picture's bytes (JPEG or
// PNG, as WeChat sends). ErrUnavailable when WeChat cannot be reached or answers
// with something that is not a picture.
//
// silenceper's QRCode.GetWXACodeUnlimit takes no context and accepts only an
// image/jpeg content type, so this posts silenceper's own qrcode.QRCoder through
// util.PostJSONContext and tells a picture from a JSON error by its bytes.
func (c *Client) WXACodeUnlimited(ctx context.Context, scene, page string, width int) ([]byte, error) {
	const op = "getwxacodeunlimit"
	if scene == "" || len(scene) > maxSceneLength {
		return nil, fmt.Errorf("wechat %s: scene must be 1..%d characters", op, maxSceneLength)
	}
	checkPath := false // the page may not be published yet (trial/developer builds)
	req := qrcode.QRCoder{Scene: scene, Page: page, Width: width, CheckPath: &checkPath}
	var img []byte
	err := c.do(ctx, op, true, nil, func(ctx context.Context) error {
		token, err := c.mp.GetContext().GetAccessTokenContext(ctx)
		if err != nil {
			return err
		}
		body, err := util.PostJSONContext(ctx, wxaCodeUnlimitURL+"?access_token="+url.QueryEscape(token), req)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '{' {
			return util.DecodeWithCommonError(body, "getwxacodeunlimit")
		}
		switch http.DetectContentType(body) {
		case "image/jpeg", "image/png":
			img = body
			return nil
		}
		return fmt.Errorf("%w: reply is not a picture", ErrUnavailable)
	})
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, fmt.Errorf("wechat %s: %w: reply has no picture", op, ErrUnavailable)
	}
	return img, nil
}
