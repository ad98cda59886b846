package main

// GET /bookings/{id}/calendar.ics: a strict little RFC 5545 reader checks the
// file's structure, line endings, folding and escaping, and the event's facts.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
)

func init() {
	// Let the spec check read text/calendar bodies as plain strings.
	openapi3filter.RegisterBodyDecoder("text/calendar", openapi3filter.PlainBodyDecoder)
}

type icsProp struct{ name, params, value string }

// parseICS unfolds and splits a calendar strictly: CRLF only, no physical line
// over 75 octets, valid UTF-8 per physical line, BEGIN/END balanced.
func parseICS(t *testing.T, body []byte) (cal []icsProp, event map[string]icsProp) {
	t.Helper()
	s := string(body)
	if !strings.HasSuffix(s, "\r\n") {
		t.Fatal("calendar does not end with CRLF")
	}
	if strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(s, "\r\n", ""), "\r") {
		t.Fatal("bare LF or CR in calendar")
	}
	var logical []string
	for _, l := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
		if len(l) > 75 {
			t.Fatalf("line of %d octets: %q", len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Fatalf("fold split a UTF-8 sequence: %q", l)
		}
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			if len(logical) == 0 {
				t.Fatal("continuation before any line")
			}
			logical[len(logical)-1] += l[1:]
			continue
		}
		logical = append(logical, l)
	}
	var stack []string
	event = map[string]icsProp{}
	for _, l := range logical {
		i := strings.IndexByte(l, ':')
		if i <= 0 {
			t.Fatalf("no name:value in %q", l)
		}
		name, params, _ := strings.Cut(l[:i], ";")
		p := icsProp{name: strings.ToUpper(name), params: params, value: l[i+1:]}
		switch p.name {
		case "BEGIN":
			stack = append(stack, p.value)
		case "END":
			if len(stack) == 0 || stack[len(stack)-1] != p.value {
				t.Fatalf("END:%s does not close %v", p.value, stack)
			}
			stack = stack[:len(stack)-1]
		default:
			if len(stack) == 2 && stack[1] == "VEVENT" {
				if _, dup := event[p.name]; dup {
					t.Fatalf("duplicate %s", p.name)
				}
				event[p.name] = p
			} else if len(stack) == 1 && stack[0] == "VCALENDAR" {
				cal = append(cal, p)
			} else {
				t.Fatalf("%s outside VCALENDAR/VEVENT (%v)", p.name, stack)
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed %v", stack)
	}
	if !strings.HasPrefix(logical[0], "BEGIN:VCALENDAR") || logical[len(logical)-1] != "END:VCALENDAR" {
		t.Fatal("not one VCALENDAR")
	}
	return cal, event
}

// unescapeText reverses RFC 5545 TEXT escaping, refusing bare specials.
func unescapeText(t *testing.T, v string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			i++
			if i == len(v) {
				t.Fatalf("dangling backslash in %q", v)
			}
			switch v[i] {
			case 'n', 'N':
				b.WriteByte('\n')
			case '\\', ';', ',':
				b.WriteByte(v[i])
			default:
				t.Fatalf("bad escape \\%c in %q", v[i], v)
			}
		case ';', ',':
			t.Fatalf("unescaped %c in %q", c, v)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestBookingCalendar(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("cal")
	title := "南天社区长者智能手机使用课程：微信视频通话、健康码、网上挂号，以及防范电信诈骗；第二期" // > 75 octets, with , and ;
	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": title, "venue": "南天一花园, 党群服务中心"})
	sid := a.createSession(staffTok, pid, 72*time.Hour, 10)
	var starts, ends time.Time
	var venue string
	a.app.db.QueryRow(`SELECT starts_at, ends_at, venue FROM sessions WHERE id = ?`, sid).Scan(&starts, &ends, &venue)
	tok, _ := a.resident("owner")
	bk := a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": sid}).JSON(t)
	bid := int64(bk["id"].(float64))
	path := fmt.Sprintf("/api/v1/bookings/%d/calendar.ics", bid)

	r := a.do("GET", path, tok, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("calendar: %d %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/calendar") || !strings.Contains(ct, "utf-8") {
		t.Fatalf("content type %q", ct)
	}
	cal, ev := parseICS(t, r.Body)
	calProps := map[string]string{}
	for _, p := range cal {
		calProps[p.name] = p.value
	}
	if calProps["VERSION"] != "2.0" || calProps["PRODID"] == "" {
		t.Fatalf("calendar properties %v", calProps)
	}
	for _, req := range []string{"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "LOCATION"} {
		if _, ok := ev[req]; !ok {
			t.Fatalf("VEVENT lacks %s: %v", req, ev)
		}
	}
	utc := func(name string) time.Time {
		v := ev[name].value
		if ev[name].params != "" || !strings.HasSuffix(v, "Z") {
			t.Fatalf("%s is not a UTC DATE-TIME: %v", name, ev[name])
		}
		tm, err := time.Parse("20060102T150405Z", v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return tm
	}
	if !utc("DTSTART").Equal(starts.Truncate(time.Second)) || !utc("DTEND").Equal(ends.Truncate(time.Second)) {
		t.Fatalf("start/end %v %v, want %v %v", ev["DTSTART"], ev["DTEND"], starts, ends)
	}
	if d := time.Since(utc("DTSTAMP")); d < -time.Minute || d > time.Minute {
		t.Fatalf("DTSTAMP %v", ev["DTSTAMP"])
	}
	if got := unescapeText(t, ev["SUMMARY"].value); got != title {
		t.Fatalf("SUMMARY %q", got)
	}
	if got := unescapeText(t, ev["LOCATION"].value); got != venue || venue == "" {
		t.Fatalf("LOCATION %q, venue %q", got, venue)
	}
	if !strings.Contains(unescapeText(t, ev["DESCRIPTION"].value), bk["code"].(string)) {
		t.Fatal("DESCRIPTION lacks the check-in code")
	}
	// The UID is stable: the same booking exported twice is one event.
	_, ev2 := parseICS(t, a.do("GET", path, tok, nil).Body)
	if ev2["UID"].value != ev["UID"].value {
		t.Fatal("UID changed between exports")
	}
	// Folding really happened (the title is longer than one line).
	if !strings.Contains(string(r.Body), "\r\n ") {
		t.Fatal("long SUMMARY not folded")
	}

	// Owner only: another resident and staff get 404, as for a missing booking.
	other, _ := a.resident("other")
	wantStatus(t, a.do("GET", path, other, nil), http.StatusNotFound, "not_found")
	wantStatus(t, a.do("GET", path, staffTok, nil), http.StatusNotFound, "not_found")
	wantStatus(t, a.do("GET", "/api/v1/bookings/999999999/calendar.ics", tok, nil), http.StatusNotFound, "not_found")
	wantStatus(t, a.do("GET", "/api/v1/bookings/abc/calendar.ics", tok, nil), http.StatusNotFound, "not_found")
	wantStatus(t, a.do("GET", path, "", nil), http.StatusUnauthorized, "unauthorized")

	// Confirmed only: pending and cancelled are 409 invalid_transition.
	appr := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "审核", "requires_approval": true})
	pend := idOf(t, a.do("POST", "/api/v1/bookings", tok, map[string]any{"session_id": a.createSession(staffTok, appr, 72*time.Hour, 5)}))
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/bookings/%d/calendar.ics", pend), tok, nil), http.StatusConflict, "invalid_transition")
	a.do("POST", fmt.Sprintf("/api/v1/bookings/%d/cancel", bid), tok, nil)
	wantStatus(t, a.do("GET", path, tok, nil), http.StatusConflict, "invalid_transition")
}
