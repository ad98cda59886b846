package models_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"nantian/models"
)

// An operation's audit entry lives and dies with its transaction: committed, it
// is there with the actor's door and address and redacted before/after states;
// rolled back, it is not.
func TestAuditWriteFollowsTheTransaction(t *testing.T) {
	ctx := context.Background()
	audit := &models.Audit{DB: testDB, Now: models.SystemClock}
	actor := models.Actor{UserID: 7, Role: models.RoleStaff, Door: models.DoorConsole, RequestID: "req-audit-write", IP: "10.1.2.3"}
	type state struct {
		Name  string `json:"name"`
		Phone string `json:"phone"`
	}
	change := models.Change{
		Action: "child.patch", Target: "child_id=5", ChildData: true,
		Input:  map[string]string{"name": "王小明"},
		Before: state{Name: "王小明", Phone: "13812345678"},
		After:  state{Name: "王大明", Phone: "13812345678"},
	}
	if err := models.InTx(ctx, testDB, func(tx *sql.Tx) error { return audit.Write(ctx, tx, actor, change) }); err != nil {
		t.Fatal(err)
	}
	rolledBack := errors.New("the change failed")
	lost := change
	lost.Target = "child_id=6"
	if err := models.InTx(ctx, testDB, func(tx *sql.Tx) error {
		if err := audit.Write(ctx, tx, actor, lost); err != nil {
			return err
		}
		return rolledBack
	}); !errors.Is(err, rolledBack) {
		t.Fatal(err)
	}
	got, err := audit.List(ctx, models.AuditFilter{Action: "child.patch", Page: models.Page{Limit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	var found []models.AuditEntry
	for _, e := range got {
		if e.RequestID == "req-audit-write" {
			found = append(found, e)
		}
	}
	if len(found) != 1 || found[0].Target != "child_id=5" {
		t.Fatalf("want only the committed entry, got %+v", found)
	}
	e := found[0]
	if e.ActorID != 7 || e.ActorRole != models.RoleStaff || e.Door != models.DoorConsole || e.IP != "10.1.2.3" {
		t.Fatalf("actor not recorded: %+v", e)
	}
	for what, body := range map[string]string{"request": string(e.RequestBody), "before": string(e.BeforeBody), "after": string(e.ResponseBody)} {
		if strings.Contains(body, "13812345678") || strings.Contains(body, "小明") || strings.Contains(body, "大明") {
			t.Fatalf("%s body not redacted: %s", what, body)
		}
	}
	if !strings.Contains(string(e.BeforeBody), `"name":"王**"`) || !strings.Contains(string(e.ResponseBody), "*******5678") {
		t.Fatalf("before/after not kept in masked form: %s / %s", e.BeforeBody, e.ResponseBody)
	}
}
