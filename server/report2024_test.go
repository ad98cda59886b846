package main

// The Done-when dataset: a history import whose rows reproduce 2024's published
// figures makes the 2024 annual report show exactly those numbers.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// spread splits total over n rows as evenly as integers allow.
func spread(total, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = total / n
		if i < total%n {
			out[i]++
		}
	}
	return out
}

// report2024CSV builds the rows: every session on its own day and time in 2024
// (Asia/Shanghai), plus sessions just outside the year that must not count.
func report2024CSV() string {
	var b strings.Builder
	b.WriteString(importHeader)
	day := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	at := func(i int, hour int) (string, string) {
		d := day.AddDate(0, 0, i%360)
		s := time.Date(d.Year(), d.Month(), d.Day(), hour+i/360, 0, 0, 0, time.UTC)
		return s.Format("2006-01-02 15:04"), s.Add(90 * time.Minute).Format("2006-01-02 15:04")
	}
	// 96 night-school lessons, 652 attendances, 4,012,800 fen (40,128 yuan).
	fees := spread(4_012_800, 96)
	for i, n := range spread(652, 96) {
		s, e := at(i*3, 19)
		fmt.Fprintf(&b, "night_school,夜校·%s,all,技能,党群服务中心,%s,%s,%d,%d,%d\n", []string{"书法", "摄影", "粤剧", "烘焙"}[i%4], s, e, 30, n, fees[i])
	}
	// 255 elderly activity sessions, 5,580 attendances.
	for i, n := range spread(5580, 255) {
		s, e := at(i, 9)
		fmt.Fprintf(&b, "activity,长者活动·%s,elderly,文体,长者饭堂,%s,%s,%d,%d,\n", []string{"合唱", "太极", "义诊"}[i%3], s, e, 40, n)
	}
	// 103 children's activity sessions, 1,525 attendances.
	for i, n := range spread(1525, 103) {
		s, e := at(i*3, 15)
		fmt.Fprintf(&b, "activity,四点半课堂,children,托管,儿童之家,%s,%s,%d,%d,\n", s, e, 30, n)
	}
	// Outside 2024 in Asia/Shanghai: not counted.
	b.WriteString("night_school,夜校·书法,all,技能,党群服务中心,2023-12-31 19:00,2023-12-31 21:00,30,25,90000\n")
	b.WriteString("activity,长者活动·合唱,elderly,文体,长者饭堂,2025-01-01 09:00,2025-01-01 11:00,40,33,\n")
	return b.String()
}

func TestReport2024FromImportShowsPublishedFigures(t *testing.T) {
	// Other tests import 2024 rows into the shared database; this one has its own.
	a := newPrivateDBApp(t, nil)()
	staffTok, _ := a.staff("report2024")
	csv := report2024CSV()
	r := importCSV(a, staffTok, csv)
	if r.Status != http.StatusCreated {
		t.Fatalf("import: %d %.500s", r.Status, r.Body)
	}
	var got importCounts
	r.Decode(t, &got)
	if got.Imported != 96+255+103+2 || got.SkippedDuplicates != 0 {
		t.Fatalf("import counts %+v", got)
	}

	type held struct {
		SessionsHeld int   `json:"sessions_held"`
		Attendances  int   `json:"attendances"`
		FeesFen      int64 `json:"fees_fen"`
	}
	var rep struct {
		Year               int  `json:"year"`
		NightSchool        held `json:"night_school"`
		ElderlyActivities  held `json:"elderly_activities"`
		ChildrenActivities held `json:"children_activities"`
		Childcare          held `json:"childcare"`
	}
	check := func() {
		t.Helper()
		r := a.do("GET", "/api/v1/staff/reports/annual?year=2024", staffTok, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("report: %d %s", r.Status, r.Body)
		}
		r.Decode(t, &rep)
		if rep.Year != 2024 ||
			rep.NightSchool.SessionsHeld != 96 || rep.NightSchool.Attendances != 652 || rep.NightSchool.FeesFen != 4_012_800 ||
			rep.ElderlyActivities.SessionsHeld != 255 || rep.ElderlyActivities.Attendances != 5580 ||
			rep.ChildrenActivities.SessionsHeld != 103 || rep.ChildrenActivities.Attendances != 1525 ||
			rep.Childcare.SessionsHeld != 0 || rep.Childcare.Attendances != 0 {
			t.Fatalf("2024 report %+v", rep)
		}
		if rep.NightSchool.FeesFen < 4_000_000 {
			t.Fatal("fees below the published 40,000 yuan")
		}
	}
	check()
	// Importing the same file again changes nothing.
	r = importCSV(a, staffTok, csv)
	r.Decode(t, &got)
	if r.Status != http.StatusOK || got.Imported != 0 || got.SkippedDuplicates != 96+255+103+2 {
		t.Fatalf("re-import: %d %+v", r.Status, got)
	}
	check()
	// The rows outside the year landed in 2023 and 2025.
	for year, want := range map[int]int{2023: 1, 2025: 0} {
		var other struct {
			NightSchool held `json:"night_school"`
		}
		a.do("GET", fmt.Sprintf("/api/v1/staff/reports/annual?year=%d", year), staffTok, nil).Decode(t, &other)
		if other.NightSchool.SessionsHeld != want {
			t.Fatalf("%d night school %+v", year, other.NightSchool)
		}
	}
}
