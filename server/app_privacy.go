package main

import (
	"context"
	"fmt"

	"nantian/models"
	"nantian/models/privacy"
)

// privacyArea is the PIPL part of the app: the data cipher shared by the stores
// holding encrypted columns, the audit of staff reads of children's data, and the
// export/deletion service.
type privacyArea struct {
	cipher     *models.DataCipher
	childReads *models.ChildReads
	service    *privacy.Privacy
}

// initPrivacy builds the data cipher from DATA_KEY and hands it to every store that
// reads or writes an encrypted column (users, children, complaints, the booking
// engine's roster), with the child-read auditor; then it indexes walk-in phones
// left in plaintext by versions before migration 0009. It runs after
// the other areas' init, since it wires their stores.
func (a *app) initPrivacy(ctx context.Context) error {
	dc, err := models.NewDataCipher(a.cfg.DataKey.Reveal())
	if err != nil {
		return err
	}
	if prev := a.cfg.DataKeyPrevious.Reveal(); prev != "" {
		if dc, err = dc.WithPrevious(prev); err != nil {
			return err
		}
	}
	reads := &models.ChildReads{Audit: a.audit}
	a.users.Cipher = dc
	a.children.Cipher, a.children.Reads = dc, reads
	a.complaints.Cipher = dc
	a.bookings.engine.Cipher, a.bookings.engine.ChildReads = dc, reads
	a.walkin.walkIns.Cipher = dc
	n, err := privacy.IndexLegacyWalkInPhones(ctx, a.db, dc)
	if err != nil {
		return fmt.Errorf("index plaintext walk-in phones: %w", err)
	}
	if n > 0 {
		a.logger.Info("indexed plaintext walk-in phones left by an earlier version", "values", n)
	}
	a.privacy = &privacyArea{cipher: dc, childReads: reads, service: &privacy.Privacy{
		DB: a.db, Now: models.SystemClock, Users: a.users, Children: a.children, Bookings: a.bookings.engine,
		Complaints: a.complaints, Points: a.pts.points, Uploads: a.uploads, Idempotency: a.bookings.idempotency,
	}}
	return nil
}
