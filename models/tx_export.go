package models

import (
	"context"
	"database/sql"
)

// InTx runs fn in a transaction, committing when it returns nil and running it
// again when InnoDB chose it as a deadlock victim. It is inTxRetry for the domain
// sub-packages (models/payment).
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	return inTxRetry(ctx, db, fn)
}

// IsDuplicate reports a unique-key violation (MySQL 1062).
func IsDuplicate(err error) bool { return isDuplicate(err) }

// CSVCell defuses spreadsheet formulas in user-supplied text, for CSV exports in
// the domain sub-packages' doors (the payments export).
func CSVCell(s string) string { return csvCell(s) }
