// Package fakewechat is a local, in-memory fake of the few WeChat server APIs the
// nantian backend calls. It exists because the real api.weixin.qq.com is
// unreachable from dev machines and CI, needs real credentials, and cannot be made
// to fail on demand; the fake lets dev runs and tests drive the real silenceper
// client (pointed here through WECHAT_API_BASE) through every success and failure
// path deterministically.
//
// Endpoints (JSON shapes follow the real API and silenceper/wechat v2.1.10):
//
//	GET  /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code
//	POST /cgi-bin/stable_token                       {grant_type, appid, secret, force_refresh}
//	POST /wxa/business/getuserphonenumber?access_token=   {code}
//	POST /cgi-bin/message/subscribe/send?access_token=    subscribe message
//	POST /wxa/msg_sec_check?access_token=                 {version:2, openid, scene, content}
//	POST /wxa/getwxacodeunlimit?access_token=             {scene, page, width, ...}
//
// Like the real API, business errors are HTTP 200 with a non-zero errcode.
//
// # Login code rules (jscode2session)
//
//   - A code is "<name>" or "<name>:<anything>"; the part after the first colon only
//     makes the code unique, so "alice:1" and "alice:2" log in the same user.
//   - openid is "openid-" + name.
//   - If name starts with "union-", unionid "unionid-" + name is returned as well.
//   - A code starting with "invalid" (or with an empty name) fails with errcode 40029
//     "invalid code".
//   - Every other code works exactly once; presenting it again fails with errcode
//     40163 "code been used".
//   - A wrong appid fails with 40013, a wrong secret with 40125.
//   - session_key is random on every login.
//
// # Other rules
//
//   - stable_token issues a new random token on every call (counted by
//     [Server.TokenCalls]) valid for expires_in 7200 seconds; earlier tokens stay valid
//     until they expire or [Server.RevokeTokens]/[Server.Reset] is called. The other
//     endpoints answer 41001 without access_token, 40001 for an unknown token and 42001
//     for an expired one.
//   - getuserphonenumber: code "phone-<digits>" returns that number with country code
//     "86"; any other code fails with 40029.
//   - subscribe send: touser and template_id are required (40003 / 40037); values are
//     length-checked by key prefix like WeChat does (thing ≤ 20 runes, phrase ≤ 5,
//     character_string ≤ 32, name ≤ 10), otherwise 47003 "argument invalid".
//     Accepted messages are recorded ([Server.Sent]); [Server.FailSends] makes the
//     next sends fail with a chosen errcode (43101 user refused, -1 system busy, ...).
//   - msg_sec_check (v2 only): content containing "违禁" or "RISKY" is "risky",
//     containing "REVIEW" is "review", anything else "pass".
//   - getwxacodeunlimit: a scene of 1–32 characters WeChat allows gets an image/jpeg
//     picture (a plain QR holding page + "?scene=" + scene); anything else 40169.
//     [Server.FailWXACodes] makes the next calls fail with a chosen errcode.
//   - [Server.SetDown](true) makes every endpoint answer HTTP 503, as an unreachable
//     or failing WeChat would look to the client.
//
// A *Server is an http.Handler and safe for concurrent use.
package fakewechat

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"
)

// WeChat errcodes the fake produces. They are exported so tests can name them
// instead of repeating magic numbers.
const (
	ErrCodeSystemBusy        = -1
	ErrCodeInvalidCredential = 40001
	ErrCodeInvalidGrantType  = 40002
	ErrCodeInvalidOpenID     = 40003
	ErrCodeInvalidAppID      = 40013
	ErrCodeInvalidCode       = 40029
	ErrCodeInvalidTemplateID = 40037
	ErrCodeInvalidArgs       = 40097
	ErrCodeInvalidAppSecret  = 40125
	ErrCodeCodeUsed          = 40163
	ErrCodeMissingToken      = 41001
	ErrCodeMissingCode       = 41008
	ErrCodeTokenExpired      = 42001
	ErrCodeRequireGET        = 43001
	ErrCodeRequirePOST       = 43002
	ErrCodeUserRefused       = 43101
	ErrCodeArgumentInvalid   = 47003
	ErrCodeInvalidURL        = 40066
)

// tokenTTL is what the real stable_token returns as expires_in.
const tokenTTL = 7200 * time.Second

// maxBodyBytes bounds request bodies; real payloads are a few KiB at most.
const maxBodyBytes = 1 << 20

// Options configures a fake server: the credentials it accepts.
type Options struct {
	AppID  string
	Secret string
	// Now returns the current time; nil means time.Now. Tests may replace it to
	// expire tokens without sleeping.
	Now func() time.Time
}

// SentMessage is one subscribe message the fake accepted.
type SentMessage struct {
	ToUser           string
	TemplateID       string
	Page             string
	Data             map[string]string
	MiniprogramState string
	Lang             string
}

// Server is the fake WeChat API. Create it with New.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu         sync.Mutex
	down       bool
	usedCodes  map[string]bool
	askedCodes map[string]bool      // every js_code jscode2session was asked about
	tokens     map[string]time.Time // token -> expiry
	tokenCalls int
	sent       []SentMessage
	failCode   int
	failLeft   int
	codeFail   int // getwxacodeunlimit: errcode of the next codeLeft answers
	codeLeft   int
	msgID      int64
}

// New returns a fake server accepting the credentials in opts.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts}
	s.resetLocked()
	mux := http.NewServeMux()
	mux.HandleFunc("/sns/jscode2session", s.handleCode2Session)
	mux.HandleFunc("/cgi-bin/stable_token", s.handleStableToken)
	mux.HandleFunc("/wxa/business/getuserphonenumber", s.withToken(s.handlePhoneNumber))
	mux.HandleFunc("/cgi-bin/message/subscribe/send", s.withToken(s.handleSubscribeSend))
	mux.HandleFunc("/wxa/msg_sec_check", s.withToken(s.handleMsgSecCheck))
	mux.HandleFunc("/wxa/getwxacodeunlimit", s.withToken(s.handleWXACodeUnlimit))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONStatus(w, http.StatusNotFound, errBody(ErrCodeInvalidURL, "invalid url"))
	})
	s.mux = mux
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Asked reports whether jscode2session was called with code since New or the
// last Reset (valid or not), so a test can prove a request never reached WeChat.
func (s *Server) Asked(code string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.askedCodes[code]
}

// TokenCalls reports how many access tokens stable_token has issued since New or
// the last Reset, so tests can prove the token cache works.
func (s *Server) TokenCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls
}

// Sent returns a copy of every subscribe message accepted since New or the last
// Reset, oldest first.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentMessage, len(s.sent))
	for i, m := range s.sent {
		m.Data = maps.Clone(m.Data)
		out[i] = m
	}
	return out
}

// FailSends makes the next n subscribe sends (with a valid token) fail with errcode,
// e.g. 43101 (user refused) or -1 (system busy). n <= 0 cancels pending failures.
func (s *Server) FailSends(errcode int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		s.failCode, s.failLeft = 0, 0
		return
	}
	s.failCode, s.failLeft = errcode, n
}

// FailWXACodes makes the next n getwxacodeunlimit calls (with a valid token)
// fail with errcode, e.g. 45009 (daily quota reached) or -1 (system busy), while
// every other endpoint keeps working: the staff console must then draw a plain
// QR itself. n <= 0 cancels pending failures.
func (s *Server) FailWXACodes(errcode int, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		s.codeFail, s.codeLeft = 0, 0
		return
	}
	s.codeFail, s.codeLeft = errcode, n
}

// SetDown makes every endpoint answer HTTP 503 while down is true.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// RevokeTokens invalidates every issued access token, as WeChat does when a token is
// force-refreshed elsewhere, so tests can prove the client recovers from 40001.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = make(map[string]time.Time)
}

// Reset forgets used codes, tokens, the token counter, sent messages and pending
// failures, and brings the server back up.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.down = false
	s.usedCodes = make(map[string]bool)
	s.askedCodes = make(map[string]bool)
	s.tokens = make(map[string]time.Time)
	s.tokenCalls = 0
	s.sent = nil
	s.failCode, s.failLeft = 0, 0
	s.codeFail, s.codeLeft = 0, 0
	s.msgID = 0
}

// code2SessionResponse mirrors silenceper auth.ResCode2Session.
type code2SessionResponse struct {
	ErrCode    int    `json:"errcode,omitempty"`
	ErrMsg     string `json:"errmsg,omitempty"`
	OpenID     string `json:"openid,omitempty"`
	SessionKey string `json:"session_key,omitempty"`
	UnionID    string `json:"unionid,omitempty"`
}

func (s *Server) handleCode2Session(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, errBody(ErrCodeRequireGET, "require GET method"))
		return
	}
	q := r.URL.Query()
	if q.Get("appid") != s.opts.AppID {
		writeJSON(w, errBody(ErrCodeInvalidAppID, "invalid appid"))
		return
	}
	if q.Get("secret") != s.opts.Secret {
		writeJSON(w, errBody(ErrCodeInvalidAppSecret, "invalid appsecret"))
		return
	}
	if q.Get("grant_type") != "authorization_code" {
		writeJSON(w, errBody(ErrCodeInvalidGrantType, "invalid grant_type"))
		return
	}
	code := q.Get("js_code")
	if code == "" {
		writeJSON(w, errBody(ErrCodeMissingCode, "missing code"))
		return
	}
	s.mu.Lock()
	s.askedCodes[code] = true
	s.mu.Unlock()
	name, _, _ := strings.Cut(code, ":")
	if name == "" || strings.HasPrefix(code, "invalid") {
		writeJSON(w, errBody(ErrCodeInvalidCode, "invalid code"))
		return
	}

	s.mu.Lock()
	used := s.usedCodes[code]
	s.usedCodes[code] = true
	s.mu.Unlock()
	if used {
		writeJSON(w, errBody(ErrCodeCodeUsed, "code been used"))
		return
	}

	resp := code2SessionResponse{
		OpenID:     "openid-" + name,
		SessionKey: base64.StdEncoding.EncodeToString(randomBytes(16)),
	}
	if strings.HasPrefix(name, "union-") {
		resp.UnionID = "unionid-" + name
	}
	writeJSON(w, resp)
}

// stableTokenRequest mirrors the body silenceper's StableAccessToken posts.
type stableTokenRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

func (s *Server) handleStableToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, errBody(ErrCodeRequirePOST, "require POST method"))
		return
	}
	var req stableTokenRequest
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.GrantType != "client_credential":
		writeJSON(w, errBody(ErrCodeInvalidGrantType, "invalid grant_type"))
		return
	case req.AppID != s.opts.AppID:
		writeJSON(w, errBody(ErrCodeInvalidAppID, "invalid appid"))
		return
	case req.Secret != s.opts.Secret:
		writeJSON(w, errBody(ErrCodeInvalidAppSecret, "invalid appsecret"))
		return
	}

	token := hex.EncodeToString(randomBytes(32))
	s.mu.Lock()
	s.tokenCalls++
	s.tokens[token] = s.opts.Now().Add(tokenTTL)
	s.mu.Unlock()

	writeJSON(w, map[string]any{
		"access_token": token,
		"expires_in":   int(tokenTTL / time.Second),
	})
}

// withToken rejects requests that are not POST or lack a valid access_token, the
// common preamble of every token-protected endpoint.
func (s *Server) withToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeJSON(w, errBody(ErrCodeRequirePOST, "require POST method"))
			return
		}
		token := r.URL.Query().Get("access_token")
		if token == "" {
			writeJSON(w, errBody(ErrCodeMissingToken, "access_token missing"))
			return
		}
		s.mu.Lock()
		expiry, ok := s.tokens[token]
		now := s.opts.Now()
		s.mu.Unlock()
		switch {
		case !ok:
			writeJSON(w, errBody(ErrCodeInvalidCredential, "invalid credential, access_token is invalid or not latest"))
			return
		case !now.Before(expiry):
			writeJSON(w, errBody(ErrCodeTokenExpired, "access_token expired"))
			return
		}
		next(w, r)
	}
}

func (s *Server) handlePhoneNumber(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	digits, ok := strings.CutPrefix(req.Code, "phone-")
	if !ok || !isDigits(digits) {
		writeJSON(w, errBody(ErrCodeInvalidCode, "invalid code"))
		return
	}
	type watermark struct {
		Timestamp int64  `json:"timestamp"`
		AppID     string `json:"appid"`
	}
	type phoneInfo struct {
		PhoneNumber     string    `json:"phoneNumber"`
		PurePhoneNumber string    `json:"purePhoneNumber"`
		CountryCode     string    `json:"countryCode"`
		Watermark       watermark `json:"watermark"`
	}
	writeJSON(w, map[string]any{
		"errcode": 0,
		"errmsg":  "ok",
		"phone_info": phoneInfo{
			PhoneNumber:     digits,
			PurePhoneNumber: digits,
			CountryCode:     "86",
			Watermark:       watermark{Timestamp: s.opts.Now().Unix(), AppID: s.opts.AppID},
		},
	})
}

// subscribeRequest mirrors silenceper subscribe.Message. Value is decoded as any
// because silenceper declares it interface{}; non-strings are formatted.
type subscribeRequest struct {
	ToUser     string `json:"touser"`
	TemplateID string `json:"template_id"`
	Page       string `json:"page"`
	Data       map[string]*struct {
		Value any `json:"value"`
	} `json:"data"`
	MiniprogramState string `json:"miniprogram_state"`
	Lang             string `json:"lang"`
}

func (s *Server) handleSubscribeSend(w http.ResponseWriter, r *http.Request) {
	var req subscribeRequest
	if !decodeBody(w, r, &req) {
		return
	}

	s.mu.Lock()
	if s.failLeft > 0 {
		s.failLeft--
		code := s.failCode
		s.mu.Unlock()
		writeJSON(w, errBody(code, failMessage(code)))
		return
	}
	s.mu.Unlock()

	if req.ToUser == "" {
		writeJSON(w, errBody(ErrCodeInvalidOpenID, "invalid openid"))
		return
	}
	if req.TemplateID == "" {
		writeJSON(w, errBody(ErrCodeInvalidTemplateID, "invalid template_id"))
		return
	}
	if len(req.Data) == 0 {
		writeJSON(w, errBody(ErrCodeArgumentInvalid, "argument invalid! data is empty"))
		return
	}
	data := make(map[string]string, len(req.Data))
	for key, item := range req.Data {
		var value string
		if item != nil {
			switch v := item.Value.(type) {
			case string:
				value = v
			case nil:
			default:
				value = fmt.Sprint(v)
			}
		}
		if limit, ok := FieldLimit(key); ok && utf8.RuneCountInString(value) > limit {
			writeJSON(w, errBody(ErrCodeArgumentInvalid, fmt.Sprintf("argument invalid! data.%s.value invalid", key)))
			return
		}
		data[key] = value
	}

	s.mu.Lock()
	s.msgID++
	id := s.msgID
	s.sent = append(s.sent, SentMessage{
		ToUser:           req.ToUser,
		TemplateID:       req.TemplateID,
		Page:             req.Page,
		Data:             data,
		MiniprogramState: req.MiniprogramState,
		Lang:             req.Lang,
	})
	s.mu.Unlock()

	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": id})
}

// ErrCodeInvalidScene is getwxacodeunlimit's answer to a bad scene (WeChat's
// "invalid scene": empty, longer than 32 or with characters it does not take).
const ErrCodeInvalidScene = 40169

// handleWXACodeUnlimit answers getwxacodeunlimit as WeChat does: the picture's
// bytes as image/jpeg, or a JSON error. The fake's picture is a plain QR code
// holding the scene, so a test can decode what the real one would carry.
func (s *Server) handleWXACodeUnlimit(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Scene string `json:"scene"`
		Page  string `json:"page"`
		Width int    `json:"width"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	s.mu.Lock()
	fail := 0
	if s.codeLeft > 0 {
		s.codeLeft--
		fail = s.codeFail
	}
	s.mu.Unlock()
	if fail != 0 {
		writeJSON(w, errBody(fail, failMessage(fail)))
		return
	}
	if req.Scene == "" || len(req.Scene) > 32 || strings.ContainsFunc(req.Scene, func(c rune) bool {
		return !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("!#$&'()*+,/:;=?@-._~", c))
	}) {
		writeJSON(w, errBody(ErrCodeInvalidScene, "invalid scene"))
		return
	}
	size := req.Width
	if size < 280 || size > 1280 {
		size = 430 // WeChat's default width
	}
	q, err := qrcode.New(req.Page+"?scene="+req.Scene, qrcode.Medium)
	if err != nil {
		writeJSON(w, errBody(ErrCodeSystemBusy, "system error"))
		return
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, q.Image(size), &jpeg.Options{Quality: 90}); err != nil {
		writeJSON(w, errBody(ErrCodeSystemBusy, "system error"))
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	_, _ = w.Write(buf.Bytes())
}

// FieldLimit returns the maximum rune count WeChat accepts for a subscribe-message
// data key, judged by its prefix (the key minus trailing digits, e.g. "thing1" ->
// "thing"). ok is false for keys the fake does not length-check.
func FieldLimit(key string) (limit int, ok bool) {
	switch strings.TrimRight(key, "0123456789") {
	case "thing":
		return 20, true
	case "phrase":
		return 5, true
	case "character_string":
		return 32, true
	case "name":
		return 10, true
	}
	return 0, false
}

func failMessage(code int) string {
	switch code {
	case ErrCodeUserRefused:
		return "user refuse to accept the msg"
	case ErrCodeSystemBusy:
		return "system error"
	default:
		return "injected failure"
	}
}

func (s *Server) handleMsgSecCheck(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Version int    `json:"version"`
		OpenID  string `json:"openid"`
		Scene   int    `json:"scene"`
		Content string `json:"content"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	switch {
	case req.Version != 2:
		writeJSON(w, errBody(ErrCodeInvalidArgs, "invalid args, only version 2 is supported"))
		return
	case req.OpenID == "":
		writeJSON(w, errBody(ErrCodeInvalidOpenID, "invalid openid"))
		return
	case req.Scene < 1 || req.Scene > 4:
		writeJSON(w, errBody(ErrCodeInvalidArgs, "invalid args, scene"))
		return
	case utf8.RuneCountInString(req.Content) > 2500:
		writeJSON(w, errBody(ErrCodeInvalidArgs, "invalid args, content too long"))
		return
	}

	suggest, label := "pass", 100
	switch {
	case strings.Contains(req.Content, "违禁") || strings.Contains(req.Content, "RISKY"):
		suggest, label = "risky", 20006
	case strings.Contains(req.Content, "REVIEW"):
		suggest, label = "review", 21000
	}
	type result struct {
		Suggest string `json:"suggest"`
		Label   int    `json:"label"`
	}
	type detail struct {
		Strategy string `json:"strategy"`
		ErrCode  int    `json:"errcode"`
		Suggest  string `json:"suggest"`
		Label    int    `json:"label"`
		Prob     int    `json:"prob"`
	}
	writeJSON(w, map[string]any{
		"errcode":  0,
		"errmsg":   "ok",
		"trace_id": hex.EncodeToString(randomBytes(8)),
		"result":   result{Suggest: suggest, Label: label},
		"detail":   []detail{{Strategy: "content_model", Suggest: suggest, Label: label, Prob: 90}},
	})
}

// decodeBody decodes a JSON request body into dst; on failure it answers 40097 like
// WeChat does for malformed arguments and reports false.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err == nil {
		err = json.Unmarshal(body, dst)
	}
	if err != nil {
		writeJSON(w, errBody(ErrCodeInvalidArgs, "invalid args, body is not valid json"))
		return false
	}
	return true
}

type errResponse struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func errBody(code int, msg string) errResponse {
	return errResponse{ErrCode: code, ErrMsg: msg}
}

func writeJSON(w http.ResponseWriter, v any) {
	writeJSONStatus(w, http.StatusOK, v)
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	// An encoding error here can only be a broken connection; there is no one left
	// to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error on supported platforms (Go 1.24+).
	_, _ = rand.Read(b)
	return b
}
