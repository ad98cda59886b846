package models_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"

	"nantian/models"
	"nantian/models/testdb"
)

// testDB is a migrated throwaway database shared by the package's tests.
var (
	testDB  *sql.DB
	testDSN string
)

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
	testDSN = dsn
	return m.Run()
}
