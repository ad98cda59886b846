package booking

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"nantian/models"
)

// Walk-in residents (代预约): many elderly residents come to the desk without a
// smartphone. Staff register them by name and phone (a users row with openid
// NULL) and book, cancel and check in for them through the booking engine, so
// the same rules and the same gate apply. When the resident later logs in with
// WeChat and verifies the same phone, MergeVerifiedPhone moves the walk-in's
// records to the WeChat user.
//
// Every lookup BY PHONE NUMBER is in lookupPhone, so encrypting phones at rest
// (a keyed hash in walkin_phone, ciphertext in phone) changes one function plus
// the two writes in CreateWalkIn and MergeVerifiedPhone.

// Walk-in errors.
var (
	ErrPhoneInUse = &models.Error{Kind: models.KindConflict, Code: "phone_in_use", Message: "该手机号已登记或已绑定微信用户"}
)

// Resident is a walk-in resident as staff see them.
type Resident struct {
	ID        int64        `json:"id"`
	RealName  string       `json:"real_name"`
	Phone     string       `json:"phone"`
	BirthDate *models.Date `json:"birth_date"`
	Estate    string       `json:"estate"`
	Building  string       `json:"building"`
	Room      string       `json:"room"`
	CreatedBy *int64       `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
}

// ResidentInput is what the desk asks a walk-in resident.
type ResidentInput struct {
	RealName  string       `json:"real_name" binding:"required,max=64"`
	Phone     string       `json:"phone" binding:"required,max=32"`
	BirthDate *models.Date `json:"birth_date"`
	Estate    string       `json:"estate" binding:"max=32"`
	Building  string       `json:"building" binding:"max=32"`
	Room      string       `json:"room" binding:"max=32"`
}

// WalkIns stores walk-in residents and merges them into WeChat users.
type WalkIns struct {
	DB       *sql.DB
	Bookings *Bookings
	Now      models.Clock
	Loc      *time.Location
	// Cipher seals the phone at rest (users.phone_enc) and computes its blind
	// index, which walkin_phone holds for an unmerged walk-in.
	Cipher *models.DataCipher
}

var mobileRe = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// NormalizeMobile turns what staff type ("138 1234 5678", "+86-13812345678") into
// the 11 digits WeChat's getPhoneNumber returns as purePhoneNumber (the form
// NormalizePhone, and so the blind index, uses); ok is false for anything with
// other characters or that is not a mainland mobile number.
func NormalizeMobile(s string) (string, bool) {
	if strings.ContainsFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == ' ' || r == '-' || r == '+') }) {
		return "", false
	}
	p := models.NormalizePhone(s)
	return p, mobileRe.MatchString(p)
}

// phoneMatch is what lookupPhone found for a number.
type phoneMatch struct {
	WalkInID int64   // the unmerged walk-in with this phone, 0 if none
	WeChat   []int64 // WeChat users who verified this phone
}

// lookupPhone is THE phone lookup: the unmerged walk-in registered with phone
// and the active WeChat users who verified it. lock takes row locks (FOR UPDATE)
// so a transaction can act on the answer. Keep every query by phone here. Phones
// are encrypted at rest, so the lookup compares blind indexes (HMAC of the
// number): walkin_phone holds the index of an unmerged walk-in's phone.
func (w *WalkIns) lookupPhone(ctx context.Context, q models.Querier, phone string, lock bool) (phoneMatch, error) {
	var m phoneMatch
	idx, prev, err := w.Cipher.LookupPair(phone)
	if err != nil {
		return m, err
	}
	query := `SELECT id, openid IS NULL FROM users
		WHERE walkin_phone IN (?, ?) OR (phone_bidx IN (?, ?) AND phone_verified_at IS NOT NULL AND openid IS NOT NULL AND status = 'active')
		ORDER BY id`
	if lock {
		query += ` FOR UPDATE`
	}
	rows, err := q.QueryContext(ctx, query, idx, prev, idx, prev)
	if err != nil {
		return m, fmt.Errorf("lookup phone: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var walkIn bool
		if err := rows.Scan(&id, &walkIn); err != nil {
			return m, fmt.Errorf("scan phone match: %w", err)
		}
		if walkIn {
			m.WalkInID = id
		} else {
			m.WeChat = append(m.WeChat, id)
		}
	}
	return m, rows.Err()
}

// FindWalkInByPhone returns the walk-in registered with phone, or ErrNotFound.
func (w *WalkIns) FindWalkInByPhone(ctx context.Context, phone string) (Resident, error) {
	p, ok := NormalizeMobile(phone)
	if !ok {
		return Resident{}, models.Invalid("phone", "不是有效的手机号")
	}
	m, err := w.lookupPhone(ctx, w.DB, p, false)
	if err != nil {
		return Resident{}, err
	}
	if m.WalkInID == 0 {
		return Resident{}, models.ErrNotFound
	}
	return w.Get(ctx, m.WalkInID)
}

const residentColumns = `id, real_name, phone_enc, birth_date, estate, building, room, created_by, created_at`

// walkInWhere selects live walk-ins: no WeChat, not merged away.
const walkInWhere = `openid IS NULL AND merged_into IS NULL AND walkin_phone IS NOT NULL`

func (w *WalkIns) scanResident(row interface{ Scan(...any) error }) (Resident, error) {
	var r Resident
	var birth sql.NullTime
	var enc []byte
	err := row.Scan(&r.ID, &r.RealName, &enc, &birth, &r.Estate, &r.Building, &r.Room, &r.CreatedBy, &r.CreatedAt)
	if err != nil {
		return r, err
	}
	if birth.Valid {
		d := models.DateOf(birth.Time)
		r.BirthDate = &d
	}
	if enc != nil {
		if r.Phone, err = w.Cipher.Open("users", "phone", r.ID, enc); err != nil {
			return r, err
		}
	}
	return r, nil
}

// Create registers a walk-in resident. A phone already registered to a walk-in
// or verified by a WeChat user is 409 phone_in_use: one person, one record (the
// unique key on walkin_phone settles two desks registering at once).
func (w *WalkIns) Create(ctx context.Context, staffID int64, in ResidentInput) (Resident, error) {
	name := strings.TrimSpace(in.RealName)
	if name == "" {
		return Resident{}, models.Invalid("real_name", "不能为空")
	}
	phone, ok := NormalizeMobile(in.Phone)
	if !ok {
		return Resident{}, models.Invalid("phone", "不是有效的手机号")
	}
	now := w.Now()
	var birth any
	if in.BirthDate != nil {
		if err := models.CheckBirthDate("birth_date", in.BirthDate, now); err != nil {
			return Resident{}, err
		}
		birth = in.BirthDate.Time()
	}
	if estate := strings.TrimSpace(in.Estate); estate != "" {
		if err := models.RequireEstate(ctx, w.DB, "estate", estate); err != nil {
			return Resident{}, err
		}
	}
	var id int64
	err := models.InTx(ctx, w.DB, func(tx *sql.Tx) error {
		m, err := w.lookupPhone(ctx, tx, phone, false)
		if err != nil {
			return err
		}
		if m.WalkInID != 0 || len(m.WeChat) > 0 {
			return ErrPhoneInUse
		}
		idx, err := w.Cipher.PhoneIndex(phone)
		if err != nil {
			return err
		}
		// walkin_phone (the blind index) goes in with the row, so its unique key
		// settles two desks registering one phone at once; the sealed phone is
		// bound to the row id and so written once the id is known.
		res, err := tx.ExecContext(ctx, `INSERT INTO users (openid, role, real_name, birth_date, estate, building, room,
			walkin_phone, created_by, created_at, updated_at) VALUES (NULL, 'resident', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			name, birth, strings.TrimSpace(in.Estate), strings.TrimSpace(in.Building), strings.TrimSpace(in.Room),
			idx, staffID, now, now)
		if models.IsDuplicate(err) {
			return ErrPhoneInUse
		}
		if err != nil {
			return fmt.Errorf("insert walk-in: %w", err)
		}
		id, _ = res.LastInsertId()
		enc, err := w.Cipher.Seal("users", "phone", id, phone)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET phone_enc = ?, phone_bidx = ? WHERE id = ?`, enc, idx, id); err != nil {
			return fmt.Errorf("seal walk-in phone: %w", err)
		}
		return nil
	})
	if err != nil {
		return Resident{}, err
	}
	return w.Get(ctx, id)
}

// Get returns a live walk-in; a WeChat user, a merged walk-in or nothing is 404.
func (w *WalkIns) Get(ctx context.Context, id int64) (Resident, error) {
	return models.ScanOne(w.DB.QueryRowContext(ctx, `SELECT `+residentColumns+` FROM users WHERE id = ? AND `+walkInWhere, id), "get walk-in", w.scanResident)
}

// ResidentFilter narrows the walk-in list: an exact phone, or a name prefix.
type ResidentFilter struct {
	Phone string
	Name  string
	Page  models.Page
}

// List lists live walk-ins by id.
func (w *WalkIns) List(ctx context.Context, f ResidentFilter) ([]Resident, error) {
	if f.Phone != "" {
		r, err := w.FindWalkInByPhone(ctx, f.Phone)
		if errors.Is(err, models.ErrNotFound) || (err == nil && r.ID <= f.Page.AfterID) {
			return []Resident{}, nil
		}
		if err != nil {
			return nil, err
		}
		return []Resident{r}, nil
	}
	// Walk-ins are a few percent of users: both indexes (migration 0033) start
	// with openid, merged_into, so only walk-ins are read. By id, the list walks
	// idx_users_walkins and stops after the page; a name prefix reads the
	// walk-ins with that prefix from idx_users_walkin_names and sorts those few.
	// Named, because MariaDB otherwise scans the primary key over every user.
	index := "idx_users_walkins"
	where, args := walkInWhere+` AND id > ?`, []any{f.Page.AfterID}
	if f.Name != "" {
		index = "idx_users_walkin_names"
		where += ` AND real_name LIKE ?`
		args = append(args, models.EscapeLike(f.Name)+"%")
	}
	args = append(args, f.Page.Limit)
	rows, err := w.DB.QueryContext(ctx, `SELECT `+residentColumns+` FROM users FORCE INDEX (`+index+`) WHERE `+where+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list walk-ins: %w", err)
	}
	return models.ScanAll(rows, "scan walk-in", w.scanResident)
}

// Book books a session for a walk-in through the engine (BookOnBehalf).
func (w *WalkIns) Book(ctx context.Context, residentID int64, in BookInput) (Booking, error) {
	if _, err := w.Get(ctx, residentID); err != nil {
		return Booking{}, err
	}
	return w.Bookings.BookOnBehalf(ctx, residentID, in)
}

// Enroll enrolls a walk-in in every upcoming session of a course, all or nothing
// (EnrollOnBehalf).
func (w *WalkIns) Enroll(ctx context.Context, residentID, programID int64, in EnrollInput) ([]Booking, error) {
	if _, err := w.Get(ctx, residentID); err != nil {
		return nil, err
	}
	return w.Bookings.EnrollOnBehalf(ctx, residentID, programID, in)
}

// Cancel cancels a walk-in's booking with the resident's own rules (free window,
// late cancel counting as a no-show); another resident's booking is 404.
func (w *WalkIns) Cancel(ctx context.Context, residentID, bookingID int64) (Booking, error) {
	if _, err := w.Get(ctx, residentID); err != nil {
		return Booking{}, err
	}
	return w.Bookings.Cancel(ctx, residentID, bookingID)
}

// CheckIn checks a walk-in in for their booking (by id: they have no phone to
// show a QR code), through the engine's guarded check-in.
func (w *WalkIns) CheckIn(ctx context.Context, residentID, bookingID int64) (Booking, error) {
	if _, err := w.Get(ctx, residentID); err != nil {
		return Booking{}, err
	}
	x, err := w.Bookings.get(ctx, bookingID)
	if err != nil {
		return Booking{}, err
	}
	if x.UserID != residentID {
		return Booking{}, models.ErrNotFound
	}
	return w.Bookings.CheckIn(ctx, x.Code)
}

// ListBookings lists a walk-in's bookings.
func (w *WalkIns) ListBookings(ctx context.Context, residentID int64, status string, page models.Page) ([]Booking, error) {
	if _, err := w.Get(ctx, residentID); err != nil {
		return nil, err
	}
	return w.Bookings.List(ctx, BookingFilter{UserID: residentID, Status: status, Page: page})
}

// lockWalkIn share-locks a live walk-in's row inside a booking transaction, so a
// merge (which locks it FOR UPDATE) either finishes first, and the booking is
// refused with 404, or waits until the booking is in and then moves it too.
func lockWalkIn(ctx context.Context, tx *sql.Tx, userID int64) error {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE id = ? AND `+walkInWhere+` LOCK IN SHARE MODE`, userID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return models.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("lock walk-in: %w", err)
	}
	return nil
}

// MergeResult says what a merge moved.
type MergeResult struct {
	WalkInID int64 // 0: there was nothing to merge
	Bookings int
	Children int
	// DuplicatesCancelled are walk-in bookings for a session the WeChat user had
	// already booked for the same participant: the user's own booking is kept.
	DuplicatesCancelled int
}

// MergeVerifiedPhone folds the walk-in registered with userID's phone into
// userID, if there is one. It is called after WeChat verified the phone
// (POST /me/phone) and reads that phone back from the user's row, so it never
// merges on a number WeChat did not vouch for; it only ever takes a walk-in (openid
// NULL) into a WeChat user, so two WeChat accounts are never merged.
//
// Direction: the walk-in's rows move to the WeChat user, not the other way round.
// The WeChat user is the one holding logins, refresh tokens, a cached principal and
// subscribe grants; re-pointing the openid at the walk-in row would mean deleting
// the logged-in user under their live tokens (and their own bookings, grants and
// audit trail). Moving the walk-in's rows keeps every token valid and leaves the
// walk-in row as a tombstone (merged_into, phone cleared) for the audit log.
//
// Everything happens in one transaction; it is idempotent (the tombstone has no
// walkin_phone, so a second call finds nothing) and safe against a concurrent
// desk booking (lockWalkIn).
func (w *WalkIns) MergeVerifiedPhone(ctx context.Context, userID int64) (MergeResult, error) {
	var out MergeResult
	var touched []sessionMeta
	err := w.Bookings.tx(ctx, func(tx *sql.Tx) error {
		out, touched = MergeResult{}, nil
		now := w.Now()
		var openid sql.NullString
		var enc []byte
		var verified sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT openid, phone_enc, phone_verified_at FROM users WHERE id = ? AND status = 'active' FOR UPDATE`, userID).
			Scan(&openid, &enc, &verified)
		if errors.Is(err, sql.ErrNoRows) {
			return models.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("merge: load user: %w", err)
		}
		if !openid.Valid || enc == nil || !verified.Valid {
			return nil // not a WeChat user with a verified phone: nothing to merge
		}
		phone, err := w.Cipher.Open("users", "phone", userID, enc)
		if err != nil {
			return err
		}
		m, err := w.lookupPhone(ctx, tx, phone, true)
		if err != nil {
			return err
		}
		if m.WalkInID == 0 || m.WalkInID == userID {
			return nil
		}
		walk := m.WalkInID
		out.WalkInID = walk
		if touched, err = w.mergeBookings(ctx, tx, walk, userID, now, &out); err != nil {
			return err
		}
		n, err := moveRows(ctx, tx, "children", walk, userID)
		if err != nil {
			return err
		}
		out.Children = n
		for _, table := range []string{"complaints", "uploads", "bin_deposits", "redemptions"} {
			if _, err := moveRows(ctx, tx, table, walk, userID); err != nil {
				return err
			}
		}
		if err := mergePoints(ctx, tx, walk, userID, now); err != nil {
			return err
		}
		// The profile keeps what the resident entered; blanks are filled from the
		// desk's record. A ban follows the person: the later end wins.
		if _, err := tx.ExecContext(ctx, `UPDATE users u JOIN users w ON w.id = ? SET
			u.real_name = IF(u.real_name = '', w.real_name, u.real_name),
			u.birth_date = COALESCE(u.birth_date, w.birth_date),
			u.estate = IF(u.estate = '', w.estate, u.estate),
			u.building = IF(u.building = '', w.building, u.building),
			u.room = IF(u.room = '', w.room, u.room),
			u.suspended_until = CASE WHEN w.suspended_until IS NULL THEN u.suspended_until
				WHEN u.suspended_until IS NULL OR u.suspended_until < w.suspended_until THEN w.suspended_until
				ELSE u.suspended_until END,
			u.updated_at = ?
			WHERE u.id = ?`, walk, now, userID); err != nil {
			return fmt.Errorf("merge: profile: %w", err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET walkin_phone = NULL, phone_enc = NULL, phone_bidx = NULL, merged_into = ?, merged_at = ?, updated_at = ?
			WHERE id = ? AND `+walkInWhere, userID, now, now, walk)
		if err != nil {
			return fmt.Errorf("merge: tombstone: %w", err)
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return models.ErrInvalidTransition
		}
		return nil
	})
	if err != nil {
		return MergeResult{}, err
	}
	// Gates keyed the moved places by the walk-in's participant names; drop them
	// so the next booking rebuilds them from MySQL under the new names.
	for _, m := range touched {
		w.Bookings.dropGate(ctx, m)
	}
	return out, nil
}

// moveRows re-points a table's user_id from the walk-in to the WeChat user.
func moveRows(ctx context.Context, tx *sql.Tx, table string, from, to int64) (int, error) {
	res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET user_id = ? WHERE user_id = ?`, to, from)
	if err != nil {
		return 0, fmt.Errorf("merge: move %s: %w", table, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// mergeBookings moves the walk-in's bookings, renaming their participants
// ("u<walk-in>[c<child>]" → "u<user>[c<child>]"). Sessions holding live walk-in
// bookings are locked first (the engine's order: session, then bookings). A live
// walk-in booking that would collide with the user's own live booking of the same
// participant stops being live: waiting, pending or confirmed ones are cancelled
// without penalty (their place going to the waiting list), an attended one stays
// attended as history.
func (w *WalkIns) mergeBookings(ctx context.Context, tx *sql.Tx, walk, user int64, now time.Time, out *MergeResult) ([]sessionMeta, error) {
	sessionIDs, err := models.QueryColumn[int64](ctx, tx, `SELECT id FROM sessions WHERE id IN
		(SELECT session_id FROM bookings WHERE user_id = ? AND live_participant IS NOT NULL) ORDER BY id FOR UPDATE`, walk)
	if err != nil {
		return nil, fmt.Errorf("merge: lock sessions: %w", err)
	}
	var touched []sessionMeta
	oldPrefix := participantKey(walk, nil)
	newPrefix := participantKey(user, nil)
	for _, sid := range sessionIDs {
		m, err := w.Bookings.loadMeta(ctx, tx, sid)
		if err != nil {
			return nil, err
		}
		touched = append(touched, m)
		rows, err := tx.QueryContext(ctx, `SELECT b.id, b.status, b.participant FROM bookings b
			JOIN bookings u ON u.session_id = b.session_id AND u.user_id = ?
				AND u.live_participant = CONCAT(?, SUBSTRING(b.participant, ?))
			WHERE b.session_id = ? AND b.user_id = ? AND b.live_participant IS NOT NULL FOR UPDATE`,
			user, newPrefix, len(oldPrefix)+1, sid, walk)
		if err != nil {
			return nil, fmt.Errorf("merge: find duplicates: %w", err)
		}
		type dup struct {
			id     int64
			status string
		}
		var dups []dup
		for rows.Next() {
			var d dup
			var part string
			if err := rows.Scan(&d.id, &d.status, &part); err != nil {
				rows.Close()
				return nil, err
			}
			dups = append(dups, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		freed := false
		for _, d := range dups {
			switch d.status {
			case BookingAttended:
				if _, err := tx.ExecContext(ctx, `UPDATE bookings SET live_participant = NULL, updated_at = ? WHERE id = ?`, now, d.id); err != nil {
					return nil, fmt.Errorf("merge: retire duplicate: %w", err)
				}
				continue
			case BookingWaitlisted:
				if err := setStatus(ctx, tx, d.id, d.status, BookingCancelled, now, ""); err != nil {
					return nil, err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE sessions SET waitlisted = waitlisted - 1, updated_at = ? WHERE id = ?`, now, sid); err != nil {
					return nil, fmt.Errorf("merge: count waitlist: %w", err)
				}
			default: // pending, confirmed
				if err := setStatus(ctx, tx, d.id, d.status, BookingCancelled, now, "late_cancel = 0"); err != nil {
					return nil, err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE sessions SET booked = booked - 1, updated_at = ? WHERE id = ?`, now, sid); err != nil {
					return nil, fmt.Errorf("merge: free place: %w", err)
				}
				freed = true
			}
			out.DuplicatesCancelled++
		}
		if freed {
			if _, err := w.Bookings.fillFromWaitlist(ctx, tx, m, now); err != nil {
				return nil, err
			}
		}
	}
	res, err := tx.ExecContext(ctx, `UPDATE bookings SET user_id = ?,
		participant = CONCAT(?, SUBSTRING(participant, ?)),
		live_participant = IF(live_participant IS NULL, NULL, CONCAT(?, SUBSTRING(live_participant, ?))),
		updated_at = ? WHERE user_id = ?`,
		user, newPrefix, len(oldPrefix)+1, newPrefix, len(oldPrefix)+1, now, walk)
	if err != nil {
		return nil, fmt.Errorf("merge: move bookings: %w", err)
	}
	n, _ := res.RowsAffected()
	out.Bookings = int(n)
	return touched, nil
}

// mergePoints moves the ledger and adds the walk-in's balance to the user's
// account. Expiry works from ledger sums (credits by lot date minus all debits),
// so the moved ledger keeps it right; the account's expired_through becomes the
// earlier of the two so a year the walk-in had not been through yet is looked at
// again (the per-user, per-year expire key stops a second entry). An expire entry
// for a year both had already posted keeps its amount but loses its year key.
func mergePoints(ctx context.Context, tx *sql.Tx, walk, user int64, now time.Time) error {
	if _, err := models.QueryColumn[int64](ctx, tx, `SELECT user_id FROM points_accounts WHERE user_id IN (?, ?) ORDER BY user_id FOR UPDATE`, walk, user); err != nil {
		return fmt.Errorf("merge: lock accounts: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE points_ledger w JOIN points_ledger u
		ON u.user_id = ? AND u.kind = w.kind AND u.source_id = w.source_id
		SET w.source_id = NULL WHERE w.user_id = ?`, user, walk); err != nil {
		return fmt.Errorf("merge: ledger keys: %w", err)
	}
	if _, err := moveRows(ctx, tx, "points_ledger", walk, user); err != nil {
		return err
	}
	var balance int64
	var through time.Time
	err := tx.QueryRowContext(ctx, `SELECT balance, expired_through FROM points_accounts WHERE user_id = ?`, walk).Scan(&balance, &through)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("merge: walk-in account: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO points_accounts (user_id, balance, expired_through, updated_at) VALUES (?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE balance = balance + VALUES(balance),
			expired_through = LEAST(expired_through, VALUES(expired_through)), updated_at = VALUES(updated_at)`,
		user, balance, through, now); err != nil {
		return fmt.Errorf("merge: balance: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM points_accounts WHERE user_id = ?`, walk); err != nil {
		return fmt.Errorf("merge: drop walk-in account: %w", err)
	}
	return nil
}
