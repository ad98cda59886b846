package models

import "time"

// The years a date or time of this service can sensibly be in. A birth date
// before 1900 or a session after 2100 is a typo or a probe, and the extremes the
// types allow (0000-01-01, 9999-12-31T23:59:59Z) break further on: MySQL refuses
// some, and 9999-12-31T23:59:59Z is in the year 10000 at +08:00, which JSON
// cannot write. So clients' dates and times are held to these years at the door
// (400 naming the field), and what the database holds from before is rendered
// anyway (InLoc).
const (
	MinSaneYear = 1900
	MaxSaneYear = 2100
)

// SaneDate reports whether d is within MinSaneYear..MaxSaneYear.
func SaneDate(d Date) bool { return d.y >= MinSaneYear && d.y <= MaxSaneYear }

// SaneTime reports whether t (read in UTC) is within MinSaneYear..MaxSaneYear.
func SaneTime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= MinSaneYear && y <= MaxSaneYear
}

// CheckSaneDate refuses a client's date outside the sane years (nil passes).
func CheckSaneDate(field string, d *Date) error {
	if d != nil && !SaneDate(*d) {
		return Invalid(field, "年份应在 %d 到 %d 之间", MinSaneYear, MaxSaneYear)
	}
	return nil
}

// CheckBirthDate refuses a birth date outside the sane years or after now (a
// resident's own, a child's): the two rules every form with one applies.
func CheckBirthDate(field string, d *Date, now time.Time) error {
	if err := CheckSaneDate(field, d); err != nil {
		return err
	}
	if d != nil && d.Time().After(now) {
		return Invalid(field, "不能晚于今天")
	}
	return nil
}

// InLoc is t in loc, for display, unless that would carry it outside the years
// JSON can write (0–9999): a stored 9999-12-31T23:59:59Z stays in UTC, the same
// instant, instead of failing the page that shows it.
func InLoc(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		return t
	}
	lt := t.In(loc)
	if y := lt.Year(); y < 0 || y > 9999 {
		return t
	}
	return lt
}
