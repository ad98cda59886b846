package complaint_test

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/complaint"
)

// TestComplaintStatsEqualRecordsAtScale compares the complaint statistics from
// the rollups with the records on a database built by scripts/scale-seed
// (SCALE_MYSQL_DSN, e.g. nantian_scale): the endpoint's default range (twelve
// months to today), this year so far, a whole past year, a range cutting two
// months, one day, across a year end and all of the history. Skipped when
// SCALE_MYSQL_DSN is unset:
//
//	SCALE_MYSQL_DSN='root:@tcp(127.0.0.1:3306)/nantian_scale?parseTime=true' go test ./models/complaint -run AtScale -v
func TestComplaintStatsEqualRecordsAtScale(t *testing.T) {
	dsn := os.Getenv("SCALE_MYSQL_DSN")
	if dsn == "" {
		t.Skip("SCALE_MYSQL_DSN not set")
	}
	ctx := context.Background()
	db, err := models.OpenDB(ctx, dsn+"&readTimeout=30m")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	today := now.In(loc)
	y := today.Year()
	d := func(y, m, day int) models.Date {
		return models.DateOf(time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC))
	}
	for _, rg := range [][2]models.Date{
		{d(y, int(today.Month())-11, 1), models.DateOf(today)}, {d(y, 1, 1), models.DateOf(today)},
		{d(y-1, 1, 1), d(y-1, 12, 31)}, {d(y-1, 3, 10), d(y-1, 5, 20)}, {d(y-1, 7, 14), d(y-1, 7, 14)},
		{d(y-1, 12, 20), d(y, 1, 10)}, {d(y-5, 1, 1), models.DateOf(today)},
	} {
		t0 := time.Now()
		got, err := complaint.ComputeComplaintStats(ctx, db, loc, rg[0], rg[1], now)
		if err != nil {
			t.Fatal(err)
		}
		fast := time.Since(t0)
		t0 = time.Now()
		want, err := complaint.ComputeComplaintStatsFromRecords(ctx, db, loc, rg[0], rg[1], now)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("complaint stats %s..%s: rollups %v, records %v; received %d, closed %d, on time %+v", rg[0], rg[1], fast, time.Since(t0),
			got.Received, got.Closed, got.OnTime)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("complaint stats %s..%s differ:\nrollups %s\nrecords %s", rg[0], rg[1], show(got), show(want))
		}
	}
}
