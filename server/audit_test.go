package main

import (
	"context"
	"fmt"
	"nantian/models"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
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

// The audit log masks phone numbers and removes secrets whatever JSON type
// they arrive as. A phone typed as a number is a 400 at the API's door: no
// operation runs, so nothing is audited and nothing of it is stored anywhere
// in audit_log. (The middleware that audited raw request bodies, refused ones
// too, is gone: entries are written by the operations from what they decoded.)
// What an operation hands the log with a phone or a secret as a number is
// masked all the same.
func TestAuditMasksPhoneSentAsNumber(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("rv-audit-desk")
	phone := newPhone()
	body := `{"real_name": "钱阿姨", "phone": ` + phone + `, "device_secret": 12345678901234}`
	wantStatus(t, a.do("POST", "/api/v1/staff/residents", staffTok, body), http.StatusBadRequest, "invalid_request")
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? OR INSTR(CONCAT(COALESCE(request_body,''), COALESCE(before_body,''), COALESCE(response_body,'')), ?) > 0`, staffID, phone); n != 0 {
		t.Fatalf("a request refused at the door left %d audit entries", n)
	}
	actor := models.Actor{UserID: staffID, Role: models.RoleStaff, Door: models.DoorCLI}
	n, _ := strconv.ParseInt(phone, 10, 64)
	if err := a.app.audit.Write(context.Background(), a.app.db, actor, models.Change{Action: "test.numbers", Target: "id=1",
		Input: map[string]any{"real_name": "钱阿姨", "phone": n, "device_secret": int64(12345678901234)}}); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := a.app.db.QueryRow(`SELECT COALESCE(request_body, '') FROM audit_log WHERE actor_id = ? ORDER BY id DESC LIMIT 1`, staffID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored == "" || !strings.Contains(stored, "钱阿姨") {
		t.Fatalf("input not audited: %q", stored)
	}
	if strings.Contains(stored, phone) || strings.Contains(stored, "12345678901234") {
		t.Fatalf("audit_log holds a phone number or secret in clear: %s", stored)
	}
	if !strings.Contains(stored, phone[len(phone)-4:]) {
		t.Fatalf("phone not masked to its last four digits: %s", stored)
	}
}

// A staff action is audited even when the client hangs up as the answer is
// written: the action happened, so its entry must exist (hanging up used to be
// a way to act without leaving a trace).
func TestAuditRecordedAfterClientHangsUp(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("rv-audit-hangup")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest("POST", "/api/v1/staff/programs", strings.NewReader(`{"kind": "activity", "title": "挂断测试"}`)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+staffTok)
	w := cancelOnWrite{httptest.NewRecorder(), cancel}
	a.app.handler.ServeHTTP(w, req)
	if w.Code != http.StatusCreated {
		t.Fatalf("create program: %d %s", w.Code, w.Body)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE actor_id = ? AND action = 'POST /api/v1/staff/programs' AND status = 201`, staffID); n != 1 {
		t.Fatalf("audit entries for the action = %d, want 1", n)
	}
}

// A child registered at the desk is audited without the child's name in clear,
// the emergency contact's number or the allergies (health data).
func TestAuditMasksChildData(t *testing.T) {
	a := newTestApp(t)
	staff, staffID := a.staff("childaudit")
	admin, _ := a.staff("childaudit-admin", "admin")
	r := a.do("POST", "/api/v1/staff/residents", staff, map[string]any{"real_name": "李阿婆", "phone": fmt.Sprintf("135%08d", time.Now().UnixNano()%1e8)})
	if r.Status != http.StatusCreated {
		t.Fatalf("walk-in: %d %s", r.Status, r.Body)
	}
	rid := int64(r.JSON(t)["id"].(float64))
	r = a.do("POST", fmt.Sprintf("/api/v1/staff/residents/%d/children", rid), staff, map[string]any{
		"name": "王小宝", "birth_date": "2024-05-01", "emergency_contact": "妈妈 13912345678", "allergies": "青霉素过敏", "guardian_consent": true})
	if r.Status != http.StatusCreated {
		t.Fatalf("child: %d %s", r.Status, r.Body)
	}
	r = a.do("GET", fmt.Sprintf("/api/v1/admin/audit?actor_id=%d&action=children", staffID), admin, nil)
	body := string(r.Body)
	if r.Status != http.StatusOK || !strings.Contains(body, "王**") || strings.Contains(body, "王小宝") || strings.Contains(body, "13912345678") || strings.Contains(body, "青霉素") {
		t.Fatalf("audit of the child: %d %s", r.Status, body)
	}
}
