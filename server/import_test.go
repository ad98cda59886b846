package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const importPath = "/api/v1/staff/imports/sessions"

const importHeader = "kind,title,audience,category,venue,starts_at,ends_at,capacity,attendances,fees_fen\n"

func importCSV(a *testApp, token, csv string) response {
	a.t.Helper()
	return a.do("POST", importPath, token, csv, "Content-Type", "text/csv; charset=utf-8")
}

type importCounts struct {
	Imported          int `json:"imported"`
	SkippedDuplicates int `json:"skipped_duplicates"`
}

// importedSessions counts imported sessions whose program title contains tag.
func importedSessions(t *testing.T, a *testApp, tag string) (sessions, attendances int, fees int64) {
	t.Helper()
	err := a.app.db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(si.attendances), 0), COALESCE(SUM(si.fees_fen), 0)
		FROM session_imports si JOIN sessions s ON s.id = si.session_id JOIN programs p ON p.id = s.program_id
		WHERE p.title LIKE ?`, "%"+tag+"%").Scan(&sessions, &attendances, &fees)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestImportReimportIdempotent(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("importer")
	tag := fmt.Sprintf("T%d", time.Now().UnixNano())
	// An existing live program with the same identity as the night-school rows:
	// history joins it instead of creating a second one.
	liveID := a.createProgram(staffTok, map[string]any{
		"kind": "night_school", "title": "书法" + tag, "category": "书画", "audience": "all", "venue": "党群服务中心",
	})
	csv := "\xef\xbb\xbf" + importHeader +
		"night_school,书法" + tag + ",all,书画,党群服务中心,2024-03-05 19:00,2024-03-05 21:00,20,12,24000\n" +
		"night_school,书法" + tag + ",all,书画,党群服务中心,2024-03-12 19:00,2024-03-12 21:00,20,15,30000\n" +
		"activity,\"长者合唱, " + tag + "\",elderly,文艺,\"南天一花园, 活动室\",2024-05-01 09:30,2024-05-01 11:00,40,38,\n" +
		"\n" // a trailing blank line is fine
	r := importCSV(a, staffTok, csv)
	if r.Status != http.StatusCreated {
		t.Fatalf("import: %d %s", r.Status, r.Body)
	}
	var got importCounts
	r.Decode(t, &got)
	if got != (importCounts{3, 0}) {
		t.Fatalf("counts %+v", got)
	}
	n, att, fees := importedSessions(t, a, tag)
	if n != 3 || att != 65 || fees != 54000 {
		t.Fatalf("stored %d sessions, %d attendances, %d fen", n, att, fees)
	}
	// The night-school sessions joined the live program; the choir got a new,
	// archived one. Sessions are closed, times are Asia/Shanghai read as UTC.
	var liveSessions int
	var firstStart time.Time
	if err := a.app.db.QueryRow(`SELECT COUNT(*), MIN(starts_at) FROM sessions WHERE program_id = ? AND status = 'closed' AND capacity = 20`, liveID).
		Scan(&liveSessions, &firstStart); err != nil {
		t.Fatal(err)
	}
	if liveSessions != 2 || !firstStart.Equal(time.Date(2024, 3, 5, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("live program has %d imported sessions, first at %s", liveSessions, firstStart)
	}
	var status, venue string
	if err := a.app.db.QueryRow(`SELECT p.status, s.venue FROM programs p JOIN sessions s ON s.program_id = p.id WHERE p.title = ?`, "长者合唱, "+tag).
		Scan(&status, &venue); err != nil {
		t.Fatal(err)
	}
	if status != "archived" || venue != "南天一花园, 活动室" {
		t.Fatalf("choir program %s, venue %q", status, venue)
	}

	// The same file again: nothing new.
	r = importCSV(a, staffTok, csv)
	if r.Status != http.StatusOK {
		t.Fatalf("re-import: %d %s", r.Status, r.Body)
	}
	r.Decode(t, &got)
	if got != (importCounts{0, 3}) {
		t.Fatalf("re-import counts %+v", got)
	}
	// Same rows spaced differently plus one new row: only the new one.
	csv2 := importHeader +
		"night_school, 书法" + tag + " ,all,书画,党群服务中心,2024-03-05 19:00,2024-03-05 21:00,20,12,24000\n" +
		"night_school,书法" + tag + ",all,书画,党群服务中心,2024-03-19 19:00,2024-03-19 21:00,20,9,18000\n"
	r = importCSV(a, staffTok, csv2)
	r.Decode(t, &got)
	if r.Status != http.StatusCreated || got != (importCounts{1, 1}) {
		t.Fatalf("partial re-import: %d %+v", r.Status, got)
	}
	if n, _, _ := importedSessions(t, a, tag); n != 4 {
		t.Fatalf("%d imported sessions after re-imports, want 4", n)
	}
	var programs int
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM programs WHERE title LIKE ?`, "%"+tag+"%").Scan(&programs); err != nil {
		t.Fatal(err)
	}
	if programs != 2 {
		t.Fatalf("%d programs, want 2", programs)
	}
}

func TestImportBadFileAllLines(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("importer")
	tag := fmt.Sprintf("B%d", time.Now().UnixNano())
	good := "activity,好行" + tag + ",all,文艺,活动室,2024-06-01 09:00,2024-06-01 10:00,10,5,0\n"
	csv := importHeader +
		good + // line 2
		"yoga,坏类型" + tag + ",all,,活动室,2024-06-01 09:00,2024-06-01 10:00,10,5,0\n" + // 3
		good[:len(good)-1] + "0\n" + // 4: fees 00 is fine
		"activity,坏时间" + tag + ",all,,活动室,2024/06/01 9点,2024-06-01 10:00,10,5,0\n" + // 5
		"activity,超员" + tag + ",elderly,,活动室,2024-06-01 09:00,2024-06-01 10:00,10,11,0\n" + // 6
		"activity,少列" + tag + ",elderly,,活动室,2024-06-01 09:00\n" + // 7
		"activity,倒序" + tag + ",youth,,活动室,2024-06-01 10:00,2024-06-01 09:00,0,-1,abc\n" // 8
	r := importCSV(a, staffTok, csv)
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "import_invalid" {
		t.Fatalf("bad import: %d %s", r.Status, r.Body)
	}
	var body struct {
		Error struct {
			Rows []struct {
				Line   int    `json:"line"`
				Reason string `json:"reason"`
			} `json:"rows"`
		} `json:"error"`
	}
	r.Decode(t, &body)
	var lines []int
	reasons := map[int]string{}
	for _, row := range body.Error.Rows {
		lines = append(lines, row.Line)
		reasons[row.Line] = row.Reason
	}
	sort.Ints(lines)
	if fmt.Sprint(lines) != "[3 5 6 7 8]" {
		t.Fatalf("bad lines %v: %s", lines, r.Body)
	}
	for line, want := range map[int][]string{
		3: {"kind"}, 5: {"starts_at"}, 6: {"attendances"}, 7: {"列"},
		8: {"ends_at", "capacity", "attendances", "fees_fen"},
	} {
		for _, w := range want {
			if !strings.Contains(reasons[line], w) {
				t.Errorf("line %d reason %q does not mention %s", line, reasons[line], w)
			}
		}
	}
	if n, _, _ := importedSessions(t, a, tag); n != 0 {
		t.Fatalf("a bad file imported %d sessions", n)
	}
	var programs int
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM programs WHERE title LIKE ?`, "%"+tag+"%").Scan(&programs); err != nil {
		t.Fatal(err)
	}
	if programs != 0 {
		t.Fatalf("a bad file created %d programs", programs)
	}

	// A wrong header is line 1; an empty file and a header alone are invalid too.
	for name, bad := range map[string]string{
		"header":      "kind,title,audience,category,venue,start,ends_at,capacity,attendances\n" + good,
		"missing col": "kind,title,audience,category,venue,starts_at,ends_at,capacity\n",
		"only header": importHeader,
		"empty":       "",
		"not utf8":    importHeader + "activity,\xff\xfe,all,,x,2024-06-01 09:00,2024-06-01 10:00,1,1,0\n",
		"bad quote":   importHeader + "activity,\"unclosed,all,,x,2024-06-01 09:00,2024-06-01 10:00,1,1,0\n",
	} {
		r := importCSV(a, staffTok, bad)
		if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "import_invalid" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
}

func TestImportFiveThousandRows(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("importer")
	tag := fmt.Sprintf("K%d", time.Now().UnixNano())
	var b strings.Builder
	b.WriteString(importHeader)
	start := time.Date(2024, 1, 1, 19, 0, 0, 0, time.UTC)
	for i := 0; i < 5000; i++ {
		d := start.Add(time.Duration(i) * 2 * time.Hour)
		fmt.Fprintf(&b, "night_school,\"夜校第%d门课程，内容较长的标题用来接近真实表格的行宽 %s\",all,综合,南天社区党群服务中心二楼多功能教室,%s,%s,30,%d,%d\n",
			i%40, tag, d.Format("2006-01-02 15:04"), d.Add(90*time.Minute).Format("2006-01-02 15:04"), i%31, (i%31)*500)
	}
	csv := b.String()
	t0 := time.Now()
	r := importCSV(a, staffTok, csv)
	took := time.Since(t0)
	if r.Status != http.StatusCreated {
		t.Fatalf("5,000 rows: %d %.300s", r.Status, r.Body)
	}
	var got importCounts
	r.Decode(t, &got)
	if got != (importCounts{5000, 0}) {
		t.Fatalf("counts %+v", got)
	}
	if n, _, _ := importedSessions(t, a, tag); n != 5000 {
		t.Fatalf("stored %d", n)
	}
	t.Logf("5,000 rows, %d bytes, imported in %s", len(csv), took)

	// One row more is refused whole; more than 5 MiB is refused before parsing.
	over := csv + "night_school,多一行" + tag + ",all,,x,2025-01-01 19:00,2025-01-01 20:00,1,1,0\n"
	if r := importCSV(a, staffTok, over); r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "import_too_many_rows" {
		t.Fatalf("5,001 rows: %d %.300s", r.Status, r.Body)
	}
	huge := importHeader + strings.Repeat("#", 5<<20)
	if r := importCSV(a, staffTok, huge); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("6 MiB: %d %.300s", r.Status, r.Body)
	}
}

func TestImportMultipartAndAccess(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("importer")
	resTok, _ := a.resident("resident")
	tag := fmt.Sprintf("M%d", time.Now().UnixNano())
	csv := importHeader + "childcare,托育" + tag + ",children,托育,百花园托育点,2024-09-02 08:30,2024-09-02 11:30,15,12,\n"

	multipartBody := func(field string) ([]byte, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("note", "2024 托育台账")
		fw, _ := mw.CreateFormFile(field, "2024.csv")
		fw.Write([]byte(csv))
		mw.Close()
		return buf.Bytes(), mw.FormDataContentType()
	}

	if r := importCSV(a, resTok, csv); r.Status != http.StatusForbidden {
		t.Fatalf("resident: %d", r.Status)
	}
	if r := importCSV(a, "", csv); r.Status != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", r.Status)
	}
	body, ct := multipartBody("upload")
	if r := a.do("POST", importPath, staffTok, body, "Content-Type", ct); r.Status != http.StatusBadRequest {
		t.Fatalf("multipart without file: %d %s", r.Status, r.Body)
	}
	if r := a.do("POST", importPath, staffTok, csv); r.Status != http.StatusBadRequest {
		t.Fatalf("JSON content type: %d %s", r.Status, r.Body)
	}
	if n, _, _ := importedSessions(t, a, tag); n != 0 {
		t.Fatalf("refused requests imported %d", n)
	}
	body, ct = multipartBody("file")
	r := a.do("POST", importPath, staffTok, body, "Content-Type", ct)
	if r.Status != http.StatusCreated {
		t.Fatalf("multipart: %d %s", r.Status, r.Body)
	}
	if n, att, _ := importedSessions(t, a, tag); n != 1 || att != 12 {
		t.Fatalf("multipart stored %d sessions, %d attendances", n, att)
	}
}

// Many staff importing the same file at once (several instances, double clicks):
// every row is stored once and no program is created twice.
func TestImportConcurrentSameFile(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("importer")
	tag := fmt.Sprintf("C%d", time.Now().UnixNano())
	var b strings.Builder
	b.WriteString(importHeader)
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "activity,活动%d-%s,all,,活动室,2024-07-%02d 09:00,2024-07-%02d 10:00,10,%d,0\n", i%5, tag, i%28+1, i%28+1, i%10)
	}
	csv := b.String()
	const clients = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	total, created := 0, 0
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := doRequest(t, a.URL, "POST", importPath, staffTok, csv, "Content-Type", "text/csv")
			var got importCounts
			if err := json.Unmarshal(r.Body, &got); err != nil || (r.Status != http.StatusOK && r.Status != http.StatusCreated) {
				t.Errorf("import: %d %s", r.Status, r.Body)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			total += got.Imported
			if r.Status == http.StatusCreated {
				created++
			}
		}()
	}
	wg.Wait()
	if total != 50 || created != 1 {
		t.Fatalf("responses say %d imported by %d requests, want 50 by 1", total, created)
	}
	if n, _, _ := importedSessions(t, a, tag); n != 50 {
		t.Fatalf("stored %d sessions, want 50", n)
	}
	var programs int
	if err := a.app.db.QueryRow(`SELECT COUNT(*) FROM programs WHERE title LIKE ?`, "%"+tag+"%").Scan(&programs); err != nil {
		t.Fatal(err)
	}
	if programs != 5 {
		t.Fatalf("%d programs, want 5", programs)
	}
}
