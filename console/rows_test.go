package console

import (
	"bytes"
	"html/template"
	"regexp"
	"strings"
	"testing"
	"time"

	"nantian/models/account"
	"nantian/models/booking"
	"nantian/models/complaint"
	"nantian/models/desk"
	"nantian/models/points"
)

// The row markup the page templates had before the long tables moved to Go
// (rows.go), kept here as the reference: Go's rows must be the same HTML,
// with every value escaped the same way. (One change since: a roster line
// without a name says "居民 #12", as the check-in answer does.)
const (
	refDayRows = `{{range .}}<tr class="{{if eq .Status "cancelled"}}dim{{end}}">
      <td class="time">{{hm .StartsAt}}–{{hm .EndsAt}}</td>
      <td><a href="/console/sessions/{{.ID}}">{{.ProgramTitle}}</a> <span class="tag">{{kindText .Kind}}</span></td>
      <td>{{.Venue}}</td>
      <td class="num big">{{.Booked}} <small>/ {{.Capacity}}</small></td>
      <td class="meter-cell"><div class="meter" title="{{.Booked}} / {{.Capacity}}"><span style="width: {{pct .Booked .Capacity}}%"></span></div></td>
      <td class="num">{{.Waitlisted}}</td>
      <td class="num">{{if .Pending}}<a class="badge warn" href="/console/approvals?session={{.ID}}">{{.Pending}}</a>{{else}}0{{end}}</td>
      <td class="num">{{.Attended}}</td>
      <td><span class="st st-{{.Status}}">{{sessionText .Status}}</span></td>
      <td><a class="btn small" href="/console/sessions/{{.ID}}">签到台</a></td>
    </tr>{{end}}`
	refSessionsRows = `{{range .}}<tr class="{{if eq .Status "cancelled"}}dim{{end}}">
      <td class="time">{{hm .StartsAt}}–{{hm .EndsAt}}</td>
      <td><a href="/console/sessions/{{.ID}}">{{.ProgramTitle}}</a> <span class="tag">{{kindText .Kind}}</span></td>
      <td>{{.Venue}}</td>
      <td class="num big">{{.Booked}} <small>/ {{.Capacity}}</small></td>
      <td class="num">{{.Waitlisted}}</td>
      <td class="num">{{.Attended}}</td>
      <td><span class="st st-{{.Status}}">{{sessionText .Status}}</span></td>
      <td><a class="btn small" href="/console/sessions/{{.ID}}">签到台</a></td>
    </tr>{{end}}`
	refRosterRows   = `{{range .}}<tr data-code="{{.Code}}"><td><code>{{.Code}}</code></td><td>{{if .Child}}<b>{{.Child}}</b> <span class="muted">（{{.Resident}}）</span>{{else}}<b>{{if .Resident}}{{.Resident}}{{else}}居民 #{{.UserID}}{{end}}</b>{{end}}</td><td class="muted">{{.Phone}}</td><td><span class="st st-{{.Status}}">{{bookingText .Status}}</span></td><td>{{dtp .CheckedInAt}}</td></tr>{{end}}`
	refApprovalRows = `{{range .}}<tr data-booking="{{.ID}}">
      <td class="check"><input type="checkbox" name="ids" value="{{.ID}}" aria-label="选择 #{{.ID}}"></td>
      <td class="time">{{dt .CreatedAt}}</td>
      <td><b>{{.ProgramTitle}}</b> <span class="tag">{{kindText .Kind}}</span><br><span class="muted">{{date .StartsAt}} {{weekday .StartsAt}} {{hm .StartsAt}}</span></td>
      <td>{{if .Child}}<b>{{.Child}}</b> <span class="muted">当天 {{.ChildAge}}</span>{{else}}<b>{{.Guardian}}</b>{{end}}</td>
      <td>{{.Guardian}} <span class="muted">{{.GuardianPhone}}</span></td>
      <td class="num">{{if .FeeFen}}¥{{yuan .FeeFen}}{{else}}免费{{end}}</td>
      <td>
        <div class="bar">
          <button class="btn small ok" type="submit" name="one" value="{{.ID}}">确认</button>
          <input name="reason-{{.ID}}" placeholder="拒绝原因" maxlength="200" size="14" aria-label="#{{.ID}} 拒绝原因">
          <button class="btn small danger" type="submit" name="reject" value="{{.ID}}" formaction="/console/approvals/reject">拒绝</button>
        </div>
      </td>
    </tr>{{end}}`
	refComplaintRows = `{{range .Items}}<tr class="{{if .Overdue}}overdue{{else if .Step}}{{if lt (minutesLeft .DueAt $.Now) 6}}soon{{end}}{{end}}" data-complaint="{{.ID}}">
      <td class="num"><a href="/console/complaints/{{.ID}}">#{{.ID}}</a></td>
      <td class="due">{{if .Step}}<span class="step">{{stepText .Step}}</span> <b data-due="{{unixms .DueAt}}">{{remain .DueAt $.Now}}</b> <small>{{dt .DueAt}}</small>{{else}}<span class="muted">—</span>{{end}}</td>
      <td><span class="st st-c-{{.Status}}">{{complaintText .Status}}</span>{{if .NeedsReview}} <span class="tag">待审核</span>{{end}}</td>
      <td>{{.Category}}</td>
      <td>{{.Estate}}{{with .Location}} · {{.}}{{end}}</td>
      <td class="clip">{{.Content}}{{with .PhotoIDs}} <span class="tag">{{len .}} 张照片</span>{{end}}</td>
      <td class="time">{{dt .CreatedAt}}</td>
      <td><a class="btn small" href="/console/complaints/{{.ID}}">处理</a></td>
    </tr>{{end}}`
)

const (
	refWaitingRows = `{{range .}}<tr><td class="code">{{.PickupCode}}</td><td class="wrap">{{.RewardName}}</td><td class="num">{{.CostPoints}}</td><td class="nw">{{dt .CreatedAt}}</td><td class="nw" title="{{date .PickupBy}}">{{md .PickupBy}}</td></tr>{{end}}`
	refUserRows    = `{{range .Users}}<tr data-user="{{.ID}}">
      <td class="num">#{{.ID}}</td>
      <td><b>{{userName .}}</b>{{if eq .ID $.MeID}} <span class="tag">我</span>{{end}}</td>
      <td>{{.Estate}}</td>
      <td>{{with .Phone}}{{maskPhone .}}{{end}}</td>
      <td>{{date .CreatedAt}}</td>
      <td><span class="st st-role-{{.Role}}">{{roleText .Role}}</span></td>
      <td>
        <form method="post" action="/console/admin/users/{{.ID}}/role" class="bar tight">
          <input type="hidden" name="csrf" value="{{$.CSRF}}">
          <input type="hidden" name="back" value="/console/admin/users{{with $.Query}}?q={{.}}{{end}}">
          <select name="role" aria-label="新角色">{{$role := .Role}}{{range $.Roles}}<option value="{{.}}" {{if eq $role .}}selected{{end}}>{{roleText .}}</option>{{end}}</select>
          <button class="btn small" type="submit">保存</button>
        </form>
      </td>
    </tr>{{end}}`
)

// hostile is a value that breaks out of text and of a quoted attribute if it
// is not escaped.
const hostile = `<img src=x onerror="alert(1)">&'+`

var betweenTags = regexp.MustCompile(`>\s*\n\s*<`)

// sameHTML compares two renderings up to line breaks (and indentation) between tags and the
// one entity html/template writes that html.EscapeString does not (+).
func sameHTML(t *testing.T, what string, got template.HTML, ref string) {
	t.Helper()
	norm := func(s string) string {
		s = strings.ReplaceAll(s, "&#43;", "+")
		return strings.TrimSpace(betweenTags.ReplaceAllString(s, "><"))
	}
	if g, w := norm(string(got)), norm(ref); g != w {
		t.Fatalf("%s rows differ from the template's:\n got %s\nwant %s", what, g, w)
	}
	if strings.Contains(string(got), "<img") || strings.Contains(string(got), `"alert`) {
		t.Fatalf("%s rows let a value out unescaped: %s", what, got)
	}
}

func renderRef(t *testing.T, c *Console, src string, data any) string {
	t.Helper()
	tm := template.Must(template.New("ref").Funcs(c.funcs()).Parse(src))
	var b bytes.Buffer
	if err := tm.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRowsMatchTheTemplates(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Deps{Env: "test", Loc: loc, Complaints: &complaint.Complaints{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 4, 21, 30, 0, 0, time.UTC) // 05:30 the next day in Shanghai
	sessions := []desk.DaySession{
		{ID: 7, ProgramTitle: hostile, Kind: "activity", StartsAt: start, EndsAt: start.Add(90 * time.Minute), Venue: hostile,
			Capacity: 20, Booked: 25, Waitlisted: 3, Pending: 2, Attended: 1, Status: "open"},
		{ID: 8, ProgramTitle: "夜校", Kind: "night_school", StartsAt: start, EndsAt: start.Add(time.Hour), Capacity: 0, Status: "cancelled"},
	}
	sameHTML(t, "today", c.daySessionRows(sessions, true), renderRef(t, c, refDayRows, sessions))
	sameHTML(t, "sessions", c.daySessionRows(sessions, false), renderRef(t, c, refSessionsRows, sessions))
	if !strings.Contains(string(c.daySessionRows(sessions, true)), "05:30–07:00") {
		t.Fatal("session times are not in Asia/Shanghai")
	}

	in := start.Add(-5 * time.Minute)
	roster := []booking.RosterRow{
		{Code: hostile, Status: "attended", Resident: hostile, Phone: "139****1234", CheckedInAt: &in},
		{Code: "B2", Status: "confirmed", Resident: "王秀英", Child: hostile},
		{Code: "B3", Status: "pending", UserID: 42},
	}
	sameHTML(t, "roster", c.rosterRows(roster), renderRef(t, c, refRosterRows, roster))

	pending := []desk.PendingBooking{
		{ID: 11, CreatedAt: start, StartsAt: start, ProgramTitle: hostile, Kind: "childcare", FeeFen: 1250, Guardian: hostile, GuardianPhone: hostile, Child: hostile, ChildAge: hostile},
		{ID: 12, CreatedAt: start, StartsAt: start, ProgramTitle: "长者声乐", Kind: "activity", Guardian: "李阿婆"},
	}
	sameHTML(t, "approvals", c.approvalRows(pending), renderRef(t, c, refApprovalRows, pending))

	waiting := []points.Redemption{
		{PickupCode: hostile, RewardName: hostile, CostPoints: 30, CreatedAt: start, PickupBy: start.Add(30 * 24 * time.Hour)},
		{PickupCode: "WKPWCJAG", RewardName: "环保袋", CostPoints: 50, CreatedAt: start, PickupBy: start},
	}
	sameHTML(t, "waiting", c.waitingRows(waiting), renderRef(t, c, refWaitingRows, waiting))

	phone := "13912345678"
	roles := []string{"resident", "staff", "admin"}
	users := []account.User{
		{ID: 1, Role: "admin", CreatedAt: start},
		{ID: 2, Role: "resident", RealName: hostile, Estate: hostile, Phone: &phone, CreatedAt: start},
		{ID: 3, Role: "staff", Nickname: "前台小周", CreatedAt: start},
	}
	for _, q := range []string{"", hostile} {
		sameHTML(t, "users", c.userRows(users, roles, 1, q, hostile), renderRef(t, c, refUserRows, struct {
			Users       []account.User
			Roles       []string
			MeID        int64
			Query, CSRF string
		}{users, roles, 1, q, hostile}))
	}

	now := start
	items := []complaint.QueueItem{
		{Complaint: complaint.Complaint{ID: 21, Status: "submitted", Category: hostile, Estate: hostile, Location: hostile, Content: hostile,
			NeedsReview: true, PhotoIDs: []int64{1, 2}, CreatedAt: start}, Step: "accept", DueAt: now.Add(3 * time.Minute)},
		{Complaint: complaint.Complaint{ID: 22, Status: "accepted", Overdue: true, CreatedAt: start}, Step: "contact", DueAt: now.Add(-2 * time.Hour)},
		{Complaint: complaint.Complaint{ID: 23, Status: "contacted", CreatedAt: start}, Step: "resolve", DueAt: now.Add(20 * time.Hour)},
		{Complaint: complaint.Complaint{ID: 24, Status: "resolved", CreatedAt: start}},
	}
	sameHTML(t, "complaints", c.complaintRows(items, now), renderRef(t, c, refComplaintRows, struct {
		Items []complaint.QueueItem
		Now   time.Time
	}{items, now}))
}
