package models_test

import (
	"testing"

	"nantian/models"
)

// FuzzDate checks the date parser never panics and round-trips what it accepts.
func FuzzDate(f *testing.F) {
	for _, s := range []string{`"2024-05-01"`, `"2024-02-30"`, `"0000-00-00"`, `""`, `null`, `123`, `"2024-5-1"`, `"９９９９-01-01"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d models.Date
		if err := d.UnmarshalJSON([]byte(s)); err != nil {
			return
		}
		b, err := d.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var again models.Date
		if err := again.UnmarshalJSON(b); err != nil || again != d {
			t.Fatalf("round trip %s -> %s -> %v", s, b, again)
		}
	})
}

// FuzzCursor checks cursors decode to a non-negative id or a 400, never a panic.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", models.EncodeCursor(42), "aWQ6LTE", "%%%", "aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OTk5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := models.DecodeCursor(s)
		if err != nil {
			if e, ok := models.AsError(err); !ok || e.Kind != models.KindInvalid {
				t.Fatalf("cursor error is not a 400: %v", err)
			}
			return
		}
		if id < 0 {
			t.Fatalf("negative id %d from %q", id, s)
		}
		// What a cursor decodes to, encoded again, decodes to the same id.
		if again, err := models.DecodeCursor(models.EncodeCursor(id)); err != nil || again != id {
			t.Fatalf("cursor %q → %d does not round-trip: %d %v", s, id, again, err)
		}
	})
}
