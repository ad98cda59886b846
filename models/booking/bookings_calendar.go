package booking

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"nantian/models"
)

// ErrCalendarNotConfirmed refuses a calendar file for a booking that does not
// (or no longer) hold a confirmed place: like other state-dependent refusals it
// is 409 invalid_transition.
var ErrCalendarNotConfirmed = &models.Error{Kind: models.KindConflict, Code: "invalid_transition", Message: "只有已确认的预约可以加入日历"}

// Calendar renders the owner's confirmed booking as an RFC 5545 iCalendar file
// with one VEVENT. Only the owner gets it (anyone else, staff included, 404).
func (b *Bookings) Calendar(ctx context.Context, userID, id int64) ([]byte, error) {
	x, err := b.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if x.UserID != userID {
		return nil, models.ErrNotFound
	}
	if x.Status != BookingConfirmed {
		return nil, ErrCalendarNotConfirmed
	}
	var ends time.Time
	var venue string
	if err := b.DB.QueryRowContext(ctx, `SELECT s.ends_at, COALESCE(NULLIF(s.venue, ''), p.venue)
		FROM sessions s JOIN programs p ON p.id = s.program_id WHERE s.id = ?`, x.SessionID).Scan(&ends, &venue); err != nil {
		return nil, fmt.Errorf("calendar session: %w", err)
	}
	return ICS(ICSEvent{
		UID:         "booking-" + strconv.FormatInt(x.ID, 10) + "@nantian",
		Stamp:       b.Now(),
		Start:       x.StartsAt,
		End:         ends,
		Summary:     x.ProgramTitle,
		Location:    venue,
		Description: "签到码：" + x.Code,
	}), nil
}

// ICSEvent is one calendar event.
type ICSEvent struct {
	UID                            string
	Stamp, Start, End              time.Time
	Summary, Location, Description string
}

const icsTime = "20060102T150405Z"

// ICS renders a VCALENDAR with one VEVENT: times in UTC, text escaped, lines
// folded at 75 octets and ended with CRLF (RFC 5545 §3.1, §3.3.11).
func ICS(e ICSEvent) []byte {
	lines := []string{
		"BEGIN:VCALENDAR",
		"VERSION:2.0",
		"PRODID:-//Nantian Community//Bookings//ZH",
		"CALSCALE:GREGORIAN",
		"METHOD:PUBLISH",
		"BEGIN:VEVENT",
		"UID:" + icsText(e.UID),
		"DTSTAMP:" + e.Stamp.UTC().Format(icsTime),
		"DTSTART:" + e.Start.UTC().Format(icsTime),
		"DTEND:" + e.End.UTC().Format(icsTime),
		"SUMMARY:" + icsText(e.Summary),
		"LOCATION:" + icsText(e.Location),
		"DESCRIPTION:" + icsText(e.Description),
		"STATUS:CONFIRMED",
		"END:VEVENT",
		"END:VCALENDAR",
	}
	var sb strings.Builder
	for _, l := range lines {
		foldLine(&sb, l)
	}
	return []byte(sb.String())
}

// icsText escapes a TEXT value: backslash, semicolon, comma and newlines.
func icsText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.NewReplacer(`\`, `\\`, `;`, `\;`, `,`, `\,`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// foldLine writes one content line, folded so no physical line exceeds 75
// octets (continuations start with a space, which counts), never splitting a
// UTF-8 sequence, each ended by CRLF.
func foldLine(sb *strings.Builder, l string) {
	limit := 75
	for len(l) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(l[cut]) {
			cut--
		}
		sb.WriteString(l[:cut])
		sb.WriteString("\r\n ")
		l = l[cut:]
		limit = 74
	}
	sb.WriteString(l)
	sb.WriteString("\r\n")
}
