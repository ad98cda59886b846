package handlers

import (
	"log/slog"
	"strings"

	"github.com/gin-gonic/gin"
)

// pathAttrs says which resource a request touched without writing secrets into
// the log. A matched request is logged by its route pattern plus the numeric ids
// in it (`id`, `booking_id`...): never the raw path, whose other segments can be
// a pickup code (/staff/redemptions/:pickup_code/fulfil), a console ticket or
// whatever a later route puts there. An unmatched request has no pattern, so its
// path is logged with every segment that could be a code or token (anything but a
// lowercase word or a short number) replaced by `*`.
func pathAttrs(c *gin.Context) []slog.Attr {
	route := c.FullPath()
	if route == "" {
		return []slog.Attr{slog.String("route", ""), slog.String("path", redactPath(c.Request.URL.Path))}
	}
	attrs := []slog.Attr{slog.String("route", route)}
	for _, p := range c.Params {
		if (p.Key == "id" || strings.HasSuffix(p.Key, "_id")) && isShortNumber(p.Value) {
			attrs = append(attrs, slog.String(p.Key, p.Value))
		}
	}
	return attrs
}

// redactPath keeps the path's shape for an unknown route (a typo, a trailing
// slash, a scanner) while hiding any segment that may be a secret.
func redactPath(path string) string {
	if len(path) > 256 {
		path = path[:256]
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s != "" && !isWord(s) && !isShortNumber(s) {
			segs[i] = "*"
		}
	}
	return strings.Join(segs, "/")
}

// isWord: a path word of this API (lowercase letters, digits after a letter as in
// v1, '-', '_', '.'); codes and tokens have capitals or digits mixed in, and
// are longer.
func isWord(s string) bool {
	if len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c == '-', c == '_', c == '.':
		case c >= '0' && c <= '9':
			digits++
		default:
			return false
		}
	}
	return digits <= 1
}

func isShortNumber(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
