// Package pay is the backend's door to WeChat Pay (API v2, JSAPI in the
// mini-program). It implements payment.Gateway, the small interface the payment
// domain depends on, so an API v3 client can replace it without touching the domain.
//
// It is built on silenceper/wechat/v2's pay package for the protocol: the signature
// algorithm (util.OrderParam + util.CalculateSign, MD5 or HMAC-SHA256), the refund's
// signed parameter set (refund.GetSignParam), the refund notification's decryption
// (notify.DecryptReqInfo: AES-256-ECB with md5(API key)) and the field sets of
// unified order, order query and close. It does the HTTP itself, which is the
// smallest correct way to honour WECHATPAY_API_BASE, because silenceper v2.1.10:
//
//   - hard-codes https://api.mch.weixin.qq.com in unexported package variables, and
//     its only hooks (util.SetURIModifier, util.DefaultHTTPClient) are process-wide
//     and already owned by the wechat adapter (mini-program API, its own base and
//     timeout); a second owner would silently re-route the other's calls;
//   - builds a new TLS client for every refund by re-reading the .p12 from disk,
//     recovering a bad file's panic into an empty certificate (the refund then goes
//     out without a client certificate), and a rewritten http:// base sends none at
//     all, so a fake could never check it;
//   - takes no context, and dereferences return_code/result_code pointers of query
//     and close answers without a nil check (a garbage answer panics);
//   - never verifies the signature of an answer, though an order query's answer
//     decides whether a booking is paid;
//   - verifies a notification over its fixed struct's fields only, so a genuine
//     notification with fields the struct lacks (coupon_type_3, promotion fields)
//     fails, and fields it does not model are not covered.
//
// So here: one http.Client with a timeout for every call, and one with the merchant
// certificate (loaded and checked once, in New) for /secapi/; every answer's
// signature verified; every notification verified over all fields it carries.
package pay

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"nantian/models/payment"
)

// DefaultAPIBase is WeChat Pay's API origin.
const DefaultAPIBase = "https://api.mch.weixin.qq.com"

// DefaultHTTPTimeout bounds one call when Config.HTTPTimeout is zero. A booking
// waits on the unified order, so a WeChat Pay slower than this counts as down.
const DefaultHTTPTimeout = 5 * time.Second

// Config configures a Client. Every field except RootCAs and HTTPTimeout is
// required.
type Config struct {
	AppID  string // the mini-program's appid (WECHAT_APPID)
	MchID  string // WECHATPAY_MCHID
	APIKey string // WECHATPAY_API_KEY, 32 characters
	// CertP12 is the content of apiclient_cert.p12 (WECHATPAY_CERT_P12 is its path);
	// its password is the mch id, as WeChat Pay issues it.
	CertP12 []byte
	// APIBase replaces https://api.mch.weixin.qq.com (WECHATPAY_API_BASE).
	APIBase string
	// NotifyURL and RefundNotifyURL are where WeChat Pay posts notifications.
	NotifyURL       string
	RefundNotifyURL string
	// SignType is MD5 (default) or HMAC-SHA256.
	SignType string
	// RootCAs, if set, replaces the system roots for the API base's TLS
	// certificate: a local fake pay server over https in dev and tests.
	RootCAs     *x509.CertPool
	HTTPTimeout time.Duration
}

// Client talks to WeChat Pay. It is safe for concurrent use.
type Client struct {
	cfg      Config
	base     string
	http     *http.Client // plain calls
	tlsHTTP  *http.Client // /secapi/ calls, with the merchant certificate
	certInfo CertInfo
}

// CertInfo describes the merchant certificate New loaded, for the startup log.
type CertInfo struct {
	Subject  string
	Serial   string
	NotAfter time.Time
}

// New checks cfg, loads the merchant certificate and builds the HTTP clients. A bad
// certificate fails here, at startup, not at the first refund.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" || cfg.MchID == "" {
		return nil, errors.New("wechat/pay: AppID and MchID are required")
	}
	if len(cfg.APIKey) != 32 {
		return nil, fmt.Errorf("wechat/pay: the API key must be 32 characters, got %d", len(cfg.APIKey))
	}
	if cfg.NotifyURL == "" || cfg.RefundNotifyURL == "" {
		return nil, errors.New("wechat/pay: notify URLs are required")
	}
	if cfg.SignType == "" {
		cfg.SignType = SignMD5
	}
	if cfg.SignType != SignMD5 && cfg.SignType != SignHMACSHA256 {
		return nil, fmt.Errorf("wechat/pay: sign type %q: want MD5 or HMAC-SHA256", cfg.SignType)
	}
	base, err := normalizeBase(cfg.APIBase)
	if err != nil {
		return nil, err
	}
	cert, info, err := LoadCertificate(cfg.CertP12, cfg.MchID, time.Now())
	if err != nil {
		return nil, err
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = DefaultHTTPTimeout
	}
	plain := http.DefaultTransport.(*http.Transport).Clone()
	plain.MaxIdleConnsPerHost = 32
	plain.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	secure := plain.Clone()
	secure.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	return &Client{
		cfg:      cfg,
		base:     base,
		http:     &http.Client{Transport: plain, Timeout: cfg.HTTPTimeout},
		tlsHTTP:  &http.Client{Transport: secure, Timeout: cfg.HTTPTimeout},
		certInfo: info,
	}, nil
}

// Certificate describes the merchant certificate in use.
func (c *Client) Certificate() CertInfo { return c.certInfo }

// LoadCertificate decodes a WeChat Pay merchant certificate (.p12, password = mch
// id) into a TLS client certificate and refuses one that is expired or not yet
// valid at now.
func LoadCertificate(p12 []byte, mchID string, now time.Time) (tls.Certificate, CertInfo, error) {
	if len(p12) == 0 {
		return tls.Certificate{}, CertInfo{}, errors.New("wechat/pay: merchant certificate (.p12) is empty")
	}
	key, leaf, chain, err := pkcs12.DecodeChain(p12, mchID)
	if err != nil {
		return tls.Certificate{}, CertInfo{}, fmt.Errorf("wechat/pay: merchant certificate: %w (the password is the mch id)", err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return tls.Certificate{}, CertInfo{}, fmt.Errorf("wechat/pay: merchant certificate valid %s to %s, not now",
			leaf.NotBefore.Format(time.DateOnly), leaf.NotAfter.Format(time.DateOnly))
	}
	der := [][]byte{leaf.Raw}
	for _, c := range chain {
		der = append(der, c.Raw)
	}
	info := CertInfo{Subject: leaf.Subject.String(), Serial: leaf.SerialNumber.Text(16), NotAfter: leaf.NotAfter}
	return tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf}, info, nil
}

func normalizeBase(base string) (string, error) {
	if base == "" {
		return DefaultAPIBase, nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", fmt.Errorf("wechat/pay: invalid API base %q: want http(s)://host[:port]", base)
	}
	return strings.TrimRight(base, "/"), nil
}

// nonce returns 32 random alphanumerics. silenceper's util.RandomStr seeds math/rand
// with the clock, so two calls in the same nanosecond repeat; this one cannot.
func nonce() string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 32)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// call signs fields, posts them to path and returns the verified answer's fields.
// Transport failures, non-200 answers, malformed XML, return_code FAIL and answers
// whose signature does not verify are payment.ErrUnavailable; result_code FAIL is
// *BusinessError (which the callers map).
func (c *Client) call(ctx context.Context, path string, fields map[string]string, secure bool) (map[string]string, error) {
	fields["appid"] = c.cfg.AppID
	fields["mch_id"] = c.cfg.MchID
	if fields["nonce_str"] == "" {
		fields["nonce_str"] = nonce()
	}
	fields["sign_type"] = c.cfg.SignType
	sign, err := Sign(fields, c.cfg.SignType, c.cfg.APIKey)
	if err != nil {
		return nil, err
	}
	fields["sign"] = sign
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(string(EncodeXML(fields))))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	hc := c.http
	if secure {
		hc = c.tlsHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", payment.ErrUnavailable, path, scrub(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: reading answer: %v", payment.ErrUnavailable, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: HTTP %d", payment.ErrUnavailable, path, resp.StatusCode)
	}
	ans, err := ParseXML(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", payment.ErrUnavailable, path, err)
	}
	if ans["return_code"] != "SUCCESS" {
		return nil, fmt.Errorf("%w: %s: return_code %q: %s", payment.ErrUnavailable, path, ans["return_code"], ans["return_msg"])
	}
	if !Verify(ans, c.cfg.SignType, c.cfg.APIKey) {
		return nil, fmt.Errorf("%w: %s: the answer's signature does not verify", payment.ErrUnavailable, path)
	}
	if ans["mch_id"] != "" && ans["mch_id"] != c.cfg.MchID {
		return nil, fmt.Errorf("%w: %s: answer for mch_id %q", payment.ErrUnavailable, path, ans["mch_id"])
	}
	if ans["result_code"] != "SUCCESS" {
		return ans, &BusinessError{Code: ans["err_code"], Message: ans["err_code_des"]}
	}
	return ans, nil
}

// scrub drops the URL from a transport error: it is the API base, harmless, but
// net/url errors repeat it in every log line.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// BusinessError is a result_code FAIL answer: WeChat Pay understood and said no.
type BusinessError struct {
	Code    string // err_code: ORDERPAID, ORDERNOTEXIST, NOTENOUGH, SYSTEMERROR, ...
	Message string
}

func (e *BusinessError) Error() string { return "wechat pay: " + e.Code + ": " + e.Message }

// Is maps the codes the domain acts on to payment's sentinels.
func (e *BusinessError) Is(target error) bool {
	switch target {
	case payment.ErrOrderPaid:
		return e.Code == "ORDERPAID"
	case payment.ErrOrderNotFound:
		return e.Code == "ORDERNOTEXIST"
	case payment.ErrUnavailable:
		return e.Code == "SYSTEMERROR" || e.Code == "BIZERR_NEED_RETRY" || e.Code == "FREQUENCY_LIMITED"
	case payment.ErrRefused:
		return true
	}
	return false
}

// timeFormat is WeChat Pay's yyyyMMddHHmmss, in Beijing time.
const timeFormat = "20060102150405"

var beijing = time.FixedZone("CST", 8*3600)

func formatTime(t time.Time) string { return t.In(beijing).Format(timeFormat) }

func parseTime(s string) time.Time {
	t, err := time.ParseInLocation(timeFormat, s, beijing)
	if err != nil {
		return time.Time{}
	}
	return t
}

func fen(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("amount %q is not a non-negative integer", s)
	}
	return n, nil
}

var _ payment.Gateway = (*Client)(nil)
