package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Date is a calendar date (YYYY-MM-DD) with no time zone, used for birth dates.
type Date struct{ y, m, d int }

// DateOf takes the calendar date of t as it reads in t's location.
func DateOf(t time.Time) Date { return Date{t.Year(), int(t.Month()), t.Day()} }

// ErrDateFormat is the error (wrapped) for a date that is not a real YYYY-MM-DD.
var ErrDateFormat = errors.New("want YYYY-MM-DD")

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: %w", s, ErrDateFormat)
	}
	return DateOf(t), nil
}

// Time is midnight UTC of the date, the form stored in DATE columns.
func (d Date) Time() time.Time { return time.Date(d.y, time.Month(d.m), d.d, 0, 0, 0, 0, time.UTC) }

// IsZero reports an unset date.
func (d Date) IsZero() bool { return d.y == 0 }

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.y, d.m, d.d) }

// MarshalJSON writes "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "YYYY-MM-DD".
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("date must be a string: %w", ErrDateFormat)
	}
	p, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// AgeInMonths is the age in whole months on the given day, as a person counts it:
// a child born on 2024-03-15 is 18 months old from 2025-09-15.
func AgeInMonths(birth Date, on Date) int {
	months := (on.y-birth.y)*12 + (on.m - birth.m)
	if on.d < birth.d {
		// Born on the 31st: in a shorter month the birthday falls on its last day.
		last := time.Date(on.y, time.Month(on.m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if !(birth.d > last && on.d == last) {
			months--
		}
	}
	return months
}

// StorableTime reports whether t fits a DATETIME column (years 1000 to 9999,
// UTC). Times from clients are checked with it, so a year the driver refuses to
// send answers 400 instead of failing the query with a 500.
func StorableTime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1000 && y <= 9999
}
