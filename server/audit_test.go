package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestAuditLogRecordsStaffActions(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("audit-staff")
	adminTok, _ := a.staff("audit-admin", "admin")
	_, residentID := a.resident("audit-res")

	pid := a.createProgram(staffTok, map[string]any{"kind": "activity", "title": "审计测试活动"})
	a.do("PATCH", fmt.Sprintf("/api/v1/staff/programs/%d", pid), staffTok, map[string]any{"venue": "邻里之家"})
	a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", residentID), adminTok, map[string]any{"role": "resident"})
	a.do("GET", "/api/v1/programs", staffTok, nil) // reads are not audited

	r := a.do("GET", fmt.Sprintf("/api/v1/admin/audit?actor_id=%d", staffID), adminTok, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	var out struct {
		Items []struct {
			ActorID      int64          `json:"actor_id"`
			ActorRole    string         `json:"actor_role"`
			Action       string         `json:"action"`
			Target       string         `json:"target"`
			Status       int            `json:"status"`
			RequestBody  map[string]any `json:"request_body"`
			BeforeBody   map[string]any `json:"before_body"`
			ResponseBody map[string]any `json:"response_body"`
		}
	}
	r.Decode(t, &out)
	if len(out.Items) != 2 {
		t.Fatalf("want 2 entries for the staff member, got %d: %s", len(out.Items), r.Body)
	}
	patch, create := out.Items[0], out.Items[1] // newest first
	if create.BeforeBody != nil {
		t.Fatalf("a create has no before-state: %+v", create.BeforeBody)
	}
	if create.Action != "POST /api/v1/staff/programs" || create.Status != 201 || create.ActorRole != "staff" ||
		create.RequestBody["title"] != "审计测试活动" || create.ResponseBody["id"] != float64(pid) {
		t.Fatalf("create entry: %+v", create)
	}
	if patch.Action != "PATCH /api/v1/staff/programs/:id" || patch.Target != fmt.Sprintf("id=%d", pid) || patch.ResponseBody["venue"] != "邻里之家" ||
		patch.BeforeBody == nil || patch.BeforeBody["venue"] != "" || patch.BeforeBody["title"] != "审计测试活动" {
		t.Fatalf("patch entry: %+v", patch)
	}
	r = a.do("GET", "/api/v1/admin/audit?action=/role", adminTok, nil)
	if !strings.Contains(string(r.Body), `"actor_role":"admin"`) || !strings.Contains(string(r.Body), `"before_body":{`) {
		t.Fatalf("admin action missing: %s", r.Body)
	}
	if r := a.do("GET", "/api/v1/admin/audit", staffTok, nil); r.Status != http.StatusForbidden {
		t.Fatalf("staff read audit: %d", r.Status)
	}
	if r := a.do("GET", "/api/v1/admin/audit?from=yesterday", adminTok, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad from: %d", r.Status)
	}
}
