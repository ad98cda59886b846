package wechat

import (
	"strings"
	"unicode/utf8"
)

// fieldLimit returns WeChat's maximum length in runes for a subscribe-message data
// key, decided by the key's type prefix (the key minus its trailing index, so
// "thing12" is a "thing"). limit is 0 for types WeChat does not bound by length
// (time, date, amount, ...) or that we do not know. ellipsis says whether a cut
// value may end in "…": only free text ("thing") does; the other types accept a
// restricted alphabet or are read as codes, where a stray symbol does more harm.
func fieldLimit(key string) (limit int, ellipsis bool) {
	switch strings.TrimRight(key, "0123456789") {
	case "thing":
		return 20, true
	case "phrase":
		return 5, false
	case "name":
		return 10, false
	case "character_string", "number", "letter":
		return 32, false
	}
	return 0, false
}

// TrimField cuts a subscribe-message value to the length WeChat accepts for its key
// (thing 20, phrase 5, character_string 32, name 10, number 32, letter 32; time,
// date and unknown types unchanged), counting runes so Chinese text is never split
// mid-character. WeChat rejects the whole message (errcode 47003) when one value is
// too long, so a shortened activity title is far better than no notification.
// A cut "thing" ends in "…" so the reader can see it was shortened.
func TrimField(key, value string) string {
	limit, ellipsis := fieldLimit(key)
	if limit == 0 || utf8.RuneCountInString(value) <= limit {
		return value
	}
	runes := []rune(value)
	if ellipsis {
		return string(runes[:limit-1]) + "…"
	}
	return string(runes[:limit])
}
