package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"nantian/models"
	"nantian/models/account"
	"nantian/models/booking"
	"nantian/models/complaint"
	"nantian/models/points"
)

// ---- export and account deletion ----

// Privacy serves a resident's PIPL rights over their own data: a full export and
// account deletion. It reads through the other stores, so every decrypting and
// scoping rule they apply holds here too.
type Privacy struct {
	DB         *sql.DB
	Now        models.Clock
	Users      *account.Users
	Children   *account.Children
	Bookings   *booking.Bookings
	Complaints *complaint.Complaints
	Points     *points.Points
	Uploads    *complaint.Uploads
	// Idempotency holds the resident's idempotent replies, deleted with the
	// account (nil: none kept).
	Idempotency *models.Idempotency
}

// Export is everything the service holds about one resident.
type Export struct {
	GeneratedAt   time.Time             `json:"generated_at"`
	Profile       account.User          `json:"profile"`
	Children      []account.Child       `json:"children"`
	Bookings      []booking.Booking     `json:"bookings"`
	Complaints    []complaint.Complaint `json:"complaints"`
	Uploads       []complaint.Upload    `json:"uploads"`
	Points        ExportPoints          `json:"points"`
	Redemptions   []points.Redemption   `json:"redemptions"`
	Subscriptions []SubscriptionGrant   `json:"subscriptions"`
}

// ExportPoints is the points account and its full ledger, newest first.
type ExportPoints struct {
	Balance int                  `json:"balance"`
	Ledger  []points.LedgerEntry `json:"ledger"`
}

// SubscriptionGrant is how many one-time messages a template may still send.
type SubscriptionGrant struct {
	TemplateID string    `json:"template_id"`
	Remaining  int       `json:"remaining"`
	UpdatedAt  time.Time `json:"updated_at"`
}

const exportPage = 100

// Export gathers the caller's data. Every query is scoped to userID by the store
// that runs it, so another resident's data cannot appear.
func (p *Privacy) Export(ctx context.Context, userID int64) (Export, error) {
	out := Export{GeneratedAt: p.Now().UTC()}
	var err error
	if out.Profile, err = p.Users.Get(ctx, userID); err != nil {
		return Export{}, err
	}
	if out.Children, err = p.Children.List(ctx, userID); err != nil {
		return Export{}, err
	}
	out.Bookings = []booking.Booking{}
	for after := int64(0); ; {
		page, err := p.Bookings.List(ctx, booking.BookingFilter{UserID: userID, Page: models.Page{Limit: exportPage, AfterID: after}})
		if err != nil {
			return Export{}, err
		}
		out.Bookings = append(out.Bookings, page...)
		if len(page) < exportPage {
			break
		}
		after = page[len(page)-1].ID
	}
	out.Complaints = []complaint.Complaint{}
	for before := int64(0); ; {
		page, err := p.Complaints.List(ctx, complaint.ComplaintFilter{UserID: userID, Page: models.Page{Limit: exportPage, AfterID: before}})
		if err != nil {
			return Export{}, err
		}
		for _, c := range page {
			full, err := p.Complaints.Get(ctx, c.ID, models.Principal{UserID: userID, Role: models.RoleResident}, true)
			if err != nil {
				return Export{}, err
			}
			out.Complaints = append(out.Complaints, full)
		}
		if len(page) < exportPage {
			break
		}
		before = page[len(page)-1].ID
	}
	if out.Uploads, err = p.uploads(ctx, userID); err != nil {
		return Export{}, err
	}
	sum, err := p.Points.Summary(ctx, userID)
	if err != nil {
		return Export{}, err
	}
	out.Points = ExportPoints{Balance: sum.Balance, Ledger: []points.LedgerEntry{}}
	for before := int64(0); ; {
		page, err := p.Points.Ledger(ctx, userID, models.Page{Limit: exportPage, AfterID: before})
		if err != nil {
			return Export{}, err
		}
		out.Points.Ledger = append(out.Points.Ledger, page...)
		if len(page) < exportPage {
			break
		}
		before = page[len(page)-1].ID
	}
	out.Redemptions = []points.Redemption{}
	for before := int64(0); ; {
		page, err := p.Points.ListRedemptions(ctx, points.RedemptionFilter{UserID: userID, Page: models.Page{Limit: exportPage, AfterID: before}})
		if err != nil {
			return Export{}, err
		}
		out.Redemptions = append(out.Redemptions, page...)
		if len(page) < exportPage {
			break
		}
		before = page[len(page)-1].ID
	}
	if out.Subscriptions, err = p.grants(ctx, userID); err != nil {
		return Export{}, err
	}
	return out, nil
}

func (p *Privacy) uploads(ctx context.Context, userID int64) ([]complaint.Upload, error) {
	rows, err := p.DB.QueryContext(ctx, `SELECT id, content_type, size, created_at FROM uploads WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("export uploads: %w", err)
	}
	return models.ScanAll(rows, "scan upload", func(r models.RowScanner) (complaint.Upload, error) {
		var u complaint.Upload
		err := r.Scan(&u.ID, &u.ContentType, &u.Size, &u.CreatedAt)
		u.UserID, u.URL = userID, complaint.UploadURL(u.ID)
		return u, err
	})
}

func (p *Privacy) grants(ctx context.Context, userID int64) ([]SubscriptionGrant, error) {
	rows, err := p.DB.QueryContext(ctx, `SELECT template_id, remaining, updated_at FROM subscription_grants WHERE user_id = ? ORDER BY template_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("export grants: %w", err)
	}
	return models.ScanAll(rows, "scan grant", func(r models.RowScanner) (SubscriptionGrant, error) {
		var g SubscriptionGrant
		err := r.Scan(&g.TemplateID, &g.Remaining, &g.UpdatedAt)
		return g, err
	})
}

// DeletionResult says what a deletion did.
type DeletionResult struct {
	BookingsCancelled int
	UploadsRemoved    int
}

// farFuture suspends a deleting account from booking for good.
var farFuture = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// DeleteAccount erases a resident's account (PIPL) while keeping the records the
// community's figures are made of. In order:
//
//  1. The account is barred from booking (suspended_until far in the future), so
//     no new booking can appear while its live ones are cancelled.
//  2. Every live booking (waitlisted, pending, confirmed) of a session not yet
//     started is cancelled through the booking engine's own Cancel: the place is
//     freed, the first in line promoted, the Redis gate updated. Bookings of
//     started or past sessions are history and stay as they are.
//  3. One transaction, guarded on status 'active' (a second concurrent deletion
//     gets ErrInvalidTransition): the users row is anonymised (status 'deleted',
//     openid/unionid NULL so the next WeChat login creates a new user, role
//     resident, every personal column blank, also on the tombstones of walk-ins
//     merged into it); children are deleted (bookings keep
//     their counts, child_id becomes NULL); logins are revoked and refresh tokens
//     deleted; subscription grants deleted; complaints lose their contact phone
//     and rating comment and the resident's own timeline notes; the resident's
//     photos (upload rows) are deleted; the audit log's entries about the
//     resident and staff notes on their work orders are pseudonymised
//     (scrubTraces: who did what stays, the resident's data goes).
//  4. The photo files are removed, and the resident's idempotent replies in
//     Redis deleted.
//
// Kept, linked to the anonymised row: bookings (status, fee, check-in), the points
// account, ledger, deposits and redemptions, and complaints' category, content,
// estate, location, status and times — the work order itself, which staff may
// still be handling and which the annual report counts. So the report is the same
// before and after. Steps 1-2 may be repeated safely: a deletion cut short can be
// retried by the resident (their token still works until step 3 commits).
//
// The caller must invalidate the AuthCache for the user afterwards.
func (p *Privacy) DeleteAccount(ctx context.Context, userID int64) (DeletionResult, error) {
	var res DeletionResult
	// The only admin cannot delete the account (checked again in the final
	// transaction; this first check spares the bookings in the common case).
	if err := models.InTx(ctx, p.DB, func(tx *sql.Tx) error { return account.GuardLastAdmin(ctx, tx, userID) }); err != nil {
		return res, err
	}
	r, err := p.DB.ExecContext(ctx, `UPDATE users SET suspended_until = ?, updated_at = ? WHERE id = ? AND status = 'active'`, farFuture, p.Now(), userID)
	if err != nil {
		return res, fmt.Errorf("bar deleting account: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		if _, err := p.Users.Get(ctx, userID); err != nil {
			return res, err
		}
	}
	if res.BookingsCancelled, err = p.cancelLiveBookings(ctx, userID); err != nil {
		return res, err
	}
	// The resident's values, to find and erase in the audit log and staff notes
	// (scrubTraces) while they are still known.
	held, err := p.Export(ctx, userID)
	if err != nil {
		return res, fmt.Errorf("read personal data to erase: %w", err)
	}
	personal := collectPersonal(held)
	var files []string
	err = models.InTxRetry(ctx, p.DB, func(tx *sql.Tx) error {
		files = nil
		now := p.Now()
		if err := account.GuardLastAdmin(ctx, tx, userID); err != nil {
			return err
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM users WHERE id = ? FOR UPDATE`, userID).Scan(&status); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return models.ErrNotFound
			}
			return fmt.Errorf("lock user: %w", err)
		}
		if err := scrubTraces(ctx, tx, userID, personal); err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `UPDATE users SET status = 'deleted', deleted_at = ?, openid = NULL, unionid = NULL, role = 'resident',
			nickname = '', real_name = '', birth_date = NULL, estate = '', building = '', room = '',
			phone_enc = NULL, phone_bidx = NULL, phone_verified_at = NULL,
			suspended_until = ?, updated_at = ?
			WHERE id = ? AND status = 'active'`, now, farFuture, now, userID)
		if err != nil {
			return fmt.Errorf("anonymise user: %w", err)
		}
		if n, _ := r.RowsAffected(); n != 1 {
			return models.ErrInvalidTransition
		}
		stmts := []struct{ what, q string }{
			// A walk-in merged into this account is the same person: its tombstone
			// keeps merged_into for the audit trail, nothing personal.
			{"anonymise merged walk-ins", `UPDATE users SET real_name = '', nickname = '', birth_date = NULL, estate = '', building = '', room = '',
				phone_enc = NULL, phone_bidx = NULL, walkin_phone = NULL WHERE merged_into = ?`},
			{"delete children", `DELETE FROM children WHERE user_id = ?`},
			{"delete refresh tokens", `DELETE r FROM refresh_tokens r JOIN logins l ON l.id = r.login_id WHERE l.user_id = ?`},
			{"delete grants", `DELETE FROM subscription_grants WHERE user_id = ?`},
			{"erase complaint contacts", `UPDATE complaints SET contact_phone_enc = NULL, rating_comment = '' WHERE user_id = ?`},
			{"erase resident notes", `UPDATE complaint_events e JOIN complaints c ON c.id = e.complaint_id SET e.note = ''
				WHERE c.user_id = ? AND e.actor_role = 'resident'`},
		}
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s.q, userID); err != nil {
				return fmt.Errorf("%s: %w", s.what, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE logins SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, now, userID); err != nil {
			return fmt.Errorf("revoke logins: %w", err)
		}
		// The resident's own photos (complaint photos and unattached uploads); staff's
		// agreement photos belong to staff rows and stay.
		if files, err = models.QueryColumn[string](ctx, tx, `SELECT file_name FROM uploads WHERE user_id = ? FOR UPDATE`, userID); err != nil {
			return fmt.Errorf("find uploads: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("delete uploads: %w", err)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	for _, f := range files {
		if err := os.Remove(filepath.Join(p.Uploads.Dir, filepath.Base(f))); err != nil && !errors.Is(err, os.ErrNotExist) {
			slog.WarnContext(ctx, "deleted account's photo file not removed", "user_id", userID, "err", err)
			continue
		}
		res.UploadsRemoved++
	}
	if err := p.Idempotency.ForgetUser(ctx, userID); err != nil {
		// The account is gone; the replies expire with their TTL (24 h).
		slog.WarnContext(ctx, "deleted account's idempotent replies not removed", "user_id", userID, "err", err)
	}
	// A booking that was already past the account check when step 1 committed
	// may have landed during step 3; sweep once more.
	n, err := p.cancelLiveBookings(ctx, userID)
	res.BookingsCancelled += n
	return res, err
}

// cancelLiveBookings cancels the user's live bookings of sessions not yet started,
// one by one through Bookings.Cancel. A booking that moved meanwhile (checked in,
// session started, already cancelled) is left as it is.
func (p *Privacy) cancelLiveBookings(ctx context.Context, userID int64) (int, error) {
	ids, err := models.QueryColumn[int64](ctx, p.DB, `SELECT b.id FROM bookings b JOIN sessions s ON s.id = b.session_id
		WHERE b.user_id = ? AND b.status IN ('waitlisted', 'pending', 'confirmed') AND s.starts_at > ? ORDER BY b.id`, userID, p.Now())
	if err != nil {
		return 0, fmt.Errorf("find live bookings: %w", err)
	}
	return p.cancelBookings(ctx, userID, ids)
}

// DeleteChild erases a child on the guardian's request (PIPL), first cancelling
// the child's bookings of sessions that have not started, as account deletion
// does for the whole account: a place kept for a child whose record is gone
// would be confirmed, and checked in, for nobody. Bookings of sessions already
// begun or past keep their counts and lose the link (Children.Delete).
//
// The actor is the guardian: only their own child can be erased (another
// user's child is ErrNotFound, as if it did not exist).
func (p *Privacy) DeleteChild(ctx context.Context, actor models.Actor, childID int64) error {
	guardianID := actor.UserID
	var one int
	err := p.DB.QueryRowContext(ctx, `SELECT 1 FROM children WHERE id = ? AND user_id = ?`, childID, guardianID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return models.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("find child: %w", err)
	}
	ids, err := models.QueryColumn[int64](ctx, p.DB, `SELECT b.id FROM bookings b JOIN sessions s ON s.id = b.session_id
		WHERE b.user_id = ? AND b.child_id = ? AND b.status IN ('waitlisted', 'pending', 'confirmed') AND s.starts_at > ? ORDER BY b.id`,
		guardianID, childID, p.Now())
	if err != nil {
		return fmt.Errorf("find the child's live bookings: %w", err)
	}
	if _, err := p.cancelBookings(ctx, guardianID, ids); err != nil {
		return err
	}
	return p.Children.Delete(ctx, guardianID, childID)
}

// cancelBookings cancels the owner's bookings by id, skipping those that stopped
// being cancellable meanwhile; it returns how many it cancelled.
func (p *Privacy) cancelBookings(ctx context.Context, userID int64, ids []int64) (int, error) {
	n := 0
	for _, id := range ids {
		_, err := p.Bookings.Cancel(ctx, userID, id)
		switch {
		case err == nil:
			n++
		case errors.Is(err, models.ErrInvalidTransition), errors.Is(err, booking.ErrBookingClosed), errors.Is(err, models.ErrNotFound):
		default:
			return n, fmt.Errorf("cancel booking %d: %w", id, err)
		}
	}
	return n, nil
}

// ---- plaintext left by earlier versions ----

// IndexLegacyWalkInPhones turns walk-in phones stored in plaintext before
// migration 0009 into their blind index; the app runs it at startup. (The
// *_legacy columns of 0008 and 0012 are gone: 0015 dropped them once Migrate had
// checked they were all encrypted.)
func IndexLegacyWalkInPhones(ctx context.Context, db *sql.DB, dc *models.DataCipher) (int, error) {
	return indexLegacyWalkInPhones(ctx, db, dc)
}

// indexLegacyWalkInPhones replaces plaintext walk-in phones written before
// migration 0009 (anything but a 32-byte index) with their blind index. Guarded
// on the old value, so concurrent instances convert each row once.
func indexLegacyWalkInPhones(ctx context.Context, db *sql.DB, dc *models.DataCipher) (int, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, walkin_phone FROM users WHERE walkin_phone IS NOT NULL AND LENGTH(walkin_phone) <> 32`)
	if err != nil {
		return 0, fmt.Errorf("find plaintext walk-in phones: %w", err)
	}
	type row struct {
		id    int64
		plain []byte
	}
	var batch []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.plain); err != nil {
			rows.Close()
			return 0, fmt.Errorf("scan walk-in phone: %w", err)
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find plaintext walk-in phones: %w", err)
	}
	n := 0
	for _, r := range batch {
		idx, err := dc.PhoneIndex(string(r.plain))
		if err != nil {
			return n, err
		}
		res, err := db.ExecContext(ctx, `UPDATE users SET walkin_phone = ? WHERE id = ? AND walkin_phone = ?`, idx, r.id, r.plain)
		if err != nil {
			return n, fmt.Errorf("index walk-in phone of user %d: %w", r.id, err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			n++
		}
	}
	return n, nil
}
