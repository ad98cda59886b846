package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"nantian/models"
	"nantian/models/account"
)

// Journey 9 — Admin: users and their roles, and the audit log with filters.
// Admins only; staff get 403 (Console.admin).

type adminUsersView struct {
	Query, Role string
	Users       []account.User
	Roles       []string
	MeID        int64
}

func (c *Console) adminUsersPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := adminUsersView{Query: q.Get("q"), Role: q.Get("role"), Roles: []string{models.RoleResident, models.RoleStaff, models.RoleAdmin},
		MeID: callerOf(r).UserID}
	var err error
	if v.Users, err = c.d.Users.List(r.Context(), account.UserFilter{Role: v.Role, Query: v.Query, Limit: 100}); err != nil {
		c.failErr(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "admin_users", c.newView(r, "用户与角色", "admin", v))
}

// setRole changes a user's role (the API's PUT /admin/users/{id}/role): the same
// domain operation with its last-admin guard, then the cached principal is
// dropped so the change applies on the user's next request — and a console
// session of a lowered user ends there.
func (c *Console) setRole(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	back := "/console/admin/users"
	if ref := r.FormValue("back"); strings.HasPrefix(ref, "/console/admin/users") {
		back = ref
	}
	if !ok {
		c.fail(w, r, http.StatusNotFound, "用户不存在")
		return
	}
	u, err := c.d.Ops.Admin.SetRole(r.Context(), c.actor(w, r), id, r.FormValue("role"))
	if err != nil {
		c.refused(w, r, back, err)
		return
	}
	c.done(w, r, back, residentName(u)+" 的角色已改为"+roleText[u.Role])
}

var roleText = map[string]string{models.RoleResident: "居民", models.RoleStaff: "工作人员", models.RoleAdmin: "管理员"}

// auditQuery is the audit log's filter as it appears in the URL.
type auditQuery struct {
	Actor, Action, From, To string
}

type auditView struct {
	Query   auditQuery
	Entries []auditRow
	More    string // link to the next page, "" when this is the last
	Error   string
}

type auditRow struct {
	models.AuditEntry
	Actor string
}

// pretty indents a JSON body for reading.
func pretty(b json.RawMessage) string {
	if len(b) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return string(out)
}

const auditPage = 50

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := auditView{Query: auditQuery{Actor: q.Get("actor"), Action: q.Get("action"), From: q.Get("from"), To: q.Get("to")}}
	f := models.AuditFilter{Action: strings.TrimSpace(v.Query.Action), Page: models.Page{Limit: auditPage + 1}}
	var problems []string
	if s := strings.TrimPrefix(strings.TrimSpace(v.Query.Actor), "#"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			problems = append(problems, "操作人请填账号编号（数字）")
		}
		f.ActorID = id
	}
	for _, d := range []struct {
		s    string
		dst  **time.Time
		next bool
	}{{v.Query.From, &f.From, false}, {v.Query.To, &f.To, true}} {
		if d.s == "" {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02", d.s, c.d.Loc)
		if err != nil || t.Year() < 2000 || t.Year() > 2100 {
			problems = append(problems, "日期格式应为 2024-03-05")
			continue
		}
		if d.next { // "to" is inclusive: up to the end of that day
			t = t.AddDate(0, 0, 1)
		}
		*d.dst = &t
	}
	if after, err := strconv.ParseInt(q.Get("after"), 10, 64); err == nil && after > 0 {
		f.Page.AfterID = after
	}
	if len(problems) > 0 {
		v.Error = strings.Join(problems, "；")
		c.page(w, r, http.StatusBadRequest, "admin_audit", c.newView(r, "审计日志", "audit", v))
		return
	}
	entries, err := c.d.Audit.List(r.Context(), f)
	if err != nil {
		c.failErr(w, r, err)
		return
	}
	if len(entries) > auditPage {
		entries = entries[:auditPage]
		next := url.Values{}
		for k, s := range map[string]string{"actor": v.Query.Actor, "action": v.Query.Action, "from": v.Query.From, "to": v.Query.To} {
			if s != "" {
				next.Set(k, s)
			}
		}
		next.Set("after", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		v.More = "/console/admin/audit?" + next.Encode()
	}
	names := map[int64]string{}
	for _, e := range entries {
		row := auditRow{AuditEntry: e}
		if e.ActorID > 0 {
			if _, ok := names[e.ActorID]; !ok {
				if u, err := c.d.Users.Get(r.Context(), e.ActorID); err == nil {
					names[e.ActorID] = residentName(u)
				} else {
					names[e.ActorID] = "#" + strconv.FormatInt(e.ActorID, 10)
				}
			}
			row.Actor = names[e.ActorID]
		}
		v.Entries = append(v.Entries, row)
	}
	c.page(w, r, http.StatusOK, "admin_audit", c.newView(r, "审计日志", "audit", v))
}
