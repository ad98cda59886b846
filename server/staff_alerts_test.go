package main

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"nantian/scripts/fakewecom"
)

// waitMessages polls the fake robot until it holds n messages (or fails after 10 s).
func waitMessages(t *testing.T, fake *fakewecom.Server, n int) []fakewecom.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := fake.Sent()
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("robot got %d messages, want %d: %+v", len(msgs), n, msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Journey 10 end to end: a resident files a work order through the API and the
// center's 企业微信 group gets one message, with no phone number in it; as the
// contact limit nears, one more; two instances polling side by side add nothing.
// The real silenceper work/robot client talks to a local fake webhook.
func TestStaffAlertsToWeComGroup(t *testing.T) {
	fake := fakewecom.New("robot-test-key-0001")
	ts := httptest.NewServer(fake)
	defer ts.Close()
	env := map[string]string{
		"WECOM_ROBOT_WEBHOOK":     ts.URL + "/cgi-bin/webhook/send?key=robot-test-key-0001",
		"WECOM_ALERT_POLL_EVERY":  "100ms",
		"WECOM_ALERT_CONSOLE_URL": "https://console.nantian.test",
	}
	a := newIsolatedTestApp(t, env)
	ctx := context.Background()
	alice, aliceID := a.resident("alice")
	if _, err := a.app.users.SetVerifiedPhone(ctx, aliceID, "13800138000"); err != nil {
		t.Fatal(err)
	}
	staffTok, _ := a.staff("desk")
	id := a.fileComplaint(alice, map[string]any{"content": "单元门禁坏了，急，回电 13912345678", "contact_phone": "13912345678"})

	msgs := waitMessages(t, fake, 1)
	m := msgs[0].Content
	for _, want := range []string{"新诉求", "第 " + strconv.FormatInt(id, 10) + " 号", "充电难", "南天一花园", "受理时限",
		"https://console.nantian.test/console/complaints/" + strconv.FormatInt(id, 10)} {
		if !strings.Contains(m, want) {
			t.Errorf("message lacks %q:\n%s", want, m)
		}
	}
	for _, phone := range []string{"13800138000", "13912345678", "5678"} {
		if strings.Contains(m, phone) {
			t.Errorf("message carries a resident phone (%s):\n%s", phone, m)
		}
	}

	// Accepted at the desk; then the contact limit comes within its 10-minute lead
	// (moved in the database: the worker runs on the real clock).
	a.step(staffTok, cpath(id, "accept"), map[string]any{}, 200)
	if _, err := a.app.db.Exec(`UPDATE complaints SET contact_due_at = ? WHERE id = ?`, time.Now().UTC().Add(5*time.Minute), id); err != nil {
		t.Fatal(err)
	}
	msgs = waitMessages(t, fake, 2)
	if !strings.Contains(msgs[1].Content, "联系居民即将超时") || !strings.Contains(msgs[1].Content, "还剩 5 分钟") {
		t.Fatalf("second message is not the contact alert:\n%s", msgs[1].Content)
	}

	// A second instance on the same database polls alongside for a while.
	newTestApp(t, map[string]string{"MYSQL_DSN": a.app.cfg.MySQLDSN.Reveal(),
		"WECOM_ROBOT_WEBHOOK": env["WECOM_ROBOT_WEBHOOK"], "WECOM_ALERT_POLL_EVERY": "50ms"})
	time.Sleep(700 * time.Millisecond)
	if n := len(fake.Sent()); n != 2 {
		t.Fatalf("after two instances polled: %d messages, want 2", n)
	}
	var rows, sent int
	if err := a.app.db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(status = 'sent'), 0) FROM staff_alerts WHERE complaint_id = ?`, id).Scan(&rows, &sent); err != nil {
		t.Fatal(err)
	}
	if rows != 2 || sent != 2 {
		t.Fatalf("staff_alerts for %d: %d rows, %d sent; want 2 and 2", id, rows, sent)
	}
}

// Without a webhook nothing is wired: no worker, no rows.
func TestStaffAlertsOffByDefault(t *testing.T) {
	a := newTestApp(t)
	if a.app.alerts != nil {
		t.Fatal("alerts wired without WECOM_ROBOT_WEBHOOK")
	}
}
