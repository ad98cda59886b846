// Package fakewecom is a local fake of the 企业微信 group-robot webhook
// (POST /cgi-bin/webhook/send?key=KEY), which dev machines and CI cannot reach.
// Tests point WECOM_ROBOT_WEBHOOK at it and read back what the staff group would
// have seen.
//
// Like WeCom it answers HTTP 200 with {"errcode","errmsg"}: 93000 for a wrong key,
// 40008 for a message type other than text or markdown, 40058 for empty content,
// 45009 past PerMinute messages in a rolling minute (when PerMinute > 0).
// [Server.Fail] makes the next n sends fail with a chosen errcode, or with HTTP 503
// when errcode is 0.
package fakewecom

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Message is one accepted message.
type Message struct {
	Type    string
	Content string
	At      time.Time
}

// Server is the fake; it is an http.Handler, safe for concurrent use.
type Server struct {
	Key       string
	PerMinute int

	mu       sync.Mutex
	sent     []Message
	failN    int
	failCode int
	calls    int
}

// New returns a fake accepting the given key.
func New(key string) *Server { return &Server{Key: key} }

// Sent returns the accepted messages, oldest first.
func (s *Server) Sent() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.sent...)
}

// Calls counts every request, accepted or not.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Fail makes the next n sends fail: with errcode when non-zero, else HTTP 503.
func (s *Server) Fail(n, errcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, errcode
}

// Reset forgets messages and pending failures.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent, s.failN, s.calls = nil, 0, 0
}

func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/webhook/send" {
		http.NotFound(w, r)
		return
	}
	var body struct {
		MsgType  string                   `json:"msgtype"`
		Text     struct{ Content string } `json:"text"`
		Markdown struct{ Content string } `json:"markdown"`
	}
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failN > 0 {
		s.failN--
		if s.failCode == 0 {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
		} else {
			reply(w, s.failCode, "injected failure")
		}
		return
	}
	switch {
	case r.URL.Query().Get("key") != s.Key:
		reply(w, 93000, "invalid webhook url")
		return
	case err != nil:
		reply(w, 40001, "invalid json")
		return
	}
	m := Message{Type: body.MsgType, At: time.Now()}
	switch body.MsgType {
	case "text":
		m.Content = body.Text.Content
	case "markdown":
		m.Content = body.Markdown.Content
	default:
		reply(w, 40008, "invalid message type")
		return
	}
	if m.Content == "" {
		reply(w, 40058, "content empty")
		return
	}
	if s.PerMinute > 0 {
		recent := 0
		for _, p := range s.sent {
			if time.Since(p.At) < time.Minute {
				recent++
			}
		}
		if recent >= s.PerMinute {
			reply(w, 45009, "api freq out of limit")
			return
		}
	}
	s.sent = append(s.sent, m)
	reply(w, 0, "ok")
}
