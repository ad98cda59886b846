package models

import (
	"context"
	"database/sql"
	"fmt"
)

// sealedColumn is one encrypted column, with the blind-index columns that must
// follow it when it is re-sealed.
type sealedColumn struct {
	table, column, enc string
	bidx               bool // users.phone: phone_bidx, and walkin_phone for walk-ins
}

var sealedColumns = []sealedColumn{
	{"users", "phone", "phone_enc", true},
	{"children", "name", "name_enc", false},
	{"children", "allergies", "allergies_enc", false},
	{"children", "emergency_contact", "emergency_contact_enc", false},
	{"complaints", "contact_phone", "contact_phone_enc", false},
}

// RotateDataKey re-seals every value that only the previous key opens (dc must be
// built WithPrevious) under the current key, and recomputes the phone blind
// indexes. Run it once after deploying DATA_KEY=new with DATA_KEY_PREVIOUS=old;
// when it reports nothing left, DATA_KEY_PREVIOUS can be removed.
//
// Each row is a guarded UPDATE on the ciphertext read, so it is safe while the
// service runs (a row changed meanwhile is already under the new key) and safe
// to run twice. A value neither key opens stops the run with an error rather
// than being skipped: it would become unreadable once the old key is gone.
func RotateDataKey(ctx context.Context, db *sql.DB, dc *DataCipher) (int, error) {
	if dc == nil || dc.previous == nil {
		return 0, fmt.Errorf("rotate data key: DATA_KEY_PREVIOUS is not set")
	}
	total := 0
	for _, sc := range sealedColumns {
		var after int64
		for {
			rows, err := db.QueryContext(ctx, `SELECT id, `+sc.enc+` FROM `+sc.table+` WHERE `+sc.enc+` IS NOT NULL AND id > ? ORDER BY id LIMIT 500`, after)
			if err != nil {
				return total, fmt.Errorf("rotate %s.%s: %w", sc.table, sc.column, err)
			}
			type row struct {
				id  int64
				enc []byte
			}
			batch, err := ScanAll(rows, "scan sealed value", func(r RowScanner) (row, error) {
				var x row
				return x, r.Scan(&x.id, &x.enc)
			})
			if err != nil {
				return total, err
			}
			if len(batch) == 0 {
				break
			}
			for _, r := range batch {
				after = r.id
				plain, old, err := dc.open(sc.table, sc.column, r.id, r.enc)
				if err != nil {
					return total, fmt.Errorf("rotate: %w (neither DATA_KEY nor DATA_KEY_PREVIOUS opens it)", err)
				}
				if !old {
					continue
				}
				enc, err := dc.Seal(sc.table, sc.column, r.id, plain)
				if err != nil {
					return total, err
				}
				sets, args := sc.enc+` = ?`, []any{enc}
				if sc.bidx {
					idx, err := dc.PhoneIndex(plain)
					if err != nil {
						return total, err
					}
					sets += `, phone_bidx = ?, walkin_phone = IF(walkin_phone IS NULL, NULL, ?)`
					args = append(args, idx, idx)
				}
				args = append(args, r.id, r.enc)
				res, err := db.ExecContext(ctx, `UPDATE `+sc.table+` SET `+sets+` WHERE id = ? AND `+sc.enc+` = ?`, args...)
				if err != nil {
					return total, fmt.Errorf("re-seal %s.%s of row %d: %w", sc.table, sc.column, r.id, err)
				}
				if n, _ := res.RowsAffected(); n == 1 {
					total++
				}
			}
		}
	}
	return total, nil
}
