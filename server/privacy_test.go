package main

// PIPL: export, account deletion, encryption at rest, audited staff reads of
// children's data. Every check that matters reads MySQL directly.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"nantian/config"
	"nantian/models"
	"nantian/models/account"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// privacyResident is a resident with a bit of everything: a verified phone, a
// child, a booking, a complaint with a photo and its own contact phone, points,
// a subscription grant.
type privacyResident struct {
	name      string // the WeChat login name (openid "openid-"+name)
	token     string
	refresh   string
	id        int64
	phone     string
	child     string
	allergies string
	emergency string
	childID   int64
	booking   int64
	complaint int64
	contact   string
	content   string
	photo     int64
}

// privacyTemplate gives alice and bob different configured templates, so one's
// grant never shows in the other's export.
func privacyTemplate(tag string) string {
	if tag == "bob" {
		return "tpl-redemption-ready"
	}
	return "tpl-booking-reminder" // not used up by the booking's confirmation
}

func (a *testApp) privacyResident(t *testing.T, staffTok string, sessionID int64, tag, phone, contact string) privacyResident {
	t.Helper()
	p := privacyResident{name: uniqueName(t, "pipl-"+tag), phone: phone, contact: contact,
		child: "小" + tag + "宝", allergies: "花生-" + tag, emergency: "紧急联系人-" + tag, content: "楼道灯坏了-" + tag + "-" + randomID("")}
	pair := a.loginPair(p.name)
	p.token, p.refresh, p.id = pair.AccessToken, pair.RefreshToken, pair.UserID
	wantStatus(t, a.do("POST", "/api/v1/me/phone", p.token, map[string]string{"code": "phone-" + phone}), 200, "")
	wantStatus(t, a.do("PATCH", "/api/v1/me", p.token, map[string]any{"real_name": "真名" + tag, "room": "1-" + tag}), 200, "")
	p.childID = idOf(t, a.do("POST", "/api/v1/me/children", p.token, map[string]any{
		"name": p.child, "birth_date": "2020-05-01", "allergies": p.allergies, "emergency_contact": p.emergency, "guardian_consent": true}))
	p.booking = idOf(t, a.do("POST", "/api/v1/bookings", p.token, map[string]any{"session_id": sessionID, "child_id": p.childID}))
	p.photo = a.uploadPhoto(p.token)
	p.complaint = idOf(t, a.do("POST", "/api/v1/complaints", p.token, complaintBody(map[string]any{
		"content": p.content, "contact_phone": contact, "photo_ids": []int64{p.photo}})))
	a.grant(staffTok, p.id, 7)
	wantStatus(t, a.do("POST", "/api/v1/me/subscriptions", p.token, map[string]any{"template_ids": []string{privacyTemplate(tag)}}), 200, "")
	return p
}

// TestPrivacyExportOnlyOwnData: the export holds every kind of the caller's data
// with the right values (decrypted), and nothing of another resident's, even
// though both booked the same session and filed complaints.
func TestPrivacyExportOnlyOwnData(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("pipl-staff")
	_, sid := a.hotSession(staffTok, 10, false)
	alice := a.privacyResident(t, staffTok, sid, "alice", "13811110001", "0755-1111 0001")
	bob := a.privacyResident(t, staffTok, sid, "bob", "13922220002", "0755-2222 0002")

	r := a.do("GET", "/api/v1/me/export", alice.token, nil)
	wantStatus(t, r, 200, "")
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("export is cacheable: %q", r.Header.Get("Cache-Control"))
	}
	var ex struct {
		Profile struct {
			ID       int64  `json:"id"`
			Phone    string `json:"phone"`
			RealName string `json:"real_name"`
		} `json:"profile"`
		Children []struct {
			ID        int64  `json:"id"`
			Name      string `json:"name"`
			Allergies string `json:"allergies"`
		} `json:"children"`
		Bookings []struct {
			ID      int64  `json:"id"`
			UserID  int64  `json:"user_id"`
			ChildID *int64 `json:"child_id"`
		} `json:"bookings"`
		Complaints []struct {
			ID           int64  `json:"id"`
			UserID       int64  `json:"user_id"`
			ContactPhone string `json:"contact_phone"`
			Content      string `json:"content"`
			PhotoIDs     []int64
			Timeline     []struct{ Status string } `json:"timeline"`
		} `json:"complaints"`
		Uploads []struct{ ID int64 } `json:"uploads"`
		Points  struct {
			Balance int `json:"balance"`
			Ledger  []struct {
				Amount int `json:"amount"`
			} `json:"ledger"`
		} `json:"points"`
		Redemptions   []any `json:"redemptions"`
		Subscriptions []struct {
			TemplateID string `json:"template_id"`
			Remaining  int    `json:"remaining"`
		} `json:"subscriptions"`
	}
	r.Decode(t, &ex)
	if ex.Profile.ID != alice.id || ex.Profile.Phone != alice.phone || ex.Profile.RealName != "真名alice" {
		t.Errorf("profile: %+v", ex.Profile)
	}
	if len(ex.Children) != 1 || ex.Children[0].ID != alice.childID || ex.Children[0].Name != alice.child || ex.Children[0].Allergies != "花生-alice" {
		t.Errorf("children: %+v", ex.Children)
	}
	if len(ex.Bookings) != 1 || ex.Bookings[0].ID != alice.booking || ex.Bookings[0].UserID != alice.id {
		t.Errorf("bookings: %+v", ex.Bookings)
	}
	if len(ex.Complaints) != 1 || ex.Complaints[0].ID != alice.complaint || ex.Complaints[0].ContactPhone != alice.contact ||
		ex.Complaints[0].Content != alice.content || len(ex.Complaints[0].Timeline) != 1 || ex.Complaints[0].Timeline[0].Status != "submitted" {
		t.Errorf("complaints: %+v", ex.Complaints)
	}
	if len(ex.Uploads) != 1 || ex.Uploads[0].ID != alice.photo {
		t.Errorf("uploads: %+v", ex.Uploads)
	}
	if ex.Points.Balance != 7 || len(ex.Points.Ledger) != 1 || ex.Points.Ledger[0].Amount != 7 {
		t.Errorf("points: %+v", ex.Points)
	}
	if len(ex.Subscriptions) != 1 || ex.Subscriptions[0].TemplateID != privacyTemplate("alice") || ex.Subscriptions[0].Remaining != 1 {
		t.Errorf("subscriptions: %+v", ex.Subscriptions)
	}
	// Nothing of Bob's, by value.
	for _, s := range []string{bob.phone, bob.child, bob.content, bob.contact, "真名bob", "花生-bob", "紧急联系人-bob", privacyTemplate("bob")} {
		if bytes.Contains(r.Body, []byte(s)) {
			t.Errorf("alice's export contains bob's %q", s)
		}
	}
	// And by id: every record is alice's.
	for _, b := range ex.Bookings {
		if b.UserID != alice.id || b.ID == bob.booking {
			t.Errorf("booking %d of user %d in alice's export", b.ID, b.UserID)
		}
	}
	for _, c := range ex.Complaints {
		if c.UserID != alice.id || c.ID == bob.complaint {
			t.Errorf("complaint %d of user %d in alice's export", c.ID, c.UserID)
		}
	}
	for _, u := range ex.Uploads {
		if u.ID == bob.photo {
			t.Errorf("bob's photo in alice's export")
		}
	}
	wantStatus(t, a.do("GET", "/api/v1/me/export", "", nil), 401, "unauthorized")
}

// annualReport fetches the report for year as raw JSON.
func (a *testApp) annualReport(staffTok string, year int) []byte {
	a.t.Helper()
	r := a.do("GET", fmt.Sprintf("/api/v1/staff/reports/annual?year=%d", year), staffTok, nil)
	wantStatus(a.t, r, 200, "")
	return r.Body
}

// TestPrivacyDeleteAccount deletes a resident who has history in a past year
// (attended bookings, fees, complaints closed on time, deposits), a live booking
// with someone waiting behind it, a child, photos and points, then checks: the
// personal columns are blank in MySQL, tokens are dead, a new login is a new user,
// the live place went to the next in line, and the annual report for that year is
// byte-for-byte the same.
func TestPrivacyDeleteAccount(t *testing.T) {
	a := newTestApp(t)
	db := a.app.db
	ctx := context.Background()
	staffTok, _ := a.staff("pipl-del-staff")
	_, sid := a.hotSession(staffTok, 1, false)
	alice := a.privacyResident(t, staffTok, sid, "alice", "13833330003", "13833339999")
	bobTok, bobID := a.resident("pipl-del-bob")
	bobBooking := idOf(t, a.do("POST", "/api/v1/bookings", bobTok, map[string]any{"session_id": sid, "waitlist": true}))
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/bookings/%d", bobBooking), bobTok, nil), 200, "")
	if st := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'waitlisted'`, bobBooking); st != 1 {
		t.Fatalf("bob not waitlisted")
	}

	// A past year of alice's (and bob's) history, as the report test builds it.
	year := 2000 + int(time.Now().UnixNano()%20)
	sh := a.app.cfg.Location
	at := func(m, d int) time.Time { return time.Date(year, time.Month(m), d, 20, 0, 0, 0, sh).UTC() }
	now := time.Now().UTC()
	seq := 0
	program := func(kind, audience string, fee int) int64 {
		return insert(t, db, `INSERT INTO programs (kind, title, description, category, audience, venue, fee_fen, requires_approval, status, created_at, updated_at)
			VALUES (?, ?, '', '', ?, '', ?, 0, 'active', ?, ?)`, kind, randomID("pipl-"+kind), audience, fee, now, now)
	}
	session := func(p int64, ends time.Time) int64 {
		return insert(t, db, `INSERT INTO sessions (program_id, starts_at, ends_at, venue, capacity, booked, waitlisted, status, created_at, updated_at)
			VALUES (?, ?, ?, '', 50, 0, 0, 'closed', ?, ?)`, p, ends.Add(-2*time.Hour), ends, now, now)
	}
	booking := func(s, p, user int64, child any, status string, fee int) {
		seq++
		insert(t, db, `INSERT INTO bookings (session_id, program_id, user_id, child_id, participant, status, fee_fen, code, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s, p, user, child, fmt.Sprintf("u%dh%d", user, seq), status, fee,
			fmt.Sprintf("P%09d", (time.Now().UnixNano()+int64(seq))%1e9), now, now)
	}
	night := program("night_school", "youth", 5000)
	s1 := session(night, at(3, 5))
	booking(s1, night, alice.id, nil, "attended", 5000)
	booking(s1, night, alice.id, nil, "confirmed", 5000)
	booking(s1, night, bobID, nil, "attended", 5000)
	care := program("childcare", "children", 0)
	s2 := session(care, at(4, 1))
	booking(s2, care, alice.id, alice.childID, "attended", 0) // the child's record goes; the attendance stays
	kids := program("activity", "children", 0)
	s3 := session(kids, at(5, 1))
	booking(s3, kids, alice.id, alice.childID, "attended", 0)
	for i, resolved := range []time.Duration{3 * time.Hour, 30 * time.Hour} {
		c := at(2, 1+i)
		insert(t, db, `INSERT INTO complaints (user_id, category, content, estate, status, created_at, cycle_started_at, accept_due_at, contact_due_at, resolve_due_at, resolved_at, mediation_agreement, contact_phone_enc, updated_at)
			VALUES (?, '物业管理', '旧诉求', '南天一花园', 'closed', ?, ?, ?, ?, ?, ?, ?, NULL, ?)`, alice.id, c, c, c, c, c.Add(24*time.Hour), c.Add(resolved), i == 0, now)
	}
	dev := insert(t, db, `INSERT INTO devices (estate, name, secret_enc, status, created_by, created_at, updated_at) VALUES ('南天一花园', 'pipl-bin', x'00', 'active', 1, ?, ?)`, now, now)
	for i, u := range []int64{alice.id, alice.id, bobID} {
		w := at(6, 1+i)
		insert(t, db, `INSERT INTO bin_deposits (event_id, device_id, user_id, estate, weight_grams, quality, points_awarded, local_day, occurred_at, created_at)
			VALUES (?, ?, ?, '南天一花园', ?, 'ok', ?, ?, ?, ?)`, randomID("pipl-ev-"), dev, u, 1000+i, 10+i, w, w, now)
	}
	before := a.annualReport(staffTok, year)
	if !bytes.Contains(before, []byte(`"attendances":1`)) || !bytes.Contains(before, []byte(`"participants":2`)) {
		t.Fatalf("dataset not in the report: %s", before)
	}
	var photoFile string
	if err := db.QueryRow(`SELECT file_name FROM uploads WHERE id = ?`, alice.photo).Scan(&photoFile); err != nil {
		t.Fatal(err)
	}
	photoPath := filepath.Join(a.app.cfg.UploadDir, photoFile)
	if _, err := os.Stat(photoPath); err != nil {
		t.Fatalf("photo file: %v", err)
	}

	wantStatus(t, a.do("DELETE", "/api/v1/me", alice.token, nil), 204, "")

	// Tokens are dead: access (next request), refresh, and a second delete.
	wantStatus(t, a.do("GET", "/api/v1/me", alice.token, nil), 401, "unauthorized")
	wantStatus(t, a.do("GET", "/api/v1/me/export", alice.token, nil), 401, "unauthorized")
	wantStatus(t, a.do("DELETE", "/api/v1/me", alice.token, nil), 401, "unauthorized")
	wantStatus(t, a.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": alice.refresh}), 401, "")

	// The users row: kept, anonymised.
	var status, role, nick, real, estate, building, room string
	var openid, unionid sql.NullString
	var phoneEnc, phoneIdx []byte
	var birth, verified, deletedAt sql.NullTime
	if err := db.QueryRow(`SELECT status, role, openid, unionid, nickname, real_name, birth_date, estate, building, room,
		phone_enc, phone_bidx, phone_verified_at, deleted_at FROM users WHERE id = ?`, alice.id).
		Scan(&status, &role, &openid, &unionid, &nick, &real, &birth, &estate, &building, &room, &phoneEnc, &phoneIdx, &verified, &deletedAt); err != nil {
		t.Fatal(err)
	}
	if status != "deleted" || role != "resident" || openid.Valid || unionid.Valid || nick != "" || real != "" || birth.Valid ||
		estate != "" || building != "" || room != "" || phoneEnc != nil || phoneIdx != nil || verified.Valid || !deletedAt.Valid {
		t.Errorf("users row not anonymised: %s %s %v %v %q %q %v %q %q %q %x %x %v %v", status, role, openid, unionid, nick, real, birth,
			estate, building, room, phoneEnc, phoneIdx, verified, deletedAt)
	}
	for q, want := range map[string]int{
		`SELECT COUNT(*) FROM children WHERE user_id = ?`:                                              0,
		`SELECT COUNT(*) FROM subscription_grants WHERE user_id = ?`:                                   0,
		`SELECT COUNT(*) FROM uploads WHERE user_id = ?`:                                               0,
		`SELECT COUNT(*) FROM logins WHERE user_id = ? AND revoked_at IS NULL`:                         0,
		`SELECT COUNT(*) FROM refresh_tokens r JOIN logins l ON l.id = r.login_id WHERE l.user_id = ?`: 0,
		`SELECT COUNT(*) FROM complaints WHERE user_id = ? AND contact_phone_enc IS NOT NULL`:          0,
		`SELECT COUNT(*) FROM complaints WHERE user_id = ?`:                                            3, // work orders kept
		`SELECT COUNT(*) FROM bookings WHERE user_id = ?`:                                              5, // history kept
		`SELECT COUNT(*) FROM bookings WHERE user_id = ? AND child_id IS NOT NULL`:                     0,
		`SELECT COUNT(*) FROM points_ledger WHERE user_id = ?`:                                         1,
		`SELECT COUNT(*) FROM bin_deposits WHERE user_id = ?`:                                          2,
	} {
		if got := a.sqlInt(q, alice.id); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	if _, err := os.Stat(photoPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("photo file still there: %v", err)
	}
	// The work order itself stays for staff (content), without the contact.
	var content string
	if err := db.QueryRow(`SELECT content FROM complaints WHERE id = ?`, alice.complaint).Scan(&content); err != nil || content != alice.content {
		t.Errorf("complaint content %q %v", content, err)
	}

	// The live booking was cancelled by the engine: the place went to bob.
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'cancelled'`, alice.booking); n != 1 {
		t.Errorf("alice's live booking not cancelled")
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM bookings WHERE id = ? AND status = 'confirmed'`, bobBooking); n != 1 {
		t.Errorf("bob not promoted into the freed place")
	}
	a.assertCounts(sid)

	// The report is unchanged.
	if after := a.annualReport(staffTok, year); !bytes.Equal(before, after) {
		t.Errorf("annual report changed by the deletion:\nbefore %s\nafter  %s", before, after)
	}

	// Gone for the rest of the service.
	if _, err := a.app.users.Get(ctx, alice.id); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("Users.Get of a deleted user: %v", err)
	}
	if _, err := a.app.users.FindByPhone(ctx, alice.phone); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("FindByPhone finds a deleted user: %v", err)
	}
	admin, _ := a.staff("pipl-del-admin", models.RoleAdmin)
	wantStatus(t, a.do("PUT", fmt.Sprintf("/api/v1/admin/users/%d/role", alice.id), admin, map[string]string{"role": "staff"}), 404, "not_found")
	// The same WeChat account signs up as a new, empty user.
	again := a.loginPair(alice.name)
	if again.UserID == alice.id {
		t.Fatalf("login with the old openid reused the deleted user %d", alice.id)
	}
	r := a.do("GET", "/api/v1/me/export", again.AccessToken, nil)
	wantStatus(t, r, 200, "")
	if bytes.Contains(r.Body, []byte(alice.child)) || bytes.Contains(r.Body, []byte(alice.content)) || bytes.Contains(r.Body, []byte(alice.phone)) {
		t.Errorf("the new account sees the old one's data: %s", r.Body)
	}
}

// TestPrivacyDeleteConcurrent: ten DELETE /me of one account at once (one token
// pair per request, so the AuthCache cannot short-circuit): exactly one 204, the
// others 401 or 409, never a 500, and the live booking is cancelled once.
func TestPrivacyDeleteConcurrent(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("pipl-cc-staff")
	_, sid := a.hotSession(staffTok, 5, false)
	name := uniqueName(t, "pipl-cc")
	var toks []string
	var uid int64
	for range 10 {
		p := a.loginPair(name)
		toks, uid = append(toks, p.AccessToken), p.UserID
	}
	idOf(t, a.do("POST", "/api/v1/bookings", toks[0], map[string]any{"session_id": sid}))
	var mu sync.Mutex
	tally := map[int]int{}
	var wg sync.WaitGroup
	for _, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do("DELETE", "/api/v1/me", tok, nil)
			mu.Lock()
			tally[r.Status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if tally[204] != 1 || tally[204]+tally[401]+tally[409]+tally[404] != 10 {
		t.Errorf("statuses %v", tally)
	}
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND status = 'deleted'`, uid); n != 1 {
		t.Errorf("not deleted")
	}
	a.assertCounts(sid)
	if n := a.liveBookings(sid); n != 0 {
		t.Errorf("%d live bookings left", n)
	}
}

// TestPrivacyEncryptedAtRest: phones, contact phones and children's names are not
// in MySQL in clear (raw bytes checked), the API shows them right, a ciphertext
// moved to another row does not open, and the blind-index lookup finds the user
// in any common spelling of the number.
func TestPrivacyEncryptedAtRest(t *testing.T) {
	a := newIsolatedTestApp(t)
	db := a.app.db
	ctx := context.Background()
	staffTok, _ := a.staff("pipl-enc-staff")
	_, sid := a.hotSession(staffTok, 10, false)
	alice := a.privacyResident(t, staffTok, sid, "encA", "13844440004", "13844449999")
	bob := a.privacyResident(t, staffTok, sid, "encB", "13955550005", "13955559999")

	raw := func(q string, id int64) []byte {
		var b []byte
		if err := db.QueryRow(q, id).Scan(&b); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return b
	}
	checks := []struct {
		q     string
		id    int64
		plain string
	}{
		{`SELECT phone_enc FROM users WHERE id = ?`, alice.id, alice.phone},
		{`SELECT name_enc FROM children WHERE id = ?`, alice.childID, alice.child},
		{`SELECT allergies_enc FROM children WHERE id = ?`, alice.childID, alice.allergies},
		{`SELECT emergency_contact_enc FROM children WHERE id = ?`, alice.childID, alice.emergency},
		{`SELECT contact_phone_enc FROM complaints WHERE id = ?`, alice.complaint, alice.contact},
	}
	for _, c := range checks {
		b := raw(c.q, c.id)
		if len(b) < 29 || bytes.Contains(b, []byte(c.plain)) || bytes.Contains(b, []byte(c.plain[len(c.plain)-4:])) {
			t.Errorf("%s: %x holds the plaintext %q", c.q, b, c.plain)
		}
	}
	// No plaintext column is left: the old names and the *_legacy ones (0015)
	// are gone from the schema.
	for _, q := range []string{`SELECT phone FROM users`, `SELECT phone_legacy FROM users`, `SELECT name_legacy FROM children`,
		`SELECT allergies_legacy FROM children`, `SELECT emergency_contact_legacy FROM children`, `SELECT contact_phone_legacy FROM complaints`} {
		if _, err := db.Exec(q + ` LIMIT 1`); err == nil {
			t.Errorf("%s: the column still exists; readers could bypass the cipher", q)
		}
	}
	// No dump line holds any of the plaintexts: scan every text-ish column of the rows.
	var dump []byte
	for _, q := range []string{`SELECT CONCAT_WS('|', openid, nickname, real_name, room, HEX(phone_enc)) FROM users WHERE id = ?`,
		`SELECT CONCAT_WS('|', HEX(name_enc), HEX(allergies_enc), HEX(emergency_contact_enc)) FROM children WHERE user_id = ?`,
		`SELECT CONCAT_WS('|', content, HEX(contact_phone_enc)) FROM complaints WHERE user_id = ?`} {
		dump = append(dump, raw(q, alice.id)...)
	}
	for _, s := range []string{alice.phone, alice.child, alice.contact, alice.allergies, alice.emergency} {
		if bytes.Contains(dump, []byte(s)) {
			t.Errorf("plaintext %q in %s", s, dump)
		}
	}

	// The API decrypts.
	if r := a.do("GET", "/api/v1/me", alice.token, nil); r.JSON(t)["phone"] != alice.phone {
		t.Errorf("GET /me: %s", r.Body)
	}
	if m := a.do("GET", fmt.Sprintf("/api/v1/me/children/%d", alice.childID), alice.token, nil).JSON(t); m["name"] != alice.child ||
		m["allergies"] != alice.allergies || m["emergency_contact"] != alice.emergency {
		t.Errorf("GET child: %v", m)
	}
	if c := a.complaint(alice.token, alice.complaint); c.ContactPhone != alice.contact {
		t.Errorf("complaint contact %q", c.ContactPhone)
	}
	// Staff read the full contact phone on the detail page (the list masks it).
	for _, p := range []privacyResident{alice, bob} {
		if c := a.complaint(staffTok, p.complaint); c.ContactPhone != p.contact {
			t.Errorf("staff detail contact %q, want %q", c.ContactPhone, p.contact)
		}
	}
	// A complaint filed without contact_phone defaults to the (decrypted) profile phone.
	id := idOf(t, a.do("POST", "/api/v1/complaints", alice.token, complaintBody(nil)))
	if c := a.complaint(alice.token, id); c.ContactPhone != alice.phone {
		t.Errorf("default contact %q, want the profile phone", c.ContactPhone)
	}
	// The roster shows the masked (decrypted) phone and the child's name.
	r := a.do("GET", fmt.Sprintf("/api/v1/staff/sessions/%d/roster.csv", sid), staffTok, nil)
	if body := string(r.Body); !strings.Contains(body, "*******0004") || !strings.Contains(body, alice.child) || strings.Contains(body, alice.phone) {
		t.Errorf("roster: %q", body)
	}

	// A ciphertext bound to alice's row does not open on bob's.
	if _, err := db.Exec(`UPDATE users SET phone_enc = (SELECT x.phone_enc FROM (SELECT phone_enc FROM users WHERE id = ?) x) WHERE id = ?`, alice.id, bob.id); err != nil {
		t.Fatal(err)
	}
	if u, err := a.app.users.Get(ctx, bob.id); err == nil {
		t.Errorf("alice's ciphertext opened on bob's row: %v", u.Phone)
	}
	if _, err := a.app.users.SetVerifiedPhone(ctx, bob.id, bob.phone); err != nil {
		t.Fatal(err)
	}

	// Blind-index lookup, in several spellings; unknown numbers are not found.
	for _, spelling := range []string{alice.phone, "+86 138-4444-0004", "86 13844440004", " 138 4444 0004 "} {
		u, err := a.app.users.FindByPhone(ctx, spelling)
		if err != nil || u.ID != alice.id || u.Phone == nil || *u.Phone != alice.phone {
			t.Errorf("FindByPhone(%q) = %d %v", spelling, u.ID, err)
		}
	}
	if u, err := a.app.users.FindByPhone(ctx, bob.phone); err != nil || u.ID != bob.id {
		t.Errorf("FindByPhone(bob) = %d %v", u.ID, err)
	}
	if _, err := a.app.users.FindByPhone(ctx, "13800000404"); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("unknown number: %v", err)
	}
	if _, err := a.app.users.FindByPhone(ctx, "无号码"); err == nil {
		t.Errorf("a number without digits was accepted")
	}
	// The index is keyed: it is not a plain hash of the number.
	var idx []byte
	if err := db.QueryRow(`SELECT phone_bidx FROM users WHERE id = ?`, alice.id).Scan(&idx); err != nil || len(idx) != 32 {
		t.Fatalf("bidx %x %v", idx, err)
	}
	var plainHash []byte
	if err := db.QueryRow(`SELECT UNHEX(SHA2(?, 256))`, alice.phone).Scan(&plainHash); err != nil || bytes.Equal(idx, plainHash) {
		t.Errorf("blind index is an unkeyed hash")
	}
	// Another key cannot read the data nor find the number.
	other, err := models.NewDataCipher("another-data-key-of-at-least-32-bytes!!")
	if err != nil {
		t.Fatal(err)
	}
	otherUsers := &account.Users{DB: db, Now: models.SystemClock, Cipher: other}
	if _, err := otherUsers.Get(ctx, alice.id); err == nil {
		t.Errorf("another key decrypted the phone")
	}
	if _, err := otherUsers.FindByPhone(ctx, alice.phone); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("another key's index found the number: %v", err)
	}
}

// TestPrivacyStaffChildReadsAudited: the roster (the staff view holding
// children's names) writes one "READ child" audit entry per child read, with the
// staff member as actor, queryable by admins; Children.GetAny does too.
func TestPrivacyStaffChildReadsAudited(t *testing.T) {
	a := newTestApp(t)
	staffTok, staffID := a.staff("pipl-aud-staff")
	_, sid := a.hotSession(staffTok, 10, false)
	alice := a.privacyResident(t, staffTok, sid, "audA", "13877770007", "13877779999")
	bob := a.privacyResident(t, staffTok, sid, "audB", "13988880008", "13988889999")
	target := func(id int64) string { return fmt.Sprintf("child_id=%d", id) }
	reads := func(childID int64) int {
		return a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE action = ? AND target = ? AND actor_id = ?`, models.ActionReadChild, target(childID), staffID)
	}
	if reads(alice.childID)+reads(bob.childID) != 0 {
		t.Fatal("reads audited before any read")
	}
	r := a.do("GET", fmt.Sprintf("/api/v1/staff/sessions/%d/roster.csv", sid), staffTok, nil)
	wantStatus(t, r, 200, "")
	if !strings.Contains(string(r.Body), alice.child) || !strings.Contains(string(r.Body), bob.child) {
		t.Fatalf("roster lacks the children: %q", r.Body)
	}
	if reads(alice.childID) != 1 || reads(bob.childID) != 1 {
		t.Errorf("roster reads audited: alice %d bob %d, want 1 each", reads(alice.childID), reads(bob.childID))
	}
	// A resident is refused the roster, and nothing is audited for them.
	wantStatus(t, a.do("GET", fmt.Sprintf("/api/v1/staff/sessions/%d/roster.csv", sid), alice.token, nil), 403, "forbidden")
	if n := a.sqlInt(`SELECT COUNT(*) FROM audit_log WHERE action = ? AND actor_id = ?`, models.ActionReadChild, alice.id); n != 0 {
		t.Errorf("a refused read was audited")
	}
	// Admins find the entries.
	admin, _ := a.staff("pipl-aud-admin", models.RoleAdmin)
	r = a.do("GET", fmt.Sprintf("/api/v1/admin/audit?action=READ+child&actor_id=%d", staffID), admin, nil)
	wantStatus(t, r, 200, "")
	var list struct {
		Items []struct {
			Action, Target string
			RequestBody    struct{ Route string } `json:"request_body"`
		} `json:"items"`
	}
	r.Decode(t, &list)
	if len(list.Items) != 2 || list.Items[0].Action != models.ActionReadChild || !strings.Contains(list.Items[0].RequestBody.Route, "roster.csv") {
		t.Errorf("admin audit list: %s", r.Body)
	}
	// Children.GetAny audits as the reader in ctx.
	ctx := models.WithReader(context.Background(), models.Reader{Principal: models.Principal{UserID: staffID, Role: models.RoleStaff}, Route: "test"})
	c, err := a.app.children.GetAny(ctx, alice.childID)
	if err != nil || c.Name != alice.child {
		t.Fatalf("GetAny: %+v %v", c, err)
	}
	if reads(alice.childID) != 2 {
		t.Errorf("GetAny not audited")
	}
}

// TestPrivacyConfigRefusesDevDataKey: production does not start on the public dev
// DATA_KEY (or a short one); dev and test do.
func TestPrivacyConfigRefusesDevDataKey(t *testing.T) {
	prod := map[string]string{"APP_ENV": "production", "JWT_SECRET": "prod-jwt-secret-that-is-long-enough-123",
		"WECHAT_APPID": "wxprod", "WECHAT_SECRET": "s", "WECHAT_API_BASE": "https://api.weixin.qq.com",
		"POINTS_DEVICE_KEY": "prod-points-device-key-long-enough-12345"}
	get := func(extra map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return prod[k]
		}
	}
	if _, err := config.Load(get(nil)); err == nil || !strings.Contains(err.Error(), "DATA_KEY") {
		t.Errorf("production with the dev DATA_KEY: %v", err)
	}
	if _, err := config.Load(get(map[string]string{"DATA_KEY": "short"})); err == nil || !strings.Contains(err.Error(), "DATA_KEY") {
		t.Errorf("production with a short DATA_KEY: %v", err)
	}
	if _, err := config.Load(get(map[string]string{"DATA_KEY": "a-real-random-production-data-key-0123456789"})); err != nil {
		t.Errorf("production with a good DATA_KEY: %v", err)
	}
	if _, err := config.Load(get(map[string]string{"APP_ENV": "dev", "DATA_KEY": ""})); err != nil {
		t.Errorf("dev with the default DATA_KEY: %v", err)
	}
}

// A WeChat user who absorbed a walk-in and then deletes their account must not
// leave their personal data behind on the walk-in's tombstone row: DELETE /me
// erases every personal column, and the tombstone was the same person.
func TestDeleteAccountErasesMergedWalkInTombstone(t *testing.T) {
	a := newTestApp(t)
	staffTok, _ := a.staff("rv-desk")
	phone := newPhone()
	r := a.do("POST", "/api/v1/staff/residents", staffTok, map[string]any{
		"real_name": "赵大爷", "phone": phone, "birth_date": "1948-05-06", "estate": "南天二花园", "building": "7", "room": "7-502"})
	walk := idOf(t, r)
	tok, uid := a.resident("rv-zhao")
	wantStatus(t, a.do("POST", "/api/v1/me/phone", tok, map[string]string{"code": "phone-" + phone}), http.StatusOK, "")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id = ? AND merged_into = ?`, walk, uid); n != 1 {
		t.Fatalf("walk-in %d not merged into %d", walk, uid)
	}
	wantStatus(t, a.do("DELETE", "/api/v1/me", tok, nil), http.StatusNoContent, "")
	if n := a.sqlInt(`SELECT COUNT(*) FROM users WHERE id IN (?, ?) AND (real_name <> '' OR nickname <> '' OR birth_date IS NOT NULL
		OR estate <> '' OR building <> '' OR room <> '' OR phone_enc IS NOT NULL OR phone_bidx IS NOT NULL OR walkin_phone IS NOT NULL)`, uid, walk); n != 0 {
		t.Fatalf("%d rows still hold the deleted resident's personal data", n)
	}
}
