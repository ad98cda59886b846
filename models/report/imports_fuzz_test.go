package report

import (
	"errors"
	"testing"
	"time"

	"nantian/models/catalog"
)

// FuzzParseImportCSV feeds arbitrary bytes to the history-import parser: it must
// never panic, and whatever it accepts must satisfy every rule the importer
// relies on; whatever it refuses must say which lines and why. Seeds live in
// testdata/fuzz/FuzzParseImportCSV; run with
// go test ./models -run '^$' -fuzz FuzzParseImportCSV -fuzztime 30s
func FuzzParseImportCSV(f *testing.F) {
	header := "kind,title,audience,category,venue,starts_at,ends_at,capacity,attendances,fees_fen\n"
	f.Add([]byte(header + "night_school,书法,all,书画,党群服务中心,2024-03-05 19:00,2024-03-05 21:00,20,12,24000\n"))
	f.Add([]byte("\xef\xbb\xbf" + header + "activity,\"合唱, 长者\",elderly,,\"a \"\"b\"\"\",2024-05-01 09:30,2024-05-01 11:00:00,40,38,\n"))
	f.Add([]byte("TITLE,kind,venue,audience,starts_at,ends_at,capacity,attendances,category\n书法,night_school,x,all,2024-03-05 19:00,2024-03-05 21:00,1,1,\n"))
	f.Add([]byte(header + "yoga,x,all,,x,2024/03/05,2024-03-05 21:00,0,-1,abc\nactivity,\"open\n"))
	f.Add([]byte(""))
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ParseImportCSV(data, loc)
		var inv *ImportInvalidError
		switch {
		case err == nil:
			if len(rows) == 0 || len(rows) > MaxImportRows {
				t.Fatalf("accepted %d rows", len(rows))
			}
			last := 1
			for _, r := range rows {
				if r.Line <= last {
					t.Fatalf("line %d after %d", r.Line, last)
				}
				last = r.Line
				switch r.Kind {
				case catalog.KindNightSchool, catalog.KindChildcare, catalog.KindActivity:
				default:
					t.Fatalf("kind %q accepted", r.Kind)
				}
				switch r.Audience {
				case catalog.AudienceElderly, catalog.AudienceChildren, catalog.AudienceYouth, catalog.AudienceAll:
				default:
					t.Fatalf("audience %q accepted", r.Audience)
				}
				if r.Title == "" || !r.EndsAt.After(r.StartsAt) || r.Capacity < 1 || r.Attendances < 0 ||
					r.Attendances > r.Capacity || r.FeesFen < 0 || r.StartsAt.Location() != time.UTC {
					t.Fatalf("invalid row accepted: %+v", r)
				}
				if r.Hash() != r.Hash() || len(r.Hash()) != 64 {
					t.Fatal("hash not stable")
				}
			}
		case errors.As(err, &inv):
			if len(inv.Rows) == 0 || len(inv.Rows) > maxImportErrors {
				t.Fatalf("%d bad rows reported", len(inv.Rows))
			}
			for _, r := range inv.Rows {
				if r.Reason == "" || r.Line < 0 {
					t.Fatalf("bad report %+v", r)
				}
			}
		case errors.Is(err, ErrImportTooManyRows), errors.Is(err, ErrImportEmpty):
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}
