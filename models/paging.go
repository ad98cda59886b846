package models

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Page asks for one page of a list ordered by id: items after AfterID, at most Limit.
type Page struct {
	Limit   int
	AfterID int64
}

// EncodeCursor makes the opaque next_cursor for a list whose last item has id.
func EncodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("id:" + strconv.FormatInt(id, 10)))
}

// DecodeCursor reads a cursor made by EncodeCursor; "" means the first page.
func DecodeCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "id:") {
		return 0, Invalid("cursor", "无效的分页游标")
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(string(b), "id:"), 10, 64)
	if err != nil || id < 0 {
		return 0, Invalid("cursor", "无效的分页游标")
	}
	return id, nil
}

// NextCursor returns the cursor for the page after items whose last id is lastID,
// or "" when fewer than limit came back (there is nothing after them).
func NextCursor(n, limit int, lastID int64) string {
	if n < limit || n == 0 {
		return ""
	}
	return EncodeCursor(lastID)
}
