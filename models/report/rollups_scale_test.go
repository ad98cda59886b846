package report_test

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/points"
	"nantian/models/report"
)

// TestRollupsEqualRecordsAtScale compares the rollups with the raw tables on a
// database built by scripts/scale-seed (SCALE_MYSQL_DSN, e.g. nantian_scale): the
// annual report of each seeded year and the points statistics of this year so
// far, a whole past year and a range cutting two months. It is skipped when
// SCALE_MYSQL_DSN is unset (the raw side takes minutes at district size):
//
//	SCALE_MYSQL_DSN='root:@tcp(127.0.0.1:3306)/nantian_scale?parseTime=true' go test ./models/report -run AtScale -v
func TestRollupsEqualRecordsAtScale(t *testing.T) {
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
	rep := &report.Reports{DB: db, Now: models.SystemClock, Loc: loc}
	y := time.Now().In(loc).Year()
	for _, year := range []int{y - 2, y - 1, y} {
		t0 := time.Now()
		got, err := rep.Annual(ctx, year)
		if err != nil {
			t.Fatal(err)
		}
		fast := time.Since(t0)
		t0 = time.Now()
		want, err := rep.AnnualFromRecords(ctx, year)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("annual %d: rollups %v, records %v: %+v", year, fast, time.Since(t0), got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("annual %d from rollups:\n%+v\nfrom records:\n%+v", year, got, want)
		}
	}
	today := models.DateOf(time.Now().In(loc))
	d := func(y, m, day int) models.Date {
		return models.DateOf(time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC))
	}
	for _, rg := range [][2]models.Date{{d(y, 1, 1), today}, {d(y-1, 1, 1), d(y-1, 12, 31)}, {d(y-1, 3, 10), d(y-1, 5, 20)}} {
		t0 := time.Now()
		got, err := points.DepositStats(ctx, db, rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		fast := time.Since(t0)
		t0 = time.Now()
		want, err := points.DepositStatsFromRecords(ctx, db, rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("deposit stats %s..%s: rollups %v, records %v, totals %+v", rg[0], rg[1], fast, time.Since(t0), got.Totals)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("deposit stats %s..%s differ:\nrollups %+v\nrecords %+v", rg[0], rg[1], got.Totals, want.Totals)
		}
	}
}
