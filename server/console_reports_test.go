package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// uploadFile puts a file with content into the file input sel.
func (h *consoleH) uploadFile(sel, name, content string) {
	h.t.Helper()
	p := filepath.Join(h.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.run(chromedp.SetUploadFiles(sel, []string{p}, chromedp.ByQuery))
}

// Journeys 8 and 7 in the browser: a history CSV with bad rows is refused row by
// row (nothing imported), the corrected file is previewed and committed (checked
// in MySQL; a second commit adds nothing), then that year's report shows the
// imported figures — the same as the API's — in tables and drawn charts, downloads
// as CSV, and prints on A4.
func TestConsoleImportAndReport(t *testing.T) {
	h := consoleHarness(t)
	a := h.app
	staffTok, _ := a.staff("reporter")
	tag := randomID("史")
	year := 2021
	good := importHeader +
		"night_school,书法" + tag + ",all,书画,党群服务中心,2021-03-05 19:00,2021-03-05 21:00,20,12,24000\n" +
		"night_school,书法" + tag + ",all,书画,党群服务中心,2021-03-12 19:00,2021-03-12 21:00,20,15,30000\n" +
		"activity,合唱" + tag + ",elderly,文艺,南天一花园活动室,2021-05-01 09:30,2021-05-01 11:00,40,38,\n"
	bad := importHeader +
		"night_school,书法" + tag + ",all,书画,党群服务中心,2021-03-05 19:00,2021-03-05 21:00,20,12,24000\n" +
		"party,联欢" + tag + ",all,文艺,党群服务中心,2021-06-01 19:00,2021-06-01 21:00,20,12,\n" +
		"activity,合唱" + tag + ",elderly,文艺,南天一花园活动室,2021-05-01 11:00,2021-05-01 09:30,40,38,\n"

	h.loginByTicket(staffTok)
	h.run(chromedp.Navigate(h.url("/console/imports")), chromedp.WaitVisible("#upload", chromedp.ByQuery))
	h.uploadFile(`#upload input[type=file]`, "台账.csv", bad)
	h.run(chromedp.Click("#check", chromedp.ByQuery), chromedp.WaitVisible("#import-errors", chromedp.ByQuery))
	if n := h.count("#import-errors tr[data-line]"); n != 2 {
		t.Fatalf("error rows: %d, want 2 (lines 3 and 4): %s", n, h.text("#import-errors"))
	}
	for _, line := range []string{"3", "4"} {
		if h.count(`#import-errors tr[data-line="`+line+`"]`) != 1 {
			t.Fatalf("line %s not listed: %s", line, h.text("#import-errors"))
		}
	}
	h.screenshot("imports-errors")
	if n := a.sqlInt(`SELECT COUNT(*) FROM programs WHERE title LIKE ?`, "%"+tag); n != 0 {
		t.Fatalf("a refused file created %d programs", n)
	}

	h.uploadFile(`#upload input[type=file]`, "台账.csv", "\ufeff"+good)
	h.run(chromedp.Click("#check", chromedp.ByQuery), chromedp.WaitVisible("#import-preview", chromedp.ByQuery))
	if got := h.text("#preview-new"); got != "3" {
		t.Fatalf("preview says %s new sessions", got)
	}
	h.screenshot("imports-preview")
	h.run(chromedp.Click("#commit", chromedp.ByQuery), chromedp.WaitVisible("#flash .flash.ok", chromedp.ByQuery))
	sessions, attendances, fees := importedSessions(t, a, tag)
	if sessions != 3 || attendances != 65 || fees != 54000 {
		t.Fatalf("imported: %d sessions, %d attendances, %d fen", sessions, attendances, fees)
	}
	// The same file again: the preview says nothing is new, the commit adds nothing.
	h.uploadFile(`#upload input[type=file]`, "台账.csv", good)
	h.run(chromedp.Click("#check", chromedp.ByQuery), chromedp.WaitVisible("#import-preview", chromedp.ByQuery))
	if got := h.text("#preview-dup"); got != "3" {
		t.Fatalf("re-import preview: %s duplicates", got)
	}
	h.run(chromedp.Click("#commit", chromedp.ByQuery), chromedp.WaitVisible("#flash .flash.ok", chromedp.ByQuery))
	if s, _, _ := importedSessions(t, a, tag); s != 3 {
		t.Fatalf("a re-import added sessions: %d", s)
	}

	// The report for that year: the API's figures, in tables and charts.
	r := a.do("GET", "/api/v1/staff/reports/annual?year="+strconv.Itoa(year), staffTok, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("API report: %d", r.Status)
	}
	var api struct {
		NightSchool struct {
			SessionsHeld int   `json:"sessions_held"`
			Attendances  int   `json:"attendances"`
			FeesFen      int64 `json:"fees_fen"`
		} `json:"night_school"`
		ElderlyActivities struct {
			SessionsHeld int `json:"sessions_held"`
			Attendances  int `json:"attendances"`
		} `json:"elderly_activities"`
	}
	if err := json.Unmarshal(r.Body, &api); err != nil {
		t.Fatal(err)
	}
	if api.NightSchool.SessionsHeld < 2 || api.ElderlyActivities.Attendances < 38 {
		t.Fatalf("API report lacks the import: %s", r.Body)
	}
	h.run(chromedp.Navigate(h.url(fmt.Sprintf("/console/reports?year=%d", year))), chromedp.WaitVisible("#annual", chromedp.ByQuery))
	var rendered bool
	h.run(chromedp.Poll(`document.querySelectorAll(".chart[data-rendered] svg").length === 5`, &rendered, chromedp.WithPollingTimeout(5*time.Second)))
	row := h.text("#annual tbody tr:first-child")
	for _, want := range []string{strconv.Itoa(api.NightSchool.SessionsHeld), strconv.Itoa(api.NightSchool.Attendances), yuanText(api.NightSchool.FeesFen)} {
		if !strings.Contains(row, want) {
			t.Fatalf("night-school row %q lacks %s (API %+v)", row, want, api.NightSchool)
		}
	}
	if !strings.Contains(h.text("#annual tbody tr:nth-child(2)"), strconv.Itoa(api.ElderlyActivities.Attendances)) {
		t.Fatalf("elderly row lacks %d", api.ElderlyActivities.Attendances)
	}
	h.screenshot("reports")

	// CSV download: the same figures, with a BOM for Excel.
	var csv string
	h.run(chromedp.Evaluate(fmt.Sprintf(`fetch("/console/reports.csv?year=%d").then(r => r.text())`, year), &csv,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	var head []int
	h.run(chromedp.Evaluate(fmt.Sprintf(`fetch("/console/reports.csv?year=%d").then(r => r.arrayBuffer()).then(b => Array.from(new Uint8Array(b).slice(0, 3)))`, year), &head,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	if fmt.Sprint(head) != "[239 187 191]" {
		t.Fatalf("CSV starts with %v, want the UTF-8 BOM", head)
	}
	if !strings.HasPrefix(strings.TrimPrefix(csv, "\ufeff"), "板块,指标,数值") || !strings.Contains(csv, fmt.Sprintf("青年夜校,sessions_held,%d", api.NightSchool.SessionsHeld)) ||
		!strings.Contains(csv, "民意速办按时率,accept") {
		t.Fatalf("CSV: %.300q", csv)
	}

	// Printing: A4 portrait, the two sections on two pages, no navigation.
	var pdf []byte
	h.run(chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		pdf, _, err = page.PrintToPDF().WithPreferCSSPageSize(true).WithPrintBackground(false).Do(ctx)
		return err
	}))
	if pages := bytes.Count(pdf, []byte("/Type /Page\n")) + bytes.Count(pdf, []byte("/Type /Page\r")) + bytes.Count(pdf, []byte("/Type /Page ")) + bytes.Count(pdf, []byte("/Type /Page>")); pages < 1 || pages > 2 {
		t.Fatalf("printed report: %d pages, want 1 or 2", pages)
	}
	var w, hgt float64
	if _, err := fmt.Sscanf(firstMediaBox(pdf), "/MediaBox [0 0 %f %f]", &w, &hgt); err != nil || w < 593 || w > 597 || hgt < 840 || hgt > 844 {
		t.Fatalf("printed report is not A4 portrait (595 x 842 pt): %q", firstMediaBox(pdf))
	}
	if dir := os.Getenv("CONSOLE_SHOTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "reports-print.pdf"), pdf, 0o644)
	}
	// A bad year is a clear 400 page, not a 500.
	h.run(chromedp.Navigate(h.url("/console/reports?year=1999")))
	if !strings.Contains(h.text("main"), "2000 到 2100") {
		t.Fatalf("bad year page: %q", h.text("main"))
	}
}

func yuanText(fen int64) string {
	if fen%100 == 0 {
		return strconv.FormatInt(fen/100, 10)
	}
	return fmt.Sprintf("%d.%02d", fen/100, fen%100)
}

func firstMediaBox(pdf []byte) string {
	i := bytes.Index(pdf, []byte("/MediaBox"))
	if i < 0 {
		return ""
	}
	return string(pdf[i:min(len(pdf), i+40)])
}
