package console

import (
	"html"
	"html/template"
	"strconv"
	"strings"
	"time"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/booking"
	"nantian/models/catalog"
	"nantian/models/complaint"
	"nantian/models/desk"
	"nantian/models/points"
)

// The long tables — a day's 200 sessions, a 300-place roster, the approval and
// complaint queues of up to 200 lines — are written here in Go, one string per
// table body, instead of by html/template row by row. A profile of Today with
// 200 sessions spent three quarters of the page's time in html/template: each
// {{...}} in a row is a reflective call plus one to an escaper, so a 200-row
// table cost about 4,000 of them (10 ms of CPU on this machine). Here each
// value is escaped once with html.EscapeString (which covers text and quoted
// attribute values alike: & < > " '), every attribute is quoted, and links
// carry only numbers. The surrounding page stays a template; the markup of a
// row is the one the template had, so the browser tests and the stylesheet see
// the same page. A test renders hostile values through every table.

// markup builds trusted HTML: raw for the fixed markup written here, text
// for every value.
type markup struct{ strings.Builder }

func (m *markup) raw(s string)  { m.WriteString(s) }
func (m *markup) text(s string) { m.WriteString(html.EscapeString(s)) }
func (m *markup) id(n int64)    { m.WriteString(strconv.FormatInt(n, 10)) }
func (m *markup) num(n int)     { m.WriteString(strconv.Itoa(n)) }
func (m *markup) html() template.HTML {
	return template.HTML(m.String()) // every value went through text, id or num
}

// rowsOf writes one table body, a row of each item; size is about how many
// bytes a row takes, so the builder grows once.
func rowsOf[T any](items []T, size int, row func(m *markup, item T)) template.HTML {
	var m markup
	m.Grow(len(items) * size)
	for _, it := range items {
		row(&m, it)
	}
	return m.html()
}

// stamp formats the local date and time of t as the tables show it ("01-02 15:04").
func (c *Console) stamp(t time.Time) string { return t.In(c.d.Loc).Format("01-02 15:04") }

// clock formats the local wall-clock time of t, as the templates' hm does.
func (c *Console) clock(t time.Time) string { return t.In(c.d.Loc).Format("15:04") }

// daySessionRows is the body of a day's session table. board adds Today's
// extra columns (the fill meter and the pending approvals).
func (c *Console) daySessionRows(sessions []desk.DaySession, board bool) template.HTML {
	return rowsOf(sessions, 700, func(m *markup, s desk.DaySession) {
		if s.Status == catalog.SessionCancelled {
			m.raw(`<tr class="dim">`)
		} else {
			m.raw(`<tr class="">`)
		}
		m.raw(`<td class="time">`)
		m.raw(c.clock(s.StartsAt))
		m.raw(`–`)
		m.raw(c.clock(s.EndsAt))
		m.raw(`</td><td><a href="/console/sessions/`)
		m.id(s.ID)
		m.raw(`">`)
		m.text(s.ProgramTitle)
		m.raw(`</a> <span class="tag">`)
		m.text(kindText[s.Kind])
		m.raw(`</span></td><td>`)
		m.text(s.Venue)
		m.raw(`</td><td class="num big">`)
		m.num(s.Booked)
		m.raw(` <small>/ `)
		m.num(s.Capacity)
		m.raw(`</small></td>`)
		if board {
			m.raw(`<td class="meter-cell"><div class="meter" title="`)
			m.num(s.Booked)
			m.raw(` / `)
			m.num(s.Capacity)
			m.raw(`"><span style="width: `)
			m.num(fillPct(s.Booked, s.Capacity))
			m.raw(`%"></span></div></td>`)
		}
		m.raw(`<td class="num">`)
		m.num(s.Waitlisted)
		m.raw(`</td>`)
		if board {
			m.raw(`<td class="num">`)
			if s.Pending > 0 {
				m.raw(`<a class="badge warn" href="/console/approvals?session=`)
				m.id(s.ID)
				m.raw(`">`)
				m.num(s.Pending)
				m.raw(`</a>`)
			} else {
				m.raw(`0`)
			}
			m.raw(`</td>`)
		}
		m.raw(`<td class="num">`)
		m.num(s.Attended)
		m.raw(`</td><td><span class="st st-`)
		m.text(s.Status)
		m.raw(`">`)
		m.text(sessionStatusText[s.Status])
		m.raw(`</span></td><td><a class="btn small" href="/console/sessions/`)
		m.id(s.ID)
		m.raw(`">签到台</a></td></tr>`)
		m.raw("\n")
	})
}

// fillPct is how full a session is, 0–100 (the templates' pct).
func fillPct(a, b int) int {
	if b <= 0 {
		return 0
	}
	return min(a*100/b, 100)
}

// rosterRows is the body of the desk's roster table.
func (c *Console) rosterRows(rows []booking.RosterRow) template.HTML {
	return rowsOf(rows, 300, func(m *markup, r booking.RosterRow) {
		m.raw(`<tr data-code="`)
		m.text(r.Code)
		m.raw(`"><td><code>`)
		m.text(r.Code)
		m.raw(`</code></td><td>`)
		switch {
		case r.Child != "":
			m.raw(`<b>`)
			m.text(r.Child)
			m.raw(`</b> <span class="muted">（`)
			m.text(r.Resident)
			m.raw(`）</span>`)
		case r.Resident != "":
			m.raw(`<b>`)
			m.text(r.Resident)
			m.raw(`</b>`)
		default: // no name given: the account, as the check-in answer names it
			m.raw(`<b>居民 #`)
			m.id(r.UserID)
			m.raw(`</b>`)
		}
		m.raw(`</td><td class="muted">`)
		m.text(r.Phone)
		m.raw(`</td><td><span class="st st-`)
		m.text(r.Status)
		m.raw(`">`)
		m.text(bookingStatusText[r.Status])
		m.raw(`</span></td><td>`)
		if r.CheckedInAt != nil {
			m.raw(c.stamp(*r.CheckedInAt))
		}
		m.raw("</td></tr>\n")
	})
}

// approvalRows is the body of the approval queue's table.
func (c *Console) approvalRows(items []desk.PendingBooking) template.HTML {
	return rowsOf(items, 1400, func(m *markup, b desk.PendingBooking) {
		id := strconv.FormatInt(b.ID, 10)
		m.raw(`<tr data-booking="` + id + `">`)
		m.raw(`<td class="check"><input type="checkbox" name="ids" value="` + id + `" aria-label="选择 #` + id + `"></td>`)
		m.raw(`<td class="time">`)
		m.raw(c.stamp(b.CreatedAt))
		m.raw(`</td><td><b>`)
		m.text(b.ProgramTitle)
		m.raw(`</b> <span class="tag">`)
		m.text(kindText[b.Kind])
		m.raw(`</span><br><span class="muted">`)
		st := b.StartsAt.In(c.d.Loc)
		m.raw(st.Format("2006-01-02") + " " + weekdays[st.Weekday()] + " " + st.Format("15:04"))
		m.raw(`</span></td><td>`)
		if b.Child != "" {
			m.raw(`<b>`)
			m.text(b.Child)
			m.raw(`</b> <span class="muted">当天 `)
			m.text(b.ChildAge)
			m.raw(`</span>`)
		} else {
			m.raw(`<b>`)
			m.text(b.Guardian)
			m.raw(`</b>`)
		}
		m.raw(`</td><td>`)
		m.text(b.Guardian)
		m.raw(` <span class="muted">`)
		m.text(b.GuardianPhone)
		m.raw(`</span></td><td class="num">`)
		if b.FeeFen != 0 {
			m.raw(`¥` + yuan(b.FeeFen))
		} else {
			m.raw(`免费`)
		}
		m.raw(`</td><td><div class="bar">`)
		m.raw(`<button class="btn small ok" type="submit" name="one" value="` + id + `">确认</button>`)
		m.raw(`<input name="reason-` + id + `" placeholder="拒绝原因" maxlength="200" size="14" aria-label="#` + id + ` 拒绝原因">`)
		m.raw(`<button class="btn small danger" type="submit" name="reject" value="` + id + `" formaction="/console/approvals/reject">拒绝</button>`)
		m.raw("</div></td></tr>\n")
	})
}

// complaintRows is the body of the complaint queue's table; now is the
// moment the countdowns start from.
func (c *Console) complaintRows(items []complaint.QueueItem, now time.Time) template.HTML {
	return rowsOf(items, 900, func(m *markup, it complaint.QueueItem) {
		id := strconv.FormatInt(it.ID, 10)
		class := ""
		switch {
		case it.Overdue:
			class = "overdue"
		case it.Step != "" && int(it.DueAt.Sub(now)/time.Minute) < 6:
			class = "soon"
		}
		m.raw(`<tr class="` + class + `" data-complaint="` + id + `">`)
		m.raw(`<td class="num"><a href="/console/complaints/` + id + `">#` + id + `</a></td><td class="due">`)
		if it.Step != "" {
			m.raw(`<span class="step">`)
			m.text(stepText[it.Step])
			m.raw(`</span> <b data-due="` + strconv.FormatInt(it.DueAt.UnixMilli(), 10) + `">`)
			m.text(remainText(it.DueAt, now))
			m.raw(`</b> <small>`)
			m.raw(c.stamp(it.DueAt))
			m.raw(`</small>`)
		} else {
			m.raw(`<span class="muted">—</span>`)
		}
		m.raw(`</td><td><span class="st st-c-`)
		m.text(it.Status)
		m.raw(`">`)
		m.text(complaintStatusText[it.Status])
		m.raw(`</span>`)
		if it.NeedsReview {
			m.raw(` <span class="tag">待审核</span>`)
		}
		m.raw(`</td><td>`)
		m.text(it.Category)
		m.raw(`</td><td>`)
		m.text(it.Estate)
		if it.Location != "" {
			m.raw(` · `)
			m.text(it.Location)
		}
		m.raw(`</td><td class="clip">`)
		m.text(it.Content)
		if n := len(it.PhotoIDs); n > 0 {
			m.raw(` <span class="tag">` + strconv.Itoa(n) + ` 张照片</span>`)
		}
		m.raw(`</td><td class="time">`)
		m.raw(c.stamp(it.CreatedAt))
		m.raw(`</td><td><a class="btn small" href="/console/complaints/` + id + `">处理</a></td></tr>`)
		m.raw("\n")
	})
}

// waitingRows is the body of the points desk's list of rewards waiting to be
// picked up.
func (c *Console) waitingRows(items []points.Redemption) template.HTML {
	return rowsOf(items, 260, func(m *markup, d points.Redemption) {
		m.raw(`<tr><td class="code">`)
		m.text(d.PickupCode)
		m.raw(`</td><td class="wrap">`)
		m.text(d.RewardName)
		m.raw(`</td><td class="num">`)
		m.num(d.CostPoints)
		m.raw(`</td><td class="nw">`)
		m.raw(c.stamp(d.CreatedAt))
		by := d.PickupBy.In(c.d.Loc)
		m.raw(`</td><td class="nw" title="` + by.Format("2006-01-02") + `">` + by.Format("01-02") + "</td></tr>\n")
	})
}

// userRows is the body of the admin's user table, each line with its role
// form (carrying the session's form token, and the search to come back to).
func (c *Console) userRows(users []account.User, roles []string, meID int64, query, csrf string) template.HTML {
	back := "/console/admin/users"
	if query != "" {
		back += "?q=" + query
	}
	return rowsOf(users, 1100, func(m *markup, u account.User) {
		id := strconv.FormatInt(u.ID, 10)
		m.raw(`<tr data-user="` + id + `"><td class="num">#` + id + `</td><td><b>`)
		m.text(residentName(u))
		m.raw(`</b>`)
		if u.ID == meID {
			m.raw(` <span class="tag">我</span>`)
		}
		m.raw(`</td><td>`)
		m.text(u.Estate)
		m.raw(`</td><td>`)
		if u.Phone != nil {
			m.text(models.MaskPhone(*u.Phone))
		}
		m.raw(`</td><td>`)
		m.raw(u.CreatedAt.In(c.d.Loc).Format("2006-01-02"))
		m.raw(`</td><td><span class="st st-role-`)
		m.text(u.Role)
		m.raw(`">`)
		m.text(roleText[u.Role])
		m.raw(`</span></td><td><form method="post" action="/console/admin/users/` + id + `/role" class="bar tight">`)
		m.raw(`<input type="hidden" name="csrf" value="`)
		m.text(csrf)
		m.raw(`"><input type="hidden" name="back" value="`)
		m.text(back)
		m.raw(`"><select name="role" aria-label="新角色">`)
		for _, r := range roles {
			m.raw(`<option value="`)
			m.text(r)
			if r == u.Role {
				m.raw(`" selected>`)
			} else {
				m.raw(`" >`)
			}
			m.text(roleText[r])
			m.raw(`</option>`)
		}
		m.raw(`</select><button class="btn small" type="submit">保存</button></form></td></tr>` + "\n")
	})
}
