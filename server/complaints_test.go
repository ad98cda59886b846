package main

import (
	"context"
	"encoding/json"
	"fmt"
	"nantian/models"
	"nantian/models/complaint"
	"nantian/scripts/fakewechat"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// useClock makes the app's complaint store read time from a test clock starting at t.
func (a *testApp) useClock(t time.Time) *testClock {
	c := &testClock{}
	c.Set(t)
	a.app.complaints.Now = c.Now
	return c
}

// fileComplaint files a complaint with sane defaults overridden by body.
func (a *testApp) fileComplaint(token string, body map[string]any) int64 {
	a.t.Helper()
	r := a.do("POST", "/api/v1/complaints", token, complaintBody(body))
	if r.Status != http.StatusCreated {
		a.t.Fatalf("file complaint: %d %s", r.Status, r.Body)
	}
	return int64(r.JSON(a.t)["id"].(float64))
}

func complaintBody(over map[string]any) map[string]any {
	b := map[string]any{"category": "充电难", "content": "楼下电动车充电桩坏了三天", "estate": "南天一花园", "location": "3栋架空层"}
	for k, v := range over {
		b[k] = v
	}
	return b
}

// complaintJSON is the wire form of a complaint as the API returns it.
type complaintJSON = complaint.Complaint

func (a *testApp) complaint(token string, id int64) complaintJSON {
	a.t.Helper()
	r := a.do("GET", fmt.Sprintf("/api/v1/complaints/%d", id), token, nil)
	if r.Status != http.StatusOK {
		a.t.Fatalf("get complaint %d: %d %s", id, r.Status, r.Body)
	}
	var c complaintJSON
	r.Decode(a.t, &c)
	return c
}

// step posts a staff or resident action and requires want.
func (a *testApp) step(token, path string, body any, want int) response {
	a.t.Helper()
	r := a.do("POST", path, token, body)
	if r.Status != want {
		a.t.Fatalf("POST %s: %d %s, want %d", path, r.Status, r.Body, want)
	}
	return r
}

func cpath(id int64, action string) string {
	if action == "rating" || action == "reopen" {
		return fmt.Sprintf("/api/v1/complaints/%d/%s", id, action)
	}
	return fmt.Sprintf("/api/v1/staff/complaints/%d/%s", id, action)
}

func TestComplaintDeadlines(t *testing.T) {
	a := newTestApp(t)
	t0 := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	a.useClock(t0)
	alice, aliceID := a.resident("alice")
	if _, err := a.app.users.SetVerifiedPhone(context.Background(), aliceID, "13800138000"); err != nil {
		t.Fatal(err)
	}
	photo := a.uploadPhoto(alice)
	r := a.do("POST", "/api/v1/complaints", alice, complaintBody(map[string]any{"photo_ids": []int64{photo}, "status": "closed", "user_id": 1}))
	if r.Status != http.StatusCreated {
		t.Fatalf("file: %d %s", r.Status, r.Body)
	}
	var c complaintJSON
	r.Decode(t, &c)
	if c.Status != "submitted" || c.UserID != aliceID || !c.CreatedAt.Equal(t0) {
		t.Fatalf("filed = %+v", c)
	}
	if !c.AcceptDueAt.Equal(t0.Add(10*time.Minute)) || !c.ContactDueAt.Equal(t0.Add(30*time.Minute)) || !c.ResolveDueAt.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("due times %v %v %v", c.AcceptDueAt, c.ContactDueAt, c.ResolveDueAt)
	}
	if c.ContactPhone != "13800138000" || len(c.PhotoIDs) != 1 || c.PhotoIDs[0] != photo {
		t.Fatalf("phone %q photos %v", c.ContactPhone, c.PhotoIDs)
	}
	got := a.complaint(alice, c.ID)
	if len(got.Timeline) != 1 || got.Timeline[0].Status != "submitted" || got.Timeline[0].ActorRole != "resident" || !got.Timeline[0].At.Equal(t0) {
		t.Fatalf("timeline = %+v", got.Timeline)
	}
	// The resident's own photo is visible to them through the complaint.
	if r := a.do("GET", fmt.Sprintf("/api/v1/uploads/%d", photo), alice, nil); r.Status != http.StatusOK {
		t.Fatalf("own photo: %d", r.Status)
	}

	// The limits are configuration.
	b := newTestApp(t, map[string]string{"COMPLAINT_ACCEPT_WITHIN": "5m", "COMPLAINT_CONTACT_WITHIN": "1h", "COMPLAINT_RESOLVE_WITHIN": "48h"})
	b.useClock(t0)
	tok, _ := b.resident("carol")
	r = b.do("POST", "/api/v1/complaints", tok, complaintBody(map[string]any{"contact_phone": "0755-8888 1234"}))
	r.Decode(t, &c)
	if !c.AcceptDueAt.Equal(t0.Add(5*time.Minute)) || !c.ContactDueAt.Equal(t0.Add(time.Hour)) || !c.ResolveDueAt.Equal(t0.Add(48*time.Hour)) || c.ContactPhone != "0755-8888 1234" {
		t.Fatalf("configured due times %+v", c)
	}
}

func TestComplaintFilingValidation(t *testing.T) {
	a := newTestApp(t)
	alice, aliceID := a.resident("alice")
	bob, _ := a.resident("bob")
	bobPhoto := a.uploadPhoto(bob)
	used := a.uploadPhoto(alice)
	a.fileComplaint(alice, map[string]any{"photo_ids": []int64{used}})
	var ten []int64
	for range 10 {
		ten = append(ten, a.uploadPhoto(alice))
	}
	mine := a.uploadPhoto(alice)
	cases := []struct {
		name string
		body map[string]any
	}{
		{"unknown category", map[string]any{"category": "投诉"}},
		{"missing category", map[string]any{"category": nil}},
		{"empty content", map[string]any{"content": "   "}},
		{"content over 1000 chars", map[string]any{"content": strings.Repeat("漏", 1001)}},
		{"unknown estate", map[string]any{"estate": "某某花园"}},
		{"missing location", map[string]any{"location": nil}},
		{"ten photos", map[string]any{"photo_ids": ten}},
		{"another resident's photo", map[string]any{"photo_ids": []int64{mine, bobPhoto}}},
		{"photo already used", map[string]any{"photo_ids": []int64{used}}},
		{"missing photo", map[string]any{"photo_ids": []int64{999999999}}},
		{"duplicate photo", map[string]any{"photo_ids": []int64{mine, mine}}},
		{"bad phone", map[string]any{"contact_phone": "call me"}},
		{"wrong type", map[string]any{"photo_ids": "1,2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.do("POST", "/api/v1/complaints", alice, complaintBody(tc.body))
			if r.Status != http.StatusBadRequest || r.ErrorCode() != "invalid_request" {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
	}
	if r := a.do("POST", "/api/v1/complaints", alice, `{"category":`); r.Status != http.StatusBadRequest {
		t.Fatalf("malformed JSON: %d", r.Status)
	}
	// Exactly 1000 characters is fine.
	a.fileComplaint(alice, map[string]any{"content": strings.Repeat("漏", 1000), "photo_ids": []int64{mine}})
	var n, attached int
	a.app.db.QueryRow(`SELECT COUNT(*) FROM complaints WHERE user_id = ?`, aliceID).Scan(&n)
	a.app.db.QueryRow(`SELECT COUNT(*) FROM uploads WHERE user_id = ? AND complaint_id IS NOT NULL`, aliceID).Scan(&attached)
	if n != 2 || attached != 2 {
		t.Fatalf("complaints = %d, attached photos = %d; refused filings must change nothing", n, attached)
	}
}

func TestComplaintWorkflow(t *testing.T) {
	a := newTestApp(t)
	t0 := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	clk := a.useClock(t0)
	alice, aliceID := a.resident("alice")
	staff, _ := a.staff("clerk")
	id := a.fileComplaint(alice, nil)

	// Wrong order from submitted.
	a.step(staff, cpath(id, "contact"), map[string]any{"note": "x"}, http.StatusConflict)
	a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "x"}, http.StatusConflict)
	a.step(alice, cpath(id, "rating"), map[string]any{"score": 5}, http.StatusConflict)
	a.step(alice, cpath(id, "reopen"), map[string]any{"reason": "x"}, http.StatusConflict)

	clk.Set(t0.Add(4 * time.Minute))
	r := a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
	var c complaintJSON
	r.Decode(t, &c)
	if c.Status != "accepted" || !c.AcceptedAt.Equal(t0.Add(4*time.Minute)) {
		t.Fatalf("accepted = %+v", c)
	}
	if r := a.step(staff, cpath(id, "accept"), nil, http.StatusConflict); r.ErrorCode() != "invalid_transition" {
		t.Fatalf("code %s", r.ErrorCode())
	}
	a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "x"}, http.StatusConflict)
	a.step(staff, cpath(id, "contact"), map[string]any{}, http.StatusBadRequest)
	a.step(staff, cpath(id, "contact"), map[string]any{"note": "   "}, http.StatusBadRequest)

	clk.Set(t0.Add(20 * time.Minute))
	a.step(staff, cpath(id, "contact"), map[string]any{"note": "电话联系居民，约定下午上门"}, http.StatusOK)
	a.step(staff, cpath(id, "contact"), map[string]any{"note": "again"}, http.StatusConflict)
	a.step(staff, cpath(id, "accept"), nil, http.StatusConflict)
	a.step(staff, cpath(id, "resolve"), map[string]any{}, http.StatusBadRequest)

	agreement := a.uploadPhoto(staff)
	clk.Set(t0.Add(5 * time.Hour))
	r = a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "已更换充电桩", "mediation_agreement": true, "photo_ids": []int64{agreement}}, http.StatusOK)
	r.Decode(t, &c)
	if c.Status != "resolved" || !c.ResolvedAt.Equal(t0.Add(5*time.Hour)) || !c.MediationAgreement || len(c.AgreementPhotoIDs) != 1 {
		t.Fatalf("resolved = %+v", c)
	}
	// The filer may see the agreement photo staff attached.
	if r := a.do("GET", fmt.Sprintf("/api/v1/uploads/%d", agreement), alice, nil); r.Status != http.StatusOK {
		t.Fatalf("agreement photo for filer: %d", r.Status)
	}
	a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "again"}, http.StatusConflict)
	a.step(staff, cpath(id, "accept"), nil, http.StatusConflict)
	a.step(alice, cpath(id, "rating"), map[string]any{"score": 0}, http.StatusBadRequest)
	a.step(alice, cpath(id, "rating"), map[string]any{"score": 6}, http.StatusBadRequest)

	clk.Set(t0.Add(6 * time.Hour))
	r = a.step(alice, cpath(id, "rating"), map[string]any{"score": 5, "comment": "很满意"}, http.StatusOK)
	r.Decode(t, &c)
	if c.Status != "closed" || !c.ClosedAt.Equal(t0.Add(6*time.Hour)) || c.Rating == nil || *c.Rating != 5 {
		t.Fatalf("closed = %+v", c)
	}
	for _, act := range []string{"accept", "contact", "resolve"} {
		a.step(staff, cpath(id, act), map[string]any{"note": "x", "resolution": "x"}, http.StatusConflict)
	}
	a.step(alice, cpath(id, "rating"), map[string]any{"score": 1}, http.StatusConflict)
	a.step(alice, cpath(id, "reopen"), map[string]any{"reason": "x"}, http.StatusConflict)
	a.step(staff, cpath(999999999, "accept"), nil, http.StatusNotFound)

	// Timeline: roles, never staff identities.
	raw := a.do("GET", fmt.Sprintf("/api/v1/complaints/%d", id), alice, nil)
	if strings.Contains(string(raw.Body), "actor_id") || strings.Contains(string(raw.Body), "handler") {
		t.Fatalf("timeline exposes staff identity: %s", raw.Body)
	}
	got := a.complaint(alice, id)
	var steps []string
	for _, e := range got.Timeline {
		steps = append(steps, e.Status+"/"+e.ActorRole)
	}
	if strings.Join(steps, ",") != "submitted/resident,accepted/staff,contacted/staff,resolved/staff,closed/resident" {
		t.Fatalf("timeline = %v", steps)
	}
	if got.Timeline[2].Note != "电话联系居民，约定下午上门" {
		t.Fatalf("contact note = %q", got.Timeline[2].Note)
	}

	// One outbox row per status change, written with the change.
	rows, err := a.app.db.Query(`SELECT event, template_key, page, payload FROM outbox WHERE user_id = ? ORDER BY id`, aliceID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var events []string
	for rows.Next() {
		var event, key, page string
		var payload []byte
		if err := rows.Scan(&event, &key, &page, &payload); err != nil {
			t.Fatal(err)
		}
		var data map[string]string
		json.Unmarshal(payload, &data)
		if key != models.TemplateComplaintUpdate || page != fmt.Sprintf("pages/complaints/detail?id=%d", id) ||
			data["thing1"] != "充电难" || data["phrase2"] == "" || data["time3"] == "" {
			t.Fatalf("outbox row %s %s %s %v", event, key, page, data)
		}
		events = append(events, event+":"+data["phrase2"])
	}
	if strings.Join(events, ",") != "complaint_accepted:已受理,complaint_contacted:已联系,complaint_resolved:已办结,complaint_closed:已关闭" {
		t.Fatalf("outbox events = %v", events)
	}
	var tm string
	a.app.db.QueryRow(`SELECT JSON_UNQUOTE(JSON_EXTRACT(payload, '$.time3')) FROM outbox WHERE user_id = ? AND event = 'complaint_accepted'`, aliceID).Scan(&tm)
	if tm != "2025-03-03 17:04" { // 09:04 UTC in Asia/Shanghai
		t.Fatalf("time3 = %q", tm)
	}
}

// Many staff racing to accept the same order: exactly one wins, the rest get 409,
// and MySQL holds one accept step and one notification.
func TestComplaintAcceptRace(t *testing.T) {
	a := newTestApp(t)
	alice, aliceID := a.resident("alice")
	id := a.fileComplaint(alice, nil)
	var tokens []string
	for i := range 5 {
		tok, _ := a.staff(fmt.Sprintf("clerk%d", i))
		tokens = append(tokens, tok)
	}
	const n = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do("POST", cpath(id, "accept"), tokens[i%len(tokens)], nil)
			mu.Lock()
			codes[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	var events, outbox int
	a.app.db.QueryRow(`SELECT COUNT(*) FROM complaint_events WHERE complaint_id = ? AND status = 'accepted'`, id).Scan(&events)
	a.app.db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND event = 'complaint_accepted'`, aliceID).Scan(&outbox)
	if events != 1 || outbox != 1 || codes[http.StatusOK] != 1 || codes[http.StatusConflict] != n-1 {
		t.Fatalf("events %d outbox %d codes %v", events, outbox, codes)
	}
}

func TestComplaintOverdue(t *testing.T) {
	a := newTestApp(t)
	t0 := time.Date(2025, 4, 1, 2, 0, 0, 0, time.UTC)
	clk := a.useClock(t0)
	alice, _ := a.resident("alice")
	staff, _ := a.staff("clerk")
	late := a.fileComplaint(alice, map[string]any{"estate": "国城花园"})
	prompt := a.fileComplaint(alice, map[string]any{"estate": "国城花园"})
	clk.Set(t0.Add(5 * time.Minute))
	a.step(staff, cpath(prompt, "accept"), nil, http.StatusOK)

	overdue := func() map[int64]bool {
		t.Helper()
		r := a.do("GET", "/api/v1/staff/complaints?overdue=true&estate=国城花园&limit=100", staff, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		var out struct{ Items []complaintJSON }
		r.Decode(t, &out)
		m := map[int64]bool{}
		for _, c := range out.Items {
			if !c.Overdue {
				t.Fatalf("listed as overdue but overdue=false: %+v", c)
			}
			m[c.ID] = true
		}
		return m
	}
	clk.Set(t0.Add(10 * time.Minute)) // exactly at the accept deadline: not yet late
	if m := overdue(); m[late] || m[prompt] {
		t.Fatalf("at the deadline: %v", m)
	}
	clk.Set(t0.Add(11 * time.Minute))
	if m := overdue(); !m[late] || m[prompt] {
		t.Fatalf("after 11 min: %v (late %d, prompt %d)", m, late, prompt)
	}
	if c := a.complaint(alice, prompt); c.Overdue {
		t.Fatal("accepted in time and before contact deadline is not overdue")
	}
	clk.Set(t0.Add(31 * time.Minute))
	if m := overdue(); !m[late] || !m[prompt] {
		t.Fatalf("after 31 min: %v", m)
	}
	if c := a.complaint(alice, prompt); !c.Overdue {
		t.Fatal("not contacted within 30 min must be overdue")
	}
}

func TestComplaintPrivacy(t *testing.T) {
	a := newTestApp(t)
	alice, _ := a.resident("alice")
	bob, _ := a.resident("bob")
	staff, _ := a.staff("clerk")
	photo := a.uploadPhoto(alice)
	id := a.fileComplaint(alice, map[string]any{"photo_ids": []int64{photo}})
	a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
	a.step(staff, cpath(id, "contact"), map[string]any{"note": "ok"}, http.StatusOK)
	a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "done"}, http.StatusOK)

	for _, r := range []response{
		a.do("GET", fmt.Sprintf("/api/v1/complaints/%d", id), bob, nil),
		a.do("GET", fmt.Sprintf("/api/v1/uploads/%d", photo), bob, nil),
		a.do("POST", cpath(id, "rating"), bob, map[string]any{"score": 1}),
		a.do("POST", cpath(id, "reopen"), bob, map[string]any{"reason": "x"}),
		a.do("POST", cpath(id, "rating"), staff, map[string]any{"score": 1}),
	} {
		if r.Status != http.StatusNotFound || r.ErrorCode() != "not_found" {
			t.Fatalf("got %d %s, want 404", r.Status, r.Body)
		}
	}
	if c := a.complaint(alice, id); c.Status != "resolved" || c.Rating != nil {
		t.Fatalf("others' attempts changed it: %+v", c)
	}
	r := a.do("GET", "/api/v1/complaints", bob, nil)
	var list struct{ Items []complaintJSON }
	r.Decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("bob sees %d complaints", len(list.Items))
	}
	if c := a.complaint(staff, id); c.ID != id {
		t.Fatal("staff cannot read")
	}
	for _, p := range []string{"/api/v1/staff/complaints", "/api/v1/staff/complaints/stats"} {
		if r := a.do("GET", p, alice, nil); r.Status != http.StatusForbidden {
			t.Fatalf("resident on %s: %d", p, r.Status)
		}
	}
	if r := a.do("POST", cpath(id, "accept"), alice, nil); r.Status != http.StatusForbidden {
		t.Fatalf("resident accept: %d", r.Status)
	}
}

func TestComplaintListsAndPaging(t *testing.T) {
	a := newIsolatedTestApp(t)
	alice, _ := a.resident("alice")
	bob, _ := a.resident("bob")
	staff, _ := a.staff("clerk")
	var ids []int64
	for i := range 5 {
		ids = append(ids, a.fileComplaint(alice, map[string]any{"category": []string{"噪音扰民", "环境卫生"}[i%2], "estate": "百花园二期"}))
	}
	a.fileComplaint(bob, map[string]any{"estate": "百花园二期"})
	a.step(staff, cpath(ids[0], "accept"), nil, http.StatusOK)

	var seen []int64
	cursor := ""
	for page := 0; page < 5; page++ {
		r := a.do("GET", "/api/v1/complaints?limit=2&cursor="+cursor, alice, nil)
		var out struct {
			Items      []complaintJSON
			NextCursor string `json:"next_cursor"`
		}
		r.Decode(t, &out)
		for _, c := range out.Items {
			seen = append(seen, c.ID)
		}
		if out.NextCursor == "" {
			break
		}
		cursor = out.NextCursor
	}
	if fmt.Sprint(seen) != fmt.Sprint([]int64{ids[4], ids[3], ids[2], ids[1], ids[0]}) {
		t.Fatalf("paged = %v, want newest first %v", seen, ids)
	}
	r := a.do("GET", "/api/v1/complaints?status=accepted", alice, nil)
	var out struct{ Items []complaintJSON }
	r.Decode(t, &out)
	if len(out.Items) != 1 || out.Items[0].ID != ids[0] {
		t.Fatalf("status filter: %+v", out.Items)
	}
	today := time.Now().In(a.app.cfg.Location).Format("2006-01-02")
	r = a.do("GET", "/api/v1/staff/complaints?category=噪音扰民&estate=百花园二期&status=submitted&from="+today+"&to="+today, staff, nil)
	r.Decode(t, &out)
	got := map[int64]bool{}
	for _, c := range out.Items {
		got[c.ID] = true
	}
	if len(got) != 2 || !got[ids[2]] || !got[ids[4]] {
		t.Fatalf("staff filter = %v", got)
	}
	r = a.do("GET", "/api/v1/staff/complaints?estate=百花园二期&to=2000-01-01", staff, nil)
	r.Decode(t, &out)
	if len(out.Items) != 0 {
		t.Fatalf("date range: %d items", len(out.Items))
	}
	for _, q := range []string{"status=done", "category=x", "overdue=yes", "from=2024-13-01", "from=2024-02-01&to=2024-01-01", "limit=0", "cursor=@@"} {
		if r := a.do("GET", "/api/v1/staff/complaints?"+q, staff, nil); r.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d", q, r.Status)
		}
	}
	if r := a.do("GET", "/api/v1/complaints?status=nope", alice, nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad status: %d", r.Status)
	}
}

func TestComplaintLowRatingReopens(t *testing.T) {
	a := newTestApp(t)
	t0 := time.Date(2025, 5, 1, 1, 0, 0, 0, time.UTC)
	clk := a.useClock(t0)
	alice, aliceID := a.resident("alice")
	staff, _ := a.staff("clerk")
	id := a.fileComplaint(alice, nil)
	handle := func(at time.Time) {
		clk.Set(at)
		a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
		a.step(staff, cpath(id, "contact"), map[string]any{"note": "called"}, http.StatusOK)
		a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "fixed"}, http.StatusOK)
	}
	handle(t0.Add(time.Minute))

	t1 := t0.Add(3 * time.Hour)
	clk.Set(t1)
	r := a.step(alice, cpath(id, "rating"), map[string]any{"score": 2, "comment": "没修好"}, http.StatusOK)
	var c complaintJSON
	r.Decode(t, &c)
	// In rework the rating is null (issue 14: the 2 rated a resolution that is no
	// longer the answer); it stays in the timeline.
	if c.Status != "reopened" || c.ReopenCount != 1 || c.Rating != nil || c.RatingComment != "" || c.AcceptedAt != nil || c.ContactedAt != nil || c.ClosedAt != nil {
		t.Fatalf("after rating 2: %+v", c)
	}
	if !strings.Contains(string(r.Body), `"rating":null`) {
		t.Fatalf("rating is not null in the body: %s", r.Body)
	}
	if !c.AcceptDueAt.Equal(t1.Add(10*time.Minute)) || !c.ContactDueAt.Equal(t1.Add(30*time.Minute)) || !c.ResolveDueAt.Equal(t1.Add(24*time.Hour)) {
		t.Fatalf("new deadlines %v %v %v", c.AcceptDueAt, c.ContactDueAt, c.ResolveDueAt)
	}
	if last := c.Timeline[len(c.Timeline)-1]; last.Status != "reopened" || last.Note != "评价 2 分：没修好" {
		t.Fatalf("timeline end = %+v", last)
	}
	// Rework, then the resident asks for rework again by reason, then is satisfied.
	handle(t1.Add(5 * time.Minute))
	// Resolved again, not yet rated: the old 2 is not this resolution's verdict,
	// for the resident or for staff.
	for _, tok := range []string{alice, staff} {
		if got := a.complaint(tok, id); got.Status != "resolved" || got.Rating != nil || got.RatingComment != "" {
			t.Fatalf("resolved again, unrated: %+v", got)
		}
	}
	t2 := t1.Add(6 * time.Hour)
	clk.Set(t2)
	r = a.step(alice, cpath(id, "reopen"), map[string]any{"reason": "还是漏水"}, http.StatusOK)
	r.Decode(t, &c)
	if c.Status != "reopened" || c.ReopenCount != 2 || !c.AcceptDueAt.Equal(t2.Add(10*time.Minute)) {
		t.Fatalf("after reopen: %+v", c)
	}
	a.step(alice, cpath(id, "reopen"), map[string]any{"reason": "again"}, http.StatusConflict)
	a.step(alice, cpath(id, "reopen"), map[string]any{}, http.StatusBadRequest)
	handle(t2.Add(time.Minute))
	clk.Set(t2.Add(time.Hour))
	r = a.step(alice, cpath(id, "rating"), map[string]any{"score": 3}, http.StatusOK)
	r.Decode(t, &c)
	if c.Status != "closed" || c.Rating == nil || *c.Rating != 3 {
		t.Fatalf("final: %+v", c)
	}
	var ratings []string
	for _, e := range c.Timeline {
		if strings.HasPrefix(e.Note, "评价") {
			ratings = append(ratings, e.Note)
		}
	}
	if fmt.Sprint(ratings) != "[评价 2 分：没修好 评价 3 分]" {
		t.Fatalf("ratings in the timeline: %q", ratings)
	}
	var reopened int
	a.app.db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND event = 'complaint_reopened'`, aliceID).Scan(&reopened)
	if reopened != 2 {
		t.Fatalf("reopened notifications = %d", reopened)
	}
}

func TestComplaintAutoCloseUnrated(t *testing.T) {
	a := newTestApp(t)
	alice, aliceID := a.resident("alice")
	staff, _ := a.staff("clerk")
	resolve := func() int64 {
		id := a.fileComplaint(alice, nil)
		a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
		a.step(staff, cpath(id, "contact"), map[string]any{"note": "n"}, http.StatusOK)
		a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "r"}, http.StatusOK)
		return id
	}
	var stale []int64
	for range 8 {
		stale = append(stale, resolve())
	}
	recent := resolve()
	now := time.Now().UTC()
	for _, id := range stale {
		a.app.db.Exec(`UPDATE complaints SET resolved_at = ? WHERE id = ?`, now.Add(-7*24*time.Hour-time.Minute), id)
	}
	a.app.db.Exec(`UPDATE complaints SET resolved_at = ? WHERE id = ?`, now.Add(-6*24*time.Hour), recent)
	// A rating arriving on a stale order first wins over the auto-close.
	a.step(alice, cpath(stale[0], "rating"), map[string]any{"score": 4}, http.StatusOK)

	// Several instances running the job at once close each order exactly once.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.app.complaints.AutoClose(context.Background(), 100); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, id := range stale[1:] {
		c := a.complaint(alice, id)
		last := c.Timeline[len(c.Timeline)-1]
		if c.Status != "closed" || c.ClosedAt == nil || last.ActorRole != "system" || c.Rating != nil {
			t.Fatalf("stale %d: %+v", id, c)
		}
	}
	var closes, notes int
	a.app.db.QueryRow(`SELECT COUNT(*) FROM complaint_events e JOIN complaints c ON c.id = e.complaint_id WHERE c.user_id = ? AND e.status = 'closed'`, aliceID).Scan(&closes)
	a.app.db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE user_id = ? AND event = 'complaint_closed'`, aliceID).Scan(&notes)
	if closes != len(stale) || notes != len(stale) {
		t.Fatalf("closed events %d, notifications %d, want %d each", closes, notes, len(stale))
	}
	if c := a.complaint(alice, recent); c.Status != "resolved" {
		t.Fatalf("recent one: %s", c.Status)
	}
	if c := a.complaint(alice, stale[0]); *c.Rating != 4 || c.Timeline[len(c.Timeline)-1].ActorRole != "resident" {
		t.Fatalf("rated one: %+v", c)
	}
}

func TestComplaintDailyLimit(t *testing.T) {
	a := newTestApp(t)
	// 23:30 in Shanghai: the business day ends in 30 minutes.
	t0 := time.Date(2025, 6, 1, 15, 30, 0, 0, time.UTC)
	clk := a.useClock(t0)
	alice, aliceID := a.resident("alice")
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var retry string
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do("POST", "/api/v1/complaints", alice, complaintBody(nil))
			mu.Lock()
			codes[r.Status]++
			if r.Status == http.StatusTooManyRequests {
				retry = r.Header.Get("Retry-After")
				if r.ErrorCode() != "rate_limited" {
					t.Errorf("code %s", r.ErrorCode())
				}
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	var stored int
	a.app.db.QueryRow(`SELECT COUNT(*) FROM complaints WHERE user_id = ?`, aliceID).Scan(&stored)
	if stored != 10 || codes[http.StatusCreated] != 10 || codes[http.StatusTooManyRequests] != n-10 {
		t.Fatalf("stored %d, codes %v", stored, codes)
	}
	if retry != "1800" {
		t.Fatalf("Retry-After = %q, want 1800 (until local midnight)", retry)
	}
	clk.Set(t0.Add(31 * time.Minute)) // the next local day
	a.fileComplaint(alice, nil)
}

func TestComplaintContentCheck(t *testing.T) {
	a := newTestApp(t)
	alice, aliceID := a.resident("alice")
	r := a.do("POST", "/api/v1/complaints", alice, complaintBody(map[string]any{"content": "这里有违禁内容"}))
	if r.Status != http.StatusUnprocessableEntity || r.ErrorCode() != "content_rejected" {
		t.Fatalf("risky: %d %s", r.Status, r.Body)
	}
	var n int
	a.app.db.QueryRow(`SELECT COUNT(*) FROM complaints WHERE user_id = ?`, aliceID).Scan(&n)
	if n != 0 {
		t.Fatal("rejected complaint was stored")
	}
	r = a.do("POST", "/api/v1/complaints", alice, complaintBody(map[string]any{"content": "please REVIEW this"}))
	var c complaintJSON
	r.Decode(t, &c)
	if r.Status != http.StatusCreated || !c.NeedsReview {
		t.Fatalf("review verdict: %d %s", r.Status, r.Body)
	}
	c2 := a.fileComplaint(alice, nil)
	if a.complaint(alice, c2).NeedsReview {
		t.Fatal("clean text flagged")
	}
	staff, _ := a.staff("clerk")
	r = a.do("GET", "/api/v1/staff/complaints?needs_review=true&limit=100", staff, nil)
	var list struct{ Items []complaintJSON }
	r.Decode(t, &list)
	found := false
	for _, it := range list.Items {
		found = found || it.ID == c.ID
		if it.ID == c2 {
			t.Fatal("clean complaint in review queue")
		}
	}
	if !found {
		t.Fatal("review complaint not in review queue")
	}

	// Walk-in resident without an openid: accepted, flagged.
	now := time.Now().UTC()
	res, err := a.app.db.Exec(`INSERT INTO users (openid, role, created_at, updated_at) VALUES (NULL, 'resident', ?, ?)`, now, now)
	if err != nil {
		t.Fatal(err)
	}
	walkIn, _ := res.LastInsertId()
	pair, err := a.app.tokens.NewLogin(context.Background(), walkIn, models.RoleResident)
	if err != nil {
		t.Fatal(err)
	}
	r = a.do("POST", "/api/v1/complaints", pair.AccessToken, complaintBody(nil))
	r.Decode(t, &c)
	if r.Status != http.StatusCreated || !c.NeedsReview {
		t.Fatalf("walk-in: %d %s", r.Status, r.Body)
	}
	// Risky rating comments are refused too.
	staffTok := staff
	id := a.fileComplaint(alice, nil)
	a.step(staffTok, cpath(id, "accept"), nil, http.StatusOK)
	a.step(staffTok, cpath(id, "contact"), map[string]any{"note": "n"}, http.StatusOK)
	a.step(staffTok, cpath(id, "resolve"), map[string]any{"resolution": "r"}, http.StatusOK)
	if r := a.do("POST", cpath(id, "rating"), alice, map[string]any{"score": 1, "comment": "RISKY words"}); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("risky comment: %d", r.Status)
	}
	if c := a.complaint(alice, id); c.Status != "resolved" {
		t.Fatalf("refused rating changed status to %s", c.Status)
	}
}

// WeChat unreachable: the complaint is accepted and flagged, never lost. Uses a
// private fake WeChat so taking it down affects no other test.
func TestComplaintWeChatDown(t *testing.T) {
	fw := fakewechat.New(fakewechat.Options{AppID: testAppID, Secret: testSecret})
	ts := httptest.NewServer(fw)
	defer ts.Close()
	a := newTestApp(t, map[string]string{"WECHAT_API_BASE": ts.URL})
	alice, aliceID := a.resident("alice")
	fw.SetDown(true)
	r := a.do("POST", "/api/v1/complaints", alice, complaintBody(map[string]any{"content": "违禁 but nobody can tell"}))
	if r.Status != http.StatusCreated {
		t.Fatalf("wechat down: %d %s", r.Status, r.Body)
	}
	var reason string
	var review bool
	a.app.db.QueryRow(`SELECT needs_review, review_reason FROM complaints WHERE user_id = ?`, aliceID).Scan(&review, &reason)
	if !review || reason != "wechat_unavailable" {
		t.Fatalf("needs_review %v reason %q", review, reason)
	}
}

// A work order rated 2 (reopened), reworked and resolved again is unrated in its
// new cycle: left unrated for the auto-close period it must close like any other.
// Before the fix the old rating kept it out of AutoClose (rating IS NULL) forever.
func TestAutoCloseAfterRework(t *testing.T) {
	a := newTestApp(t)
	t0 := time.Now().UTC().Add(-30 * 24 * time.Hour).Truncate(time.Millisecond)
	clk := a.useClock(t0)
	alice, _ := a.resident("alice")
	staff, _ := a.staff("clerk")
	id := a.fileComplaint(alice, nil)
	handle := func() {
		a.step(staff, cpath(id, "accept"), nil, http.StatusOK)
		a.step(staff, cpath(id, "contact"), map[string]any{"note": "called"}, http.StatusOK)
		a.step(staff, cpath(id, "resolve"), map[string]any{"resolution": "fixed"}, http.StatusOK)
	}
	handle()
	clk.Advance(time.Hour)
	a.step(alice, cpath(id, "rating"), map[string]any{"score": 1}, http.StatusOK)
	clk.Advance(time.Hour)
	handle() // resolved again, not rated this time

	a.app.complaints.Now = func() time.Time { return clk.Now().Add(7*24*time.Hour + time.Minute) }
	n, err := a.app.complaints.AutoClose(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	c := a.complaint(alice, id)
	if n != 1 || c.Status != "closed" || c.ClosedAt == nil {
		t.Fatalf("auto-close closed %d; complaint %d is %s", n, id, c.Status)
	}
	if last := c.Timeline[len(c.Timeline)-1]; last.ActorRole != "system" {
		t.Fatalf("last step %+v", last)
	}

	// A rating given in the current cycle still keeps AutoClose away (it closes or
	// reopens the order itself), and the low-rated order of another resident that
	// has not been resolved again is not touched either.
	bob, _ := a.resident("bob")
	a.app.complaints.Now = clk.Now
	id2 := a.fileComplaint(bob, nil)
	id = id2
	handle()
	a.step(bob, cpath(id2, "rating"), map[string]any{"score": 2}, http.StatusOK)
	a.app.complaints.Now = func() time.Time { return clk.Now().Add(30 * 24 * time.Hour) }
	if _, err := a.app.complaints.AutoClose(context.Background(), 100); err != nil {
		t.Fatal(err)
	}
	if c := a.complaint(bob, id2); c.Status != "reopened" {
		t.Fatalf("reopened order became %s", c.Status)
	}
}

// The complaint list carries each complaint's own photos (one query fills them
// for the whole page).
func TestComplaintListPhotos(t *testing.T) {
	a := newTestApp(t)
	tok, _ := a.resident("listphotos")
	p1, p2, p3 := a.uploadPhoto(tok), a.uploadPhoto(tok), a.uploadPhoto(tok)
	c1 := a.fileComplaint(tok, map[string]any{"photo_ids": []int64{p1, p2}})
	c2 := a.fileComplaint(tok, map[string]any{"photo_ids": []int64{p3}})
	c3 := a.fileComplaint(tok, nil)
	var list struct{ Items []complaintJSON }
	a.do("GET", "/api/v1/complaints", tok, nil).Decode(t, &list)
	want := map[int64]string{c1: fmt.Sprint([]int64{p1, p2}), c2: fmt.Sprint([]int64{p3}), c3: "[]"}
	if len(list.Items) != 3 {
		t.Fatalf("%d items", len(list.Items))
	}
	for _, c := range list.Items {
		if got := fmt.Sprint(c.PhotoIDs); got != want[c.ID] || len(c.AgreementPhotoIDs) != 0 {
			t.Errorf("complaint %d photos %s (agreement %v), want %s", c.ID, got, c.AgreementPhotoIDs, want[c.ID])
		}
	}
}
