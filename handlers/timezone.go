package handlers

import (
	"bytes"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// LocalTimes makes every time in every JSON response RFC 3339 in loc (APP_TIMEZONE,
// +08:00), never `Z`, whichever handler, domain type or stored body produced it.
//
// Why here, at the door, and not in the domain: the DSN reads DATETIMEs as UTC (as
// stored; that stays), so every time.Time read from MySQL is in UTC, and times
// also come from time.Now, from Redis caches, from audit bodies stored as JSON and
// from idempotent replays stored as bytes a day ago. Converting each with .In(loc)
// would mean one call per field in dozens of types, and one forgotten field is a
// `Z` the mini-program shows eight hours off. Every JSON body, though, leaves
// through this one writer: it is the single place that sees all of them,
// including the raw ones (audit before/after, replays) that no typed encoder
// would. It rewrites each JSON string that is exactly an RFC 3339 date-time
// (what time.Time marshals to, or what a client sent) to the same instant in loc;
// any other string, and any non-JSON body (ICS, CSV, photos), passes untouched.
// A string a resident typed that is exactly a UTC timestamp is shown as the same
// instant in local time, which is what every other time on the screen is in.
//
// It must be mounted before any middleware that writes JSON (idempotent replays,
// auth errors), so that it wraps their writer.
func LocalTimes(loc *time.Location) gin.HandlerFunc {
	return func(c *gin.Context) {
		w := &localTimeWriter{ResponseWriter: c.Writer, loc: loc}
		c.Writer = w
		defer func() {
			// Also when a handler panics after writing: what it wrote goes out, and
			// Recover's own envelope (if any) goes straight to the real writer.
			c.Writer = w.ResponseWriter
			w.flush()
		}()
		c.Next()
	}
}

// localTimeWriter holds back a JSON body until the handler is done, so a time
// split across two Write calls is still seen whole, then writes it rewritten.
type localTimeWriter struct {
	gin.ResponseWriter
	loc      *time.Location
	buf      []byte
	buffered bool
	// local is set by WriteLocalJSON: the body's times are already in loc, so it
	// goes out unbuffered and unscanned.
	local bool
}

func (w *localTimeWriter) isJSON() bool {
	ct := w.Header().Get("Content-Type")
	return strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "application/problem+json")
}

func (w *localTimeWriter) Write(b []byte) (int, error) {
	if !w.local && (w.buffered || w.isJSON()) {
		w.buffered = true
		w.buf = append(w.buf, b...)
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *localTimeWriter) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

// LocalJSON returns b with its times rewritten as LocalTimes would write them, in
// the location of the LocalTimes mounted on c's route (b unchanged without one).
// A handler that caches a JSON body stores it localized once, then serves it with
// WriteLocalJSON: the catalogue is the busiest public read, and scanning the same
// cached body for times on every request cost it about a fifth of its
// throughput (scripts/bench-booking.sh, catalogue / healthz).
func LocalJSON(c *gin.Context, b []byte) []byte {
	if w, ok := c.Writer.(*localTimeWriter); ok {
		return LocalizeJSONTimes(b, w.loc)
	}
	return b
}

// WriteLocalJSON writes a JSON body whose times are already local (made by
// LocalJSON, here or when a cache was filled) without LocalTimes scanning it
// again. Only for such bodies: anything else would leave UTC times in the reply.
func WriteLocalJSON(c *gin.Context, status int, body []byte) {
	if w, ok := c.Writer.(*localTimeWriter); ok && !w.buffered {
		w.local = true
	}
	c.Data(status, "application/json; charset=utf-8", body)
}

// Written and Size count what is held back as written, so Recover and the
// idempotency recorder see the body the handler produced.
func (w *localTimeWriter) Written() bool { return w.buffered || w.ResponseWriter.Written() }

func (w *localTimeWriter) Size() int {
	if w.buffered {
		return len(w.buf)
	}
	return w.ResponseWriter.Size()
}

// Flush sends what is held back first (a JSON body is not streamed, but a
// Flush must not reorder bytes).
func (w *localTimeWriter) Flush() {
	w.flush()
	w.ResponseWriter.Flush()
}

func (w *localTimeWriter) flush() {
	if !w.buffered {
		return
	}
	out := LocalizeJSONTimes(w.buf, w.loc)
	w.buf, w.buffered = nil, false
	w.Header().Del("Content-Length") // the rewritten body is longer
	_, _ = w.ResponseWriter.Write(out)
}

// LocalizeJSONTimes returns b with every JSON string that is an RFC 3339
// date-time ("2006-01-02T15:04:05[.frac](Z|±hh:mm)") replaced by the same instant
// formatted in loc. Strings are found by their quotes: a quote preceded by an odd
// number of backslashes is inside a string, not a delimiter, so text that merely
// contains a time is not touched. b is returned as is when nothing changes.
func LocalizeJSONTimes(b []byte, loc *time.Location) []byte {
	var out []byte // allocated on the first change
	last := 0      // b[:last] is already in out
	for i := 0; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			break
		}
		open := i + q
		i = open + 1
		if escaped(b, open) {
			continue
		}
		end, ok := timeStringEnd(b, open+1)
		if !ok {
			continue
		}
		s := string(b[open+1 : end])
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			continue
		}
		local := formatLocal(t, s, loc)
		i = end + 1
		if local == s {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(b)+len(b)/8)
		}
		out = append(out, b[last:open+1]...)
		out = append(out, local...)
		last = end
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}

// escaped reports whether b[i] is preceded by an odd number of backslashes.
func escaped(b []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// timeStringEnd checks that b[start:] looks like an RFC 3339 date-time followed
// by a closing quote and returns the quote's index. Only the shape is checked
// here (cheaply, so ordinary strings are skipped after a few bytes); time.Parse
// decides.
func timeStringEnd(b []byte, start int) (int, bool) {
	const minLen = len("2006-01-02T15:04:05Z")
	if len(b)-start < minLen+1 {
		return 0, false
	}
	p := b[start:]
	if p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':' || p[16] != ':' {
		return 0, false
	}
	// The rest (fraction, offset) is at most ".999999999+08:00" long.
	for j := 19; j < len(p) && j < 19+1+9+6+1; j++ {
		switch c := p[j]; {
		case c == '"':
			return start + j, true
		case c >= '0' && c <= '9', c == '.', c == 'Z', c == '+', c == '-', c == ':':
		default:
			return 0, false
		}
	}
	return 0, false
}

// formatLocal formats t (parsed from s) in loc. RFC 3339 offsets have whole
// minutes, but zones had odd local mean time offsets before standard time
// (Asia/Shanghai: +08:05:43 until 1901), which Go would print truncated, naming a
// wrong instant; such instants get the zone's standard offset instead, the same
// instant exactly. An instant whose local year falls outside 0000–9999 cannot be
// written in RFC 3339 at all (9999-12-31T23:59:59Z is in the year 10000 here):
// it stays as it was, rather than becoming an unparsable string.
func formatLocal(t time.Time, s string, loc *time.Location) string {
	lt := t.In(loc)
	if _, off := lt.Zone(); off%60 != 0 {
		_, std := time.Date(2000, 1, 1, 0, 0, 0, 0, loc).Zone()
		lt = t.In(time.FixedZone("", std))
	}
	if y := lt.Year(); y < 0 || y > 9999 {
		return s
	}
	return lt.Format(time.RFC3339Nano)
}
