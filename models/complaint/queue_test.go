package complaint_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"nantian/models"
	"nantian/models/complaint"
	"nantian/models/testdb"
)

// testDB is a migrated throwaway database for the queue test.
var testDB *sql.DB

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	ctx := context.Background()
	dsn, drop, err := testdb.CreateMigrated(ctx, models.Migrate)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer drop()
	if testDB, err = models.OpenDB(ctx, dsn); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDB.Close()
	return m.Run()
}

// The staff queue puts the order closest to (or furthest past) its current limit
// first, whatever step it is at, and leaves orders no limit applies to out unless
// asked for.
func TestComplaintQueueOrder(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 4, 1, 2, 0, 0, 0, time.UTC)
	res, err := testDB.Exec(`INSERT INTO users (openid, role, created_at, updated_at) VALUES (?, 'resident', ?, ?)`, "openid-queue-"+now.String(), now, now)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := res.LastInsertId()
	// Each order's current limit relative to now; estates keep this test's rows apart
	// from other tests' in the shared database.
	estate := "queue-" + time.Now().Format("150405.000")
	type row struct {
		name, status           string
		accept, contact, resol time.Duration
	}
	rows := []row{
		{"contacted-soon", "contacted", -2 * time.Hour, -time.Hour, 20 * time.Minute},
		{"submitted-overdue", "submitted", -3 * time.Minute, 17 * time.Minute, 23 * time.Hour},
		{"accepted-later", "accepted", -5 * time.Minute, 25 * time.Minute, 23 * time.Hour},
		{"reopened-soon", "reopened", 4 * time.Minute, 24 * time.Minute, 24 * time.Hour},
		{"resolved", "resolved", -time.Hour, -time.Hour, -time.Hour},
	}
	ids := map[string]int64{}
	for _, r := range rows {
		res, err := testDB.Exec(`INSERT INTO complaints (user_id, category, content, estate, location, status, created_at,
			cycle_started_at, accept_due_at, contact_due_at, resolve_due_at, updated_at)
			VALUES (?, '噪音扰民', ?, ?, '', ?, ?, ?, ?, ?, ?, ?)`, uid, r.name, estate, r.status, now, now,
			now.Add(r.accept), now.Add(r.contact), now.Add(r.resol), now)
		if err != nil {
			t.Fatal(err)
		}
		ids[r.name], _ = res.LastInsertId()
	}
	cipher, err := models.NewDataCipher("queue-test-data-key-of-at-least-32-bytes")
	if err != nil {
		t.Fatal(err)
	}
	s := &complaint.Complaints{DB: testDB, Now: func() time.Time { return now }, Loc: time.UTC, Cipher: cipher}

	q, err := s.Queue(ctx, complaint.ComplaintFilter{Estate: estate})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"submitted-overdue", "reopened-soon", "contacted-soon", "accepted-later"}
	wantStep := []string{complaint.StepAccept, complaint.StepAccept, complaint.StepResolve, complaint.StepContact}
	if len(q) != len(want) {
		t.Fatalf("queue has %d orders, want %d", len(q), len(want))
	}
	for i, it := range q {
		if it.Content != want[i] || it.Step != wantStep[i] {
			t.Errorf("queue[%d] = %s (%s), want %s (%s)", i, it.Content, it.Step, want[i], wantStep[i])
		}
		if !it.DueAt.Equal(it.Complaint.DueAt(it.Step)) {
			t.Errorf("%s: DueAt %v is not its %s limit", it.Content, it.DueAt, it.Step)
		}
	}
	if !q[0].Overdue || q[1].Overdue {
		t.Errorf("overdue flags: %v %v", q[0].Overdue, q[1].Overdue)
	}

	all, err := s.Queue(ctx, complaint.ComplaintFilter{Estate: estate, Status: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 || all[4].Content != "resolved" || all[4].Step != "" || !all[4].DueAt.IsZero() {
		t.Fatalf("all: last is %+v", all[len(all)-1])
	}
	one, err := s.Queue(ctx, complaint.ComplaintFilter{Estate: estate, Status: "accepted", Category: "噪音扰民"})
	if err != nil || len(one) != 1 || one[0].ID != ids["accepted-later"] {
		t.Fatalf("accepted filter: %v %v", one, err)
	}
	none, err := s.Queue(ctx, complaint.ComplaintFilter{Estate: estate, Category: "充电难"})
	if err != nil || len(none) != 0 {
		t.Fatalf("category filter: %v %v", none, err)
	}
	var me *models.Error
	if _, err := s.Queue(ctx, complaint.ComplaintFilter{Status: "bogus"}); !errors.As(err, &me) || me.Kind != models.KindInvalid {
		t.Fatalf("bad status: %v", err)
	}
}
