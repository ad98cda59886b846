package main

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestConsolePrograms drives journey 4 in the browser: create a program, edit
// it, add one session, then a weekly series previewed first — its dates in
// Asia/Shanghai, yesterday's flagged as past, two flagged as clashing (with the
// single session and with another program's session in the same room) — and
// save it with one clashing date ticked by hand. The database must hold
// exactly the ticked sessions, the API's cached program read must show them at
// once (the cache was invalidated), and every creation is audited. A series
// saved twice at once (a double click) creates its sessions once.
func TestConsolePrograms(t *testing.T) {
	h := consoleHarness(t)
	staffTok, staffID := h.app.staff("planner")
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(sh)
	day := func(offset int, hh, mm int) time.Time {
		return time.Date(now.Year(), now.Month(), now.Day()+offset, hh, mm, 0, 0, sh)
	}
	// Another program already uses the room two weeks on, 19:30–20:00.
	other := h.app.createProgram(staffTok, map[string]any{"kind": "activity", "title": "合唱团", "venue": "党群服务中心 3 楼"})
	if r := h.app.do("POST", fmt.Sprintf("/api/v1/staff/programs/%d/sessions", other), staffTok, map[string]any{
		"starts_at": day(13, 19, 30).Format(time.RFC3339), "ends_at": day(13, 20, 0).Format(time.RFC3339), "capacity": 30,
	}); r.Status != http.StatusCreated {
		t.Fatalf("other session: %d %s", r.Status, r.Body)
	}

	h.loginByTicket(staffTok)
	h.run(chromedp.Navigate(h.url("/console/programs")))
	h.waitText("h1", "项目")
	h.run(
		chromedp.SetValue(`#new-program select[name=kind]`, "night_school", chromedp.ByQuery),
		chromedp.SetValue(`#new-program input[name=title]`, "青年夜校·书法", chromedp.ByQuery),
		chromedp.SetValue(`#new-program input[name=venue]`, "党群服务中心 3 楼", chromedp.ByQuery),
		chromedp.SetValue(`#new-program input[name=fee]`, "30", chromedp.ByQuery),
		chromedp.SetValue(`#new-program input[name=category]`, "艺术", chromedp.ByQuery),
		chromedp.Click(`#new-program button[type=submit]`, chromedp.ByQuery),
	)
	h.waitText(".flash", "项目已创建")
	pid := int64(h.app.sqlInt(`SELECT id FROM programs WHERE title = '青年夜校·书法'`))
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM programs WHERE id = ? AND kind = 'night_school' AND fee_fen = 3000 AND requires_approval = 1
		AND venue = '党群服务中心 3 楼' AND category = '艺术' AND status = 'active'`, pid); n != 1 {
		t.Fatal("program not stored as typed (fee in fen, approval by kind)")
	}
	if p := h.path(); p != fmt.Sprintf("/console/programs/%d", pid) {
		t.Fatalf("after create at %s", p)
	}

	// Edit: new title, no approval, a fee of 12.50. Then a refused edit
	// (an empty title) changes nothing.
	h.run(
		chromedp.SetValue(`#edit-program input[name=title]`, "青年夜校·硬笔书法", chromedp.ByQuery),
		chromedp.SetValue(`#edit-program select[name=approval]`, "no", chromedp.ByQuery),
		chromedp.SetValue(`#edit-program input[name=fee]`, "12.5", chromedp.ByQuery),
		chromedp.Click(`#edit-program button[type=submit]`, chromedp.ByQuery),
	)
	h.waitText(".flash", "项目已保存")
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM programs WHERE id = ? AND title = '青年夜校·硬笔书法' AND requires_approval = 0 AND fee_fen = 1250`, pid); n != 1 {
		t.Fatal("edit not stored")
	}
	h.run(
		chromedp.Evaluate(`document.querySelector("#edit-program input[name=title]").removeAttribute("required")`, nil),
		chromedp.SetValue(`#edit-program input[name=title]`, "  ", chromedp.ByQuery),
		chromedp.Click(`#edit-program button[type=submit]`, chromedp.ByQuery),
	)
	h.waitText(".flash", "名称")
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM programs WHERE id = ? AND title = '青年夜校·硬笔书法'`, pid); n != 1 {
		t.Fatal("a refused edit changed the title")
	}

	// One session, three weeks on (a Shanghai wall-clock time).
	single := day(20, 19, 0)
	h.run(
		chromedp.SetValue(`#one-session input[name=starts_at]`, single.Format("2006-01-02T15:04"), chromedp.ByQuery),
		chromedp.SetValue(`#one-session input[name=ends_at]`, single.Add(90*time.Minute).Format("2006-01-02T15:04"), chromedp.ByQuery),
		chromedp.SetValue(`#one-session input[name=capacity]`, "12", chromedp.ByQuery),
		chromedp.Click(`#one-session button[type=submit]`, chromedp.ByQuery),
	)
	h.waitText(".flash", "已添加场次")
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM sessions WHERE program_id = ? AND starts_at = ? AND capacity = 12 AND venue = '党群服务中心 3 楼'`,
		pid, single.UTC()); n != 1 {
		t.Fatal("single session not stored at its Shanghai time")
	}
	// Warm the API's program cache: saving the series must invalidate it.
	if r := h.app.do("GET", fmt.Sprintf("/api/v1/programs/%d", pid), "", nil); r.Status != http.StatusOK || len(r.JSON(t)["sessions"].([]any)) != 1 {
		t.Fatalf("program read: %d %s", r.Status, r.Body)
	}

	// The series: from yesterday, on yesterday's weekday, 8 weeks,
	// 19:00–20:30, 20 places.
	from := day(-1, 0, 0)
	h.run(chromedp.Evaluate(fmt.Sprintf(`(() => {
		const f = document.querySelector("#series");
		f.querySelectorAll("input[name=day]").forEach(b => b.checked = b.value === "%d");
		f.from.value = %q; f.weeks.value = "8"; f.start.value = "19:00"; f.end.value = "20:30"; f.capacity.value = "20";
		f.requestSubmit();
	})()`, int(from.Weekday()), from.Format("2006-01-02")), nil))
	h.waitText("#plan h2", "预览：8 个日期")
	rows := h.text("#plan tbody")
	for i := 0; i < 8; i++ {
		d := day(-1+7*i, 19, 0)
		if !strings.Contains(rows, d.Format("2006-01-02")+" "+[]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}[d.Weekday()]) {
			t.Fatalf("preview misses %s:\n%s", d.Format("2006-01-02"), rows)
		}
	}
	var past, clash, ticked int
	h.run(
		chromedp.Evaluate(`document.querySelectorAll("#plan [data-flag=past]").length`, &past),
		chromedp.Evaluate(`document.querySelectorAll("#plan [data-flag=clash]").length`, &clash),
		chromedp.Evaluate(`document.querySelectorAll("#plan input[name=pick]:checked").length`, &ticked),
	)
	if past != 1 || clash != 2 || ticked != 5 {
		t.Fatalf("preview flags: past %d clash %d ticked %d, want 1 2 5:\n%s", past, clash, ticked, rows)
	}
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM sessions WHERE program_id = ?`, pid); n != 1 {
		t.Fatalf("the preview wrote %d sessions", n-1)
	}
	h.screenshot("programs-series-preview")
	// Tick the date clashing with the other program too (a room shared on
	// purpose), then save.
	clashKey := fmt.Sprint(day(13, 19, 0).Unix())
	h.run(chromedp.Click(fmt.Sprintf(`#plan input[name=pick][value="%s"]`, clashKey), chromedp.ByQuery),
		chromedp.Click(`#save-series`, chromedp.ByQuery))
	h.waitText(".flash", "已创建 6 场")
	h.screenshot("program")

	var want []string
	want = append(want, single.UTC().Format(time.DateTime))
	for _, i := range []int{1, 2, 4, 5, 6, 7} { // week 0 past, week 3 is the single session's
		want = append(want, day(-1+7*i, 19, 0).UTC().Format(time.DateTime))
	}
	sort.Strings(want)
	var got []string
	rs, err := h.app.app.db.Query(`SELECT DATE_FORMAT(starts_at, '%Y-%m-%d %H:%i:%s') FROM sessions WHERE program_id = ? ORDER BY starts_at`, pid)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	rs.Close()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("sessions stored:\n%v\nwant\n%v", got, want)
	}
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM sessions WHERE program_id = ? AND capacity = 20 AND TIMESTAMPDIFF(MINUTE, starts_at, ends_at) = 90 AND status = 'open'`, pid); n != 6 {
		t.Fatalf("%d series sessions with 20 places and 90 minutes, want 6", n)
	}
	if r := h.app.do("GET", fmt.Sprintf("/api/v1/programs/%d", pid), "", nil); len(r.JSON(t)["sessions"].([]any)) != 7 {
		t.Fatalf("the API's cached program read was not invalidated: %s", r.Body)
	}
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? AND action = 'POST /api/v1/staff/programs/:id/sessions' AND door = 'console' AND target = ? AND status = 201`,
		staffID, fmt.Sprintf("id=%d", pid)); n != 7 {
		t.Fatalf("%d session creations audited, want 7", n)
	}
	// The create and the edit, each once, as done (the refused edit, an empty
	// title, is refused by the form's check before any operation runs, as a
	// malformed body is at the API's door: no operation, no entry).
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? AND action = 'POST /api/v1/staff/programs' AND door = 'console' AND status = 201 AND before_body IS NULL AND response_body IS NOT NULL`, staffID); n != 1 {
		t.Fatalf("%d program creations audited, want 1", n)
	}
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? AND action = 'PATCH /api/v1/staff/programs/:id' AND door = 'console' AND target = ? AND status = 200
		AND JSON_VALUE(before_body, '$.title') <> JSON_VALUE(response_body, '$.title')`, staffID, fmt.Sprintf("id=%d", pid)); n != 1 {
		t.Fatalf("%d program edits audited with before and after, want 1", n)
	}
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? AND action = 'PATCH /api/v1/staff/programs/:id'`, staffID); n != 1 {
		t.Fatalf("%d program edit entries, want 1 (the refused edit ran no operation)", n)
	}

	// A double click: the same preview's save form posted twice at once.
	// One creates the two mornings, the other finds the plan changed.
	h.run(chromedp.Evaluate(`(() => {
		const f = document.querySelector("#series");
		f.querySelectorAll("input[name=day]").forEach(b => b.checked = b.value === "6");
		f.weeks.value = "2"; f.start.value = "09:00"; f.end.value = "10:00"; f.from.value = "`+day(1, 0, 0).Format("2006-01-02")+`";
		f.requestSubmit();
	})()`, nil))
	h.waitText("#plan h2", "预览：2 个日期")
	var statuses []int
	h.run(chromedp.Evaluate(`(async () => {
		const f = document.querySelector("#plan form");
		const post = () => fetch(f.action, {method: "POST", body: new URLSearchParams(new FormData(f)), redirect: "manual"}).then(r => r.status);
		return await Promise.all([post(), post()]);
	})()`, &statuses, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	sort.Ints(statuses)
	if len(statuses) != 2 || statuses[0] != 0 || statuses[1] != http.StatusConflict { // 0: the opaque 303 of the save
		t.Fatalf("double save answered %v, want one redirect and one 409", statuses)
	}
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM sessions WHERE program_id = ? AND TIME(CONVERT_TZ(starts_at, '+00:00', '+08:00')) = '09:00:00'`, pid); n != 2 {
		t.Fatalf("%d morning sessions after a double save, want 2", n)
	}

	// A bad series (end before start) is refused in words, nothing written.
	h.run(chromedp.Navigate(h.url(fmt.Sprintf("/console/programs/%d/series?day=2&start=20:00&end=19:00&from=%s&weeks=2&capacity=5",
		pid, day(1, 0, 0).Format("2006-01-02")))))
	h.waitText(".flash", "结束时间必须晚于开始时间")
	if n := h.app.sqlInt(`SELECT COUNT(*) FROM sessions WHERE program_id = ?`, pid); n != 9 {
		t.Fatalf("%d sessions, want 9", n)
	}
	h.run(chromedp.Navigate(h.url("/console/programs")))
	h.waitText("#programs", "青年夜校·硬笔书法")
	h.screenshot("programs")
}
