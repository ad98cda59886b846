package main

// Issue 14 item 9: staff lists mask a complaint's contact phone (the full number
// only on the detail page, and that read audited), and staff cannot open a
// resident's photo before it is attached to a complaint.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"nantian/models"
	"nantian/models/complaint"
)

func TestStaffSeeContactPhonesMaskedExceptAuditedDetail(t *testing.T) {
	a := newTestApp(t)
	res, _ := a.resident("cp-res")
	staffTok, staffID := a.staff("cp-staff")
	adminTok, _ := a.staff("cp-admin", "admin")
	phone := newPhone()
	id := a.fileComplaint(res, map[string]any{"contact_phone": phone})
	masked := models.MaskPhone(phone)
	contactReads := func() int {
		return a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE action = ? AND target = ?`, complaint.ActionReadContact, fmt.Sprintf("complaint_id=%d", id))
	}

	// The queue, a step's answer and the audit trail of that step: masked.
	r := a.do("GET", "/api/v1/staff/complaints?limit=100", staffTok, nil)
	if r.Status != http.StatusOK || strings.Contains(string(r.Body), phone) || !strings.Contains(string(r.Body), masked) {
		t.Fatalf("staff list shows the full phone or no masked one: %d %.400s", r.Status, r.Body)
	}
	r = a.step(staffTok, cpath(id, "accept"), map[string]any{}, http.StatusOK)
	if strings.Contains(string(r.Body), phone) {
		t.Fatalf("a step's answer shows the full phone: %s", r.Body)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE INSTR(CONCAT(COALESCE(request_body,''), COALESCE(before_body,''), COALESCE(response_body,'')), ?) > 0`, phone); n != 0 {
		t.Fatalf("%d audit entries hold the full phone", n)
	}
	if contactReads() != 0 {
		t.Fatal("a masked read was audited as a contact read")
	}

	// The filer sees their own number, unaudited.
	if c := a.complaint(res, id); c.ContactPhone != phone || contactReads() != 0 {
		t.Fatalf("filer: %q, %d contact reads", c.ContactPhone, contactReads())
	}
	// The detail page shows staff the full number, and the read is in the audit log
	// as this staff member on this route.
	if c := a.complaint(staffTok, id); c.ContactPhone != phone {
		t.Fatalf("staff detail: %q, want the full number", c.ContactPhone)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE action = ? AND target = ? AND actor_id = ? AND actor_role = 'staff'
		AND JSON_VALUE(request_body, '$.route') = 'GET /api/v1/complaints/:id'`, complaint.ActionReadContact, fmt.Sprintf("complaint_id=%d", id), staffID); n != 1 {
		t.Fatalf("%d audited contact reads by the staff member, want 1", n)
	}
	a.complaint(adminTok, id)
	if contactReads() != 2 {
		t.Fatalf("%d contact reads after the admin's, want 2", contactReads())
	}
}

func TestStaffCannotOpenDraftPhotos(t *testing.T) {
	a := newTestApp(t)
	res, _ := a.resident("draft-res")
	staffTok, _ := a.staff("draft-staff")
	draft := a.uploadPhoto(res)
	path := fmt.Sprintf("/api/v1/uploads/%d", draft)
	if r := a.do("GET", path, staffTok, nil); r.Status != http.StatusNotFound {
		t.Fatalf("staff opened a draft photo: %d", r.Status)
	}
	if r := a.do("GET", path, res, nil); r.Status != http.StatusOK {
		t.Fatalf("the owner could not open their draft: %d", r.Status)
	}
	a.fileComplaint(res, map[string]any{"photo_ids": []int64{draft}})
	if r := a.do("GET", path, staffTok, nil); r.Status != http.StatusOK {
		t.Fatalf("staff could not open an attached photo: %d", r.Status)
	}
}
